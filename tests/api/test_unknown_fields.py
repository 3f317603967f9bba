"""A field the contract does not name is refused by its path on the POST endpoints, never dropped.

A client that misspells an optional field (`secnd_surname`) would otherwise lose its value without a
word (rule 3). Every field the contract and the app accept still passes, and a refused request saves
nothing (the whole request is atomic).
"""

import pytest

from apprehensions.models import Apprehension, FamilyUnit, Person, PersonIdentifier, Relationship
from separations.models import CustodyPeriod, Separation
from tests.separations.factories import StationFactory, family

pytestmark = pytest.mark.django_db


@pytest.fixture
def agent(api_client_for):
    StationFactory(code="EPT", timezone="America/Denver")
    return api_client_for("field_agent")


@pytest.fixture
def fam(agent):
    return family()


def person(ref: str, **fields) -> dict:
    return {
        "ref": ref,
        "given_names": "Ana",
        "first_surname": "Pérez",
        "sex": "F",
        "date_of_birth": "2013-09-30",
        "country_of_citizenship": "GT",
        **fields,
    }


def intake(**overrides) -> dict:
    return {
        "occurred_at": "2018-06-01T10:15:00-06:00",
        "station": "EPT",
        "persons": [
            person("p1", given_names="María José", date_of_birth="1988-04-02", a_number="A201234567"),
            person("p2"),
        ],
        "family_units": [{"members": ["p1", "p2"]}],
        "relationships": [{"from": "p1", "to": "p2", "type": "parent", "evidence": "claimed"}],
        **overrides,
    }


def counts() -> tuple[int, ...]:
    return (
        Apprehension.objects.count(),
        Person.objects.count(),
        PersonIdentifier.objects.count(),
        FamilyUnit.objects.count(),
        Relationship.objects.count(),
        Separation.objects.count(),
        CustodyPeriod.objects.count(),
        Person.history.count(),
    )


def test_intake_with_every_field_the_app_accepts_is_recorded(agent):
    """Each optional field of the contract and of the app, at every level, still passes."""
    on_file = agent.post("/api/v1/apprehensions/", intake(), format="json").json()["persons"][0]["id"]
    body = intake(
        location_description="Near the Paso del Norte bridge",
        change_reason="Intake at the bridge",
        persons=[
            person(
                "p1",
                given_names="Rosa",
                second_surname="Núñez",
                aliases=["Rosita"],
                date_of_birth="1985-01-02",
                dob_estimated=True,
                language="Spanish",
                a_number="A301234567",
                identifiers=[{"kind": "passport", "value": "G1234567", "issuer": "GT"}],
                match="new",
                match_note="Checked by hand",
            ),
            person("p2", given_names="Lucía"),
            {"ref": "p3", "existing_person": on_file},
        ],
        family_units=[{"members": ["p1", "p2"], "label": "Núñez family"}],
        relationships=[
            {
                "from": "p1",
                "to": "p2",
                "type": "parent",
                "evidence": "documented",
                "note": "Birth certificate seen",
                "document_kind": "birth certificate",
                "document_number": "BC-1",
            }
        ],
    )
    response = agent.post("/api/v1/apprehensions/", body, format="json")
    assert response.status_code == 201, response.json()
    assert [p["ref"] for p in response.json()["persons"]] == ["p1", "p2", "p3"]


def test_intake_misspelt_fields_at_every_level_are_refused_by_path_and_nothing_is_saved(agent):
    body = intake()
    body["locaton_description"] = "Near the bridge"
    body["persons"][1]["secnd_surname"] = "Núñez"
    body["persons"][0]["identifiers"] = [{"kind": "passport", "value": "G1234567", "isuer": "GT"}]
    body["family_units"][0]["lable"] = "Pérez family"
    body["relationships"][0]["evidance"] = "documented"
    before = counts()

    response = agent.post("/api/v1/apprehensions/", body, format="json")

    assert response.status_code == 400, response.content
    errors = response.json()
    assert set(errors) == {
        "locaton_description",
        "persons[1].secnd_surname",
        "persons[0].identifiers[0].isuer",
        "family_units[0].lable",
        "relationships[0].evidance",
    }
    assert errors["persons[1].secnd_surname"] == [
        "secnd_surname is not a field of a person; did you mean second_surname? Correct its name or "
        "remove it. Accepted fields: ref, existing_person, given_names, first_surname, second_surname, "
        "aliases, sex, date_of_birth, dob_estimated, country_of_citizenship, language, a_number, "
        "identifiers, match, match_note."
    ]
    assert "did you mean location_description?" in errors["locaton_description"][0]
    assert "did you mean issuer?" in errors["persons[0].identifiers[0].isuer"][0]
    assert "Accepted fields: members, label." in errors["family_units[0].lable"][0]
    accepted = "from, to, type, evidence, note, document_kind, document_number"
    assert accepted in errors["relationships[0].evidance"][0]
    assert counts() == before


