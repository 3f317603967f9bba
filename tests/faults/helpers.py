"""Shared pieces of the fault tests: intake bodies, a webhook endpoint, a bare Celery client."""

from typing import Any

from celery import Celery

from tests.apprehensions.factories import intake_payload

from .stack import QUEUE, Stack


def intake_body(n: int, tag: str) -> dict[str, Any]:
    """The API contract's intake example, with names of its own (no A-number: nothing to match)."""
    body = intake_payload()
    body["persons"][0].pop("a_number", None)
    body["persons"][0]["given_names"] = f"{tag} Adulta {n}"
    body["persons"][1]["given_names"] = f"{tag} Nina {n}"
    return body


def add_endpoint(stack: Stack, url: str, event_types: list[str]) -> str:
    code = f"""
import json
from events.models import WebhookEndpoint
for old in WebhookEndpoint.objects.filter(is_active=True):
    old.is_active = False
    old._change_reason = "fault test: next receiver"
    old.save()
endpoint = WebhookEndpoint(name="fault receiver", url={url!r}, event_types={event_types!r})
endpoint._change_reason = "fault test"
endpoint.save()
print("RESULT=" + json.dumps(str(endpoint.pk)))
"""
    return str(stack.shell(code))


def celery_client(stack: Stack) -> Celery:
    """Sends tasks by name to the stack's queue (the test process never imports the app's tasks)."""
    return Celery("fault-client", broker=stack.redis.url)


def send(stack: Stack, name: str, *args: Any) -> None:
    client = celery_client(stack)
    try:
        client.send_task(name, args=list(args), queue=QUEUE)
    finally:
        client.close()
