"""The access log: every view of a child's record (and other sensitive reads) is kept."""

from django.conf import settings
from django.db import models
from django.utils import timezone
from simple_history.models import HistoricalRecords

from familylink.common.models import BaseModel


class AccessLog(BaseModel):
    """Who viewed what, when, and through which channel. Append-only."""

    user = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.PROTECT, related_name="+")
    object_type = models.CharField(max_length=64)
    object_id = models.CharField(max_length=64, db_index=True)
    action = models.CharField(max_length=32, default="view")
    channel = models.CharField(max_length=8, default="web", help_text="web or api")
    path = models.CharField(max_length=255, blank=True)
    is_minor_record = models.BooleanField(default=False)
    detail = models.TextField(blank=True, help_text="What happened, for security events (sign-in, roles...)")

    history = HistoricalRecords()

    # Append-only and hashed into the tamper-evident chain (audit/chain.py, db_roles.py).
    audit_chained = True
    db_app_privileges = "SELECT, INSERT"

    class Meta:
        ordering = ["-created_at"]


class ChainLink(models.Model):
    """One link of a table's tamper-evident chain, written only by PostgreSQL (audit/chain.py).

    Not a tracked model: it is itself the audit trail of the history tables. The app role may only
    read it; the trigger function that appends links runs as the owner.
    """

    table_name = models.CharField(max_length=100)
    seq = models.BigIntegerField()
    row_pk = models.CharField(max_length=64)
    row_hash = models.CharField(max_length=64)
    chain_hash = models.CharField(max_length=64)
    recorded_at = models.DateTimeField()
    # What row_hash is the SHA-256 of: the row's text (`row::text`, links appended set-based since
    # migration 0006) or its JSON (`to_jsonb(row)::text`, the links written before). Both with the
    # settings of audit.chain.CANONICAL_SETTINGS.
    form = models.CharField(
        max_length=5,
        choices=[("row", "row::text"), ("jsonb", "to_jsonb(row)::text")],
        default="jsonb",
        db_default="jsonb",
    )

    audit_trail = True
    db_app_privileges = "SELECT"

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["table_name", "seq"], name="audit_chainlink_table_seq"),
        ]
        indexes = [models.Index(fields=["table_name", "row_pk"], name="audit_chainlink_table_row")]

    def __str__(self) -> str:
        return f"{self.table_name} #{self.seq}"


class ChainCheckpoint(models.Model):
    """A signed record of every chain's head (count and hash) at one moment, for auditors to export
    and keep outside the system; a later rewrite of a chain, even by a superuser, no longer matches it."""

    created_at = models.DateTimeField(default=timezone.now, db_index=True)
    heads = models.JSONField(help_text="{table: {count, head}}")
    signature = models.CharField(max_length=64, help_text="HMAC-SHA256 of the canonical heads JSON")
    verified = models.BooleanField(help_text="Whether every chain verified clean at the checkpoint")
    problems = models.JSONField(default=list)

    audit_trail = True
    db_app_privileges = "SELECT, INSERT"

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"checkpoint {self.created_at:%Y-%m-%d %H:%M} ({'clean' if self.verified else 'BROKEN'})"
