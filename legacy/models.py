"""Import batches of field spreadsheets, every row kept as typed, and what each row became.

Nothing typed in a sheet is lost: `ImportRow.cells` holds every cell of the row under the
sheet's own header; corrections made in the UI are kept apart (`corrections`), never written
over the original. `ImportRecord` names, for each record an import created or linked, its
batch and row (provenance).

References declared with `checked_reference` have no foreign-key constraint: a trigger checks them once
per INSERT or UPDATE statement (familylink/common/reference_checks.py), so a parent must be saved
before its children.
"""

from django.conf import settings
from django.db import models
from simple_history.models import HistoricalRecords

from apprehensions.models import Station
from familylink.common.models import BaseModel, BulkWrittenModel
from familylink.common.reference_checks import checked_reference


class ImportUpload(BaseModel):
    """One uploaded file: the batches made of it (one per sheet of rows) and the sheets left out, and why."""

    filename = models.CharField(max_length=255)
    file_format = models.CharField(max_length=8)
    # A supervisor imports for their station only; null for HQ (all stations). Its batches' scope.
    station_scope = models.ForeignKey(
        Station, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    # [{"sheet": title, "why": "hidden (a lookup list, say)"}, ...]: not imported, in workbook order.
    sheets_left_out = models.JSONField(default=list, blank=True)

    history = HistoricalRecords()

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"{self.filename} ({str(self.pk)[:8]})"


class ImportBatch(BaseModel):
    """One uploaded sheet: who uploaded it, its rows, and where the import stands."""

    class Status(models.TextChoices):
        UPLOADED = "uploaded", "Uploaded"
        PREVIEWING = "previewing", "Checking rows"
        PREVIEWED = "previewed", "Preview ready"
        QUEUED = "queued", "Waiting to import"
        IMPORTING = "importing", "Importing"
        DONE = "done", "Imported"
        FAILED = "failed", "Failed"

    filename = models.CharField(max_length=255)
    file_format = models.CharField(max_length=8)
    # The file it came from (null: a batch uploaded before files were kept as uploads).
    upload = models.ForeignKey(
        ImportUpload, null=True, blank=True, on_delete=models.PROTECT, related_name="batches"
    )
    sheet = models.CharField(
        max_length=255, blank=True, help_text="The workbook sheet the rows come from (blank: a CSV file)."
    )
    headers = models.JSONField(default=list, help_text="The header row as typed.")
    column_map = models.JSONField(default=dict, help_text="Header index → canonical column.")
    # A supervisor imports for their station only; null for HQ (all stations).
    station_scope = models.ForeignKey(
        Station, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    status = models.CharField(max_length=12, choices=Status.choices, default=Status.UPLOADED)
    rows_total = models.PositiveIntegerField(default=0)
    rows_done = models.PositiveIntegerField(default=0)
    rows_imported = models.PositiveIntegerField(default=0)
    rows_quarantined = models.PositiveIntegerField(default=0)
    # Of the quarantined rows, those set aside as not data (a title, a totals row, a note).
    rows_set_aside = models.PositiveIntegerField(default=0)
    preview = models.JSONField(default=dict, blank=True, help_text="Counts of the dry run.")
    error = models.TextField(blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    history = HistoricalRecords()

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"{self.name} ({str(self.pk)[:8]})"

    @property
    def label(self) -> str:
        return f"batch {str(self.pk)[:8]}"

    @property
    def name(self) -> str:
        """The file, and the sheet of a workbook: "sep-2018.xlsx — sheet 'July'"."""
        return f"{self.filename} — sheet '{self.sheet}'" if self.sheet else self.filename

    @property
    def check_failed(self) -> bool:
        """The dry run stopped on an error: there is no preview, so nothing to confirm (check again).
        A failed import always had one: only a previewed batch is imported."""
        return self.status == self.Status.FAILED and not self.preview

    @property
    def rows_to_correct(self) -> int:
        return self.rows_quarantined - self.rows_set_aside

    @property
    def is_finished(self) -> bool:
        """Imported, and no row left to correct: every quarantined row, if any, is set aside."""
        return self.status == self.Status.DONE and self.rows_to_correct == 0


class ImportRow(BulkWrittenModel):
    class Status(models.TextChoices):
        PENDING = "pending", "Not imported yet"
        IMPORTED = "imported", "Imported"
        QUARANTINED = "quarantined", "Quarantined"

    batch = checked_reference(ImportBatch, related_name="rows")
    row_number = models.PositiveIntegerField(
        help_text="The row's number in the spreadsheet (header is row 1)."
    )
    # Every cell as typed: [[header, text], ...] in sheet order (headers may repeat).
    cells = models.JSONField(default=list)
    # Canonical column → corrected text, typed in the UI; the original cell stays in `cells`.
    corrections = models.JSONField(default=dict, blank=True)
    fingerprint = models.CharField(max_length=64, blank=True, db_index=True)
    status = models.CharField(max_length=12, choices=Status.choices, default=Status.PENDING, db_index=True)
    # Canonical column (or "row") → messages saying what is wrong and how to fix it.
    messages = models.JSONField(default=dict, blank=True)
    # What the row became, in words ("new child …", "adult linked by A-number …").
    outcome = models.JSONField(default=list, blank=True)
    imported_at = models.DateTimeField(null=True, blank=True)
    # A quarantined row that is not data (a title, a totals row, a note under the table), set aside
    # with a reason: still quarantined (rows read = imported + quarantined), its cells as typed, but
    # no longer to correct. Put back, these are cleared; the history keeps both, with their reasons.
    set_aside_at = models.DateTimeField(null=True, blank=True)
    set_aside_by = checked_reference(settings.AUTH_USER_MODEL, null=True, blank=True, related_name="+")
    set_aside_reason = models.TextField(blank=True)

    history = HistoricalRecords(user_db_constraint=False)

    class Meta:
        ordering = ["batch", "row_number"]
        constraints = [
            models.UniqueConstraint(fields=["batch", "row_number"], name="import_row_unique"),
        ]

    def __str__(self) -> str:
        return f"{self.batch.label} row {self.row_number}"

    @property
    def provenance(self) -> str:
        return f"legacy import {self.batch.label} ({self.batch.name}) row {self.row_number}"

    @property
    def is_set_aside(self) -> bool:
        return self.set_aside_at is not None


class ImportPreview(BaseModel):
    """What a dry run found: per row, imported or quarantined and why. Written once, never changed."""

    batch = models.ForeignKey(ImportBatch, on_delete=models.PROTECT, related_name="previews")
    # [{"row": id, "row_number": n, "status": ..., "messages": {...}, "outcome": [...]}, ...]
    rows = models.JSONField(default=list)

    history = HistoricalRecords()

    class Meta:
        ordering = ["-created_at"]


class ImportRecord(BulkWrittenModel):
    """A record an import row created, or linked to (already on file): its batch and row."""

    class Action(models.TextChoices):
        CREATED = "created", "Created"
        LINKED = "linked", "Linked (already on file)"

    row = checked_reference(ImportRow, related_name="records")
    model = models.CharField(max_length=64, help_text="app_label.model of the record")
    object_id = models.UUIDField(db_index=True)
    action = models.CharField(max_length=8, choices=Action.choices)
    role = models.CharField(max_length=32, blank=True, help_text="adult, child, apprehension, separation…")

    history = HistoricalRecords(user_db_constraint=False)

    class Meta:
        indexes = [models.Index(fields=["model", "object_id"])]
