"""IntakeChunk: encounters checked one by one exactly as a lone intake is, written together with history."""

import pytest
from django.db import transaction

from apprehensions.models import (
    Apprehension,
    ApprehensionPerson,
    FamilyMembership,
    FamilyUnit,
    Person,
    Relationship,
)
from apprehensions.serializers import ApprehensionInSerializer
from apprehensions.services import apprehension_validate
from apprehensions.services.conflicts import with_every_error_reported
from apprehensions.services.intake_chunk import IntakeChunk
from apprehensions.signals import persons_recorded
from familylink.common.api import validated_partly
from familylink.common.errors import BusinessRuleError, PermissionDenied, ValidationFailed
from separations.models import CustodyPeriod

from .factories import intake_payload, person_data, record

pytestmark = pytest.mark.django_db

TABLES = (Apprehension, Person, ApprehensionPerson, FamilyUnit, FamilyMembership, Relationship, CustodyPeriod)


def add(chunk, data):
    """A contract body read as the API reads it, then staged in the chunk."""
    intake, errors = validated_partly(ApprehensionInSerializer, data)
    return with_every_error_reported(errors, chunk.add, **intake)


def counts() -> dict[str, int]:
    return {m.__name__: m.objects.count() for m in TABLES}


def second_family(**overrides):
    """Another encounter of the contract's shape: a father and his son, new to the records."""
    data = {
        "occurred_at": "2018-06-02T09:00:00-06:00",
        "change_reason": "sheet.csv rows 7, 8",
        "persons": [
            person_data(
                "adult", given_names="Juan", first_surname="Soto", sex="M", date_of_birth="1980-01-01"
            ),
            person_data(
                "kid", given_names="Pedro", first_surname="Soto", sex="M", date_of_birth="2012-03-04"
            ),
        ],
        "family_units": [{"members": ["adult", "kid"]}],
        "relationships": [{"from": "adult", "to": "kid", "type": "parent", "evidence": "claimed"}],
    }
    return intake_payload(**{**data, **overrides})


def test_intake_chunk_writes_nothing_until_write_then_every_row_with_its_history(users, ept):
    """Two encounters staged: nothing in the database; written: every row, each with one history row
    carrying its own encounter's change reason and author, and CBP custody opened for everyone."""
    by = users["hq_analyst"]
    chunk = IntakeChunk(user=by)
    before = counts()
    first = add(chunk, intake_payload(change_reason="sheet.csv rows 2, 3"))
    second = add(chunk, second_family())
    assert counts() == before and len(chunk) == 2
    assert chunk.stages(first.persons[0].person.pk) and chunk.stages(second.persons[1].person.pk)

    chunk.write()

    assert len(chunk) == 0
    for result, reason in ((first, "sheet.csv rows 2, 3"), (second, "sheet.csv rows 7, 8")):
        apprehension = Apprehension.objects.get(pk=result.apprehension.pk)
        persons = [Person.objects.get(pk=p.person.pk) for p in result.persons]
        (unit, members), rel = result.family_units[0], result.relationships[0]
        encounters = ApprehensionPerson.objects.filter(apprehension=apprehension)
        assert {e.person_id for e in encounters} == {p.pk for p in persons}
        written = [apprehension, *persons, *encounters, FamilyUnit.objects.get(pk=unit.pk)]
        written += [FamilyMembership.objects.get(pk=m.pk) for m in members]
        written.append(Relationship.objects.get(pk=rel.pk, source=Relationship.Source.LEGACY_IMPORT))
        for obj in written:
            history = obj.history.get()
            assert (history.history_type, history.history_change_reason, history.history_user) == (
                "+",
                reason,
                by,
            )
        for person in persons:
            period = CustodyPeriod.objects.get(person=person)
            assert (period.agency, period.started_at, period.ended_at) == (
                "CBP",
                apprehension.occurred_at,
                None,
            )
            assert period.history.get().history_change_reason == f"{reason}: in CBP custody at EPT"
    mother, child = (Person.objects.get(pk=p.person.pk) for p in first.persons)
    assert mother.name_normalized == "maria jose perez nunez"
    assert child.is_minor and not child.is_unaccompanied


