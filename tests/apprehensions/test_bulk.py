"""insert_with_history writes new rows as Django would (JSON, choices, dates, instants, keys), in
batches, each with its "created" history row, and leaves the instances saved."""

import uuid
from datetime import UTC, date, datetime

import pytest

from apprehensions.models import Person
from apprehensions.services.bulk import insert_rows, insert_with_history, new_instance
from legacy.models import ImportRecord

pytestmark = pytest.mark.django_db


def _person(n: int, **extra) -> Person:
    return Person(
        id=uuid.uuid4(),
        given_names=f"Ana {n}",
        first_surname="Pérez",
        second_surname="Núñez",
        sex=Person.Sex.FEMALE,
        **extra,
    )


def test_insert_with_history_writes_every_value_as_given_and_one_history_row_each(users, ept):
    agent = users["field_agent"]
    seen = datetime(2018, 6, 1, 14, 30, 15, 123456, tzinfo=UTC)
    person = _person(
        1,
        aliases=["Anita Pérez", {"name": "Ana P.", "source": "sheet"}],
        date_of_birth=date(2012, 2, 29),
        first_encountered_at=seen,
        first_station=ept,
        created_by=agent,
    )

    insert_with_history(Person, [person], user=agent, reason="bulk test")

    stored = Person.objects.get(pk=person.pk)
    assert stored.aliases == ["Anita Pérez", {"name": "Ana P.", "source": "sheet"}]
    assert stored.sex == "F" and stored.date_of_birth == date(2012, 2, 29)
    assert stored.first_encountered_at == seen
    assert stored.first_station_id == ept.pk and stored.created_by_id == agent.pk
    assert stored.second_surname == "Núñez" and stored.version == 1
    history = list(stored.history.all())
    assert [(h.history_type, h.history_change_reason, h.history_user_id) for h in history] == [
        ("+", "bulk test", agent.pk)
    ]
    # A saved instance: saving it again updates the row (no second INSERT).
    assert person._state.adding is False
    person.given_names = "Ana María"
    person._change_reason = "renamed"
    person.save()
    assert Person.objects.get(pk=person.pk).given_names == "Ana María"


def test_insert_with_history_makes_a_naive_instant_aware_as_django_does(users, settings):
    settings.TIME_ZONE = "America/Denver"
    person = _person(2, first_encountered_at=datetime(2018, 6, 1, 8, 0))  # naive: Denver local

    with pytest.warns(RuntimeWarning, match="naive datetime"):
        insert_with_history(Person, [person], user=users["field_agent"], reason="bulk test")

    assert Person.objects.get(pk=person.pk).first_encountered_at == datetime(2018, 6, 1, 14, 0, tzinfo=UTC)


def test_insert_rows_writes_a_large_batch_in_several_statements(users):
    """More values than one statement carries: every row written once, in several INSERTs."""
    from django.db import connection

    persons = [_person(n) for n in range(5_500)]  # ~2,600 rows of 23 values a statement
    statements: list[str] = []

    def count(execute, sql, params, many, context):  # type: ignore[no-untyped-def]
        statements.append(sql)
        return execute(sql, params, many, context)

    with connection.execute_wrapper(count):
        insert_rows(Person, persons)

    assert len(statements) >= 2
    assert Person.objects.filter(pk__in=[p.pk for p in persons]).count() == 5_500


def test_new_instance_is_the_instance_the_model_would_make(users, ept):
    """Every field as `Model(**values)` sets it (related instances by key, the rest from defaults);
    an unknown field or a related value of the wrong model is refused."""
    agent = users["field_agent"]
    values = {"given_names": "Ana", "first_surname": "Pérez", "sex": Person.Sex.FEMALE, "first_station": ept}
    made = Person(created_by=agent, **values)
    fast = new_instance(Person, created_by=agent, **values)
    varying = {"id", "created_at", "updated_at"}  # uuid4 and now() defaults, new on each call
    for field in Person._meta.concrete_fields:
        if field.attname not in varying:
            assert getattr(fast, field.attname) == getattr(made, field.attname), field.attname
    assert fast.pk is not None and fast.pk != made.pk and fast._state.adding
    assert new_instance(Person, created_by_id=agent.pk, **values).created_by_id == agent.pk

    record = new_instance(ImportRecord, model="apprehensions.person", object_id=fast.pk, action="created")
    assert record.model == "apprehensions.person" and record.object_id == fast.pk

    with pytest.raises(TypeError, match="no field nickname"):
        new_instance(Person, nickname="x")
    with pytest.raises(ValueError, match="must be a"):
        new_instance(Person, first_station=agent)
