"""Accept, reject, merge and unmerge through the API and the pages; history everywhere; 409s clear."""

import pytest
from django.urls import reverse

from apprehensions.linkage.discovery import discover_links
from apprehensions.linkage.models import LinkCandidate, PersonMerge
from apprehensions.linkage.services import a_number_conflict_file, person_merge, person_references
from apprehensions.models import ApprehensionPerson, Person, Relationship
from separations.models import CustodyPeriod
from separations.services import custody_transfer

from . import handbuilt

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("_no_inline_pass")]


@pytest.fixture
def _no_inline_pass(settings):
    settings.LINKAGE_INCREMENTAL = "off"


@pytest.fixture
def people(agent):
    people = handbuilt.build(agent)
    discover_links()
    return people


def _candidate(a, b, kind):
    return LinkCandidate.objects.get(kind=kind, person_a__in=[a, b], person_b__in=[a, b])


URL = "/api/v1/link-candidates/"


def test_list_contract_shape_and_filters(people, api_client_for):
    """Analysts and auditors read the queue in the contract's shape; filters name bad values."""
    for role in ("hq_analyst", "auditor"):
        response = api_client_for(role).get(URL, {"kind": "relationship"})
        assert response.status_code == 200
        rows = response.json()["results"]
        assert {r["kind"] for r in rows} == {"relationship"} and len(rows) == 3
        first = rows[0]
        assert set(first) >= {"kind", "person_a", "person_b", "suggested_type", "score", "reasons", "status"}
        assert set(first["person_a"]) >= {"id", "a_number"}
        assert first["score"] >= rows[-1]["score"]
    bad = api_client_for("hq_analyst").get(URL, {"min_score": "high", "date_from": "June 1"})
    assert bad.status_code == 400
    assert "number from 0 to 1" in bad.json()["min_score"][0]
    assert "YYYY-MM-DD" in bad.json()["date_from"][0]
    station = api_client_for("hq_analyst").get(URL, {"station": "YUM", "kind": "duplicate_person"}).json()
    assert station["count"] >= 1 and all(r["station"] == "YUM" for r in station["results"])


def test_roles_without_the_capability_are_refused(people, api_client_for):
    candidate = _candidate(people["father"], people["son"], "relationship")
    for role in ("field_agent", "supervisor", "coordinator", "partner_agency"):
        assert api_client_for(role).get(URL).status_code == 403
    response = api_client_for("auditor").post(f"{URL}{candidate.pk}/accept/", {}, format="json")
    assert response.status_code == 403
    assert api_client_for("hq_analyst").delete(f"{URL}{candidate.pk}/").status_code == 405
    candidate.refresh_from_db()
    assert candidate.status == "proposed"


def test_accept_relationship_records_it_claimed_from_the_candidate(people, api_client_for, users):
    """Accepting a relationship records it (evidence claimed, source link discovery), with history."""
    candidate = _candidate(people["father"], people["son"], "relationship")
    response = api_client_for("hq_analyst").post(
        f"{URL}{candidate.pk}/accept/", {"reason": "same surname, 27 years"}, format="json"
    )
    assert response.status_code == 200, response.content
    assert response.json()["status"] == "accepted"
    rel = Relationship.objects.get(from_person=people["father"], to_person=people["son"])
    assert (rel.type, rel.evidence, rel.source) == ("parent", "claimed", "link_discovery")
    assert str(candidate.pk) in rel.note
    assert rel.history.first().history_user == users["hq_analyst"]
    candidate.refresh_from_db()
    assert candidate.result_id == rel.pk and candidate.history.count() == 2
    again = api_client_for("hq_analyst").post(f"{URL}{candidate.pk}/accept/", {}, format="json")
    assert again.status_code == 409 and "already decided" in again.json()["detail"]
    # Accepted pairs are not proposed again (and now the relationship itself rules them out).
    assert discover_links().created == 0


