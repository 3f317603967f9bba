"""Webhooks through a real Celery worker to a real HTTP receiver: each event arrives once, signed;
a receiver that goes away delays delivery, loses nothing, doubles nothing."""

import hashlib
import hmac
import json
import re
import threading
import time
from collections import Counter
from datetime import timedelta

import pytest
from django.db import connection
from django.utils import timezone

from events.models import Event, FeedCursor, WebhookAttempt, WebhookDelivery, WebhookEndpoint
from events.services import DISPATCH_CURSOR, retry_delay, signature, webhook_deliver, webhooks_dispatch
from events.tasks import deliver, dispatch_webhooks
from familylink.common.models import User
from separations.services import custody_transfer
from tests.db import connect_as
from tests.reunification.factories import family, years_ago
from tests.reunification.test_tasks import celery_worker_process  # noqa: F401 - the real worker fixture

from .receiver import Receiver

pytestmark = pytest.mark.django_db(transaction=True)

SECRET = "partner-shared-secret"


def verify(received, secret: str = SECRET) -> dict:
    """What a partner does: check the signature over "<t>.<body>", then read the event."""
    parts = dict(p.split("=", 1) for p in received.headers["FamilyLink-Signature"].split(","))
    expected = hmac.new(
        secret.encode(), f"{parts['t']}.".encode() + received.body, hashlib.sha256
    ).hexdigest()
    assert hmac.compare_digest(parts["v1"], expected)
    assert abs(int(parts["t"]) - time.time()) < 300
    assert received.headers["Content-Type"] == "application/json"
    return json.loads(received.body)


