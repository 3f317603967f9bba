"""The contract, read from ../shared/API-CONTRACT.md itself: its example bodies are posted as written
(only the placeholder ids replaced by real ones) and its codes, roles and statuses are what the app uses."""

import json
import re
from pathlib import Path

import pytest
from django.contrib.auth.models import Group

from apprehensions.models import Relationship
from reunification.models import ReunificationCase
from separations.models import CustodyPeriod, ReasonCode, Separation

pytestmark = pytest.mark.django_db

CONTRACT = Path(__file__).resolve().parents[3] / "shared" / "API-CONTRACT.md"


def contract_text() -> str:
    assert CONTRACT.exists(), f"the API contract is expected at {CONTRACT} (shared/ beside the repository)"
    return CONTRACT.read_text(encoding="utf-8")


def json_examples() -> list[dict]:
    return [json.loads(block) for block in re.findall(r"```json\n(.*?)```", contract_text(), flags=re.S)]


def codes(label: str) -> list[str]:
    """The backticked codes of one bullet of the contract's Codes part, e.g. codes("custody `agency`")."""
    line = next(li for li in contract_text().split("\n- ") if li.startswith(label))
    return re.findall(r"`([a-zA-Z_]+)`", line.split(":", 1)[1].split("(", 1)[0] if ":" in line else line)


@pytest.fixture
def stations(db):
    from apprehensions.demo import ensure_stations

    ensure_stations()


def test_contract_examples_are_posted_as_written_and_succeed(stations, users, api_client_for):
    """The apprehension example (p3: a person already on file) → 201; the separation example, naming
    the child and adult just recorded → 201 requested; a supervisor approves → in effect, one case."""
    apprehension, separation = json_examples()
    agent = api_client_for("field_agent")
    on_file = agent.post(
        "/api/v1/apprehensions/",
        {
            "occurred_at": "2018-05-30T08:00:00-06:00",
            "station": "EPT",
            "persons": [
                {
                    "ref": "x",
                    "given_names": "Rosa",
                    "first_surname": "Tzul",
                    "sex": "F",
                    "date_of_birth": "1990-01-01",
                }
            ],
        },
        format="json",
    )
    assert on_file.status_code == 201, on_file.json()
    body = json.loads(
        json.dumps(apprehension).replace(
            "<id of a person already on file>", on_file.json()["persons"][0]["id"]
        )
    )

    created = agent.post("/api/v1/apprehensions/", body, format="json")

    assert created.status_code == 201, created.json()
    ids = {p["ref"]: p["id"] for p in created.json()["persons"]}
    assert set(ids) == {"p1", "p2", "p3"} and created.json()["id"]
    mother = agent.get(f"/api/v1/persons/{ids['p1']}/").json()
    assert mother["a_number"] == "A201234567" and mother["version"] >= 1
    rel = Relationship.objects.get(from_person_id=ids["p1"], to_person_id=ids["p2"])
    assert (rel.type, rel.evidence) == ("parent", "claimed")

    sep_body = {**separation, "children": [ids["p2"]], "adults": [ids["p1"]]}
    requested = agent.post("/api/v1/separations/", sep_body, format="json")
    assert requested.status_code == 201, requested.json()
    assert requested.json()["status"] == "requested"
    approved = api_client_for("supervisor").post(f"/api/v1/separations/{requested.json()['id']}/approve/")
    assert approved.status_code == 200, approved.json()
    assert approved.json()["status"] == "in_effect"
    assert ReunificationCase.objects.filter(child_id=ids["p2"]).count() == 1


def test_contract_codes_are_the_apps_codes(db):
    """Roles, relationship types and evidence, reason codes, agencies, statuses as the contract names them."""
    roles = re.findall(
        r"`([a-z_]+)`", contract_text().split("- roles (Django group names):", 1)[1].split("\n- ", 1)[0]
    )
    assert set(roles) <= set(Group.objects.values_list("name", flat=True)) and len(roles) == 6
    assert set(codes("relationship `type`")) <= set(Relationship.Type.values)
    assert set(codes("relationship `evidence`")) <= set(Relationship.Evidence.values)
    reasons = re.findall(
        r"`([A-Z_]+)`",
        contract_text().split("separation `reason_code` (at least):", 1)[1].split("\n- ", 1)[0],
    )
    assert len(set(reasons)) == 10 and set(reasons) <= set(ReasonCode.objects.values_list("code", flat=True))
    assert set(codes("custody `agency`")) <= set(CustodyPeriod.Agency.values)
    assert set(codes("separation `status`")) == set(Separation.Status.values)
    assert set(codes("reunification case `status`")) <= set(ReunificationCase.Status.values)


def test_contract_error_statuses(stations, users, api_client_for, client):
    """401 with WWW-Authenticate, 403 for the role, 404 unknown, 405 DELETE, 400 keyed by field path."""
    from rest_framework.test import APIClient

    anonymous = APIClient().get("/api/v1/persons/")
    assert anonymous.status_code == 401 and anonymous.has_header("WWW-Authenticate")
    assert api_client_for("auditor").post("/api/v1/apprehensions/", {}, format="json").status_code == 403
    hq = api_client_for("hq_analyst")
    assert hq.get("/api/v1/persons/00000000-0000-0000-0000-000000000000/").status_code == 404
    assert hq.delete("/api/v1/persons/00000000-0000-0000-0000-000000000000/").status_code == 405
    bad = api_client_for("field_agent").post(
        "/api/v1/apprehensions/",
        {
            "occurred_at": "2018-06-01T10:15:00-06:00",
            "station": "EPT",
            "persons": [{"ref": "a", "given_names": "X", "a_number": "A12"}],
        },
        format="json",
    )
    assert bad.status_code == 400 and "persons[0].a_number" in bad.json()
