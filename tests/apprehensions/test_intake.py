"""The intake service: one atomic write per encounter, each rule of issue 3, nothing saved on error.

Most tests send a request body of the contract through `submit_intake` (the API's serializer, then
the service), the words a client or an agent reads; a few call the service's typed arguments.
"""

from datetime import UTC, date, datetime, timedelta

import pytest
from django.apps import apps
from django.utils import timezone

from apprehensions.models import (
    Apprehension,
    ApprehensionPerson,
    FamilyMembership,
    FamilyUnit,
    Person,
    Relationship,
)
from apprehensions.services import apprehension_record
from familylink.common.errors import PermissionDenied, ValidationFailed

from .factories import PersonFactory, encountered, intake_payload, person_data, record, submit_intake

pytestmark = pytest.mark.django_db


def row_counts() -> dict[str, int]:
    """Rows in every table of the apprehensions app, history tables included."""
    return {
        m._meta.db_table: m.objects.count() if hasattr(m.objects, "count") else 0
        for m in apps.get_app_config("apprehensions").get_models()
    }


def rejected(agent, data) -> dict[str, list[str]]:
    """Submit `data`, expect ValidationFailed, prove nothing at all was written; return the errors."""
    before = row_counts()
    with pytest.raises(ValidationFailed) as excinfo:
        submit_intake(agent, data)
    assert row_counts() == before
    return excinfo.value.errors


def test_apprehension_record_writes_the_contract_example_with_history(agent):
    """The contract's example: apprehension, 2 persons, a family unit, a parent link, each with history."""
    result = record(agent)

    apprehension = result.apprehension
    mother, child = (p.person for p in result.persons)
    assert [p.ref for p in result.persons] == ["p1", "p2"]
    assert apprehension.station.code == "EPT"
    assert apprehension.apprehending_agent == agent
    assert mother.a_number == "A201234567"
    assert mother.name_normalized == "maria jose perez nunez"
    assert not mother.is_minor and child.is_minor and not child.is_unaccompanied
    unit = FamilyUnit.objects.get(apprehension=apprehension)
    assert dict(unit.memberships.values_list("person_id", "role")) == {mother.pk: "adult", child.pk: "child"}
    rel = Relationship.objects.get(from_person=mother, to_person=child)
    assert (rel.type, rel.evidence, rel.apprehension_id) == ("parent", "claimed", apprehension.pk)
    for obj in (apprehension, mother, child, unit, rel):
        history = obj.history.get()
        assert history.history_user == agent
        assert history.history_change_reason == "intake (API)"
    assert ApprehensionPerson.objects.filter(apprehension=apprehension, match="new").count() == 2


def test_apprehension_record_keeps_the_change_reason(agent):
    """A change_reason given with the request is the reason on every history row."""
    result = record(agent, data=intake_payload(change_reason="Recorded from the field notebook"))
    assert result.persons[0].person.history.get().history_change_reason == "Recorded from the field notebook"


@pytest.mark.parametrize(
    ("typed", "stored"),
    [("A12345678", "A012345678"), ("a-012-345-678", "A012345678"), ("012 345 678", "A012345678")],
)
def test_apprehension_record_normalises_a_numbers(agent, typed, stored):
    """Any accepted spelling of an A-number is stored as A + 9 digits."""
    result = record(
        agent,
        data=intake_payload(persons=[person_data("p1", a_number=typed)], family_units=[], relationships=[]),
    )
    assert result.persons[0].person.a_number == stored


def test_apprehension_record_rejects_a_bad_a_number_naming_the_field(agent):
    """A bad A-number on the second person: 400-style error at persons[1].a_number, nothing saved."""
    data = intake_payload()
    data["persons"][1]["a_number"] = "A123"
    errors = rejected(agent, data)
    assert list(errors) == ["persons[1].a_number"]
    assert "A followed by 8 or 9 digits" in errors["persons[1].a_number"][0]


