"""A clock's state as of a time, for the reports: met on time, met late, missed, pending.

The one place the reports decide a clock's state; when reunification.clocks offers the shared
function for it (issue 10, point 3), this module delegates to it.

- met on time: met at or before its due time (and by `as_of`);
- met late:    met after its due time (and by `as_of`);
- missed:      not met by `as_of` and due before then (also a case closed without meeting it
               after its due time had passed: the deadline was missed);
- pending:     not met, not yet due at `as_of`;
- stopped:     the case closed, before the clock was due, without meeting it (another outcome);
- none:        no due time (no policy).
"""

from datetime import datetime

ON_TIME, LATE, MISSED, PENDING, STOPPED, NONE = "on_time", "late", "missed", "pending", "stopped", "none"
LABELS = {
    ON_TIME: "Met on time",
    LATE: "Met late",
    MISSED: "Missed",
    PENDING: "Pending",
    STOPPED: "Stopped (closed before due)",
    NONE: "No deadline",
}
COUNTED = (ON_TIME, LATE, MISSED, PENDING)


def clock_state_at(
    *, due_at: datetime | None, met_at: datetime | None, as_of: datetime, stopped_at: datetime | None = None
) -> str:
    """The state of one clock as of `as_of`; `stopped_at`: when its case closed without meeting it."""
    if due_at is None:
        return NONE
    if met_at is not None and met_at <= as_of:
        return ON_TIME if met_at <= due_at else LATE
    if stopped_at is not None and stopped_at <= as_of:
        return MISSED if due_at < stopped_at else STOPPED
    return MISSED if due_at < as_of else PENDING