def test_reject_needs_a_reason_and_is_never_proposed_again(people, api_client_for):
    candidate = _candidate(people["sister"], people["brother"], "relationship")
    client = api_client_for("hq_analyst")
    missing = client.post(f"{URL}{candidate.pk}/reject/", {}, format="json")
    assert missing.status_code == 400 and "reason" in missing.json()
    response = client.post(f"{URL}{candidate.pk}/reject/", {"reason": "cousins, not siblings"}, format="json")
    assert response.status_code == 200 and response.json()["status"] == "rejected"
    result = discover_links(persist=False)
    assert candidate.key not in {c.key for c in result.candidates}
    assert LinkCandidate.objects.filter(key=candidate.key).count() == 1


def test_decisions_take_the_contracts_change_reason_and_refuse_unknown_fields(people, api_client_for):
    """Writes accept the contract's `change_reason` (stored in the history): a decision reads it as
    its reason. A field a decision does not know is refused by name, never dropped unseen."""
    client = api_client_for("hq_analyst")
    rejected = _candidate(people["sister"], people["brother"], "relationship")
    accepted = _candidate(people["father"], people["son"], "relationship")

    unknown = client.post(f"{URL}{rejected.pk}/reject/", {"reason": "cousins", "resaon": "x"}, format="json")
    assert unknown.status_code == 400 and "resaon" in unknown.json(), unknown.content
    unknown = client.post(f"{URL}{accepted.pk}/accept/", {"reasn": "father"}, format="json")
    assert unknown.status_code == 400 and "reasn" in unknown.json(), unknown.content
    rejected.refresh_from_db()
    accepted.refresh_from_db()
    assert rejected.status == accepted.status == "proposed"

    why = {"change_reason": "cousins, not siblings"}
    response = client.post(f"{URL}{rejected.pk}/reject/", why, format="json")
    assert response.status_code == 200, response.content
    assert response.json()["decision_reason"] == "cousins, not siblings"
    assert rejected.history.first().history_change_reason == "rejected: cousins, not siblings"
    why = {"change_reason": "birth certificate seen"}
    response = client.post(f"{URL}{accepted.pk}/accept/", why, format="json")
    assert response.status_code == 200, response.content
    assert accepted.history.first().history_change_reason == "accepted: birth certificate seen"


def test_accept_duplicate_merges_and_unmerge_restores_exactly(people, api_client_for, users):
    """Every reference moves to the survivor (with history); the merged record stays and leads there;
    unmerge puts back exactly what moved."""
    a, b = people["dup1_a"], people["dup1_b"]
    candidate = _candidate(a, b, "duplicate_person")
    before = {
        (m._meta.label, f.name): sorted(
            str(pk) for pk in m._default_manager.filter(**{f.attname: b.pk}).values_list("pk", flat=True)
        )
        for m, f in person_references()
    }
    client = api_client_for("hq_analyst")
    response = client.post(f"{URL}{candidate.pk}/accept/", {"reason": "same woman"}, format="json")
    assert response.status_code == 200, response.content
    merge = PersonMerge.objects.get(candidate=candidate)
    assert merge.survivor == a  # the record with the A-number survives
    assert merge.merged == b
    assert not ApprehensionPerson.objects.filter(person=b).exists()
    assert ApprehensionPerson.objects.filter(person=a).count() == 2
    moved_row = ApprehensionPerson.objects.filter(person=a).order_by("-created_at").first()
    assert moved_row.history.first().history_change_reason.startswith(f"merged {b.pk} into {a.pk}")
    assert Person.objects.filter(pk=b.pk).exists()  # the merged record stays
    # Intake opened a CBP custody period for each record: the duplicate's moves too (closed first).
    assert {e["model"] for e in merge.moved} == {
        "apprehensions.ApprehensionPerson",
        "separations.CustodyPeriod",
    }

    # The merged record's page leads to the survivor.
    from django.test import Client

    web = Client()
    web.force_login(users["hq_analyst"])
    page = web.get(reverse("apprehensions:person", args=[b.pk]))
    assert page.status_code == 200
    assert "This record was merged" in page.content.decode()
    assert reverse("apprehensions:person", args=[a.pk]) in page.content.decode()

    # Discovery leaves merged records alone.
    assert discover_links().created == 0

    undo = client.post(f"{URL}{candidate.pk}/unmerge/", {"reason": "sisters after all"}, format="json")
    assert undo.status_code == 200, undo.content
    assert undo.json()["status"] == "unmerged"
    after = {
        (m._meta.label, f.name): sorted(
            str(pk) for pk in m._default_manager.filter(**{f.attname: b.pk}).values_list("pk", flat=True)
        )
        for m, f in person_references()
    }
    assert after == before
    merge.refresh_from_db()
    assert merge.undone_at is not None and merge.history.count() == 2
    twice = client.post(f"{URL}{candidate.pk}/unmerge/", {"reason": "again"}, format="json")
    assert twice.status_code == 409
    # An undone merge is a decision: the pair is not proposed again.
    assert candidate.key not in {c.key for c in discover_links(persist=False).candidates}


