"""The separations API flows of the contract, with the status codes and scoping of each role."""

from datetime import UTC, datetime

import pytest

from audit.models import AccessLog
from separations import services
from separations.models import CustodyPeriod, Separation

from .factories import family, in_effect_separation, request_separation

pytestmark = pytest.mark.django_db

BODY = {
    "reason_code": "ZERO_TOLERANCE_PROSECUTION",
    "narrative": "Adult referred for prosecution under 8 USC 1325",
    "occurred_at": "2018-06-01T14:00:00-06:00",
}


def body(fam, **extra):
    return {**BODY, "children": [str(fam.child.pk)], "adults": [str(fam.adult.pk)], **extra}


def test_separations_post_field_agent_requests(fam, api_client_for, users):
    """201 with status requested, both sides, ETag and version; the row and its members exist."""
    response = api_client_for("field_agent").post("/api/v1/separations/", body(fam), format="json")
    assert response.status_code == 201, response.content
    data = response.json()
    assert data["status"] == "requested"
    assert data["children"] == [str(fam.child.pk)]
    assert data["adults"] == [str(fam.adult.pk)]
    assert data["reason_code"] == "ZERO_TOLERANCE_PROSECUTION"
    assert data["reason_category"] == "policy"
    assert data["occurred_at"] == "2018-06-01T20:00:00Z"
    assert data["requested_by"] == "field_agent"
    assert data["version"] == 1
    assert response["ETag"] == f'"{data["id"]}-1"'
    separation = Separation.objects.get(pk=data["id"])
    assert separation.members.count() == 2


def test_separations_post_other_without_narrative_is_400(fam, api_client_for):
    response = api_client_for("field_agent").post(
        "/api/v1/separations/", body(fam, reason_code="OTHER", narrative=""), format="json"
    )
    assert response.status_code == 400
    assert "narrative" in response.json()
    assert Separation.objects.count() == 0


def test_separations_post_without_shared_unit_or_relationship_is_400(ept, api_client_for):
    mother = family(children=0, surname="Lopez", unit=False)
    girl = family(adults=0, surname="Ramos", unit=False)
    response = api_client_for("field_agent").post(
        "/api/v1/separations/",
        {**BODY, "children": [str(girl.child.pk)], "adults": [str(mother.adult.pk)]},
        format="json",
    )
    assert response.status_code == 400
    assert "share no family unit or recorded relationship" in response.json()["children[0]"][0]
    assert Separation.objects.count() == 0


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"occurred_at": "2018-06-01T14:00:00"}, "occurred_at"),
        ({"occurred_at": "last tuesday"}, "occurred_at"),
        ({"occurred_at": None}, "occurred_at"),
        ({"children": "abc"}, "children"),
        ({"children": ["abc"]}, "children[0]"),
        ({"adults": []}, "adults"),
        ({"reason_code": 12}, "reason_code"),
        ({"reason_code": "ZERO_TOLERANCE"}, "reason_code"),
        ({"family_unit": "xyz"}, "family_unit"),
        ({"place": "p" * 300}, "place"),
    ],
)
def test_separations_post_bad_input_names_the_field(fam, api_client_for, change, field):
    """Bad input is a 400 keyed by the field at fault, never a 500."""
    response = api_client_for("field_agent").post("/api/v1/separations/", body(fam, **change), format="json")
    assert response.status_code == 400, response.content
    assert field in response.json()


def test_separations_post_reports_all_field_errors_at_once(fam, api_client_for):
    """A bad time and a missing narrative for OTHER are both reported."""
    response = api_client_for("field_agent").post(
        "/api/v1/separations/",
        body(fam, occurred_at="2018-06-01", reason_code="OTHER", narrative=""),
        format="json",
    )
    assert response.status_code == 400
    assert {"occurred_at", "narrative"} <= set(response.json())


def test_separations_post_non_object_body_is_400(fam, api_client_for):
    response = api_client_for("field_agent").post("/api/v1/separations/", [1, 2], format="json")
    assert response.status_code == 400


