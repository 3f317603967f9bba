"""Deadline clocks of a case: when they start, when each is due, and how urgent each is now.

The rule (Ms. L. v. ICE, 2018-06-26, as a `DeadlinePolicy`): the clocks start at the later of the
order and the separation; contact is due `contact_days` after that, reunification
`young_child_days` after it for a child younger than `young_child_age` on that day, else
`other_days`. A child whose date of birth is unknown gets the shorter clock: when in doubt, sooner.

`policy_recompute_sql` (services) computes the same in SQL for every open case at once; a test
proves the two agree.
"""

from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from django.conf import settings
from django.db.models import Case, CharField, F, Q, Value, When
from django.utils import timezone

DUE_SOON = timedelta(hours=48)


def local_zone() -> ZoneInfo:
    return ZoneInfo(settings.TIME_ZONE)


def order_starts_at(order_date: date) -> datetime:
    """An order counts from the start of its day in the deployment's time zone."""
    return datetime.combine(order_date, time.min, tzinfo=local_zone())


def age_on(dob: date, day: date) -> int:
    """Whole years of age on `day` (same as PostgreSQL's date_part('year', age(day, dob)))."""
    return day.year - dob.year - ((day.month, day.day) < (dob.month, dob.day))


@dataclass(frozen=True)
class Clocks:
    clock_start: datetime
    contact_due_at: datetime
    reunify_due_at: datetime
    young_child: bool


def compute_clocks(*, policy: Any, separated_at: datetime, date_of_birth: date | None) -> Clocks:
    """The clocks of one child's case under `policy`."""
    start = max(separated_at, order_starts_at(policy.order_date))
    local_day = start.astimezone(local_zone()).date()
    young = date_of_birth is None or age_on(date_of_birth, local_day) < policy.young_child_age
    days = policy.young_child_days if young else policy.other_days
    return Clocks(
        clock_start=start,
        contact_due_at=start + timedelta(days=policy.contact_days),
        reunify_due_at=start + timedelta(days=days),
        young_child=young,
    )


# The one definition of a clock's state, used by every page, message, report and the API.
MET_ON_TIME = "met_on_time"
MET_LATE = "met_late"
MISSED = "missed"
PENDING = "pending"
NOT_RUNNING = "not_running"
CLOCK_STATES: tuple[str, ...] = (MET_ON_TIME, MET_LATE, MISSED, PENDING, NOT_RUNNING)
CLOCK_STATE_LABELS: dict[str, str] = {
    MET_ON_TIME: "Met on time",
    MET_LATE: "Met late",
    MISSED: "Missed",
    PENDING: "Pending",
    NOT_RUNNING: "Not running",
}


