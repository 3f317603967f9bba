"""Edits after intake: person_update, relationship_create, relationship_update."""

from datetime import UTC, date, timedelta
from types import SimpleNamespace

import pytest
from django.utils import timezone

from apprehensions.models import Person, Relationship
from apprehensions.serializers import (
    PersonPatchSerializer,
    RelationshipInSerializer,
    RelationshipPatchSerializer,
)
from apprehensions.services import person_update, relationship_create, relationship_update
from apprehensions.services.rules import ParentGraph
from familylink.common.api import validated_partly
from familylink.common.errors import PermissionDenied, StaleVersionError, ValidationFailed

from .factories import PersonFactory, encountered, intake_payload, person_data, record

pytestmark = pytest.mark.django_db


@pytest.fixture
def family(agent):
    """Mother (A201234567) and daughter recorded at EPT, mother → daughter parent link."""
    result = record(agent)
    return {p.ref: p.person for p in result.persons}


def test_person_update_changes_fields_with_history(agent, family):
    """An edit saves only the changed fields, bumps the version and keeps who and why."""
    mother = family["p1"]
    updated = person_update(
        person_id=mother.pk,
        user=agent,
        changes={"second_surname": "Nuñez", "a_number": "a 201 234 568"},
        change_reason="Typo in the sheet",
        expected_version=1,
    )
    assert (updated.second_surname, updated.a_number, updated.version) == ("Nuñez", "A201234568", 2)
    assert updated.name_normalized == "maria jose perez nunez"
    latest = updated.history.first()
    assert latest.history_change_reason == "Typo in the sheet" and latest.history_user == agent
    assert updated.history.count() == 2


def test_person_update_refuses_a_stale_version(agent, family):
    """Editing an older version than the one on file is refused; nothing changes."""
    mother = family["p1"]
    person_update(person_id=mother.pk, user=agent, changes={"language": "Spanish"}, expected_version=1)
    with pytest.raises(StaleVersionError, match="version 2"):
        person_update(person_id=mother.pk, user=agent, changes={"language": "Mam"}, expected_version=1)
    mother.refresh_from_db()
    assert mother.language == "Spanish"


def test_person_update_refuses_an_a_number_of_someone_else(agent, family):
    """An A-number already on file for another person the agent may see is refused, naming that person."""
    other = encountered(PersonFactory(a_number="A999999999", given_names="Otro", first_surname="Señor"))
    with pytest.raises(ValidationFailed) as excinfo:
        person_update(person_id=family["p1"].pk, user=agent, changes={"a_number": "999999999"})
    assert "already on file for Otro Señor" in excinfo.value.errors["a_number"][0]
    assert other.pk != family["p1"].pk


def test_person_update_keeps_parents_12_years_older(agent, family):
    """A date of birth that would make the mother less than 12 years older than her child is refused."""
    with pytest.raises(ValidationFailed) as excinfo:
        person_update(person_id=family["p1"].pk, user=agent, changes={"date_of_birth": date(2005, 1, 1)})
    assert "at least 12 years older" in excinfo.value.errors["date_of_birth"][0]


def test_person_patch_refuses_unknown_and_computed_fields():
    """A PATCH naming a field that is not editable is refused at that field (is_minor is computed by
    intake); `version` and `id`, sent back as read, are let through."""
    changes, errors = validated_partly(
        PersonPatchSerializer, {"is_minor": True, "version": 3, "id": "x", "language": "Mam"}
    )
    assert changes == {"language": "Mam"}
    assert errors == {
        "is_minor": [
            "is_minor cannot be changed here; editable fields are given_names, first_surname, "
            "second_surname, aliases, sex, date_of_birth, dob_estimated, country_of_citizenship, "
            "language, a_number."
        ]
    }


def test_person_update_only_at_own_station(users, family, mca):
    """A supervisor of another station cannot edit the person."""
    users["supervisor"].station = "MCA"
    with pytest.raises(PermissionDenied):
        person_update(person_id=family["p1"].pk, user=users["supervisor"], changes={"language": "Mam"})