def test_merge_settles_two_open_custody_periods_and_unmerge_reopens(people, api_client_for, users):
    """Both records in an open custody period: the duplicate's (the earlier) is closed when the
    survivor's began (separations' merge adjuster), so one stays open; an unmerge reopens it exactly."""
    a, b = people["dup3_a"], people["dup3_b"]
    for person in (b, a):
        custody_transfer(person_id=person.pk, agency="CBP", facility="Ursula", by=users["supervisor"])
    theirs = CustodyPeriod.objects.get(person=b, ended_at__isnull=True)
    candidate = _candidate(a, b, "duplicate_person")
    client = api_client_for("hq_analyst")
    response = client.post(f"{URL}{candidate.pk}/accept/", {"survivor": str(a.pk)}, format="json")
    assert response.status_code == 200, response.content
    assert (
        CustodyPeriod.objects.filter(person=a, ended_at__isnull=True, withdrawn_at__isnull=True).count() == 1
    )
    theirs.refresh_from_db()
    assert theirs.person_id == a.pk and theirs.ended_at is not None
    reasons = list(theirs.history.order_by("history_date").values_list("history_change_reason", flat=True))
    assert reasons[-2].startswith("closed: merged") and reasons[-1].startswith("merged")

    undone = client.post(f"{URL}{candidate.pk}/unmerge/", {"reason": "two people after all"}, format="json")
    assert undone.status_code == 200, undone.content
    theirs.refresh_from_db()
    assert theirs.person_id == b.pk and theirs.ended_at is None


def test_merge_keeps_the_latest_custody_move_whichever_record_holds_it(people, api_client_for, users):
    """The survivor in CBP since one day, the duplicate moved to HHS ORR later: the person is where
    the latest move put them. The survivor's older period closes when the duplicate's began (it
    kept the survivor's however old it was, so the person read 'now at CBP'); an unmerge reopens it."""
    a, b = people["dup3_a"], people["dup3_b"]
    custody_transfer(person_id=a.pk, agency="CBP", facility="Ursula", by=users["supervisor"])
    custody_transfer(person_id=b.pk, agency="HHS_ORR", facility="Casa Padre", by=users["supervisor"])
    mine = CustodyPeriod.objects.get(person=a, ended_at__isnull=True)
    theirs = CustodyPeriod.objects.get(person=b, ended_at__isnull=True)
    assert mine.started_at < theirs.started_at
    client = api_client_for("hq_analyst")
    candidate = _candidate(a, b, "duplicate_person")
    response = client.post(f"{URL}{candidate.pk}/accept/", {"survivor": str(a.pk)}, format="json")
    assert response.status_code == 200, response.content
    now = CustodyPeriod.objects.get(person=a, ended_at__isnull=True, withdrawn_at__isnull=True)
    assert now.pk == theirs.pk and now.agency == "HHS_ORR"
    mine.refresh_from_db()
    assert mine.ended_at == theirs.started_at

    undone = client.post(f"{URL}{candidate.pk}/unmerge/", {"reason": "two people after all"}, format="json")
    assert undone.status_code == 200, undone.content
    mine.refresh_from_db()
    theirs.refresh_from_db()
    assert (mine.person_id, mine.ended_at, theirs.person_id, theirs.ended_at) == (a.pk, None, b.pk, None)


