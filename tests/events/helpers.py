"""Helpers for the change-feed tests."""

from django.db import connection

from events.models import Event


def recorded(**filters) -> list[Event]:
    """The events recorded so far, in feed order.

    The outbox triggers are deferred to COMMIT; inside a test's open transaction,
    `SET CONSTRAINTS ALL IMMEDIATE` (Django's check_constraints) runs the queued ones now.
    """
    connection.check_constraints()
    return list(Event.objects.filter(**filters).order_by("xid", "position"))


def types(events: list[Event]) -> list[str]:
    return [e.type for e in events]
