"""`GET /api/v1/events/`: partners follow every change, oldest first, each event exactly once,
even when transactions commit in another order than they wrote."""

import threading
from urllib.parse import parse_qs, urlsplit

import pytest
from django.db import connection, transaction
from rest_framework.test import APIClient

from events.models import Event
from events.selectors import decode_cursor, encode_cursor
from reunification.services import case_close, case_step_update
from separations.services import custody_transfer
from tests.reunification.factories import approved_separation, family, years_ago

pytestmark = pytest.mark.django_db(transaction=True)

TICK = [
    ("contact_made", ""),
    ("parentage_verified", "dna"),
    ("parent_located", ""),
    ("background_check", ""),
    ("eligibility_decision", "eligible"),
    ("travel_arranged", ""),
]


def read_all(client: APIClient, url: str = "/api/v1/events/", *, pages: int = 50) -> tuple[list[dict], str]:
    """Follow `next` until a page comes back empty; returns the events and the last `next`."""
    seen: list[dict] = []
    for _ in range(pages):
        response = client.get(url)
        assert response.status_code == 200, response.content
        body = response.json()
        assert set(body) == {"next", "results"}
        seen += body["results"]
        url = body["next"]
        if not body["results"]:
            return seen, url
    raise AssertionError("the feed never ran dry")


def test_partner_reads_a_custody_transfer_and_a_case_closure_in_order(users, api_client_for):
    """The contract's promise: after a custody transfer and a case closure, a partner following the
    feed sees both, in the order they happened, with the contract's fields."""
    partner = api_client_for("partner_agency")
    _, start = read_all(partner)
    separation, (case,) = approved_separation(users, children=[years_ago(7)])
    moved = partner.post(
        "/api/v1/custody-transfers/",
        {"person": str(case.child_id), "agency": "HHS_ORR", "facility": "Casa Padre"},
        format="json",
    )
    assert moved.status_code == 201, moved.content
    for step, method in TICK:
        case_step_update(case_id=case.pk, step=step, done=True, method=method, by=users["coordinator"])
    case_close(case_id=case.pk, by=users["coordinator"], outcome="reunified", custody_agency="RELEASED")

    events, _ = read_all(partner, start)

    kinds = [e["type"] for e in events]
    assert kinds[:4] == ["separation.requested", "separation.in_effect", "case.opened", "custody.transferred"]
    assert kinds.index("custody.transferred") < kinds.index("case.closed")
    transfer = events[kinds.index("custody.transferred")]
    closure = events[kinds.index("case.closed")]
    assert set(transfer) == {"id", "type", "occurred_at", "recorded_at", "resource", "changes", "persons"}
    assert transfer["resource"] == {
        "type": "person",
        "id": str(case.child_id),
        "url": f"http://testserver/api/v1/persons/{case.child_id}/",
    }
    assert transfer["changes"]["agency"] == [None, "HHS_ORR"]
    assert closure["resource"]["url"] == f"http://testserver/api/v1/reunification-cases/{case.pk}/"
    assert closure["changes"] == {"status": ["in_progress", "reunified"], "outcome": [None, "reunified"]}
    # The resource links work for the partner (a person by id, a case by id).
    assert partner.get(transfer["resource"]["url"]).status_code == 200
    assert partner.get(closure["resource"]["url"]).status_code == 200
    assert len({e["id"] for e in events}) == len(events)
    assert [e["recorded_at"] for e in events] == sorted(e["recorded_at"] for e in events)


def test_feed_pages_with_a_cursor_and_never_repeats(users, api_client_for):
    """One event per page: following `next` yields each event once, in feed order; `next` is always
    given, so a partner polls it for newer events."""
    kids, adults = family(agent=users["field_agent"], children=[years_ago(8)])
    for agency in ("CBP", "ICE", "HHS_ORR"):
        custody_transfer(person_id=kids[0].pk, agency=agency, by=users["field_agent"])
    client = api_client_for("hq_analyst")

    events, last = read_all(client, "/api/v1/events/?limit=1")

    assert [e["changes"]["agency"][1] for e in events] == ["CBP", "ICE", "HHS_ORR"]
    custody_transfer(person_id=adults[0].pk, agency="USMS", by=users["field_agent"])
    newer, _ = read_all(client, last)
    assert [e["changes"]["agency"] for e in newer] == [[None, "USMS"]]
    in_order = [str(i) for i in Event.objects.order_by("xid", "position").values_list("id", flat=True)]
    assert in_order == [*[e["id"] for e in events], newer[0]["id"]]