@pytest.mark.parametrize("role", ["hq_analyst", "coordinator", "auditor", "partner_agency"])
def test_separations_post_refused_to_other_roles(fam, api_client_for, role):
    response = api_client_for(role).post("/api/v1/separations/", body(fam), format="json")
    assert response.status_code == 403
    assert Separation.objects.count() == 0


def test_separations_post_twice_is_409(fam, api_client_for):
    client = api_client_for("field_agent")
    assert client.post("/api/v1/separations/", body(fam), format="json").status_code == 201
    response = client.post("/api/v1/separations/", body(fam), format="json")
    assert response.status_code == 409
    assert "already has a requested separation" in response.json()["detail"]


def test_separations_approve_field_agent_is_403(fam, users, api_client_for):
    """A field agent never approves, not even another agent's request."""
    separation = request_separation(fam, users["supervisor"])
    response = api_client_for("field_agent").post(f"/api/v1/separations/{separation.pk}/approve/")
    assert response.status_code == 403
    separation.refresh_from_db()
    assert separation.status == "requested"


def test_separations_approve_self_approval_is_403(fam, users, api_client_for):
    """The supervisor who requested it cannot approve or reject it."""
    client = api_client_for("supervisor")
    created = client.post("/api/v1/separations/", body(fam), format="json").json()
    response = client.post(
        f"/api/v1/separations/{created['id']}/approve/", {"comment": "mine"}, format="json"
    )
    assert response.status_code == 403
    assert "cannot approve" in response.json()["detail"]
    response = client.post(f"/api/v1/separations/{created['id']}/reject/", {"comment": "mine"}, format="json")
    assert response.status_code == 403
    assert Separation.objects.get(pk=created["id"]).status == "requested"


def test_separations_approve_by_the_station_supervisor(fam, users, api_client_for):
    """Another supervisor of the station approves: in_effect, with who, when and comment."""
    created = api_client_for("field_agent").post("/api/v1/separations/", body(fam), format="json").json()
    client = api_client_for("supervisor")
    response = client.post(
        f"/api/v1/separations/{created['id']}/approve/", {"comment": "Referral confirmed"}, format="json"
    )
    assert response.status_code == 200, response.content
    data = response.json()
    assert data["status"] == "in_effect"
    assert data["decided_by"] == "supervisor"
    assert data["decision_comment"] == "Referral confirmed"
    assert data["version"] == 2
    assert response["ETag"] == f'"{created["id"]}-2"'
    again = client.post(f"/api/v1/separations/{created['id']}/approve/")
    assert again.status_code == 409


def test_separations_approve_other_station_supervisor_cannot_see_it(fam, users, yum_supervisor):
    from rest_framework.test import APIClient

    separation = request_separation(fam, users["field_agent"])
    client = APIClient()
    client.force_authenticate(yum_supervisor)
    assert client.post(f"/api/v1/separations/{separation.pk}/approve/").status_code == 404
    assert client.get(f"/api/v1/separations/{separation.pk}/").status_code == 404


def test_separations_approve_stale_if_match_is_412(fam, users, api_client_for):
    separation = request_separation(fam, users["field_agent"])
    response = api_client_for("supervisor").post(
        f"/api/v1/separations/{separation.pk}/approve/", HTTP_IF_MATCH=f'"{separation.pk}-9"'
    )
    assert response.status_code == 412
    ok = api_client_for("supervisor").post(
        f"/api/v1/separations/{separation.pk}/approve/", HTTP_IF_MATCH=separation.etag
    )
    assert ok.status_code == 200


def test_separations_reject_needs_a_comment(fam, users, api_client_for):
    separation = request_separation(fam, users["field_agent"])
    client = api_client_for("supervisor")
    response = client.post(f"/api/v1/separations/{separation.pk}/reject/", {}, format="json")
    assert response.status_code == 400
    assert "comment" in response.json()
    response = client.post(
        f"/api/v1/separations/{separation.pk}/reject/", {"comment": "Parentage verified"}, format="json"
    )
    assert response.status_code == 200
    assert response.json()["status"] == "rejected"