def duration_text(delta: timedelta) -> str:
    """'3 days 4 hours', '5 hours', '12 minutes': how late, in words a person reads at a glance."""
    minutes = int(delta.total_seconds() // 60)
    days, rest = divmod(minutes, 24 * 60)
    hours, minutes = divmod(rest, 60)
    parts = []
    if days:
        parts.append(f"{days} day{'s' if days != 1 else ''}")
    if hours:
        parts.append(f"{hours} hour{'s' if hours != 1 else ''}")
    if not days and (minutes or not parts):
        parts.append(f"{minutes} minute{'s' if minutes != 1 else ''}")
    return " ".join(parts)


@dataclass(frozen=True)
class ClockState:
    """A clock's state at one moment: met on time, met late (by `late_by`), missed (past due and not
    met; `late_by` is how long past due), pending (`due_soon` when within 48 hours) or not running
    (no deadline, or the case closed otherwise before it fell due)."""

    state: str
    late_by: timedelta | None = None
    due_soon: bool = False

    @property
    def label(self) -> str:
        base = CLOCK_STATE_LABELS[self.state]
        if self.state == MET_LATE and self.late_by is not None:
            return f"{base} by {duration_text(self.late_by)}"
        if self.state == MISSED and self.late_by is not None:
            return f"{base}: {duration_text(self.late_by)} past due"
        if self.state == PENDING and self.due_soon:
            return "Due within 48 hours"
        return base

    @property
    def urgency(self) -> str:
        """`overdue`, `due_soon` or `` (what alerts and the worklist care about)."""
        if self.state == MISSED:
            return "overdue"
        return "due_soon" if self.due_soon else ""


def clock_state_name(
    due_at: datetime | None, met_at: datetime | None, now: datetime, stopped_at: datetime | None = None
) -> str:
    """Which state one clock is in as of `now`: the rule itself, for `clock_state` and for reports
    that count many clocks and need the state alone (the court report classifies 200,000 at
    100,000 cases; building a `ClockState` for each cost a third of its time)."""
    if met_at is not None and met_at <= now:
        return MET_ON_TIME if due_at is None or met_at <= due_at else MET_LATE
    if due_at is None:
        return NOT_RUNNING
    end = stopped_at if stopped_at is not None and stopped_at <= now else now
    if due_at < end:
        return MISSED
    if end is not now:
        return NOT_RUNNING
    return PENDING


def clock_state(
    *,
    due_at: datetime | None,
    met_at: datetime | None,
    now: datetime | None = None,
    stopped_at: datetime | None = None,
) -> ClockState:
    """The state of one clock as of `now` (default: now). `met_at` is when the clock's step was done;
    `stopped_at` is when the case closed without meeting it (the clock stops running then). Events
    after `now` are not yet known, so an as-of report can ask about any past moment."""
    now = now or timezone.now()
    state = clock_state_name(due_at, met_at, now, stopped_at)
    if state == MET_LATE:
        return ClockState(MET_LATE, late_by=met_at - due_at)  # type: ignore[operator]
    if state == MISSED:
        end = stopped_at if stopped_at is not None and stopped_at <= now else now
        return ClockState(MISSED, late_by=end - due_at)  # type: ignore[operator]
    if state == PENDING:
        return ClockState(PENDING, due_soon=due_at < now + DUE_SOON)  # type: ignore[operator]
    return ClockState(state)


def clock_state_expression(due: str, met: str, stopped: str, now: datetime) -> Any:
    """`clock_state` as a database expression over field paths (for counting clocks by state)."""
    met_by_now = Q(**{f"{met}__isnull": False, f"{met}__lte": now})
    stopped_by_now = Q(**{f"{stopped}__isnull": False, f"{stopped}__lte": now})
    return Case(
        When(
            met_by_now & (Q(**{f"{due}__isnull": True}) | Q(**{f"{met}__lte": F(due)})),
            then=Value(MET_ON_TIME),
        ),
        When(met_by_now, then=Value(MET_LATE)),
        When(Q(**{f"{due}__isnull": True}), then=Value(NOT_RUNNING)),
        When(stopped_by_now & Q(**{f"{due}__lt": F(stopped)}), then=Value(MISSED)),
        When(stopped_by_now, then=Value(NOT_RUNNING)),
        When(Q(**{f"{due}__lt": now}), then=Value(MISSED)),
        default=Value(PENDING),
        output_field=CharField(),
    )


@dataclass(frozen=True)
class ClockView:
    """One clock of a case as a page or the API shows it."""

    key: str
    label: str
    due_at: datetime | None
    met_at: datetime | None
    status: ClockState
    zone: str = ""  # the team's time zone, in which pages show the clock's times

    @property
    def state(self) -> str:
        return self.status.state

    @property
    def late_by(self) -> timedelta | None:
        return self.status.late_by

    @property
    def due_soon(self) -> bool:
        return self.status.due_soon

    @property
    def badge(self) -> str:
        return self.status.label


def case_stopped_at(case: Any) -> datetime | None:
    """When a case stopped running its clocks without reunifying (closed otherwise)."""
    return case.closed_at if case.status == "closed" else None


def case_clocks(case: Any, now: datetime | None = None) -> list[ClockView]:
    """The contact and reunification clocks of a case, each with its due time and state."""
    now = now or timezone.now()
    steps = {s.step: s for s in case.steps.all()}
    contact = steps.get("contact_made")
    contact_met = contact.done_at if contact is not None else None
    reunify_met = case.closed_at if case.status == "reunified" else None
    stopped = case_stopped_at(case)
    return [
        ClockView(
            "contact",
            "Contact between child and parent",
            case.contact_due_at,
            contact_met,
            clock_state(due_at=case.contact_due_at, met_at=contact_met, now=now, stopped_at=stopped),
            getattr(case, "team_zone", ""),
        ),
        ClockView(
            "reunify",
            "Reunification",
            case.reunify_due_at,
            reunify_met,
            clock_state(due_at=case.reunify_due_at, met_at=reunify_met, now=now, stopped_at=stopped),
            getattr(case, "team_zone", ""),
        ),
    ]


def case_priority(case: Any, now: datetime | None = None) -> str | None:
    """`overdue`, `due_soon` or `on_track` for an open case (None once it is closed)."""
    if not case.is_open:
        return None
    return clock_state(due_at=case.due_at, met_at=None, now=now).urgency or "on_track"
