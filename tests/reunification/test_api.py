"""The reunification API per the contract: scoping per role, ETag/If-Match, claim 409, DELETE 405."""

from datetime import timedelta

import pytest
from django.utils import timezone

from audit.models import AccessLog
from reunification.models import ReunificationCase, WorklistItem
from reunification.services import worklists_build
from separations.models import Separation

from ..conftest import make_user
from .factories import approved_separation, ordering_scenario, years_ago

pytestmark = pytest.mark.django_db

STEPS = [
    {"step": "contact_made", "done": True},
    {"step": "parentage_verified", "done": True, "method": "documents"},
    {"step": "parent_located", "done": True},
    {"step": "background_check", "done": True},
    {"step": "eligibility_decision", "done": True, "method": "eligible"},
    {"step": "travel_arranged", "done": True},
]


@pytest.fixture
def ept_and_mca(users):
    """One EPT case (team EPT-REUNIFY) and one MCA case (team MCA-REUNIFY)."""
    _, (ept,) = approved_separation(users, children=[years_ago(4)])
    mca_users = {
        "field_agent": make_user("mca_agent", "field_agent", station="MCA"),
        "supervisor": make_user("mca_supervisor", "supervisor", station="MCA"),
    }
    _, (mca,) = approved_separation(mca_users, children=[years_ago(9)], at="MCA")
    return ept, mca


def ids(response):
    return {r["id"] for r in response.json()["results"]}


def test_reunification_cases_list_is_scoped_per_role(api_client_for, ept_and_mca):
    """Coordinator: own team; supervisor: own station; HQ and auditor: all; partner: not the list."""
    ept, mca = ept_and_mca
    both = {str(ept.pk), str(mca.pk)}
    assert ids(api_client_for("coordinator").get("/api/v1/reunification-cases/")) == {str(ept.pk)}
    assert ids(api_client_for("supervisor").get("/api/v1/reunification-cases/")) == {str(ept.pk)}
    assert ids(api_client_for("hq_analyst").get("/api/v1/reunification-cases/")) == both
    assert ids(api_client_for("auditor").get("/api/v1/reunification-cases/")) == both
    assert api_client_for("partner_agency").get("/api/v1/reunification-cases/").status_code == 403
    assert api_client_for("field_agent").get("/api/v1/reunification-cases/").status_code == 403


def test_reunification_case_detail_has_the_contract_fields_etag_and_logs_the_view(
    api_client_for, ept_and_mca, users
):
    """Detail: contract fields, ETag and version; partners read by id; other teams get 404; the view
    of a child's case is in the access log."""
    ept, mca = ept_and_mca
    response = api_client_for("partner_agency").get(f"/api/v1/reunification-cases/{ept.pk}/")
    assert response.status_code == 200
    body = response.json()
    for field in ("child", "adults", "separation", "status", "outcome", "due_at", "priority", "assigned_to"):
        assert field in body
    assert body["status"] == "open" and body["outcome"] == ""
    assert body["child"]["id"] == str(ept.child_id)
    assert len(body["adults"]) == 1
    assert body["separation"] == str(ept.separation_id)
    assert [s["step"] for s in body["checklist"]][0] == "contact_made" and len(body["checklist"]) == 7
    assert [c["clock"] for c in body["clocks"]] == ["contact", "reunify"]
    assert body["version"] == 1 and response["ETag"] == ept.etag
    log = AccessLog.objects.get(user=users["partner_agency"], object_id=str(ept.pk))
    assert log.channel == "api" and log.is_minor_record
    assert api_client_for("coordinator").get(f"/api/v1/reunification-cases/{mca.pk}/").status_code == 404


def test_reunification_case_patch_needs_if_match_and_refuses_stale_versions(api_client_for, ept_and_mca):
    """No If-Match → 428; a stale one → 412; the current one → 200 with the new ETag."""
    ept, _ = ept_and_mca
    client = api_client_for("coordinator")
    url = f"/api/v1/reunification-cases/{ept.pk}/"
    body = {"checklist": [{"step": "contact_made", "done": True}]}
    assert client.patch(url, body, format="json").status_code == 428
    assert client.patch(url, body, format="json", HTTP_IF_MATCH=f'"{ept.pk}-99"').status_code == 412
    response = client.patch(url, body, format="json", HTTP_IF_MATCH=ept.etag)
    assert response.status_code == 200
    ept.refresh_from_db()
    assert response["ETag"] == ept.etag and ept.version == 2
    assert response.json()["checklist"][0]["done_by"] == "coordinator"
    assert response.json()["status"] == "in_progress"