def _met_again(person: dict) -> dict:
    """A later encounter (2018-06-10) of one person, alone."""
    return intake_payload(
        occurred_at="2018-06-10T08:00:00-06:00", persons=[person], family_units=[], relationships=[]
    )


def test_apprehension_record_links_the_person_whose_a_number_is_on_file(agent):
    """An A-number already on file means that person: linked, never a second person with that number."""
    first = record(agent).persons[0].person
    data = _met_again(person_data("m", a_number="a-201-234-567", given_names="Maria", first_surname="Perez"))
    result = submit_intake(agent, data)

    assert Person.objects.filter(a_number="A201234567").count() == 1
    linked = result.persons[0]
    assert linked.person.pk == first.pk and not linked.is_new
    encounter = ApprehensionPerson.objects.get(apprehension=result.apprehension)
    assert encounter.match == ApprehensionPerson.Match.A_NUMBER
    assert "Maria Perez" in encounter.match_note
    first.refresh_from_db()
    assert first.given_names == "María José"  # the record on file is not silently overwritten
    assert first.apprehensions.count() == 2


def test_apprehension_record_refuses_an_a_number_on_file_given_for_someone_else(agent):
    """Another given name and date of birth with an A-number on file: not linked silently; the
    message names the holder (whom the agent may see), what differs, and the two ways out."""
    first = record(agent).persons[0].person  # María José Pérez Núñez, 1988-04-02, A201234567
    someone_else = person_data("x", a_number="A201234567", given_names="Rosa", date_of_birth="1990-01-01")
    errors = rejected(agent, _met_again(someone_else))
    message = errors["persons[0].a_number"][0]
    assert "María José Pérez Núñez (born 1988-04-02)" in message
    assert "given names and date of birth entered here differ" in message
    other = person_data(
        "y", a_number="A201234567", given_names="Rosa", first_surname="Lemus", date_of_birth="1990-01-01"
    )
    everything = rejected(agent, _met_again(other))["persons[0].a_number"][0]
    assert "given names, surnames and date of birth entered here differ" in everything
    assert '"same_person"' in message and "correct the A-number or leave it blank" in message
    assert first.apprehensions.count() == 1


def test_a_contradicted_a_number_is_reported_with_the_intakes_other_errors(agent):
    """Every problem in one answer (rule 3): the A-number typed for someone else is named beside a
    mistake elsewhere in the same intake, not only once that mistake is fixed."""
    record(agent)  # María José Pérez Núñez, 1988-04-02, A201234567
    someone_else = person_data("x", a_number="A201234567", given_names="Rosa", date_of_birth="1990-01-01")
    child = person_data("c", given_names="Ana", date_of_birth="2031-02-30")
    errors = rejected(agent, _met_again(someone_else) | {"persons": [someone_else, child]})
    assert "is on file for María José Pérez Núñez" in errors["persons[0].a_number"][0]
    assert "persons[1].date_of_birth" in errors


def test_apprehension_record_links_an_existing_person_by_id(agent):
    """`existing_person` links a person on file and can be used in family units and relationships."""
    mother = encountered(PersonFactory(given_names="Rosa", first_surname="Cruz", date_of_birth="1980-01-01"))
    data = intake_payload(
        persons=[
            {"ref": "m", "existing_person": str(mother.pk)},
            person_data("c", date_of_birth="2010-05-05"),
        ],
        family_units=[{"members": ["m", "c"]}],
        relationships=[{"from": "m", "to": "c", "type": "parent"}],
    )
    result = submit_intake(agent, data)
    assert result.persons[0].person == mother
    assert ApprehensionPerson.objects.get(person=mother, apprehension=result.apprehension).match == "existing"
    assert Relationship.objects.filter(from_person=mother, type="parent").count() == 1
    mother.refresh_from_db()
    assert mother.first_station.code == "EPT"


def test_apprehension_record_rejects_an_unknown_existing_person(agent):
    """An id that is not on file is named at persons[i].existing_person."""
    data = intake_payload(persons=[{"ref": "x", "existing_person": "5b0e5e3e-1f2a-4c55-9d1e-2d1f6b0c8a11"}])
    errors = rejected(agent, {**data, "family_units": [], "relationships": []})
    assert "No person with id" in errors["persons[0].existing_person"][0]