def test_intake_chunk_add_refuses_what_apprehension_validate_refuses_and_stages_nothing(users, ept):
    """The same stages, the same field-keyed messages; a refused encounter leaves the chunk as it was."""
    by = users["hq_analyst"]
    bad = intake_payload(
        persons=[
            person_data("p1", date_of_birth="2030-01-01"),
            person_data("p2", given_names="Ana", date_of_birth="2013-09-30", a_number="A12"),
        ]
    )
    intake, read_errors = validated_partly(ApprehensionInSerializer, bad)
    with pytest.raises(ValidationFailed) as expected:
        with_every_error_reported(read_errors, apprehension_validate, user=by, importing=True, **intake)
    chunk = IntakeChunk(user=by)
    add(chunk, second_family())
    with pytest.raises(ValidationFailed) as got:
        add(chunk, bad)
    assert got.value.errors == expected.value.errors
    assert "persons[0].date_of_birth" in got.value.errors and "persons[1].a_number" in got.value.errors
    assert len(chunk) == 1
    with pytest.raises(PermissionDenied):
        add(IntakeChunk(user=users["auditor"]), second_family())


def test_intake_chunk_encounter_naming_a_staged_person_is_checked_as_if_written(users, ept):
    """A later encounter naming a person staged earlier (by id or by A-number) makes the chunk write
    first: that person is linked, never entered twice, exactly as two lone intakes would do."""
    by = users["hq_analyst"]
    chunk = IntakeChunk(user=by)
    first = add(chunk, intake_payload())
    mother = first.persons[0].person
    again = intake_payload(
        occurred_at="2018-06-03T10:00:00-06:00",
        persons=[person_data("m", a_number="A-201-234-567"), {"ref": "c", "existing_person": str(mother.pk)}],
        family_units=[],
        relationships=[],
    )
    # The same person twice in one encounter (by A-number and by id) is refused as a lone intake refuses it.
    with pytest.raises(ValidationFailed, match="already persons"):
        add(chunk, again)
    assert Person.objects.filter(pk=mother.pk).exists()  # written first, to be checked against
    second = add(chunk, {**again, "persons": [person_data("m", a_number="A-201-234-567")]})
    chunk.write()
    assert second.persons[0].person.pk == mother.pk and not second.persons[0].is_new
    assert Person.objects.filter(a_number="A201234567").count() == 1
    assert ApprehensionPerson.objects.filter(person=mother).count() == 2
    assert CustodyPeriod.objects.filter(person=mother).count() == 1  # the open one stays


def test_intake_chunk_write_rolled_back_is_written_again_after_restore(users, ept):
    """A caller's savepoint undone after a write: restoring the snapshot stages it again, written once."""
    by = users["hq_analyst"]
    chunk = IntakeChunk(user=by)
    add(chunk, intake_payload())
    on_file = record(
        users["field_agent"],
        persons=[person_data("p1", given_names="Rosa", a_number="A099999999")],
        family_units=[],
        relationships=[],
    )
    on_file_person = on_file.persons[0].person
    add(
        chunk,
        second_family(
            occurred_at="2018-05-01T08:00:00-06:00",
            persons=[
                {"ref": "adult", "existing_person": str(on_file_person.pk)},
                person_data("kid", given_names="Lia", date_of_birth="2015-01-01"),
            ],
            relationships=[],
        ),
    )
    snapshot = chunk.snapshot()
    sid = transaction.savepoint()
    chunk.write()
    transaction.savepoint_rollback(sid)
    chunk.restore(snapshot)
    chunk.write()
    assert Apprehension.objects.count() == 3
    on_file_person.refresh_from_db()
    # Encountered earlier than on file: first encounter moved, once, with one history row for it.
    assert on_file_person.first_encountered_at.date().isoformat() == "2018-05-01"
    assert on_file_person.version == 2
    assert on_file_person.history.filter(history_type="~").count() == 1


def test_intake_chunk_write_meeting_a_record_saved_meanwhile_writes_nothing(users, ept):
    """An A-number recorded by someone else between add and write: BusinessRuleError, nothing written."""
    by = users["hq_analyst"]
    chunk = IntakeChunk(user=by)
    add(chunk, second_family())
    add(chunk, intake_payload())
    record(
        users["field_agent"],
        persons=[person_data("p1", given_names="Otra", a_number="A201234567")],
        family_units=[],
        relationships=[],
    )
    before = counts()
    with pytest.raises(BusinessRuleError, match="same moment"):
        chunk.write()
    assert counts() == before
    assert len(chunk) == 2  # still staged: the caller decides what follows


def test_intake_chunk_write_sends_persons_recorded_once(users, ept):
    """Link discovery's pass runs once for the chunk's persons, not once per encounter."""
    heard = []

    def receiver(sender, **kwargs):
        heard.append(kwargs)

    chunk = IntakeChunk(user=users["hq_analyst"])
    first = add(chunk, intake_payload())
    second = add(chunk, second_family())
    persons_recorded.connect(receiver)
    try:
        chunk.write()
    finally:
        persons_recorded.disconnect(receiver)
    assert len(heard) == 1 and heard[0]["source"] == "legacy_import"
    assert set(heard[0]["person_ids"]) == {p.person.pk for r in (first, second) for p in r.persons}