def test_reunification_case_patch_errors_name_the_field_path(api_client_for, ept_and_mca):
    """A missing parentage method is a 400 keyed `checklist[1].method`; nothing is saved."""
    ept, _ = ept_and_mca
    response = api_client_for("coordinator").patch(
        f"/api/v1/reunification-cases/{ept.pk}/",
        {"checklist": [{"step": "contact_made", "done": True}, {"step": "parentage_verified", "done": True}]},
        format="json",
        HTTP_IF_MATCH=ept.etag,
    )
    assert response.status_code == 400
    assert "documents" in response.json()["checklist[1].method"][0]
    assert not ept.steps.get(step="contact_made").is_done
    bad = api_client_for("coordinator").patch(
        f"/api/v1/reunification-cases/{ept.pk}/", {"team": "X"}, format="json", HTTP_IF_MATCH=ept.etag
    )
    assert bad.status_code == 400 and "team" in bad.json()


def test_reunification_case_patch_refuses_an_unknown_field_of_a_checklist_change(api_client_for, ept_and_mca):
    """A misspelt field inside a checklist change (`note` as `notes`) is a 400 at its path, never
    dropped unseen while the step is ticked; nothing is saved."""
    ept, _ = ept_and_mca
    response = api_client_for("coordinator").patch(
        f"/api/v1/reunification-cases/{ept.pk}/",
        {"checklist": [{"step": "contact_made", "done": True, "notes": "called the mother"}]},
        format="json",
        HTTP_IF_MATCH=ept.etag,
    )
    assert response.status_code == 400, response.content
    assert "did you mean note?" in response.json()["checklist[0].notes"][0]
    assert not ept.steps.get(step="contact_made").is_done


def test_reunification_case_unknown_id_is_a_readable_404(api_client_for, ept_and_mca):
    """An unknown case id, or one outside the caller's scope, is a 404 in words, the same for both."""
    _, mca = ept_and_mca
    client = api_client_for("coordinator")
    unknown = client.get("/api/v1/reunification-cases/00000000-0000-0000-0000-000000000000/")
    hidden = client.get(f"/api/v1/reunification-cases/{mca.pk}/")
    assert unknown.status_code == hidden.status_code == 404
    assert unknown.json()["detail"] == hidden.json()["detail"]
    assert unknown.json()["detail"] == "No reunification case with this id, or not one you may see."


def test_reunification_case_patch_closes_as_reunified(api_client_for, ept_and_mca):
    """Checklist and closing in one PATCH: the case is reunified and the separation ended."""
    ept, _ = ept_and_mca
    response = api_client_for("coordinator").patch(
        f"/api/v1/reunification-cases/{ept.pk}/",
        {
            "checklist": STEPS,
            "status": "reunified",
            "custody_facility": "Sponsor home",
            "change_reason": "done",
        },
        format="json",
        HTTP_IF_MATCH=ept.etag,
    )
    assert response.status_code == 200, response.json()
    assert response.json()["status"] == "reunified" and response.json()["outcome"] == "reunified"
    assert Separation.objects.get(pk=ept.separation_id).status == "ended"
    assert ReunificationCase.objects.get(pk=ept.pk).history.first().history_change_reason == "done"


def test_reunification_case_writes_are_refused_to_readers_and_delete_is_405(api_client_for, ept_and_mca):
    """Supervisor, auditor and partner cannot PATCH (403); DELETE is 405 for everyone signed in."""
    ept, _ = ept_and_mca
    url = f"/api/v1/reunification-cases/{ept.pk}/"
    body = {"checklist": [{"step": "contact_made", "done": True}]}
    for role in ("supervisor", "auditor", "partner_agency"):
        assert api_client_for(role).patch(url, body, format="json", HTTP_IF_MATCH=ept.etag).status_code == 403
    for role in ("coordinator", "auditor", "hq_analyst", "field_agent"):
        assert api_client_for(role).delete(url).status_code == 405
    assert ReunificationCase.objects.filter(pk=ept.pk).exists()


