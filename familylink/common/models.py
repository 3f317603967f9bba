"""The base of every FamilyLink record: UUID key, timestamps, author, version, history, no hard delete."""

import uuid
from typing import Any

from django.conf import settings
from django.contrib.auth.models import AbstractUser
from django.db import models
from django.utils import timezone
from simple_history.models import HistoricalRecords

from .errors import HardDeleteError
from .reference_checks import checked_reference

HARD_DELETE_MESSAGE = (
    "FamilyLink rule 1: nothing is hard-deleted. Withdraw the {what} with a status change "
    "(who, when and why are kept) instead."
)


class NoDeleteQuerySet(models.QuerySet):
    """A queryset that refuses deletes and history-less updates on case data."""

    def delete(self) -> Any:
        raise HardDeleteError(HARD_DELETE_MESSAGE.format(what=self.model._meta.verbose_name))

    def update(self, **kwargs: Any) -> int:
        raise HardDeleteError(
            f"QuerySet.update() on {self.model._meta.verbose_name} writes no history (rule 2); "
            "save each record through its service instead."
        )


class NoDeleteManager(models.Manager.from_queryset(NoDeleteQuerySet)):  # type: ignore[misc]
    pass


class BaseModel(models.Model):
    """UUID key, created/updated timestamps, author and an optimistic-lock version.

    Concrete models add `history = HistoricalRecords()`; tests prove every model has it.
    """

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    created_at = models.DateTimeField(default=timezone.now, editable=False, db_index=True)
    updated_at = models.DateTimeField(default=timezone.now, editable=False)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    version = models.PositiveIntegerField(default=1, editable=False)
    # Withdrawal replaces deletion: the record stays, marked with who, when and why.
    withdrawn_at = models.DateTimeField(null=True, blank=True, editable=False)
    withdrawn_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    withdrawn_reason = models.TextField(blank=True, editable=False)

    objects = NoDeleteManager()

    # Read by django-simple-history when the record is saved (who and why).
    _change_reason: str
    _history_user: Any

    class Meta:
        abstract = True

    def save(self, *args: Any, **kwargs: Any) -> None:
        if not self._state.adding:
            self.version += 1
            self.updated_at = timezone.now()
            if kwargs.get("update_fields") is not None:
                kwargs["update_fields"] = {*kwargs["update_fields"], "version", "updated_at"}
        super().save(*args, **kwargs)

    def delete(self, *args: Any, **kwargs: Any) -> Any:
        raise HardDeleteError(HARD_DELETE_MESSAGE.format(what=self._meta.verbose_name))

    def withdraw(self, *, by: Any, reason: str) -> None:
        """Mark the record withdrawn (never deleted); the reason goes into its history too."""
        if not reason.strip():
            raise ValueError("A withdrawal needs a reason.")
        self.withdrawn_at = timezone.now()
        self.withdrawn_by = by
        self.withdrawn_reason = reason
        self._change_reason = f"withdrawn: {reason}"
        self._history_user = by
        self.save(update_fields=["withdrawn_at", "withdrawn_by", "withdrawn_reason"])

    @property
    def is_withdrawn(self) -> bool:
        return self.withdrawn_at is not None

    @property
    def etag(self) -> str:
        return f'"{self.pk}-{self.version}"'


class BulkWrittenModel(BaseModel):
    """A record that intake and a legacy import write by the thousand (persons, apprehensions,
    families, separations, custody, cases and their steps, import rows and provenance): its
    references to users (author, withdrawer, and the model's own) have no foreign-key constraint,
    and are checked once per statement like its other references (familylink/common/
    reference_checks.py), as are its history rows' `history_user` (`HistoricalRecords(
    user_db_constraint=False)` on the model). PostgreSQL's deferred keys checked each of them row by
    row at COMMIT: some 700,000 checks for a 10,000-row sheet. Users are never deleted (rule 1)."""

    created_by = checked_reference(settings.AUTH_USER_MODEL, null=True, blank=True, related_name="+")
    withdrawn_by = checked_reference(settings.AUTH_USER_MODEL, null=True, blank=True, related_name="+")

    class Meta:
        abstract = True


class Capability(models.Model):
    """Holds the role permissions; no table. Groups (roles) get these in migration 0002."""

    class Meta:
        managed = False
        default_permissions = ()
        permissions = [
            ("record_intake", "Record apprehensions; edit persons and relationships (own station)"),
            ("read_persons_station", "Read persons encountered at own station"),
            ("read_persons_all", "Read all persons"),
            ("read_persons_separated", "Read persons in any separation"),
            ("lookup_persons", "Look up persons by id or A-number"),
            ("edit_relationship_evidence", "Edit relationship evidence for own cases"),
            ("request_separation", "Request a separation (own station)"),
            ("decide_separation", "Approve or reject a separation (own station, not own request)"),
            ("transfer_custody", "Record custody transfers"),
            ("report_separated_station", "Separated-children report, own station"),
            ("report_separated_all", "Separated-children report, all stations"),
            ("read_cases_station", "Read reunification cases, own station"),
            ("read_cases_all", "Read all reunification cases"),
            ("work_cases", "Read and work reunification cases of own team"),
            ("read_case_by_id", "Read a reunification case by id"),
            ("work_worklist", "Work the daily worklist of own team"),
            ("read_history", "Read the history of any record"),
            ("read_access_log", "Read the access log: who viewed which record"),
            ("read_link_candidates", "Read link candidates"),
            ("decide_link_candidates", "Accept or reject link candidates"),
            ("read_events", "Follow the change feed (GET /api/v1/events/)"),
            ("import_legacy", "Import field spreadsheets (supervisors: own station)"),
        ]

    def __str__(self) -> str:
        return "capability"


class User(AbstractUser):
    """A FamilyLink user. Field agents and supervisors have a station; coordinators a team.

    Users are deactivated, never deleted (`is_active`), so every record keeps its author.
    """

    station = models.CharField(
        max_length=8, blank=True, help_text="Station code (e.g. EPT) for field agents and supervisors."
    )
    team = models.CharField(max_length=64, blank=True, help_text="Reunification team, for coordinators.")

    history = HistoricalRecords(excluded_fields=["last_login", "password"])
    _change_reason: str
    _history_user: Any

    class Meta(AbstractUser.Meta):
        swappable = "AUTH_USER_MODEL"

    def delete(self, *args: Any, **kwargs: Any) -> Any:
        raise HardDeleteError(HARD_DELETE_MESSAGE.format(what="user") + " Set is_active to false.")

    @property
    def role_names(self) -> set[str]:
        from .roles import user_roles

        return user_roles(self)


class IdempotentRequest(BaseModel):
    """A POST sent with an `Idempotency-Key`, and the answer it got: a retry with the same key gets
    this answer and is not done again (familylink/common/idempotency.py). Written once, never changed.
    A key is its sender's (`created_by`): unique per user."""

    key = models.CharField(max_length=255)
    fingerprint = models.CharField(max_length=64, help_text="SHA-256 of the method, path and body.")
    method = models.CharField(max_length=8)
    path = models.CharField(max_length=1000)
    status_code = models.PositiveSmallIntegerField()
    response = models.JSONField(null=True, help_text="The answer's body, as sent.")
    headers = models.JSONField(default=dict, help_text="The answer's Location and ETag.")

    history = HistoricalRecords()

    # Append-only, like the access log: the app role may add an answer, never change one.
    db_app_privileges = "SELECT, INSERT"

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["created_by", "key"], name="idempotent_request_user_key"),
        ]

    def __str__(self) -> str:
        return f"{self.method} {self.path} ({self.key})"