def test_apprehension_record_rejects_one_a_number_for_two_persons(agent):
    """Two persons of one request with the same A-number: the second is named."""
    data = intake_payload()
    data["persons"][1]["a_number"] = "201234567"
    errors = rejected(agent, data)
    assert "also given for persons[0]" in errors["persons[1].a_number"][0]


@pytest.mark.parametrize(
    ("dob", "fragment"),
    [
        ((timezone.localdate() + timedelta(days=3)).isoformat(), "is in the future"),
        ("1890-01-01", "ages above 120 are not possible"),
        ("2018-07-01", "after the encounter date"),
        ("2018-02-30", "is not a date"),
        ("", "Date of birth is required"),
    ],
)
def test_apprehension_record_checks_the_date_of_birth(agent, dob, fragment):
    """Date of birth: a real date, not in the future, not after the encounter, age at most 120."""
    data = intake_payload()
    data["persons"][1]["date_of_birth"] = dob
    errors = rejected(agent, data)
    assert fragment in " ".join(errors["persons[1].date_of_birth"])


def test_apprehension_record_accepts_age_120(agent):
    """120 years old on the encounter date is the oldest accepted age."""
    data = intake_payload(
        persons=[person_data("p1", date_of_birth="1898-06-01")], family_units=[], relationships=[]
    )
    assert not record(agent, data=data).persons[0].person.is_minor


def test_apprehension_record_requires_a_parent_12_years_older(agent):
    """A parent or guardian less than 12 years older than the child is refused, naming both."""
    data = intake_payload()
    data["persons"][1]["date_of_birth"] = "1999-04-03"  # 10 years younger than the "mother"
    errors = rejected(agent, data)
    message = errors["relationships[0]"][0]
    assert "at least 12 years older" in message and "María José Pérez Núñez" in message


def test_apprehension_record_accepts_a_parent_exactly_12_years_older(agent):
    """Exactly 12 years is allowed."""
    data = intake_payload()
    data["persons"][1]["date_of_birth"] = "2000-04-02"
    assert Relationship.objects.count() == 0
    record(agent, data=data)
    assert Relationship.objects.count() == 1


def test_apprehension_record_refuses_a_self_relationship(agent):
    """No one is related to themself."""
    data = intake_payload(relationships=[{"from": "p1", "to": "p1", "type": "sibling"}])
    errors = rejected(agent, data)
    assert "cannot be related to themself" in errors["relationships[0].to"][0]


def test_apprehension_record_refuses_a_parent_cycle_within_the_request(agent):
    """p1 parent of p2 and p2 parent of p1 is a cycle."""
    data = intake_payload(
        persons=[person_data("a", date_of_birth="1970-01-01"), person_data("b", date_of_birth="1970-01-01")],
        family_units=[],
        relationships=[
            {"from": "a", "to": "b", "type": "parent"},
            {"from": "b", "to": "a", "type": "parent"},
        ],
    )
    errors = rejected(agent, data)
    assert "cycle of parent links" in " ".join(errors["relationships[1]"])


def test_apprehension_record_refuses_a_parent_cycle_through_records_on_file(agent):
    """Grandmother → mother → child on file; the child recorded as parent of the grandmother is a cycle."""
    g, m, c = (
        PersonFactory(given_names=n, first_surname="Cruz", second_surname="", date_of_birth=None)
        for n in ("Abuela", "Madre", "Hija")
    )
    for parent, child in ((g, m), (m, c)):
        Relationship(from_person=parent, to_person=child, type="parent").save()
    encountered(g), encountered(c)
    data = intake_payload(
        persons=[{"ref": "c", "existing_person": str(c.pk)}, {"ref": "g", "existing_person": str(g.pk)}],
        family_units=[],
        relationships=[{"from": "c", "to": "g", "type": "parent"}],
    )
    errors = rejected(agent, data)
    assert errors == {
        "relationships[0]": [
            "Hija Cruz cannot be parent of Abuela Cruz: Abuela Cruz is already recorded as an ancestor of "
            "Hija Cruz, which would make a cycle of parent links. Check the direction (from is the parent)."
        ]
    }