def test_worklist_by_date_lists_the_callers_team_in_order(api_client_for, users):
    """The day's items of the caller's team, in order; a bad date is a 400 naming `date`."""
    scenario = ordering_scenario(users)
    day = timezone.localdate()
    worklists_build(day=day)
    client = api_client_for("coordinator")
    response = client.get(f"/api/v1/worklists/{day.isoformat()}/")
    assert response.status_code == 200
    body = response.json()
    assert body["team"] == "EPT-REUNIFY" and body["date"] == day.isoformat() and body["count"] == 8
    assert [r["case"] for r in body["results"]] == [str(pk) for pk in scenario["expected"]]
    assert body["results"][0]["is_overdue"] is True
    empty = client.get(f"/api/v1/worklists/{(day - timedelta(days=1)).isoformat()}/").json()
    assert empty["count"] == 0 and empty["built_at"] is None
    assert client.get("/api/v1/worklists/2018-02-30/").json()["date"][0].startswith("Use a date")
    assert api_client_for("supervisor").get(f"/api/v1/worklists/{day.isoformat()}/").status_code == 403


def test_worklist_item_claim_is_409_when_already_claimed_and_complete_follows(api_client_for, users):
    """Claim → 200 (ETag); a second claim → 409 naming who has it; complete → 200; other teams → 404."""
    scenario = ordering_scenario(users)
    day = timezone.localdate()
    worklists_build(day=day)
    users["colleague"] = make_user("colleague", "coordinator", team="EPT-REUNIFY")
    item = WorklistItem.objects.get(worklist__team="EPT-REUNIFY", position=1)
    first = api_client_for("coordinator").post(f"/api/v1/worklist-items/{item.pk}/claim/")
    assert first.status_code == 200 and first.json()["claimed_by"] == "coordinator"
    assert first["ETag"]
    second = api_client_for("colleague").post(f"/api/v1/worklist-items/{item.pk}/claim/")
    assert second.status_code == 409 and "already claimed by" in second.json()["detail"]
    assert api_client_for("colleague").post(f"/api/v1/worklist-items/{item.pk}/complete/").status_code == 409
    done = api_client_for("coordinator").post(f"/api/v1/worklist-items/{item.pk}/complete/")
    assert done.status_code == 200 and done.json()["completed_by"] == "coordinator"
    nxt = api_client_for("colleague").post(f"/api/v1/worklists/{day.isoformat()}/claim-next/")
    assert nxt.status_code == 200 and nxt.json()["case"] == str(scenario["expected"][1])
    mca_item = WorklistItem.objects.get(worklist__team="MCA-REUNIFY")
    assert (
        api_client_for("coordinator").post(f"/api/v1/worklist-items/{mca_item.pk}/claim/").status_code == 404
    )
    assert api_client_for("auditor").post(f"/api/v1/worklist-items/{item.pk}/claim/").status_code == 403


def test_worklist_steps_store_the_contracts_change_reason_and_refuse_other_fields(api_client_for, users):
    """Claim, complete and claim-next are writes: each takes the contract's optional `change_reason`
    into the item's history; any other field is a 400 by name and claims nothing."""
    ordering_scenario(users)
    day = timezone.localdate()
    worklists_build(day=day)
    client = api_client_for("coordinator")
    item = WorklistItem.objects.get(worklist__team="EPT-REUNIFY", position=1)

    refused = client.post(f"/api/v1/worklist-items/{item.pk}/claim/", {"reason": "x"}, format="json")
    assert refused.status_code == 400 and "reason" in refused.json(), refused.content
    refused = client.post(f"/api/v1/worklists/{day.isoformat()}/claim-next/", {"note": "x"}, format="json")
    assert refused.status_code == 400 and "note" in refused.json(), refused.content
    assert not WorklistItem.objects.filter(claimed_by__isnull=False).exists()

    why = {"change_reason": "calling the mother now"}
    assert client.post(f"/api/v1/worklist-items/{item.pk}/claim/", why, format="json").status_code == 200
    assert item.history.first().history_change_reason == "claimed: calling the mother now"
    why = {"change_reason": "mother reached"}
    assert client.post(f"/api/v1/worklist-items/{item.pk}/complete/", why, format="json").status_code == 200
    assert item.history.first().history_change_reason == "completed: mother reached"
    why = {"change_reason": "next in line"}
    nxt = client.post(f"/api/v1/worklists/{day.isoformat()}/claim-next/", why, format="json")
    assert nxt.status_code == 200
    claimed = WorklistItem.objects.get(pk=nxt.json()["id"])
    assert claimed.history.first().history_change_reason == "claimed (next): next in line"
