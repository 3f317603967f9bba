"""insert_with_history writes new rows as Django would (JSON, choices, dates, instants, keys), in
batches, each with its "created" history row, and leaves the instances saved."""

import uuid
from datetime import UTC, date, datetime
from typing import Any

import pytest
from django.db.models.signals import post_init

from apprehensions.models import Person, PersonIdentifier
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


def _same_instance(fast: Any, made: Any) -> None:
    """Every field, the related instances cached and the state as `Model(**values)` leaves them."""
    varying = {"id", "created_at", "updated_at"}  # uuid4 and now() defaults, new on each call
    for field in type(made)._meta.concrete_fields:
        if field.attname not in varying:
            assert getattr(fast, field.attname) == getattr(made, field.attname), field.attname
    assert fast.pk is not None and fast.pk != made.pk
    assert fast.created_at is not None and fast.updated_at is not None
    assert (fast._state.adding, fast._state.db) == (made._state.adding, made._state.db)
    assert fast._state.fields_cache.keys() == made._state.fields_cache.keys()
    for name, related in made._state.fields_cache.items():
        assert fast._state.fields_cache[name] is related, name


def test_new_instance_is_the_instance_the_model_would_make(users, ept):
    """Every field as `Model(**values)` sets it (related instances by key and cached, the rest from
    defaults, on the same database); an unknown field or a related value of the wrong model is
    refused as Django refuses it."""
    agent = users["field_agent"]
    values = {"given_names": "Ana", "first_surname": "Pérez", "sex": Person.Sex.FEMALE, "first_station": ept}
    fast = new_instance(Person, created_by=agent, withdrawn_by=None, **values)
    _same_instance(fast, Person(created_by=agent, withdrawn_by=None, **values))
    assert fast.created_by is agent and fast.first_station is ept and fast.withdrawn_by is None
    assert new_instance(Person, created_by_id=agent.pk, **values).created_by_id == agent.pk
    _same_instance(new_instance(Person), Person())  # nothing related: no database chosen yet

    record = new_instance(ImportRecord, model="apprehensions.person", object_id=fast.pk, action="created")
    assert record.model == "apprehensions.person" and record.object_id == fast.pk

    with pytest.raises(TypeError, match="no field nickname"):
        new_instance(Person, nickname="x")
    with pytest.raises(ValueError, match='"Person.first_station" must be a "Station" instance'):
        new_instance(Person, first_station=agent)


def test_new_instance_of_an_unsaved_related_instance_sets_its_database_too(users):
    """As the descriptor does: a new related instance (no database yet) is put on the new one's."""
    person = _person(3)
    assert person._state.db is None
    made = PersonIdentifier(person=person, kind="passport", value="X1", created_by=users["field_agent"])
    person._state.db = None
    fast = new_instance(
        PersonIdentifier, person=person, kind="passport", value="X1", created_by=users["field_agent"]
    )
    _same_instance(fast, made)
    assert person._state.db == "default" and fast.person is person


def test_new_instance_calls_init_when_a_receiver_listens(users, ept):
    """With a pre_init/post_init receiver for the model, the instance goes through Model.__init__
    (the receiver sees it) and is still the one `Model(**values)` makes."""
    seen: list[Any] = []

    def receiver(sender: Any, instance: Any, **kwargs: Any) -> None:
        seen.append(instance)

    post_init.connect(receiver, sender=Person)
    try:
        fast = new_instance(Person, given_names="Ana", first_station=ept)
    finally:
        post_init.disconnect(receiver, sender=Person)
    assert seen == [fast]
    _same_instance(fast, Person(given_names="Ana", first_station=ept))
