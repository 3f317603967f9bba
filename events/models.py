"""The change feed's outbox (events) and the webhook deliveries built on it.

Events are written by PostgreSQL triggers on the tables they describe (events/triggers.py), in
the transaction of the change itself: every write path (services, set-based SQL, bulk inserts,
the admin) produces them, and a rolled-back change leaves none behind. Nothing here is deleted
(rule 1); deliveries and attempts keep their history (rule 2).
"""

import secrets
import uuid
from typing import Any

from django.contrib.postgres.fields import ArrayField
from django.contrib.postgres.indexes import GinIndex
from django.db import models
from django.utils import timezone
from simple_history.models import HistoricalRecords

from familylink.common.errors import HardDeleteError
from familylink.common.models import HARD_DELETE_MESSAGE, BaseModel, NoDeleteManager


class EventType(models.TextChoices):
    """The change feed's event types, named by the API contract (never renamed)."""

    CUSTODY_TRANSFERRED = "custody.transferred", "Custody transferred"
    SEPARATION_REQUESTED = "separation.requested", "Separation requested"
    SEPARATION_IN_EFFECT = "separation.in_effect", "Separation in effect"
    SEPARATION_REJECTED = "separation.rejected", "Separation rejected"
    SEPARATION_ENDED = "separation.ended", "Separation ended"
    SEPARATION_CHILD_ENDED = "separation.child_ended", "Separation ended for a child"
    CASE_OPENED = "case.opened", "Reunification case opened"
    CASE_STATUS_CHANGED = "case.status_changed", "Reunification case status changed"
    CASE_CLOSED = "case.closed", "Reunification case closed"
    PERSON_IDENTIFIERS_CHANGED = "person.identifiers_changed", "Person identifiers changed"
    # Beyond the contract's list (an addition clients may ignore): one human entered twice.
    PERSON_MERGED = "person.merged", "Person record merged into another"
    PERSON_UNMERGED = "person.unmerged", "Person record merge undone"


class Event(models.Model):
    """One change partners follow. Written only by the database triggers; never updated or deleted.

    `xid` is the writing transaction (PostgreSQL xid8) and `position` the order within it: the feed
    pages by (xid, position) inside snapshot-bounded batches, so a transaction that commits late
    is delivered in a later batch instead of being skipped (events/selectors.py).
    """

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    position = models.BigIntegerField(unique=True, editable=False)
    xid = models.BigIntegerField(editable=False)
    type = models.CharField(max_length=40, choices=EventType.choices)
    occurred_at = models.DateTimeField(help_text="When the change happened.")
    recorded_at = models.DateTimeField(help_text="When FamilyLink recorded it (commit of the change).")
    resource_type = models.CharField(max_length=32)
    resource_id = models.UUIDField()
    changes = models.JSONField(default=dict, blank=True)
    # The persons the change concerns: the feed is scoped by them.
    person_ids = ArrayField(models.UUIDField(), default=list, blank=True)

    history = HistoricalRecords()
    objects = NoDeleteManager()

    class Meta:
        ordering = ["xid", "position"]
        indexes = [
            models.Index(fields=["xid", "position"], name="event_feed_order_idx"),
            models.Index(fields=["resource_type", "resource_id"], name="event_resource_idx"),
            GinIndex(fields=["person_ids"], name="event_person_ids_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.type} {self.resource_type} {self.resource_id}"

    def delete(self, *args: Any, **kwargs: Any) -> Any:
        raise HardDeleteError(HARD_DELETE_MESSAGE.format(what="event"))


def new_secret() -> str:
    return secrets.token_urlsafe(32)


class WebhookEndpoint(BaseModel):
    """A partner's receiver: FamilyLink POSTs each event of the chosen types, signed with `secret`."""

    name = models.CharField(max_length=120, help_text="Who receives, e.g. 'HHS ORR case system'.")
    url = models.URLField(max_length=500, help_text="HTTPS address the events are POSTed to.")
    secret = models.CharField(
        max_length=128,
        default=new_secret,
        help_text="Shared secret for the FamilyLink-Signature header; give it to the partner.",
    )
    event_types = ArrayField(
        models.CharField(max_length=40, choices=EventType.choices),
        default=list,
        blank=True,
        help_text="Event types to deliver; none selected means every type.",
    )
    is_active = models.BooleanField(default=True, help_text="Inactive endpoints receive nothing new.")

    history = HistoricalRecords()

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name

    def wants(self, event: "Event") -> bool:
        """Events of the chosen types recorded since the endpoint was registered (earlier ones are in
        the feed): what a partner gets does not depend on when the dispatcher last ran."""
        if event.recorded_at < self.created_at:
            return False
        return not self.event_types or event.type in self.event_types


class WebhookDelivery(BaseModel):
    """One event for one endpoint: delivered at most once after a 2xx, retried with backoff until then."""

    class Status(models.TextChoices):
        PENDING = "pending", "Pending"
        RETRYING = "retrying", "Retrying"
        DELIVERED = "delivered", "Delivered"
        FAILED = "failed", "Failed (gave up)"

    endpoint = models.ForeignKey(WebhookEndpoint, on_delete=models.PROTECT, related_name="deliveries")
    event = models.ForeignKey(Event, on_delete=models.PROTECT, related_name="deliveries")
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.PENDING)
    attempts = models.PositiveIntegerField(default=0)
    next_attempt_at = models.DateTimeField(default=timezone.now)
    # Set when a delivery task is queued; the dispatcher does not queue it again before then.
    queued_until = models.DateTimeField(null=True, blank=True)
    first_attempt_at = models.DateTimeField(null=True, blank=True)
    delivered_at = models.DateTimeField(null=True, blank=True)
    last_status_code = models.PositiveIntegerField(null=True, blank=True)
    last_error = models.TextField(blank=True)

    history = HistoricalRecords()

    class Meta:
        verbose_name_plural = "webhook deliveries"
        constraints = [
            models.UniqueConstraint(fields=["endpoint", "event"], name="webhook_delivery_once_per_endpoint"),
        ]
        indexes = [models.Index(fields=["status", "next_attempt_at"], name="webhook_delivery_due_idx")]

    def __str__(self) -> str:
        return f"{self.event.type} → {self.endpoint} ({self.status})"


class WebhookAttempt(BaseModel):
    """One HTTP attempt of a delivery: when, how long, what the receiver answered."""

    delivery = models.ForeignKey(WebhookDelivery, on_delete=models.PROTECT, related_name="attempt_rows")
    number = models.PositiveIntegerField()
    started_at = models.DateTimeField()
    latency_ms = models.PositiveIntegerField()
    status_code = models.PositiveIntegerField(null=True, blank=True)
    succeeded = models.BooleanField(default=False)
    error = models.TextField(blank=True)

    history = HistoricalRecords()

    class Meta:
        ordering = ["delivery", "number"]
        constraints = [
            models.UniqueConstraint(fields=["delivery", "number"], name="webhook_attempt_number_unique"),
        ]


class FeedCursor(BaseModel):
    """Where a server-side reader of the feed (the webhook dispatcher) has got to."""

    name = models.CharField(max_length=64, unique=True)
    cursor = models.JSONField(default=dict, blank=True)

    history = HistoricalRecords()

    def __str__(self) -> str:
        return self.name