def test_apprehension_record_relationship_ends_must_be_in_the_encounter_or_on_file(agent):
    """An end that is neither a ref of the request nor a person on file is named."""
    data = intake_payload(relationships=[{"from": "p1", "to": "p9", "type": "parent"}])
    errors = rejected(agent, data)
    assert "neither a person of this encounter" in errors["relationships[0].to"][0]
    data = intake_payload(
        relationships=[{"from": "p1", "to": "0f8b8d4e-1c0a-4d0b-8f0e-7b9e5b0c2a11", "type": "parent"}]
    )
    errors = rejected(agent, data)
    assert "No person with id" in errors["relationships[0].to"][0]


def test_apprehension_record_links_to_a_person_already_on_file(agent):
    """A relationship may point at a person on file who is not in this encounter (by id)."""
    father = encountered(PersonFactory(given_names="Pedro", date_of_birth="1975-03-03", sex="M"))
    data = intake_payload(
        relationships=[
            {
                "from": str(father.pk),
                "to": "p2",
                "type": "parent",
                "evidence": "documented",
                "document_kind": "birth certificate",
                "document_number": "GT-1",
            }
        ]
    )
    result = record(agent, data=data)
    rel = Relationship.objects.get(from_person=father)
    assert rel.to_person == result.persons[1].person
    assert (rel.document_kind, rel.document_number) == ("birth certificate", "GT-1")


def test_apprehension_record_documented_evidence_without_the_document_is_a_follow_up(agent, users):
    """Evidence `documented` with no document_kind (the contract names none) is accepted and recorded
    as not named: HQ's follow-up list shows it."""
    from apprehensions.selectors import relationships_document_not_named

    data = intake_payload(
        relationships=[{"from": "p1", "to": "p2", "type": "parent", "evidence": "documented"}]
    )
    rel = record(agent, data=data).relationships[0]
    rel.refresh_from_db()
    assert (rel.evidence, rel.document_kind, rel.document_not_named) == ("documented", "", True)
    assert rel.history.count() == 1
    assert list(relationships_document_not_named(viewer=users["hq_analyst"])) == [rel]


def test_apprehension_record_marks_unaccompanied_minors(agent):
    """A minor with no adult in any family unit is unaccompanied; a minor with an adult is not."""
    data = intake_payload(
        persons=[
            person_data("mother", date_of_birth="1985-01-01"),
            person_data("kid", given_names="Luis", date_of_birth="2010-01-01"),
            person_data("alone", given_names="Kevin", date_of_birth="2002-06-01"),
            person_data("sis1", given_names="Ana", date_of_birth="2003-01-01"),
            person_data("sis2", given_names="Eva", date_of_birth="2005-01-01"),
        ],
        family_units=[{"members": ["mother", "kid"]}, {"members": ["sis1", "sis2"]}],
        relationships=[{"from": "sis1", "to": "sis2", "type": "sibling"}],
    )
    persons = {p.ref: p.person for p in record(agent, data=data).persons}
    assert not persons["mother"].is_unaccompanied and not persons["mother"].is_minor
    assert persons["kid"].is_minor and not persons["kid"].is_unaccompanied
    assert persons["alone"].is_minor and persons["alone"].is_unaccompanied  # 15 years old, alone
    assert persons["sis1"].is_unaccompanied and persons["sis2"].is_unaccompanied  # only minors in the unit
    assert set(Person.objects.filter(is_unaccompanied=True).values_list("given_names", flat=True)) == {
        "Kevin",
        "Ana",
        "Eva",
    }
    assert FamilyMembership.objects.filter(person=persons["sis1"], role="child").exists()


