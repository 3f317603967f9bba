"""Setting aside a quarantined row that is not data (a title row, a totals row, a note typed under the
table), and putting it back.

A row set aside stays quarantined, its cells as typed (rows read = imported + quarantined holds); it
leaves the rows to correct, so a batch whose every quarantined row is set aside reads as finished
(`ImportBatch.is_finished`). Who, when and why are on the row while it is set aside, and in its
history for good (set aside and put back alike).
"""

from __future__ import annotations

from typing import Any

from django.db import transaction
from django.utils import timezone

from familylink.common.errors import BusinessRuleError, ValidationFailed
from familylink.common.templatetags.display import user_name

from ..models import ImportRow
from .batches import row_locked
from .runs import refresh_counts

REASON_MAX = 1000
SET_ASIDE_HELP = "Say why this row is not data, e.g. 'totals row, not a family' or 'title above the table'."
PUT_BACK_HELP = (
    "Say why the row is to be corrected after all, e.g. 'it is a family: the names are in the notes'."
)


def _reason(text: str, help_text: str) -> str:
    reason = " ".join(str(text or "").replace("\x00", "").split())
    if not reason:
        raise ValidationFailed({"reason": [f"The reason is blank. {help_text}"]})
    if len(reason) > REASON_MAX:
        raise ValidationFailed(
            {"reason": [f"The reason has {len(reason):,} characters; keep it under {REASON_MAX:,}."]}
        )
    return reason


def _quarantined_row(row_id: Any, by: Any) -> ImportRow:
    """The row, locked, if `by` may correct its batch's rows (as `row_correct` asks) and it is quarantined."""
    row = row_locked(row_id=row_id, by=by)
    if row.status != ImportRow.Status.QUARANTINED:
        raise BusinessRuleError(
            f"Only a quarantined row can be set aside or put back (row {row.row_number} is "
            f"{row.get_status_display().lower()})."
        )
    return row


def _save(row: ImportRow, by: Any, change: str, counts: str) -> None:
    row._change_reason = change
    row._history_user = by
    row.save(update_fields=["set_aside_at", "set_aside_by", "set_aside_reason"])
    refresh_counts(row.batch, by, reason=counts)


@transaction.atomic
def row_set_aside(*, row_id: Any, by: Any, reason: str) -> ImportRow:
    """Set a quarantined row aside as not data, with a reason (required): it stays quarantined, its
    cells as typed, and leaves the rows to correct; the batch's counts follow. History: who, when, why."""
    row = _quarantined_row(row_id, by)
    why = _reason(reason, SET_ASIDE_HELP)
    if row.is_set_aside:
        raise BusinessRuleError(
            f"Row {row.row_number} is already set aside (by {user_name(row.set_aside_by)}: "
            f"{row.set_aside_reason})."
        )
    row.set_aside_at, row.set_aside_by, row.set_aside_reason = timezone.now(), by, why
    _save(row, by, f"set aside: {why}", f"row {row.row_number} set aside")
    return row


@transaction.atomic
def row_put_back(*, row_id: Any, by: Any, reason: str) -> ImportRow:
    """Put a row set aside back among the rows to correct, with a reason (required); the batch's
    counts follow. The history keeps when and why it was set aside, and this."""
    row = _quarantined_row(row_id, by)
    why = _reason(reason, PUT_BACK_HELP)
    if not row.is_set_aside:
        raise BusinessRuleError(f"Row {row.row_number} is not set aside; it is among the rows to correct.")
    row.set_aside_at, row.set_aside_by, row.set_aside_reason = None, None, ""
    _save(row, by, f"put back: {why}", f"row {row.row_number} put back")
    return row