def beat_until(condition, *, timeout: float = 90, every: float = 0.5) -> None:
    """Play Celery beat: run the dispatcher on the worker until `condition()` holds."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        dispatch_webhooks.delay().get(timeout=60)
        if condition():
            return
        time.sleep(every)
    raise AssertionError("condition not met in time")


@pytest.fixture
def receiver():
    server = Receiver().start()
    yield server
    server.stop()


@pytest.fixture
def fast_retries(monkeypatch):
    """The worker process reads these from its environment: second-scale backoff for the test."""
    monkeypatch.setenv("WEBHOOK_RETRY_BASE_SECONDS", "1")
    monkeypatch.setenv("WEBHOOK_RETRY_MAX_SECONDS", "2")
    monkeypatch.setenv("WEBHOOK_TIMEOUT_SECONDS", "3")


@pytest.mark.slow
def test_each_event_arrives_once_signed_and_an_outage_delays_without_loss(
    users,
    receiver,
    fast_retries,
    celery_worker_process,  # noqa: F811
):
    kids, adults = family(agent=users["field_agent"], children=[years_ago(8)])
    endpoint = WebhookEndpoint(name="HHS ORR", url=receiver.url + "/hooks", secret=SECRET)
    endpoint.save()
    only_closures = WebhookEndpoint(
        name="Closures only", url=receiver.url + "/closures", event_types=["case.closed"]
    )
    only_closures.save()
    for agency in ("CBP", "ICE", "HHS_ORR"):
        custody_transfer(person_id=kids[0].pk, agency=agency, by=users["field_agent"])

    beat_until(lambda: len(receiver.requests) >= 3)

    bodies = [verify(r) for r in receiver.requests]
    assert [b["changes"]["agency"][1] for b in bodies] == ["CBP", "ICE", "HHS_ORR"]
    assert {b["type"] for b in bodies} == {"custody.transferred"}
    assert all(r.path == "/hooks" for r in receiver.requests)  # the other endpoint wants closures only
    assert [r.headers["FamilyLink-Event-Id"] for r in receiver.requests] == [b["id"] for b in bodies]
    assert set(bodies[0]) == {"id", "type", "occurred_at", "recorded_at", "resource", "changes", "persons"}

    # The receiver goes away; two more changes happen.
    receiver.stop()
    outage_started = timezone.now()
    custody_transfer(person_id=adults[0].pk, agency="USMS", by=users["field_agent"])
    custody_transfer(person_id=adults[0].pk, agency="ICE", by=users["field_agent"])
    beat_until(
        lambda: WebhookDelivery.objects.filter(status="retrying", attempts__gte=2).count() == 2, timeout=60
    )
    failed = WebhookAttempt.objects.filter(succeeded=False)
    assert failed.count() >= 4 and all(a.status_code is None and a.error for a in failed)
    assert len(receiver.requests) == 3  # nothing arrived while it was down

    receiver.start()  # back on the same port
    beat_until(lambda: len(receiver.requests) >= 5)
    beat_until(lambda: not WebhookDelivery.objects.exclude(status="delivered").exists(), timeout=30)
    for _ in range(4):  # more beats after everything was delivered: nothing is sent again
        dispatch_webhooks.delay().get(timeout=60)
    time.sleep(1)

    ids = Counter(verify(r)["id"] for r in receiver.requests)
    events = Event.objects.filter(type="custody.transferred")
    assert set(ids) == {str(e.id) for e in events} and len(ids) == 5
    assert max(ids.values()) == 1  # none doubled
    delayed = WebhookDelivery.objects.filter(event__person_ids=[adults[0].pk])
    assert all(
        d.status == "delivered" and d.attempts >= 3 and d.delivered_at > outage_started for d in delayed
    )
    assert all(d.attempt_rows.filter(succeeded=True).count() == 1 for d in WebhookDelivery.objects.all())
    assert all(a.latency_ms >= 0 for a in WebhookAttempt.objects.all())
    assert WebhookDelivery.objects.filter(endpoint=only_closures).count() == 0

    # A duplicate task message for an acknowledged delivery sends nothing (acks_late redelivery).
    done = WebhookDelivery.objects.filter(status="delivered").first()
    assert deliver.delay(str(done.pk)).get(timeout=60) == "delivered"
    time.sleep(0.5)
    assert len(receiver.requests) == 5
    assert done.history.count() >= 3  # dispatched, queued, delivered: every step kept


def test_failures_back_off_exponentially_and_give_up_after_the_retry_window(users, receiver):
    """A receiver answering 503 gets retries spaced 30 s, 60 s, 120 s … capped at an hour, for at
    least 24 hours after the first attempt; then the delivery is marked failed, attempts kept."""
    assert [retry_delay(n).total_seconds() for n in (1, 2, 3, 4)] == [30, 60, 120, 240]
    assert retry_delay(20) == timedelta(hours=1)
    receiver.status = 503
    kids, _ = family(agent=users["field_agent"], children=[years_ago(8)])
    WebhookEndpoint(name="ICE", url=receiver.url, secret=SECRET).save()
    custody_transfer(person_id=kids[0].pk, agency="CBP", by=users["field_agent"])
    webhooks_dispatch()
    delivery = WebhookDelivery.objects.get()

    assert webhook_deliver(delivery_id=delivery.pk) == "retrying"
    delivery.refresh_from_db()
    assert delivery.attempts == 1 and delivery.last_status_code == 503
    assert timedelta(seconds=29) < delivery.next_attempt_at - timezone.now() <= timedelta(seconds=30)
    assert webhook_deliver(delivery_id=delivery.pk) == "not_due"  # an early duplicate does nothing
    assert len(receiver.requests) == 1

    # 23 hours in, the retries go on; past 24 hours (+ the window's margin), it gives up.
    for hours, expected in ((23, "retrying"), (25, "failed")):
        delivery.refresh_from_db()
        delivery.first_attempt_at = timezone.now() - timedelta(hours=hours)
        delivery.next_attempt_at = timezone.now()
        delivery._change_reason = "test: time travel"
        delivery.save()
        assert webhook_deliver(delivery_id=delivery.pk) == expected
    delivery.refresh_from_db()
    assert delivery.status == "failed" and delivery.attempts == 3
    assert list(delivery.attempt_rows.values_list("status_code", flat=True)) == [503, 503, 503]
    assert webhook_deliver(delivery_id=delivery.pk) == "failed"
    assert len(receiver.requests) == 3
    assert signature(secret="k", timestamp=1, body=b"{}") == (
        "t=1,v1=" + hmac.new(b"k", b"1.{}", hashlib.sha256).hexdigest()
    )


def test_an_endpoint_gets_the_events_recorded_after_it_was_registered_whenever_dispatch_runs(users):
    """Events recorded before registration but not yet dispatched stay in the feed, not in the
    endpoint's deliveries: what a partner receives does not depend on the dispatcher's timing."""
    webhooks_dispatch()  # the cursor starts here
    kids, _ = family(agent=users["field_agent"], children=[years_ago(8)])
    custody_transfer(person_id=kids[0].pk, agency="CBP", by=users["field_agent"])
    before = set(Event.objects.values_list("id", flat=True))
    assert before, "the family and the transfer recorded events before the endpoint existed"
    endpoint = WebhookEndpoint(name="ICE", url="https://partner.example/hooks", secret=SECRET)
    endpoint.save()
    custody_transfer(person_id=kids[0].pk, agency="ICE", by=users["field_agent"])
    after = set(Event.objects.values_list("id", flat=True)) - before
    assert after

    webhooks_dispatch()

    delivered = set(WebhookDelivery.objects.filter(endpoint=endpoint).values_list("event_id", flat=True))
    assert delivered == after
    assert before <= set(Event.objects.values_list("id", flat=True))  # still in the feed to catch up on


def test_administrator_registers_an_endpoint_and_sees_every_attempt_in_the_admin(users, receiver, client):
    """The admin registers an endpoint (URL, secret, event types); the delivery page lists each
    attempt with status, latency and response code; nothing can be deleted there."""
    admin = User.objects.create_superuser("admin", password="x-admin-pass-1")
    client.force_login(admin)
    response = client.post(
        "/admin/events/webhookendpoint/add/",
        {
            "name": "HHS ORR",
            "url": receiver.url + "/in",
            "secret": SECRET,
            "event_types": ["custody.transferred", "case.closed"],
            "is_active": "on",
        },
    )
    assert response.status_code == 302, response.content[:2000]
    endpoint = WebhookEndpoint.objects.get()
    assert endpoint.event_types == ["custody.transferred", "case.closed"]
    assert endpoint.created_by == admin and endpoint.history.count() == 1
    kids, _ = family(agent=users["field_agent"], children=[years_ago(8)])
    custody_transfer(person_id=kids[0].pk, agency="CBP", by=users["field_agent"])
    webhooks_dispatch()
    delivery = WebhookDelivery.objects.get()
    receiver.status = 500
    webhook_deliver(delivery_id=delivery.pk)

    page = client.get(f"/admin/events/webhookdelivery/{delivery.pk}/change/")
    assert page.status_code == 200
    text = page.content.decode()
    attempt = delivery.attempt_rows.get()
    assert attempt.status_code == 500 and not attempt.succeeded
    assert "Latency ms" in text and "Status code" in text
    assert re.search(r'class="field-status_code">\s*<p>500</p>', text)
    assert re.search(r'class="field-latency_ms">\s*<p>\d+</p>', text)
    assert "deletelink" not in text
    listing = client.get("/admin/events/webhookdelivery/")
    assert "retrying" in listing.content.decode().lower()
    assert client.post(f"/admin/events/webhookendpoint/{endpoint.pk}/delete/").status_code == 403


def test_two_dispatchers_starting_at_once_share_one_cursor(users):
    """The first run on a fresh database: while one dispatcher's new cursor is not yet committed,
    a second finds none and creates its own; it must wait, then take the first one's (one cursor,
    no error). (Seen on a fresh `make run`: beat's first tick and a queued run collided.)"""
    assert not FeedCursor.objects.filter(name=DISPATCH_CURSOR).exists()
    outcome: list[object] = []

    def second_dispatcher() -> None:
        try:
            outcome.append(webhooks_dispatch())
        except Exception as exc:  # noqa: BLE001 - the test reports what it raised
            outcome.append(exc)
        finally:
            connection.close()

    with connect_as("app") as first:
        with first.cursor() as cursor:  # the first dispatcher's cursor, inserted, not yet committed
            cursor.execute(
                "INSERT INTO events_feedcursor (id, created_at, updated_at, version, withdrawn_reason, "
                "name, cursor) VALUES (gen_random_uuid(), now(), now(), 1, '', %s, '{}')",
                [DISPATCH_CURSOR],
            )
        thread = threading.Thread(target=second_dispatcher)
        thread.start()
        thread.join(timeout=1.0)
        assert thread.is_alive(), "the second dispatcher should wait for the first one's cursor"
        first.commit()
        thread.join(timeout=30)
    assert len(outcome) == 1 and isinstance(outcome[0], dict), outcome
    assert FeedCursor.objects.filter(name=DISPATCH_CURSOR).count() == 1