@pytest.mark.parametrize("role", ["field_agent", "supervisor", "hq_analyst", "auditor", "partner_agency"])
def test_separations_delete_is_405(fam, users, api_client_for, role):
    """Every DELETE on case data is 405, whatever the role."""
    separation = request_separation(fam, users["field_agent"])
    assert api_client_for(role).delete(f"/api/v1/separations/{separation.pk}/").status_code == 405
    assert api_client_for(role).delete("/api/v1/separations/").status_code == 405
    assert Separation.objects.filter(pk=separation.pk).exists()


def test_separations_list_is_scoped(fam, users, api_client_for, yum_agent):
    """Station staff see their station's separations; HQ all; partners only by id."""
    from rest_framework.test import APIClient

    separation = request_separation(fam, users["field_agent"])
    for role in ("field_agent", "supervisor", "hq_analyst", "coordinator", "auditor"):
        data = api_client_for(role).get("/api/v1/separations/").json()
        assert [r["id"] for r in data["results"]] == [str(separation.pk)], role
    yum = APIClient()
    yum.force_authenticate(yum_agent)
    assert yum.get("/api/v1/separations/").json()["count"] == 0
    partner = api_client_for("partner_agency")
    assert partner.get("/api/v1/separations/").status_code == 403
    assert partner.get(f"/api/v1/separations/{separation.pk}/").status_code == 403


def test_separations_list_filters(fam, users, api_client_for, ept):
    other = family(surname="Ramos")
    first = request_separation(fam, users["field_agent"])
    second = in_effect_separation(
        other, users["field_agent"], users["supervisor"], reason_code="CRIMINAL_HISTORY"
    )
    client = api_client_for("hq_analyst")

    def ids(query):
        return [r["id"] for r in client.get(f"/api/v1/separations/?{query}").json()["results"]]

    assert ids("status=requested") == [str(first.pk)]
    assert ids("status=in_effect") == [str(second.pk)]
    assert ids(f"person={other.child.pk}") == [str(second.pk)]
    assert ids("reason_code=criminal_history") == [str(second.pk)]
    assert client.get("/api/v1/separations/?status=lost").status_code == 400
    assert client.get("/api/v1/separations/?person=zzz").status_code == 400


def test_separations_detail_logs_the_view_of_the_child(fam, users, api_client_for):
    """Reading a separation logs the separation and each person on it (rule 3)."""
    separation = request_separation(fam, users["field_agent"])
    response = api_client_for("hq_analyst").get(f"/api/v1/separations/{separation.pk}/")
    assert response.status_code == 200
    members = {m["person"]["id"]: m for m in response.json()["members"]}
    assert members[str(fam.child.pk)]["side"] == "child"
    logged = AccessLog.objects.filter(user=users["hq_analyst"], channel="api")
    assert logged.filter(object_id=str(fam.child.pk), is_minor_record=True).exists()
    assert logged.filter(object_id=str(separation.pk), object_type="separations.separation").exists()


def test_separations_patch_corrects_with_if_match(fam, users, api_client_for):
    separation = in_effect_separation(fam, users["field_agent"], users["supervisor"])
    client = api_client_for("field_agent")
    url = f"/api/v1/separations/{separation.pk}/"
    change = {"occurred_at": "2018-05-11T09:00:00-06:00", "change_reason": "Processing log"}
    assert client.patch(url, change, format="json").status_code == 428
    assert client.patch(url, change, format="json", HTTP_IF_MATCH='"x-1"').status_code == 412
    response = client.patch(url, change, format="json", HTTP_IF_MATCH=client.get(url)["ETag"])
    assert response.status_code == 200, response.content
    assert response.json()["occurred_at"] == "2018-05-11T15:00:00Z"
    assert api_client_for("hq_analyst").patch(url, change, format="json").status_code == 403