def test_merge_refused_for_persons_in_the_same_apprehension(people, users):
    """Twins encountered together can never be one record: the shared apprehension blocks it."""
    from familylink.common.errors import BusinessRuleError

    with pytest.raises(BusinessRuleError, match="apprehension_person_unique|themself"):
        person_merge(survivor=people["twin_a"], merged=people["twin_b"], by=users["hq_analyst"])


def test_a_number_conflict_is_filed_once_and_never_merges(people, users, api_client_for):
    """The visibility helper's signal files an a_number_conflict for HQ; it never merges anything."""
    from apprehensions.signals import a_number_conflict_detected

    for _ in range(2):
        a_number_conflict_detected.send(
            sender=Person,
            a_number="A201234567",
            existing_person=people["dup1_a"],
            attempted_by=users["field_agent"],
            context="intake",
            other_person=None,
            entered={"given_names": "Rosa", "first_surname": "Pérez"},
        )
    conflict = LinkCandidate.objects.get(kind="a_number_conflict")
    assert conflict.person_b is None and conflict.details["a_number"] == "A201234567"
    assert "belongs to another person on file" in conflict.reasons[0]
    row = api_client_for("auditor").get(URL, {"kind": "a_number_conflict"}).json()["results"][0]
    assert row["person_a"]["a_number"] == "A201234567" and row["person_b"] is None
    missing = api_client_for("hq_analyst").post(f"{URL}{conflict.pk}/accept/", {}, format="json")
    assert missing.status_code == 400
    done = api_client_for("hq_analyst").post(
        f"{URL}{conflict.pk}/accept/", {"reason": "typo corrected on the new intake"}, format="json"
    )
    assert done.status_code == 200 and not PersonMerge.objects.exists()
    assert a_number_conflict_file(a_number="A1", existing_person=None) is None


def test_candidate_page_shows_encounters_in_the_stations_time(people, client, users):
    """Side by side, each encounter is at the station's wall clock with its zone (10:00 MDT at EPT),
    not the reader's UTC without a zone (16:00)."""
    candidate = _candidate(people["father"], people["son"], LinkCandidate.Kind.RELATIONSHIP)
    client.force_login(users["hq_analyst"])
    html = client.get(f"/link-candidates/{candidate.pk}/").content.decode()
    assert "EPT 2018-06-01 10:00 MDT" in html
    assert "2018-06-01 16:00" not in html


def test_decide_page_shows_every_refusal_and_404s_an_unknown_candidate(people, client, users):
    """A tampered survivor id and a missing decision are each explained on the page (the 400 page
    showed no message for either); deciding a candidate id that does not exist is a 404, not a 500."""
    import uuid

    dup = LinkCandidate.objects.filter(kind=LinkCandidate.Kind.DUPLICATE_PERSON).first()
    client.force_login(users["hq_analyst"])
    url = f"/link-candidates/{dup.pk}/decide/"
    tampered = client.post(url, {"decision": "accept", "survivor": str(uuid.uuid4()), "reason": "same"})
    html = tampered.content.decode()
    assert tampered.status_code == 400
    assert 'id="survivor-error"' in html and "one of the candidate&#x27;s two persons" in html
    assert ">same</textarea>" in html
    no_decision = client.post(url, {"decision": "maybe", "reason": "kept"})
    assert no_decision.status_code == 400
    assert "Choose Accept or Reject." in no_decision.content.decode()
    missing = client.post(f"/link-candidates/{uuid.uuid4()}/decide/", {"decision": "reject", "reason": "r"})
    assert missing.status_code == 404
    dup.refresh_from_db()
    assert dup.status == LinkCandidate.Status.PROPOSED


