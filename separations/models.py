"""Separation events with reason codes and two-person approval; custody periods across agencies.

References declared with `checked_reference` have no foreign-key constraint: a trigger checks them once
per INSERT or UPDATE statement (familylink/common/reference_checks.py), so a parent must be saved
before its children.
"""

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone
from simple_history.models import HistoricalRecords

from apprehensions.models import FamilyUnit, Person, Station
from familylink.common.models import BaseModel, BulkWrittenModel
from familylink.common.reference_checks import checked_reference


class ReasonCode(BaseModel):
    """Why a separation happened. Administrators add or retire codes; codes are never deleted."""

    class Category(models.TextChoices):
        POLICY = "policy", "Policy-driven"
        CHILD_WELFARE = "child_welfare", "Child welfare"

    code = models.CharField(max_length=40, unique=True)
    label = models.CharField(max_length=120)
    category = models.CharField(max_length=16, choices=Category.choices)
    description = models.TextField(blank=True)
    narrative_required = models.BooleanField(default=False)
    retired_at = models.DateTimeField(null=True, blank=True)

    history = HistoricalRecords()

    class Meta:
        ordering = ["label"]

    def __str__(self) -> str:
        return self.label


class Separation(BulkWrittenModel):
    """Which child(ren) were separated from which adult(s), when, where, why, and who decided.

    `occurred_at` is when it happened (valid time); `recorded_at` when it was entered. The history
    table keeps every version, so "as the system knew it at T" is answerable (selectors.py).
    """

    class Status(models.TextChoices):
        REQUESTED = "requested", "Requested"
        IN_EFFECT = "in_effect", "In effect"
        REJECTED = "rejected", "Rejected"
        ENDED = "ended", "Ended"

    class EndOutcome(models.TextChoices):
        REUNIFIED = "reunified", "Reunified"
        CLOSED = "closed", "Closed with another outcome"
        RECORDED_IN_ERROR = "recorded_in_error", "Recorded in error"

    class Source(models.TextChoices):
        ENTERED = "entered", "Entered in FamilyLink"
        LEGACY_IMPORT = "legacy_import", "Imported from a field spreadsheet"

    family_unit = checked_reference(FamilyUnit, null=True, blank=True, related_name="separations")
    occurred_at = models.DateTimeField(db_index=True, help_text="When the separation happened.")
    recorded_at = models.DateTimeField(default=timezone.now, help_text="When it was entered in FamilyLink.")
    station = checked_reference(Station, related_name="separations")
    place = models.CharField(max_length=255, blank=True)
    reason_code = checked_reference(ReasonCode, related_name="separations")
    narrative = models.TextField(blank=True)
    status = models.CharField(max_length=12, choices=Status.choices, default=Status.REQUESTED, db_index=True)
    requested_by = checked_reference(settings.AUTH_USER_MODEL, related_name="+")
    decided_by = checked_reference(settings.AUTH_USER_MODEL, null=True, blank=True, related_name="+")
    decided_at = models.DateTimeField(null=True, blank=True)
    decision_comment = models.TextField(blank=True)
    ended_at = models.DateTimeField(null=True, blank=True, db_index=True)
    ended_by = checked_reference(settings.AUTH_USER_MODEL, null=True, blank=True, related_name="+")
    end_outcome = models.CharField(max_length=20, choices=EndOutcome.choices, blank=True)
    end_comment = models.TextField(blank=True)
    # How it reached FamilyLink: requested and approved here, or imported from a field spreadsheet
    # (the import batch and row are its provenance, kept by the `legacy` app).
    source = models.CharField(
        max_length=16, choices=Source.choices, default=Source.ENTERED, db_default=Source.ENTERED
    )
    persons = models.ManyToManyField(Person, through="SeparationMember", related_name="separations")
    # Filled by Prefetch(..., to_attr="live_members"): the members not withdrawn.
    live_members: list["SeparationMember"]

    history = HistoricalRecords(user_db_constraint=False)

    class Meta:
        ordering = ["-occurred_at"]
        indexes = [models.Index(fields=["status", "occurred_at", "ended_at"])]

    def __str__(self) -> str:
        return f"Separation {str(self.pk)[:8]} ({self.get_status_display()})"


class SeparationMember(BulkWrittenModel):
    """A person on one side of a separation: the child(ren) and the adult(s).

    A child member may end before the separation does (`ended_at`, `end_outcome`): the child is
    reunified while a sibling stays separated. The separation ends when its last child does.
    """

    class Side(models.TextChoices):
        CHILD = "child", "Child"
        ADULT = "adult", "Adult"

    separation = checked_reference(Separation, related_name="members")
    person = checked_reference(Person, related_name="separation_memberships")
    side = models.CharField(max_length=5, choices=Side.choices)
    # A child's own end within a separation that goes on for siblings (separation_end_for_child);
    # null while the child is separated. Adults end with the separation as a whole.
    ended_at = models.DateTimeField(null=True, blank=True)
    end_outcome = models.CharField(
        max_length=20, choices=Separation.EndOutcome.choices, blank=True, default="", db_default=""
    )

    history = HistoricalRecords(user_db_constraint=False)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["separation", "person"], name="separation_member_unique"),
        ]
        indexes = [models.Index(fields=["person", "side"])]


class CustodyPeriod(BulkWrittenModel):
    """Where a person is, from when to when. A person's current location is their one open period."""

    class Agency(models.TextChoices):
        CBP = "CBP", "CBP (Border Patrol)"
        ICE = "ICE", "ICE"
        USMS = "USMS", "U.S. Marshals"
        HHS_ORR = "HHS_ORR", "HHS Office of Refugee Resettlement"
        RELEASED = "RELEASED", "Released"
        REMOVED = "REMOVED", "Removed from the country"

    person = checked_reference(Person, related_name="custody_periods")
    agency = models.CharField(max_length=8, choices=Agency.choices)
    facility = models.CharField(max_length=200, blank=True)
    started_at = models.DateTimeField()
    ended_at = models.DateTimeField(null=True, blank=True)
    recorded_by = checked_reference(settings.AUTH_USER_MODEL, null=True, blank=True, related_name="+")

    history = HistoricalRecords(user_db_constraint=False)

    class Meta:
        ordering = ["-started_at"]
        constraints = [
            # At most one open custody period per person, enforced by PostgreSQL.
            models.UniqueConstraint(
                fields=["person"],
                condition=Q(ended_at__isnull=True, withdrawn_at__isnull=True),
                name="custody_one_open_period",
            ),
            models.CheckConstraint(
                condition=Q(ended_at__isnull=True) | Q(ended_at__gte=models.F("started_at")),
                name="custody_ends_after_start",
            ),
        ]
        indexes = [models.Index(fields=["person", "started_at"])]

    def __str__(self) -> str:
        return f"{self.get_agency_display()} {self.facility}".strip()
