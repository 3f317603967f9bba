"""Reunification cases with deadline clocks, checklists, daily worklists and notifications.

References declared with `checked_reference` have no foreign-key constraint: a trigger checks them once
per INSERT or UPDATE statement (familylink/common/reference_checks.py), so a parent must be saved
before its children.
"""

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import models
from django.db.models import Q
from django.utils import timezone
from simple_history.models import HistoricalRecords

from apprehensions.models import Person
from familylink.common.models import BaseModel, BulkWrittenModel
from familylink.common.reference_checks import checked_reference
from familylink.common.text import quoted
from separations.models import Separation


class DeadlinePolicy(BaseModel):
    """Deadlines a court or policy sets, e.g. Ms. L. v. ICE (2018-06-26): contact in 10 days,
    under-5s reunified in 14, others in 30, counted from the order or the separation, whichever
    is later. Administrators edit it; a change recomputes the due times of open cases."""

    name = models.CharField(max_length=200)
    order_date = models.DateField(
        help_text="Date of the order; clocks start at the later of this and the separation."
    )
    contact_days = models.PositiveIntegerField(default=10)
    young_child_age = models.PositiveIntegerField(
        default=5, help_text="Children under this age use the short clock."
    )
    young_child_days = models.PositiveIntegerField(default=14)
    other_days = models.PositiveIntegerField(default=30)
    is_active = models.BooleanField(default=True)

    history = HistoricalRecords()

    class Meta:
        verbose_name_plural = "deadline policies"

    def __str__(self) -> str:
        return self.name

    def clean(self) -> None:
        errors = {
            field: ["Give at least 1 day."]
            for field in ("contact_days", "young_child_days", "other_days")
            if (getattr(self, field) or 0) < 1
        }
        if errors:
            raise ValidationError(errors)


class Team(BaseModel):
    """A reunification team (e.g. EPT-REUNIFY): its time zone decides its worklist day, the hour
    its morning list is built, and how times are shown on its pages and in its messages."""

    code = models.CharField(max_length=64, unique=True)
    name = models.CharField(max_length=120, blank=True)
    timezone = models.CharField(
        max_length=64, default="America/Denver", help_text="IANA zone, e.g. America/Denver."
    )
    morning_hour = models.PositiveSmallIntegerField(
        null=True,
        blank=True,
        help_text="Local hour the day's worklist is built (WORKLIST_BUILD_HOUR when empty).",
    )

    history = HistoricalRecords()

    class Meta:
        ordering = ["code"]

    def __str__(self) -> str:
        return self.code

    def clean(self) -> None:
        from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

        try:
            ZoneInfo(self.timezone)
        except (ZoneInfoNotFoundError, ValueError, OSError) as exc:
            raise ValidationError(
                {"timezone": [f"{quoted(self.timezone)} is not a time zone; use e.g. America/Denver."]}
            ) from exc
        if self.morning_hour is not None and self.morning_hour > 23:
            raise ValidationError({"morning_hour": ["Give an hour from 0 to 23."]})