def test_custody_transfers_post_by_station_staff_and_partners(fam, users, api_client_for):
    """The field agent records CBP custody; the partner reports the HHS ORR placement."""
    response = api_client_for("field_agent").post(
        "/api/v1/custody-transfers/",
        {
            "person": str(fam.child.pk),
            "agency": "CBP",
            "facility": "Clint",
            "started_at": "2018-06-01T10:00:00-06:00",
        },
        format="json",
    )
    assert response.status_code == 201, response.content
    response = api_client_for("partner_agency").post(
        "/api/v1/custody-transfers/",
        {
            "person": str(fam.child.pk),
            "agency": "HHS_ORR",
            "facility": "Casa Padre",
            "started_at": "2018-06-03T10:00:00-05:00",
            "change_reason": "ORR placement",
        },
        format="json",
    )
    assert response.status_code == 201
    assert response.json()["agency"] == "HHS_ORR" and response.json()["is_open"] is True
    periods = api_client_for("hq_analyst").get(f"/api/v1/persons/{fam.child.pk}/custody/").json()
    assert [p["agency"] for p in periods["results"]] == ["HHS_ORR", "CBP"]
    assert periods["results"][1]["ended_at"] == "2018-06-03T15:00:00Z"
    assert CustodyPeriod.objects.filter(person=fam.child, ended_at__isnull=True).count() == 1


@pytest.mark.parametrize(
    ("payload", "field"),
    [
        ({"agency": "FBI"}, "agency"),
        ({"person": "nope"}, "person"),
        ({"person": None}, "person"),
        ({"started_at": "2018-06-03"}, "started_at"),
        ({"started_at": "2999-01-01T00:00:00Z"}, "started_at"),
    ],
)
def test_custody_transfers_post_bad_input_is_400(fam, api_client_for, payload, field):
    data = {"person": str(fam.child.pk), "agency": "HHS_ORR", **payload}
    response = api_client_for("partner_agency").post("/api/v1/custody-transfers/", data, format="json")
    assert response.status_code == 400
    assert field in response.json()


def test_custody_transfers_scoping(fam, users, api_client_for, yum_agent):
    """Other station's agent: not visible (400); HQ and auditors: 403; coordinator only in separations."""
    from rest_framework.test import APIClient

    data = {"person": str(fam.child.pk), "agency": "ICE"}
    yum = APIClient()
    yum.force_authenticate(yum_agent)
    assert yum.post("/api/v1/custody-transfers/", data, format="json").status_code == 400
    assert (
        api_client_for("hq_analyst").post("/api/v1/custody-transfers/", data, format="json").status_code
        == 403
    )
    assert (
        api_client_for("auditor").post("/api/v1/custody-transfers/", data, format="json").status_code == 403
    )
    coordinator = api_client_for("coordinator")
    assert coordinator.post("/api/v1/custody-transfers/", data, format="json").status_code == 400
    in_effect_separation(fam, users["field_agent"], users["supervisor"])
    assert coordinator.post("/api/v1/custody-transfers/", data, format="json").status_code == 201
    assert api_client_for("partner_agency").get("/api/v1/custody-transfers/").status_code == 405


def test_person_custody_get_is_scoped_and_logged(fam, users, api_client_for, yum_agent):
    from rest_framework.test import APIClient

    services.custody_transfer(person_id=fam.child.pk, agency="CBP", by=users["field_agent"])
    response = api_client_for("partner_agency").get(f"/api/v1/persons/{fam.child.pk}/custody/")
    assert response.status_code == 200
    assert response.json()["count"] == 1
    assert AccessLog.objects.filter(
        user=users["partner_agency"], object_id=str(fam.child.pk), is_minor_record=True
    ).exists()
    yum = APIClient()
    yum.force_authenticate(yum_agent)
    assert yum.get(f"/api/v1/persons/{fam.child.pk}/custody/").status_code == 404


# --- the report -----------------------------------------------------------------------------


@pytest.fixture
def two_stations(fam, users, yum_agent):
    ept_sep = in_effect_separation(fam, users["field_agent"], users["supervisor"])
    services.custody_transfer(
        person_id=fam.child.pk, agency="HHS_ORR", facility="Casa Padre", by=users["partner_agency"]
    )
    yum_fam = family(station="YUM", surname="Ramos")
    from tests.conftest import make_user

    yum_sup = make_user("sup_yum", "supervisor", station="YUM")
    yum_sep = in_effect_separation(
        yum_fam,
        yum_agent,
        yum_sup,
        reason_code="CRIMINAL_HISTORY",
        occurred_at=datetime(2018, 5, 20, tzinfo=UTC),
    )
    return fam, yum_fam, ept_sep, yum_sep