@pytest.mark.parametrize(
    ("params", "words"),
    [
        ({"kind": "zzz"}, "Unknown kind"),
        ({"status": "zzz"}, "Unknown status"),
        ({"station": "zzz"}, "No station has the code"),
    ],
)
def test_queue_names_every_refused_filter(people, client, users, params, words):
    """The banner said 'see the messages beside them', but a select filter (kind, status) has no
    message beside it, and an unknown station was taken silently (an empty queue, no word why)."""
    client.force_login(users["hq_analyst"])
    response = client.get("/link-candidates/", params)
    assert response.status_code == 200
    html = response.content.decode()
    shown = html.split('data-testid="filter-errors"', 1)[1].split("</ul>", 1)[0]
    assert words in shown
    assert response.context["errors"]


def test_api_queue_refuses_an_unknown_station(people, api_client_for):
    response = api_client_for("hq_analyst").get("/api/v1/link-candidates/", {"station": "ZZZ"})
    assert response.status_code == 400
    assert "station" in response.json()


def test_merge_then_next_says_where_the_undo_is(people, client, users):
    """After 'Accept' with 'then open the next proposed candidate', the message said 'You can undo
    the merge on this page' over another candidate's page, which has no undo for that merge."""
    dup = LinkCandidate.objects.filter(kind=LinkCandidate.Kind.DUPLICATE_PERSON).first()
    assert LinkCandidate.objects.filter(status=LinkCandidate.Status.PROPOSED).exclude(pk=dup.pk).exists()
    client.force_login(users["hq_analyst"])
    response = client.post(
        f"/link-candidates/{dup.pk}/decide/",
        {"decision": "accept", "reason": "same", "then": "next"},
        follow=True,
    )
    assert response.redirect_chain[-1][0] != f"/link-candidates/{dup.pk}/"
    shown = [str(m) for m in response.context["messages"]]
    assert len(shown) == 1
    assert "on this page" not in shown[0]
    dup.refresh_from_db()
    assert dup.person_a.full_name in shown[0] and "Link review (status Accepted)" in shown[0]


def test_candidate_page_and_queue_log_every_person_shown(people, client, users):
    """Both records of a candidate are shown in full (a child's among them): each view is in the
    access log (rule 3), as on the person page; the queue logs the persons it lists."""
    from audit.models import AccessLog

    candidate = _candidate(people["father"], people["son"], LinkCandidate.Kind.RELATIONSHIP)
    client.force_login(users["auditor"])
    assert client.get(f"/link-candidates/{candidate.pk}/").status_code == 200
    viewed = AccessLog.objects.filter(user=users["auditor"], action="view", path__contains=str(candidate.pk))
    assert {e.object_id for e in viewed} == {str(people["father"].pk), str(people["son"].pk)}
    assert viewed.get(object_id=str(people["son"].pk)).is_minor_record is True

    client.get("/link-candidates/", {"kind": "relationship"})
    listed = AccessLog.objects.filter(
        user=users["auditor"], action="list", path__startswith="/link-candidates/"
    )
    assert {str(people["father"].pk), str(people["son"].pk)} <= {e.object_id for e in listed}


def test_candidate_api_logs_every_person_it_returns(people, api_client_for, users):
    """The API returns both persons of each candidate (names, birth dates): each read is in the
    access log on the api channel (rule 3), as the review pages log theirs."""
    from audit.models import AccessLog

    candidate = _candidate(people["father"], people["son"], LinkCandidate.Kind.RELATIONSHIP)
    api = api_client_for("auditor")
    assert api.get(f"/api/v1/link-candidates/{candidate.pk}/").status_code == 200
    viewed = AccessLog.objects.filter(user=users["auditor"], action="view", channel="api")
    assert {e.object_id for e in viewed} == {str(people["father"].pk), str(people["son"].pk)}
    assert viewed.get(object_id=str(people["son"].pk)).is_minor_record is True

    assert api.get("/api/v1/link-candidates/", {"kind": "relationship"}).status_code == 200
    listed = AccessLog.objects.filter(user=users["auditor"], action="list", channel="api")
    assert {str(people["father"].pk), str(people["son"].pk)} <= {e.object_id for e in listed}
