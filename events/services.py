"""Webhook dispatch and delivery: every event, once, to each endpoint that wants it.

`webhooks_dispatch` (Celery beat, every WEBHOOK_DISPATCH_SECONDS) reads the feed from its own
stored cursor, records one delivery per (endpoint, event) and queues each delivery that is due.
`webhook_deliver` (one Celery task per delivery) POSTs the signed event; it holds the delivery's
row lock through the request, so two workers never send one delivery at once, and once a 2xx
is recorded nothing sends that delivery again. Other answers are retried with exponential
backoff (WEBHOOK_RETRY_BASE_SECONDS doubling up to WEBHOOK_RETRY_MAX_SECONDS) until
WEBHOOK_RETRY_HOURS after the first attempt; then the delivery is marked failed (an
administrator can retry it from the admin). Every attempt is kept.
"""

import hashlib
import hmac
import http.client
import json
import time
from datetime import datetime, timedelta
from functools import partial
from typing import Any
from urllib.parse import urlsplit

from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils import timezone
from simple_history.utils import bulk_create_with_history

from .models import Event, FeedCursor, WebhookAttempt, WebhookDelivery, WebhookEndpoint
from .selectors import event_page
from .serializers import EventSerializer

DISPATCH_CURSOR = "webhooks"
SIGNATURE_HEADER = "FamilyLink-Signature"


def event_body(event: Event) -> bytes:
    """The webhook body: the feed's event object as compact JSON (the bytes that are signed)."""
    return json.dumps(EventSerializer(event).data, separators=(",", ":"), sort_keys=True).encode()


def signature(*, secret: str, timestamp: int, body: bytes) -> str:
    """`t=<unix time>,v1=<hex HMAC-SHA256 of "<t>.<body>">` (API contract: Change feed)."""
    digest = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()
    return f"t={timestamp},v1={digest}"


def retry_delay(attempts: int) -> timedelta:
    """Exponential backoff after the `attempts`-th failed attempt."""
    base = settings.WEBHOOK_RETRY_BASE_SECONDS
    return timedelta(seconds=min(base * 2 ** max(attempts - 1, 0), settings.WEBHOOK_RETRY_MAX_SECONDS))


def _save(obj: Any, reason: str, **kwargs: Any) -> None:
    obj._change_reason = reason
    obj._history_user = None
    obj.save(**kwargs)


@transaction.atomic
def webhooks_dispatch(*, batch: int = 500, max_batches: int = 20) -> dict[str, Any]:
    """Record deliveries for the events since the dispatcher's cursor, then queue the due ones.

    One dispatcher at a time (the cursor row is locked); the cursor moves in the transaction
    that records the deliveries, so an event is neither skipped nor given two deliveries.
    """
    state = FeedCursor.objects.select_for_update().filter(name=DISPATCH_CURSOR).first()
    if state is None:
        # The first run: two dispatchers may both find no cursor (beat's first tick and one queued
        # by a write, say). The second one's insert waits for the first's commit and is refused by
        # the unique name; it then takes the cursor the first one made, like any later run.
        try:
            with transaction.atomic():
                _save(FeedCursor(name=DISPATCH_CURSOR, cursor={}), "webhook dispatcher started")
        except IntegrityError:
            pass
        state = FeedCursor.objects.select_for_update().get(name=DISPATCH_CURSOR)
    endpoints = list(WebhookEndpoint.objects.filter(is_active=True, withdrawn_at__isnull=True))
    created = 0
    cursor = state.cursor or None
    moved = False
    for _ in range(max_batches):
        page = event_page(queryset=Event.objects.all(), cursor=cursor, limit=batch)
        rows = [
            WebhookDelivery(endpoint=endpoint, event=event, next_attempt_at=timezone.now())
            for event in page.events
            for endpoint in endpoints
            if endpoint.wants(event)
        ]
        if rows:
            bulk_create_with_history(rows, WebhookDelivery, default_change_reason="event dispatched")
            created += len(rows)
        if page.events:
            moved = True
        cursor = page.next_cursor
        if cursor["hi"] is None:
            break
    if moved:
        # Saved only when events came through: an idle feed writes no history row every few seconds.
        state.cursor = cursor
        _save(state, "webhook dispatcher moved on", update_fields=["cursor"])
    queued = _queue_due()
    return {"deliveries_created": created, "deliveries_queued": len(queued)}


def _queue_due(limit: int = 1000) -> list[Any]:
    """Queue a task for each delivery that is due and not already queued (after this commits)."""
    from .tasks import deliver

    now = timezone.now()
    due = list(
        WebhookDelivery.objects.select_for_update(skip_locked=True, of=("self",))
        .filter(
            status__in=[WebhookDelivery.Status.PENDING, WebhookDelivery.Status.RETRYING],
            next_attempt_at__lte=now,
            endpoint__is_active=True,
        )
        .exclude(queued_until__gt=now)
        .order_by("next_attempt_at")[:limit]
    )
    for delivery in due:
        delivery.queued_until = now + timedelta(seconds=settings.WEBHOOK_QUEUE_LEASE_SECONDS)
        _save(delivery, "queued for delivery", update_fields=["queued_until"])
        transaction.on_commit(partial(deliver.delay, str(delivery.pk)))
    return [d.pk for d in due]


