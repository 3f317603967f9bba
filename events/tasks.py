"""Celery tasks of the change feed: they take ids, call a service, hold no logic (STYLE.md)."""

from typing import Any

from celery import shared_task

from .services import webhook_deliver, webhooks_dispatch

DISPATCH_TASK = "events.dispatch_webhooks"
DELIVER_TASK = "events.deliver_webhook"


@shared_task(name=DISPATCH_TASK, acks_late=True)
def dispatch_webhooks() -> dict[str, Any]:
    """Record deliveries for new events and queue the due ones (beat runs it every few seconds)."""
    return webhooks_dispatch()


@shared_task(name=DELIVER_TASK, acks_late=True)
def deliver(delivery_id: str) -> str:
    """Send one delivery; a duplicate message or a redelivery after a crash is harmless."""
    return webhook_deliver(delivery_id=delivery_id)
