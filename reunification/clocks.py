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


@dataclass(frozen=True)
class ClockView:
    """One clock as a page or the API shows it."""

    key: str
    label: str
    due_at: datetime | None
    met_at: datetime | None
    state: str  # met, overdue, due_soon, pending, none

    @property
    def badge(self) -> str:
        return {"overdue": "Overdue", "due_soon": "Due within 48 hours", "met": "Met"}.get(self.state, "")


def clock_state(due_at: datetime | None, met_at: datetime | None, now: datetime | None = None) -> str:
    if met_at is not None:
        return "met"
    if due_at is None:
        return "none"
    now = now or timezone.now()
    if due_at < now:
        return "overdue"
    if due_at < now + DUE_SOON:
        return "due_soon"
    return "pending"


def case_clocks(case: Any, now: datetime | None = None) -> list[ClockView]:
    """The contact and reunification clocks of a case, each with its due time and state."""
    steps = {s.step: s for s in case.steps.all()}
    contact = steps.get("contact_made")
    contact_met = contact.done_at if contact is not None else None
    reunify_met = case.closed_at if case.status == "reunified" else None
    if not case.is_open and reunify_met is None:
        # Closed with another outcome: the clock no longer runs.
        reunify_state = "none"
    else:
        reunify_state = clock_state(case.reunify_due_at, reunify_met, now)
    contact_state = clock_state(case.contact_due_at, contact_met, now)
    if not case.is_open and contact_met is None:
        contact_state = "none"
    return [
        ClockView(
            "contact", "Contact between child and parent", case.contact_due_at, contact_met, contact_state
        ),
        ClockView("reunify", "Reunification", case.reunify_due_at, reunify_met, reunify_state),
    ]


def case_priority(case: Any, now: datetime | None = None) -> str | None:
    """`overdue`, `due_soon` or `on_track` for an open case (None once it is closed)."""
    if not case.is_open:
        return None
    state = clock_state(case.due_at, None, now)
    return {"overdue": "overdue", "due_soon": "due_soon"}.get(state, "on_track")