class ReunificationCase(BulkWrittenModel):
    class Status(models.TextChoices):
        OPEN = "open", "Open"
        IN_PROGRESS = "in_progress", "In progress"
        REUNIFIED = "reunified", "Reunified"
        CLOSED = "closed", "Closed"

    class Outcome(models.TextChoices):
        REUNIFIED = "reunified", "Reunified"
        CRIMINAL_HISTORY = "criminal_history", "Ineligible: criminal history"
        NOT_THE_PARENT = "not_the_parent", "Ineligible: not the parent"
        PARENT_IN_CUSTODY = "parent_in_custody", "Ineligible: parent in USMS/jail custody"
        COMMUNICABLE_DISEASE = "communicable_disease", "Ineligible: communicable disease"
        PARENT_REMOVED = "parent_removed", "Parent already removed"
        PARENT_RELEASED = "parent_released", "Parent released in the U.S."
        CHECKS_PENDING = "checks_pending", "Checks pending"
        SEPARATION_ENDED = "separation_ended", "Separation ended outside casework"
        OTHER = "other", "Other"

    child = checked_reference(Person, related_name="reunification_cases")
    adults = models.ManyToManyField(Person, through="CaseAdult", related_name="reunification_cases_as_adult")
    separation = checked_reference(Separation, related_name="reunification_cases")
    # (team, status) is indexed together below; a claim updates these rows, and every index
    # costs on each update, so single-column indexes that no query needs are left out.
    status = models.CharField(max_length=12, choices=Status.choices, default=Status.OPEN)
    outcome = models.CharField(max_length=24, choices=Outcome.choices, blank=True)
    team = models.CharField(max_length=64)
    assigned_to = checked_reference(settings.AUTH_USER_MODEL, null=True, blank=True, related_name="+")
    policy = checked_reference(DeadlinePolicy, null=True, blank=True)
    clock_start = models.DateTimeField(null=True, blank=True)
    contact_due_at = models.DateTimeField(null=True, blank=True)
    reunify_due_at = models.DateTimeField(null=True, blank=True)
    # The first checklist step not yet done (or "close_case"), and the earliest clock not yet met:
    # kept in step by the services so the worklist job can order 100,000 cases in one statement.
    next_step = models.CharField(max_length=24, blank=True)
    due_at = models.DateTimeField(null=True, blank=True)
    closed_at = models.DateTimeField(null=True, blank=True)
    closed_by = checked_reference(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        related_name="+",
        db_index=False,
    )
    close_note = models.TextField(blank=True)

    # History is read per case (by id); other history indexes would cost on every claim.
    history = HistoricalRecords(
        user_db_constraint=False,
        no_db_index=[
            "created_at",
            "created_by",
            "withdrawn_by",
            "child",
            "separation",
            "status",
            "team",
            "assigned_to",
            "policy",
            "closed_by",
        ],
    )

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["separation", "child"], name="case_one_per_child_per_separation"),
            models.CheckConstraint(
                condition=Q(status__in=["open", "in_progress"], outcome="")
                | Q(status="reunified", outcome="reunified")
                | (Q(status="closed") & ~Q(outcome__in=["", "reunified"])),
                name="case_outcome_matches_status",
            ),
        ]
        indexes = [models.Index(fields=["team", "status"])]

    @property
    def is_open(self) -> bool:
        return self.status in (self.Status.OPEN, self.Status.IN_PROGRESS)

    @property
    def team_zone(self) -> str:
        """The team's time zone name: the case's times are shown on its team's clock."""
        from .teams import team_zone

        return str(team_zone(self.team))

    def __str__(self) -> str:
        return f"Case {str(self.pk)[:8]} – {self.child}"


class CaseAdult(BulkWrittenModel):
    case = checked_reference(ReunificationCase, related_name="case_adults")
    person = checked_reference(Person, related_name="case_adult_links")

    history = HistoricalRecords(user_db_constraint=False)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["case", "person"], name="case_adult_unique")]


class CaseStep(BulkWrittenModel):
    """One checklist step of a case, with who did it and when."""

    class Step(models.TextChoices):
        CONTACT_MADE = "contact_made", "Contact between child and parent made"
        PARENTAGE_VERIFIED = "parentage_verified", "Parentage verified"
        PARENT_LOCATED = "parent_located", "Parent located"
        BACKGROUND_CHECK = "background_check", "Background check"
        ELIGIBILITY_DECISION = "eligibility_decision", "Eligibility decision"
        TRAVEL_ARRANGED = "travel_arranged", "Travel arranged"
        REUNIFIED = "reunified", "Reunified"

    class ParentageMethod(models.TextChoices):
        DOCUMENTS = "documents", "Documents"
        DNA = "dna", "DNA test"

    class Eligibility(models.TextChoices):
        """The eligibility decision: eligible, or one of the 2018 process's ineligibility reasons."""

        ELIGIBLE = "eligible", "Eligible for reunification"
        CRIMINAL_HISTORY = "criminal_history", "Ineligible: criminal history"
        NOT_THE_PARENT = "not_the_parent", "Ineligible: not the parent"
        PARENT_IN_CUSTODY = "parent_in_custody", "Ineligible: parent in USMS/jail custody"
        COMMUNICABLE_DISEASE = "communicable_disease", "Ineligible: communicable disease"
        PARENT_REMOVED = "parent_removed", "Ineligible: parent already removed"
        PARENT_RELEASED = "parent_released", "Ineligible: parent released in the U.S."
        CHECKS_PENDING = "checks_pending", "Ineligible: checks pending"

    case = checked_reference(ReunificationCase, related_name="steps")
    step = models.CharField(max_length=24, choices=Step.choices)
    done_at = models.DateTimeField(null=True, blank=True)
    done_by = checked_reference(settings.AUTH_USER_MODEL, null=True, blank=True, related_name="+")
    # How it was done: "documents" / "dna" for parentage; eligible / ineligible reason; free notes.
    method = models.CharField(max_length=64, blank=True)
    note = models.TextField(blank=True)

    history = HistoricalRecords(user_db_constraint=False)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["case", "step"], name="case_step_unique")]

    @property
    def is_done(self) -> bool:
        return self.done_at is not None

    def method_label(self) -> str:
        choices = {**dict(self.ParentageMethod.choices), **dict(self.Eligibility.choices)}
        return str(choices.get(self.method, self.method))