def test_a_transaction_that_commits_late_is_not_skipped(users, api_client_for):
    """Transaction A writes first (lower xid and position) but commits after B; a reader who read
    B's event before A committed still gets A's event on the next page — once."""
    kids, adults = family(agent=users["field_agent"], children=[years_ago(8)])
    client = api_client_for("partner_agency")
    _, start = read_all(client)
    written, release, done = threading.Event(), threading.Event(), threading.Event()
    failures: list[BaseException] = []

    def slow_writer() -> None:
        try:
            with transaction.atomic():
                custody_transfer(person_id=kids[0].pk, agency="CBP", by=users["field_agent"])
                with connection.cursor() as cursor:
                    # Only the outbox trigger fires now (the outbox row exists, uncommitted); the
                    # audit chain's trigger stays deferred to this transaction's commit.
                    cursor.execute("SET CONSTRAINTS fl_event_custody IMMEDIATE")
                written.set()
                assert release.wait(30)
        except BaseException as exc:  # noqa: BLE001 - reported to the test thread
            failures.append(exc)
        finally:
            connection.close()
            done.set()

    thread = threading.Thread(target=slow_writer)
    thread.start()
    assert written.wait(30)
    custody_transfer(person_id=adults[0].pk, agency="ICE", by=users["field_agent"])  # B commits first

    first, after_b = read_all(client, start)
    release.set()
    assert done.wait(30) and not failures
    thread.join()
    second, after_a = read_all(client, after_b)
    third, _ = read_all(client, after_a)

    assert [e["persons"] for e in first] == [[str(adults[0].pk)]]
    assert [e["persons"] for e in second] == [[str(kids[0].pk)]]
    assert third == []
    late = Event.objects.get(person_ids=[kids[0].pk])
    early = Event.objects.get(person_ids=[adults[0].pk])
    # The hard case: the late transaction's event sorts BEFORE the one already read, so a plain
    # "id greater than the last one read" cursor would have skipped it.
    assert (late.xid, late.position) < (early.xid, early.position)


def test_feed_access_by_role(users, api_client_for):
    """Partner agencies, HQ analysts and auditors follow the feed; other roles 403; anonymous 401;
    every method but GET is 405 for those who may read it."""
    for role in ("partner_agency", "hq_analyst", "auditor"):
        assert api_client_for(role).get("/api/v1/events/").status_code == 200, role
    for role in ("field_agent", "supervisor", "coordinator"):
        response = api_client_for(role).get("/api/v1/events/")
        assert response.status_code == 403, role
    assert APIClient().get("/api/v1/events/").status_code == 401
    partner = api_client_for("partner_agency")
    for method in ("post", "put", "patch", "delete"):
        assert getattr(partner, method)("/api/v1/events/").status_code == 405, method


def test_bad_cursor_and_limit_are_field_keyed_400s(users, api_client_for):
    """A cursor not handed out by the feed, or a limit out of range, is a 400 naming the field."""
    client = api_client_for("partner_agency")
    forged = encode_cursor({"lo": None, "hi": None, "k": None})[:-3] + "abc"
    for bad in (forged, "garbage", "x" * 5000, "a\x00b"):
        response = client.get("/api/v1/events/", {"after": bad})
        assert response.status_code == 400, bad[:20]
        assert list(response.json()) == ["after"]
    for bad in ("0", "501", "ten", "99999999999999999999999"):
        response = client.get("/api/v1/events/", {"limit": bad})
        assert response.status_code == 400
        assert list(response.json()) == ["limit"]
    good = client.get("/api/v1/events/").json()["next"]
    cursor = parse_qs(urlsplit(good).query)["after"][0]
    assert decode_cursor(cursor)["hi"] is None


def test_events_are_in_the_openapi_schema(users, client):
    """The feed, the event object and the webhook delivery are in the generated schema."""
    client.force_login(users["hq_analyst"])
    schema = client.get("/api/schema/", HTTP_ACCEPT="application/vnd.oai.openapi+json").json()
    operation = schema["paths"]["/api/v1/events/"]["get"]
    assert {p["name"] for p in operation["parameters"]} >= {"after", "limit"}
    assert "FamilyLink-Signature" in operation["description"]
    assert set(schema["paths"]["/api/v1/events/"]) == {"get"}
    event = schema["components"]["schemas"]["Event"]
    assert set(event["properties"]) >= {"id", "type", "occurred_at", "recorded_at", "resource", "changes"}
    assert "custody.transferred" in str(schema["components"]["schemas"])
    # The webhook delivery is in the schema too: a callback POSTing the same Event object.
    (delivery,) = operation["callbacks"]["webhookDelivery"].values()
    body = delivery["post"]["requestBody"]["content"]["application/json"]["schema"]
    assert body == {"$ref": "#/components/schemas/Event"}
    assert "FamilyLink-Signature" in delivery["post"]["description"]