def test_apprehension_record_is_minor_on_the_encounter_date(agent):
    """Under 18 on the encounter date is a minor, even if an adult today."""
    data = intake_payload(
        persons=[person_data("p1", date_of_birth="2000-06-02")], family_units=[], relationships=[]
    )
    person = record(agent, data=data).persons[0].person  # 17 on 1 June 2018
    assert person.is_minor and person.is_unaccompanied


def test_apprehension_record_checks_occurred_at(agent):
    """The encounter time needs its offset and cannot be in the future."""
    assert (
        "no time zone" in rejected(agent, intake_payload(occurred_at="2018-06-01T10:15:00"))["occurred_at"][0]
    )
    future = (timezone.now() + timedelta(days=1)).isoformat()
    assert "in the future" in rejected(agent, intake_payload(occurred_at=future))["occurred_at"][0]


def test_apprehension_record_rejects_an_unknown_station(agent):
    """An unknown station is a validation error on `station`."""
    assert "Unknown station" in rejected(agent, intake_payload(station="XXX"))["station"][0]


def test_apprehension_record_only_at_the_agents_station(agent, mca):
    """A field agent records apprehensions at their own station only."""
    with pytest.raises(PermissionDenied, match="own station"):
        submit_intake(agent, intake_payload(station="MCA"))
    assert Apprehension.objects.count() == 0


def test_apprehension_record_reports_every_problem_at_once(agent):
    """Several invalid parts anywhere: all are reported together, nothing is saved."""
    data = intake_payload(
        station="",
        family_units=[{"members": ["p1", "nobody"]}],
        relationships=[{"from": "p1", "to": "p2", "type": "cousin"}],
    )
    data["persons"][0]["given_names"] = ""
    errors = rejected(agent, data)
    assert {
        "station",
        "persons[0].given_names",
        "family_units[0].members[1]",
        "relationships[0].type",
    } <= set(errors)


def test_apprehension_record_takes_typed_keyword_arguments(agent):
    """A Python caller gives the encounter as typed keyword arguments: dates, ids and refs."""
    mother = encountered(PersonFactory(given_names="Rosa", first_surname="Cruz", date_of_birth="1980-01-01"))
    result = apprehension_record(
        user=agent,
        occurred_at=datetime(2018, 6, 1, 16, 15, tzinfo=UTC),
        station="EPT",
        persons=[
            {"ref": "m", "existing_person": mother.pk},
            {"ref": "c", "given_names": "Luz", "first_surname": "Cruz", "date_of_birth": date(2010, 5, 5)},
        ],
        family_units=[{"members": ["m", "c"]}],
        relationships=[{"from": "m", "to": "c", "type": "parent"}],
        change_reason="typed",
    )
    child = result.persons[1].person
    assert (child.date_of_birth, child.is_minor, child.sex) == (date(2010, 5, 5), True, "U")
    rel = Relationship.objects.get(from_person=mother, to_person=child)
    assert (rel.evidence, rel.history.get().history_change_reason) == ("claimed", "typed")


def test_apprehension_record_refuses_entries_that_were_not_read(agent):
    """None for a person or an `existing_person` means the caller could not read it: nothing is
    written, even when the caller passes no message of its own."""
    before = row_counts()
    with pytest.raises(ValidationFailed) as excinfo:
        apprehension_record(
            user=agent,
            occurred_at=datetime(2018, 6, 1, 16, 15, tzinfo=UTC),
            station="EPT",
            persons=[
                {
                    "ref": "p1",
                    "given_names": "Ana",
                    "first_surname": "Cruz",
                    "date_of_birth": date(1990, 1, 1),
                },
                None,
                {"ref": "p3", "existing_person": None},
            ],
        )
    assert set(excinfo.value.errors) == {"persons[1]", "persons[2].existing_person"}
    assert row_counts() == before