# Checklist order: the worklist's "next step" is the first step in this order not yet done.
STEP_ORDER: list[str] = list(CaseStep.Step.values)
# The next step of a case whose eligibility decision found the family ineligible.
CLOSE_CASE = "close_case"
NEXT_STEP_LABELS: dict[str, str] = {
    **dict(CaseStep.Step.choices),
    CLOSE_CASE: "Close the case with its outcome",
}


class Worklist(BaseModel):
    """A team's queue for one day, built by the morning job."""

    team = models.CharField(max_length=64)
    date = models.DateField()
    built_at = models.DateTimeField(null=True, blank=True)

    history = HistoricalRecords()

    class Meta:
        constraints = [models.UniqueConstraint(fields=["team", "date"], name="worklist_team_date_unique")]


class WorklistItem(BaseModel):
    """One case on a team's list for the day. The morning build writes 100,000 of these (and as
    many history rows) in one statement, and every index costs on each row: the indexes are only
    those the queries use (the BaseModel author/withdrawal/creation-time indexes are dropped here)."""

    created_at = models.DateTimeField(default=timezone.now, editable=False)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
        db_index=False,
    )
    withdrawn_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
        db_index=False,
    )
    # Both references are checked once per statement by a trigger (migration 0006) instead of
    # PostgreSQL's per-row foreign-key checks: the build inserts 100,000 items at once, and
    # 200,000 row-by-row checks took 40% of it. Parents are never deleted (rule 1 triggers).
    # (worklist, case) is unique: that index serves lookups by worklist.
    worklist = checked_reference(Worklist, related_name="items", db_index=False)
    case = checked_reference(ReunificationCase, related_name="worklist_items")
    position = models.PositiveIntegerField()
    next_step = models.CharField(max_length=24, blank=True)
    due_at = models.DateTimeField(null=True, blank=True)
    is_overdue = models.BooleanField(default=False)
    claimed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
        db_index=False,
    )
    claimed_at = models.DateTimeField(null=True, blank=True)
    completed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
        db_index=False,
    )
    completed_at = models.DateTimeField(null=True, blank=True)

    # History is read per item (by id); no other history index is worth 100,000 writes a morning.
    history = HistoricalRecords(
        no_db_index=[
            "created_at",
            "created_by",
            "withdrawn_by",
            "worklist",
            "case",
            "claimed_by",
            "completed_by",
        ]
    )

    class Meta:
        ordering = ["worklist", "position"]
        constraints = [
            models.UniqueConstraint(fields=["worklist", "case"], name="worklist_item_case_unique"),
        ]
        indexes = [
            models.Index(
                fields=["worklist", "position"],
                condition=Q(claimed_by__isnull=True, completed_at__isnull=True),
                name="worklist_unclaimed_idx",
            ),
            # "Cases I am working": the few items claimed and not yet completed.
            models.Index(
                fields=["claimed_by", "worklist"],
                condition=Q(claimed_by__isnull=False, completed_at__isnull=True),
                name="worklist_claimed_open_idx",
            ),
        ]


class Notification(BaseModel):
    """An in-app notice to a user (also emailed) that a clock is due soon or overdue."""

    class Kind(models.TextChoices):
        DUE_SOON = "due_soon", "Due within 48 hours"
        OVERDUE = "overdue", "Overdue"

    recipient = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="notifications"
    )
    case = models.ForeignKey(ReunificationCase, on_delete=models.PROTECT, related_name="notifications")
    kind = models.CharField(max_length=12, choices=Kind.choices)
    clock = models.CharField(max_length=16, help_text="contact or reunify")
    message = models.TextField()
    read_at = models.DateTimeField(null=True, blank=True)

    # The alert job writes many at once; history is read per notification (by id).
    history = HistoricalRecords(no_db_index=["created_at", "created_by", "withdrawn_by", "recipient", "case"])

    class Meta:
        # An alert run writes all its notices with one created_at: the id breaks the tie, so that
        # the pages of a list hand out each notice once (newest first alone let the database order
        # them differently from one page to the next). The index serves a recipient's pages.
        ordering = ["-created_at", "-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["recipient", "case", "kind", "clock"], name="notification_once_per_clock"
            )
        ]
        indexes = [
            models.Index(fields=["recipient", "-created_at", "-id"], name="notification_recipient_newest")
        ]