def test_intake_unknown_field_is_reported_with_the_other_errors_in_one_answer(agent):
    """A field with no likely match says to remove it; the service's own errors come in the same 400."""
    body = intake(station="NOPE")
    body["persons"][0]["favourite_colour"] = "blue"
    response = agent.post("/api/v1/apprehensions/", body, format="json")
    assert response.status_code == 400
    errors = response.json()
    assert "station" in errors
    assert errors["persons[0].favourite_colour"][0].startswith(
        "favourite_colour is not a field of a person; correct its name or remove it. Accepted fields: ref, "
    )


def test_separation_request_misspelt_field_is_refused_and_nothing_is_saved(agent, fam):
    body = {
        "children": [str(fam.child.pk)],
        "adults": [str(fam.adult.pk)],
        "reason_code": "ZERO_TOLERANCE_PROSECUTION",
        "narative": "Adult referred for prosecution under 8 USC 1325",
        "occurred_at": "2018-06-01T14:00:00-06:00",
    }
    before = counts()
    response = agent.post("/api/v1/separations/", body, format="json")
    assert response.status_code == 400, response.content
    assert response.json() == {
        "narative": [
            "narative is not a field of a separation request; did you mean narrative? Correct its name "
            "or remove it. Accepted fields: children, adults, reason_code, narrative, occurred_at, "
            "place, family_unit, change_reason."
        ]
    }
    assert counts() == before


def test_separation_request_with_every_accepted_field_is_recorded(agent, fam):
    body = {
        "children": [str(fam.child.pk)],
        "adults": [str(fam.adult.pk)],
        "reason_code": "ZERO_TOLERANCE_PROSECUTION",
        "narrative": "Adult referred for prosecution under 8 USC 1325",
        "occurred_at": "2018-06-01T14:00:00-06:00",
        "place": "Paso del Norte",
        "family_unit": str(fam.unit.pk),
        "change_reason": "Referred for prosecution",
    }
    response = agent.post("/api/v1/separations/", body, format="json")
    assert response.status_code == 201, response.json()


def test_custody_transfer_misspelt_field_is_refused_and_nothing_is_saved(agent, fam):
    body = {"person": str(fam.child.pk), "agency": "CBP", "facilty": "Clint", "started_at": "nope"}
    before = counts()
    response = agent.post("/api/v1/custody-transfers/", body, format="json")
    assert response.status_code == 400, response.content
    errors = response.json()
    assert set(errors) == {"facilty", "started_at"}
    assert errors["facilty"] == [
        "facilty is not a field of a custody transfer; did you mean facility? Correct its name or "
        "remove it. Accepted fields: person, agency, facility, started_at, change_reason."
    ]
    assert counts() == before


def test_custody_transfer_with_every_accepted_field_is_recorded(agent, fam):
    body = {
        "person": str(fam.child.pk),
        "agency": "CBP",
        "facility": "Clint",
        "started_at": "2018-06-01T10:00:00-06:00",
        "change_reason": "Moved to Clint",
    }
    response = agent.post("/api/v1/custody-transfers/", body, format="json")
    assert response.status_code == 201, response.json()
    assert CustodyPeriod.objects.get(pk=response.json()["id"]).facility == "Clint"


def test_the_schema_says_which_bodies_refuse_other_fields(api_client_for):
    """What is refused above is what the schema says (`additionalProperties: false`), so a generated
    client validates before sending; a PATCH that lets `id` and `version` through says nothing."""
    schema = api_client_for("hq_analyst").get("/api/schema/", HTTP_ACCEPT="application/vnd.oai.openapi+json")
    components = schema.json()["components"]["schemas"]
    closed = sorted(name for name, c in components.items() if c.get("additionalProperties") is False)
    assert closed == [
        "ApprehensionInRequest",
        "ChecklistChangeRequest",
        "CustodyTransferInputRequest",
        "DecisionInputRequest",
        "FamilyUnitInRequest",
        "IdentifierInRequest",
        "IntakePersonInRequest",
        "IntakeRelationshipInRequest",
        "LinkDecisionRequest",
        "LinkRejectRequest",
        "PatchedSeparationCorrectionInputRequest",
        "SeparationRequestInputRequest",
        "WorklistStepInputRequest",
    ]
    assert "additionalProperties" not in components["PatchedRelationshipPatchRequest"]