def test_relationship_create_between_persons_on_file(agent, family):
    """A relationship between two persons on file is recorded with its history."""
    father = encountered(PersonFactory(given_names="Pedro", sex="M", date_of_birth="1980-01-01"))
    rel = relationship_create(
        user=agent,
        from_person=father.pk,
        to_person=family["p2"].pk,
        type="parent",
        change_reason="Father found",
    )
    assert (rel.from_person, rel.to_person, rel.evidence, rel.source) == (
        father,
        family["p2"],
        "claimed",
        "api",
    )
    assert rel.history.get().history_change_reason == "Father found"


def test_relationship_create_refuses_self(agent, family):
    """A person cannot be related to themself."""
    with pytest.raises(ValidationFailed) as excinfo:
        relationship_create(
            user=agent, from_person=family["p1"].pk, to_person=family["p1"].pk, type="sibling"
        )
    assert "themself" in excinfo.value.errors["to"][0]
    assert Relationship.objects.count() == 1


def test_relationship_create_refuses_a_cycle(agent, family):
    """The daughter recorded as parent of her mother would close a cycle of parent links."""
    with pytest.raises(ValidationFailed) as excinfo:
        relationship_create(user=agent, from_person=family["p2"].pk, to_person=family["p1"].pk, type="parent")
    messages = " ".join(excinfo.value.errors["non_field_errors"])
    assert "cycle of parent links" in messages and "at least 12 years older" in messages


def test_relationship_create_refuses_a_duplicate(agent, family):
    """The same active relationship twice is refused."""
    with pytest.raises(ValidationFailed, match="already recorded as parent"):
        relationship_create(user=agent, from_person=family["p1"].pk, to_person=family["p2"].pk, type="parent")


def test_relationship_create_needs_a_person_at_own_station(agent, ept):
    """Persons not encountered at the agent's station: refused as unknown ids (no one revealed)."""
    a, b = PersonFactory(date_of_birth="1980-01-01"), PersonFactory(date_of_birth="2010-01-01")
    with pytest.raises(ValidationFailed) as excinfo:
        relationship_create(user=agent, from_person=a.pk, to_person=b.pk, type="parent")
    assert excinfo.value.errors == {
        "from": [f"'{a.pk}' is not the id of a person on file; use a person's id."],
        "to": [f"'{b.pk}' is not the id of a person on file; use a person's id."],
    }
    assert not Relationship.objects.filter(from_person=a).exists()


def test_relationship_post_reads_ids_and_refuses_other_fields():
    """`from`/`to` are read as person ids (the same words as for a person out of scope); a field the
    body may not hold is named."""
    values, errors = validated_partly(
        RelationshipInSerializer, {"from": "p1", "to": None, "type": "parent", "apprehension": "x"}
    )
    assert values == {"from_person": None, "to_person": None, "type": "parent"}
    assert errors == {
        "from": ["'p1' is not the id of a person on file; use a person's id."],
        "apprehension": [
            "apprehension cannot be changed here; editable fields are from, to, type, evidence, note, "
            "document_kind, document_number."
        ],
    }


def test_relationship_update_changes_evidence(agent, family):
    """Evidence can be upgraded; the document seen may follow later (until then HQ follows it up)."""
    rel = Relationship.objects.get()
    rel = relationship_update(
        relationship_id=rel.pk, user=agent, changes={"evidence": "documented"}, expected_version=1
    )
    assert rel.document_not_named
    rel = relationship_update(
        relationship_id=rel.pk,
        user=agent,
        changes={"evidence": "documented", "document_kind": "birth certificate", "document_number": "GT-88"},
        expected_version=2,
    )
    assert (rel.evidence, rel.document_kind, rel.version) == ("documented", "birth certificate", 3)
    assert not rel.document_not_named
    assert rel.history.count() == 3