def test_apprehension_record_reports_unreadable_values_with_the_rules_at_once(agent):
    """A value the serializer cannot read is named by its path, beside what the rules find, in one
    answer: the other persons are still checked."""
    data = intake_payload(station="XXX")
    data["persons"][0]["date_of_birth"] = "2018-02-30"
    data["persons"][0]["given_names"] = 5
    data["persons"][1]["a_number"] = "A123"
    data["relationships"][0]["type"] = "cousin"
    errors = rejected(agent, data)
    assert errors == {
        "persons[0].date_of_birth": ["Date of birth '2018-02-30' is not a date; write it as YYYY-MM-DD."],
        "persons[0].given_names": ["Given names must be text."],
        "station": ["Unknown station 'XXX'; use a station code from GET /api/v1/stations/."],
        "persons[1].a_number": [errors["persons[1].a_number"][0]],
        "relationships[0].type": [
            "Relationship type 'cousin' is not known; use one of parent, legal_guardian, sibling, "
            "grandparent, other_relative (from is the parent/guardian/grandparent of to)."
        ],
    }
    assert "A followed by 8 or 9 digits" in errors["persons[1].a_number"][0]


@pytest.mark.parametrize(
    ("change", "path", "message"),
    [
        (
            {"persons": [{"ref": "p1", "existing_person": "nobody"}]},
            "persons[0].existing_person",
            "'nobody' is not a person id; use the id of a person on file.",
        ),
        ({"persons": "p1"}, "persons", "List at least one person encountered."),
        (
            {"persons": ["p1"]},
            "persons[0]",
            "Each person is an object with a ref and either existing_person or details.",
        ),
        ({"occurred_at": "June 1st"}, "occurred_at", "'June 1st' is not a date and time; write it as "),
        ({"occurred_at": None}, "occurred_at", "Date and time of the encounter are required."),
        ({"relationships": {"from": "p1"}}, "relationships", "Relationships must be a list of {from, to, "),
        ({"family_units": [{"members": "p1 p2"}]}, "family_units[0].members", "List the refs of the persons"),
    ],
)
def test_apprehension_record_names_a_body_of_the_wrong_shape_by_its_path(agent, change, path, message):
    """A part of the body that is not of its shape gets one message at its path (and nothing more
    about the same part), never a 500."""
    data = {**intake_payload(family_units=[], relationships=[]), **change}
    errors = rejected(agent, data)
    assert list(errors) == [path]
    assert errors[path][0].startswith(message)


def test_apprehension_record_person_in_one_family_unit_per_encounter(agent):
    """A person listed in two family units of one encounter is named at the second."""
    data = intake_payload(
        persons=[person_data("a"), person_data("b", a_number=None), person_data("c", a_number=None)],
        family_units=[{"members": ["a", "b"]}, {"members": ["b", "c"]}],
        relationships=[],
    )
    errors = rejected(agent, data)
    assert "already in family_units[0]" in errors["family_units[1].members[0]"][0]


def test_apprehension_record_needs_a_capability(users, ept):
    """Roles without record_intake (e.g. HQ analyst) cannot record an apprehension."""
    with pytest.raises(PermissionDenied):
        submit_intake(users["hq_analyst"], intake_payload())


def test_apprehension_record_history_rows_copy_every_tracked_field(agent):
    """Each "created" history row written by the intake holds the row's values, author and reason."""
    result = record(agent, data=intake_payload(change_reason="checked"))
    objects = [
        result.apprehension,
        *(p.person for p in result.persons),
        *ApprehensionPerson.objects.filter(apprehension=result.apprehension),
        *FamilyUnit.objects.filter(apprehension=result.apprehension),
        *FamilyMembership.objects.filter(family_unit__apprehension=result.apprehension),
        *Relationship.objects.filter(apprehension=result.apprehension),
    ]
    assert len(objects) == 9
    for obj in objects:
        obj.refresh_from_db()
        history = obj.history.get()
        assert (history.history_type, history.history_user, history.history_change_reason) == (
            "+",
            agent,
            "checked",
        )
        for field in history.tracked_fields:
            assert getattr(history, field.attname) == getattr(obj, field.attname), (obj, field.name)