def _post(url: str, body: bytes, headers: dict[str, str]) -> tuple[int | None, str]:
    """POST `body`; (status code, "") or (None, what went wrong). Header names are sent as written
    (`FamilyLink-Signature`), redirects are not followed (a 3xx is not an acknowledgement)."""
    parts = urlsplit(url)
    connection_class = http.client.HTTPSConnection if parts.scheme == "https" else http.client.HTTPConnection
    path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    try:
        conn = connection_class(parts.hostname or "", parts.port, timeout=settings.WEBHOOK_TIMEOUT_SECONDS)
        try:
            conn.request("POST", path, body=body, headers=headers)
            response = conn.getresponse()
            response.read(65536)
            status = response.status
        finally:
            conn.close()
    except (OSError, http.client.HTTPException, ValueError) as exc:
        return None, f"{type(exc).__name__}: {exc}"[:2000]
    return status, "" if 200 <= status < 300 else f"HTTP {status}"


def webhook_deliver(*, delivery_id: Any) -> str:
    """POST one delivery's event to its endpoint, signed; record the attempt; schedule a retry on failure.

    Idempotent: a delivery already delivered (2xx recorded), given up, not yet due, or being
    sent by another worker right now is left alone. Returns what happened.
    """
    with transaction.atomic():
        delivery = (
            WebhookDelivery.objects.select_for_update(skip_locked=True, of=("self",))
            .select_related("endpoint", "event")
            .filter(pk=delivery_id)
            .first()
        )
        if delivery is None:
            return "busy"
        if delivery.status in (WebhookDelivery.Status.DELIVERED, WebhookDelivery.Status.FAILED):
            return delivery.status
        now = timezone.now()
        if delivery.next_attempt_at > now:
            return "not_due"
        endpoint = delivery.endpoint
        if not endpoint.is_active or endpoint.withdrawn_at is not None:
            return "endpoint_inactive"
        body = event_body(delivery.event)
        stamp = int(time.time())
        headers = {
            "Content-Type": "application/json",
            "User-Agent": "FamilyLink-Webhooks/1",
            SIGNATURE_HEADER: signature(secret=endpoint.secret, timestamp=stamp, body=body),
            "FamilyLink-Event-Id": str(delivery.event_id),
            "FamilyLink-Event-Type": delivery.event.type,
        }
        started = time.monotonic()
        code, error = _post(endpoint.url, body, headers)
        latency = int((time.monotonic() - started) * 1000)
        succeeded = code is not None and 200 <= code < 300
        delivery.attempts += 1
        attempt = WebhookAttempt(
            delivery=delivery,
            number=delivery.attempts,
            started_at=now,
            latency_ms=latency,
            status_code=code,
            succeeded=succeeded,
            error=error,
        )
        _save(attempt, f"attempt {delivery.attempts}")
        delivery.first_attempt_at = delivery.first_attempt_at or now
        delivery.last_status_code = code
        delivery.last_error = error
        delivery.queued_until = None
        if succeeded:
            delivery.status = WebhookDelivery.Status.DELIVERED
            delivery.delivered_at = timezone.now()
            reason = f"delivered (HTTP {code})"
        elif _gave_up(delivery, now):
            delivery.status = WebhookDelivery.Status.FAILED
            reason = f"gave up after {delivery.attempts} attempts: {error or code}"
        else:
            delivery.status = WebhookDelivery.Status.RETRYING
            delivery.next_attempt_at = now + retry_delay(delivery.attempts)
            reason = (
                f"attempt {delivery.attempts} failed ({error or code}); retry at {delivery.next_attempt_at}"
            )
        _save(delivery, reason[:2000])
        return str(delivery.status)


def _gave_up(delivery: WebhookDelivery, now: datetime) -> bool:
    first = delivery.first_attempt_at or now
    return now + retry_delay(delivery.attempts) > first + timedelta(hours=settings.WEBHOOK_RETRY_HOURS)


@transaction.atomic
def webhook_delivery_retry(*, delivery_id: Any, by: Any) -> WebhookDelivery:
    """An administrator sends a failed (or waiting) delivery again now; attempts so far are kept."""
    delivery = WebhookDelivery.objects.select_for_update().get(pk=delivery_id)
    if delivery.status == WebhookDelivery.Status.DELIVERED:
        return delivery
    delivery.status = WebhookDelivery.Status.RETRYING
    delivery.next_attempt_at = timezone.now()
    delivery.queued_until = None
    delivery.first_attempt_at = None
    delivery._change_reason = "retry requested in admin"
    delivery._history_user = by
    delivery.save(update_fields=["status", "next_attempt_at", "queued_until", "first_attempt_at"])
    return delivery


def ensure_beat_schedule() -> None:
    """Run the dispatcher every WEBHOOK_DISPATCH_SECONDS (idempotent; an admin's disable is kept)."""
    from django_celery_beat.models import IntervalSchedule, PeriodicTask

    from .tasks import DISPATCH_TASK

    seconds = max(1, int(settings.WEBHOOK_DISPATCH_SECONDS))
    spec = {"every": seconds, "period": IntervalSchedule.SECONDS}
    schedule = IntervalSchedule.objects.filter(**spec).first() or IntervalSchedule.objects.create(**spec)
    periodic = PeriodicTask.objects.filter(name="Deliver webhooks").first()
    if periodic is None:
        PeriodicTask.objects.create(
            name="Deliver webhooks", task=DISPATCH_TASK, interval=schedule, enabled=True
        )
    elif periodic.task != DISPATCH_TASK or periodic.interval_id != schedule.pk or periodic.crontab_id:
        periodic.task = DISPATCH_TASK
        periodic.interval = schedule
        periodic.crontab = None
        periodic.save()
