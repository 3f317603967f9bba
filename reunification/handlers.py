"""Receivers of the separations layer's domain signals; they run in the sender's transaction."""

from typing import Any

from .services import (
    cases_close_for_ended_separation,
    cases_open_for_separation,
    cases_open_for_separations,
    cases_reclock_for_separation,
)


def on_separation_approved(sender: Any, separation: Any, approver: Any = None, **kwargs: Any) -> None:
    """Approving a separation opens one reunification case per child (same transaction)."""
    cases_open_for_separation(separation=separation, by=approver)


def on_separations_imported(
    sender: Any, separations: list[Any], by: Any = None, members: list[Any] | None = None, **kwargs: Any
) -> None:
    """Imported separations (a sheet's chunk) open their cases like an approval, set-based."""
    cases_open_for_separations(separations=separations, by=by, members=members)


def on_separation_corrected(
    sender: Any, separation: Any, changed: list[str], by: Any = None, change_reason: str = "", **kwargs: Any
) -> None:
    """A corrected separation time moves the clocks of its open cases (same transaction)."""
    if "occurred_at" in changed:
        cases_reclock_for_separation(separation=separation, by=by, reason=f"clocks moved: {change_reason}")


def on_separation_ended(sender: Any, separation: Any, outcome: str, by: Any = None, **kwargs: Any) -> None:
    """A separation ended outside casework closes the cases still open on it."""
    cases_close_for_ended_separation(separation=separation, outcome=outcome, by=by)


def on_separation_child_ended(
    sender: Any, separation: Any, child: Any, outcome: str, by: Any = None, **kwargs: Any
) -> None:
    """A separation ended for one child outside casework closes that child's case only."""
    cases_close_for_ended_separation(separation=separation, outcome=outcome, by=by, child_id=child.pk)