def test_relationship_update_type_change_keeps_the_rules(agent):
    """Changing a sibling link into a parent link between persons born a year apart is refused."""
    result = record(
        agent,
        data=intake_payload(
            persons=[
                person_data("a", date_of_birth="2005-01-01"),
                person_data("b", date_of_birth="2006-01-01"),
            ],
            family_units=[],
            relationships=[{"from": "a", "to": "b", "type": "sibling"}],
        ),
    )
    rel = Relationship.objects.get(from_person=result.persons[0].person)
    with pytest.raises(ValidationFailed, match="at least 12 years older"):
        relationship_update(relationship_id=rel.pk, user=agent, changes={"type": "parent"})


def test_relationship_update_coordinator_changes_evidence_only_for_their_team_cases(users, agent, family):
    """A coordinator changes evidence (never the type) of relationships of persons in their team's
    reunification cases: not before a case exists, never for another team's cases."""
    from datetime import datetime

    from separations.services import separation_approve, separation_request
    from tests.conftest import make_user

    rel = Relationship.objects.get()
    coordinator = users["coordinator"]
    other_team = make_user("coord_yum", "coordinator", team="YUM-REUNIFY")
    separation = separation_request(
        requester=agent,
        children=[family["p2"].pk],
        adults=[family["p1"].pk],
        reason_code="ZERO_TOLERANCE_PROSECUTION",
        occurred_at=datetime(2018, 6, 2, 12, tzinfo=UTC),
    )
    with pytest.raises(PermissionDenied):  # in a separation, but no case of the team yet
        relationship_update(relationship_id=rel.pk, user=coordinator, changes={"evidence": "dna_verified"})
    separation_approve(separation_id=separation.pk, approver=users["supervisor"])
    with pytest.raises(PermissionDenied):  # the case is EPT-REUNIFY's, not YUM-REUNIFY's
        relationship_update(relationship_id=rel.pk, user=other_team, changes={"evidence": "dna_verified"})
    rel.refresh_from_db()
    assert rel.evidence == "claimed" and rel.history.count() == 1
    rel = relationship_update(relationship_id=rel.pk, user=coordinator, changes={"evidence": "dna_verified"})
    assert rel.evidence == "dna_verified"
    with pytest.raises(ValidationFailed) as excinfo:
        relationship_update(relationship_id=rel.pk, user=coordinator, changes={"type": "legal_guardian"})
    assert excinfo.value.errors == {
        "type": [
            "type cannot be changed here; editable fields are evidence, note, document_kind, document_number."
        ]
    }
    # A PATCH naming a field that is no relationship field at all gets the same words.
    context = {"request": SimpleNamespace(user=coordinator), "relationship": rel}
    changes, errors = validated_partly(
        RelationshipPatchSerializer, {"foo": 1, "note": "seen"}, context=context
    )
    assert changes == {"note": "seen"}
    assert errors == {
        "foo": [
            "foo cannot be changed here; editable fields are evidence, note, document_kind, document_number."
        ]
    }


def test_parent_graph_finds_descendants_through_new_and_recorded_links():
    """The cycle check walks links on file and links of the request together."""
    on_file = {"a": {"b"}, "b": {"c"}}
    graph = ParentGraph(loader=lambda ids: {i: on_file[i] for i in ids if i in on_file})
    graph.add("c", "d")
    assert graph.reaches("a", "d")
    assert graph.would_cycle("d", "a")
    assert not graph.would_cycle("a", "d")
    assert graph.would_cycle("x", "x")


def test_person_identity_is_unchanged_by_a_failed_edit(agent, family):
    """A rejected edit changes nothing and writes no history."""
    with pytest.raises(ValidationFailed):
        person_update(
            person_id=family["p1"].pk,
            user=agent,
            changes={"given_names": "", "date_of_birth": timezone.localdate() + timedelta(days=1)},
        )
    mother = Person.objects.get(pk=family["p1"].pk)
    assert mother.given_names == "María José" and mother.history.count() == 1