def test_report_separated_children_for_hq_and_station(two_stations, api_client_for):
    """HQ sees both stations; the EPT supervisor sees EPT only; the shape follows the contract."""
    fam, yum_fam, ept_sep, _ = two_stations
    url = "/api/v1/reports/separated-children/?as_of=2018-06-20T09:00:00-06:00"
    data = api_client_for("hq_analyst").get(url).json()
    assert data["as_of"] == "2018-06-20T15:00:00Z"
    assert data["count"] == 2
    assert data["by_custody_agency"] == {"HHS_ORR": 1, "NONE": 1}
    assert data["by_reason_category"] == {"child_welfare": 1, "policy": 1}
    first = data["results"][0]
    assert first["child"]["id"] == str(fam.child.pk)
    assert first["adults"][0]["person"]["id"] == str(fam.adult.pk)
    assert first["child_current_custody"]["agency"] == "HHS_ORR"
    assert first["days_separated"] == 40
    assert first["reasons"][0]["code"] == "ZERO_TOLERANCE_PROSECUTION"
    station = api_client_for("supervisor").get(url).json()
    assert station["count"] == 1 and station["station"] == "EPT"
    assert [r["child"]["id"] for r in station["results"]] == [str(fam.child.pk)]


def test_report_separated_children_known_at_before_anything_was_entered(two_stations, api_client_for):
    url = "/api/v1/reports/separated-children/?as_of=2018-06-20T09:00:00Z&known_at=2018-06-20T09:00:00Z"
    data = api_client_for("auditor").get(url).json()
    assert data["count"] == 0 and data["results"] == []
    assert data["known_at"] == "2018-06-20T09:00:00Z"


def test_report_separated_children_without_as_of_answers_now(two_stations, api_client_for):
    data = api_client_for("coordinator").get("/api/v1/reports/separated-children/").json()
    assert data["count"] == 2


@pytest.mark.parametrize(
    ("query", "fields"),
    [
        ("as_of=yesterday", {"as_of"}),
        ("as_of=2018-06-20T09:00:00", {"as_of"}),
        ("known_at=2018-02-30T00:00:00Z", {"known_at"}),
        ("as_of=x&known_at=y", {"as_of", "known_at"}),
        ("page=0", {"page"}),
        ("page=abc", {"page"}),
    ],
)
def test_report_separated_children_bad_parameters_are_400(api_client_for, query, fields):
    """A bad as_of/known_at is a 400 naming the parameter, never a 500."""
    response = api_client_for("hq_analyst").get(f"/api/v1/reports/separated-children/?{query}")
    assert response.status_code == 400
    assert set(response.json()) == fields


def test_report_separated_children_plus_sign_unescaped(two_stations, api_client_for):
    """`+00:00` typed into a URL arrives as a space; it is read as the offset."""
    response = api_client_for("hq_analyst").get(
        "/api/v1/reports/separated-children/?as_of=2018-06-20T09:00:00+00:00"
    )
    assert response.status_code == 200
    assert response.json()["as_of"] == "2018-06-20T09:00:00Z"


@pytest.mark.parametrize("role", ["field_agent", "partner_agency"])
def test_report_separated_children_refused_to_roles(api_client_for, role):
    assert api_client_for(role).get("/api/v1/reports/separated-children/").status_code == 403


def test_report_separated_children_logs_children_shown(two_stations, api_client_for, users):
    fam, *_ = two_stations
    api_client_for("hq_analyst").get("/api/v1/reports/separated-children/")
    assert AccessLog.objects.filter(
        user=users["hq_analyst"], object_id=str(fam.child.pk), action="report", is_minor_record=True
    ).exists()


