"""How link review writes a row: with who and why in its history row, and a candidate's decision."""

from typing import Any

from django.utils import timezone

from .models import LinkCandidate


def stamp(obj: Any, *, by: Any, reason: str) -> None:
    """The history row of the next `save()` names `by` and `reason`."""
    obj._change_reason = reason
    obj._history_user = by


def decide(candidate: LinkCandidate, *, status: str, by: Any, reason: str, result_id: Any = None) -> None:
    """Record a candidate's new status with who, when and why (one history row)."""
    candidate.status = status
    candidate.decided_at = timezone.now()
    candidate.decided_by = by
    candidate.decision_reason = reason
    candidate.result_id = result_id
    stamp(candidate, by=by, reason=f"{status}: {reason}" if reason else status)
    candidate.save(update_fields=["status", "decided_at", "decided_by", "decision_reason", "result_id"])
