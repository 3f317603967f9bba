"""A clock's state as of a time, for the reports: met on time, met late, missed, pending.

The reports ask `reunification.clocks.clock_state` (the one definition every page, message and the
API use) and name its states for the court's columns:

- on_time:  met at or before its due time (and by `as_of`);
- late:     met after its due time (and by `as_of`);
- missed:   not met by `as_of` and due before then (also a case closed without meeting it after
            its due time had passed: the deadline was missed);
- pending:  not met, not yet due at `as_of`;
- stopped:  not running: the case closed otherwise before the clock was due, or no deadline.
"""

from datetime import datetime

from reunification import clocks

ON_TIME, LATE, MISSED, PENDING, STOPPED = "on_time", "late", "missed", "pending", "stopped"
LABELS = {
    ON_TIME: "Met on time",
    LATE: "Met late",
    MISSED: "Missed",
    PENDING: "Pending",
    STOPPED: "Not running (closed otherwise before due, or no deadline)",
}
COUNTED = (ON_TIME, LATE, MISSED, PENDING)
_NAMES = {
    clocks.MET_ON_TIME: ON_TIME,
    clocks.MET_LATE: LATE,
    clocks.MISSED: MISSED,
    clocks.PENDING: PENDING,
    clocks.NOT_RUNNING: STOPPED,
}


def clock_state_at(
    *, due_at: datetime | None, met_at: datetime | None, as_of: datetime, stopped_at: datetime | None = None
) -> str:
    """The state of one clock as of `as_of`; `stopped_at`: when its case closed without meeting it."""
    return _NAMES[clocks.clock_state_name(due_at, met_at, as_of, stopped_at)]