def test_report_separated_children_paginates(ept, users, api_client_for):
    for i in range(52):
        in_effect_separation(
            family(surname=f"S{i:02d}", occurred_at=datetime(2018, 4, 30, tzinfo=UTC)),
            users["field_agent"],
            users["supervisor"],
            occurred_at=datetime(2018, 5, 1, 0, i, tzinfo=UTC),
        )
    client = api_client_for("hq_analyst")
    first = client.get("/api/v1/reports/separated-children/?as_of=2018-06-01T00:00:00Z").json()
    assert first["count"] == 52 and len(first["results"]) == 50 and first["previous"] is None
    second = client.get(first["next"]).json()
    assert len(second["results"]) == 2 and second["next"] is None
    assert second["previous"] is not None
    seen = [r["child"]["id"] for r in first["results"] + second["results"]]
    assert len(set(seen)) == 52


def test_anonymous_gets_401(fam):
    from rest_framework.test import APIClient

    client = APIClient()
    for url in ("/api/v1/separations/", "/api/v1/reports/separated-children/", "/api/v1/custody-transfers/"):
        response = client.get(url)
        assert response.status_code == 401 and "WWW-Authenticate" in response


def test_openapi_schema_lists_the_separations_paths(users, client):
    client.force_login(users["hq_analyst"])
    schema = client.get("/api/schema/", HTTP_ACCEPT="application/vnd.oai.openapi+json")
    assert schema.status_code == 200
    for path in (
        "/api/v1/separations/{id}/approve/",
        "/api/v1/custody-transfers/",
        "/api/v1/persons/{id}/custody/",
        "/api/v1/reports/separated-children/",
    ):
        assert path.encode() in schema.content


def test_separation_correction_and_decision_refuse_a_misspelt_field(fam, users, api_client_for):
    """A correction's `narative` or a decision's `coment` is refused by name (rule 3), not dropped
    while the rest is written: nothing changes."""
    created = api_client_for("field_agent").post("/api/v1/separations/", body(fam), format="json").json()
    supervisor = api_client_for("supervisor")
    response = supervisor.post(
        f"/api/v1/separations/{created['id']}/approve/", {"coment": "Referral confirmed"}, format="json"
    )
    assert response.status_code == 400, response.content
    assert "did you mean comment?" in response.json()["coment"][0]
    assert Separation.objects.get(pk=created["id"]).status == "requested"

    approved = supervisor.post(
        f"/api/v1/separations/{created['id']}/approve/", {"comment": "Referral confirmed"}, format="json"
    )
    assert approved.status_code == 200, approved.content
    client = api_client_for("field_agent")
    url = f"/api/v1/separations/{created['id']}/"
    change = {"narative": "Corrected", "change_reason": "Processing log"}
    response = client.patch(url, change, format="json", HTTP_IF_MATCH=client.get(url)["ETag"])
    assert response.status_code == 400, response.content
    assert "did you mean narrative?" in response.json()["narative"][0]
    separation = Separation.objects.get(pk=created["id"])
    assert separation.version == 2 and separation.narrative != "Corrected"


def test_separation_decisions_accept_the_contracts_change_reason(fam, users, api_client_for):
    """Every write accepts an optional `change_reason`, stored in the history (API-CONTRACT.md):
    approve and reject take it like `comment`, and a rejection's `change_reason` is its reason."""
    supervisor = api_client_for("supervisor")
    first = api_client_for("field_agent").post("/api/v1/separations/", body(fam), format="json").json()
    response = supervisor.post(
        f"/api/v1/separations/{first['id']}/reject/",
        {"change_reason": "Parent not yet referred"},
        format="json",
    )
    assert response.status_code == 200, response.content
    assert response.json()["status"] == "rejected"
    rejected = Separation.objects.get(pk=first["id"])
    assert rejected.decision_comment == "Parent not yet referred"
    assert rejected.history.first().history_change_reason == "rejected: Parent not yet referred"

    second = api_client_for("field_agent").post("/api/v1/separations/", body(fam), format="json").json()
    response = supervisor.post(
        f"/api/v1/separations/{second['id']}/approve/", {"change_reason": "Referral confirmed"}, format="json"
    )
    assert response.status_code == 200, response.content
    assert response.json()["status"] == "in_effect"
    approved = Separation.objects.get(pk=second["id"])
    assert approved.history.first().history_change_reason == "approved: Referral confirmed"
