"""The court status report: for a deadline policy, as of any time, every child of its cases in one
bucket, the buckets adding up to the total (DOMAIN.md, "Court status report"):

    separated = reunified (on time + late) + discharged otherwise (by outcome) + still separated
    still separated = not eligible (by reason) + in process (eligible or not yet decided)

with each clock (contact, reunification) met on time / met late / missed / pending, by station.

"As of" is valid time on the records as they stand now: a case counts when its separation had
happened by then; its state is the one it had then (closed by then, with its outcome; else open,
with its eligibility decision if made by then; a step counts as done if done by then).
Every figure is a key over the rows (`CourtRow.keys`), so each number drills down to its children
with the same function that counted it.
"""

from __future__ import annotations

import inspect
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from django.db.models import CharField, F, FilteredRelation, Q, QuerySet
from django.db.models.functions import Cast

from reunification.models import CaseStep, DeadlinePolicy, ReunificationCase

from .clockstates import COUNTED, LABELS, clock_state_at

Outcome = ReunificationCase.Outcome
Eligibility = CaseStep.Eligibility

# Closed with one of these: the child is discharged from care (released to a sponsor, turned 18,
# the separation ended outside casework) or closed for another recorded reason.
DISCHARGE_OUTCOMES = {
    Outcome.SEPARATION_ENDED.value: "Separation ended (released to a sponsor, turned 18...)",
    Outcome.OTHER.value: "Other outcome",
}
# The 2018 process's ineligibility reasons (DOMAIN.md): the child is still in care.
INELIGIBILITY_REASONS = {
    Outcome.CRIMINAL_HISTORY.value: "Criminal history",
    Outcome.NOT_THE_PARENT.value: "Not the parent",
    Outcome.PARENT_IN_CUSTODY.value: "Parent in USMS/jail custody",
    Outcome.COMMUNICABLE_DISEASE.value: "Communicable disease",
    Outcome.PARENT_REMOVED.value: "Parent already removed",
    Outcome.PARENT_RELEASED.value: "Parent released in the U.S.",
    Outcome.CHECKS_PENDING.value: "Checks pending",
}
CLOCKS = {"contact": "Contact between child and parent", "reunify": "Reunification"}


def bucket_rows() -> list[tuple[str, str, int]]:
    """(key, label, indent) of every figure, in the order the report shows them."""
    rows: list[tuple[str, str, int]] = [
        ("separated", "Children separated", 0),
        ("reunified", "Reunified with the separated parent", 1),
        ("reunified:on_time", "on time", 2),
        ("reunified:late", "late", 2),
        ("discharged", "Discharged otherwise", 1),
    ]
    rows += [(f"discharged:{k}", label, 2) for k, label in DISCHARGE_OUTCOMES.items()]
    rows += [("still_separated", "Still separated", 1), ("not_eligible", "Not eligible", 2)]
    rows += [(f"not_eligible:{k}", label, 3) for k, label in INELIGIBILITY_REASONS.items()]
    rows += [("in_process", "Eligible or not yet decided", 2)]
    return rows


def clock_rows() -> list[tuple[str, str, str]]:
    """(key, clock label, state label) of every clock figure."""
    return [
        (f"{clock}:{state}", clock_label, LABELS[state])
        for clock, clock_label in CLOCKS.items()
        for state in COUNTED
    ]


def label_of(key: str) -> str:
    for k, label, _ in bucket_rows():
        if k == key:
            return (
                label
                if ":" not in k
                else f"{dict((r[0], r[1]) for r in bucket_rows())[k.split(':')[0]]}: {label}"
            )
    for k, clock_label, state_label in clock_rows():
        if k == key:
            return f"{clock_label} clock: {state_label.lower()}"
    return key


KNOWN_KEYS = {k for k, _, _ in bucket_rows()} | {k for k, _, _ in clock_rows()}


@dataclass
class CourtRow:
    case_id: Any
    child_id: Any
    station: str
    separated_at: datetime
    status: str  # the case's status as of the report
    outcome: str
    contact_state: str
    reunify_state: str
    keys: set[str] = field(default_factory=set)


@dataclass
class CourtReport:
    policy: DeadlinePolicy
    as_of: datetime
    rows: list[CourtRow]

    @property
    def total(self) -> Counter:
        return Counter(k for row in self.rows for k in row.keys)

    def stations(self) -> list[tuple[str, Counter]]:
        by: dict[str, Counter] = {}
        for row in self.rows:
            by.setdefault(row.station, Counter()).update(row.keys)
        return sorted(by.items())

    def rows_for(self, key: str, station: str | None = None) -> list[CourtRow]:
        return [r for r in self.rows if key in r.keys and (station is None or r.station == station)]


def default_policy() -> DeadlinePolicy | None:
    """The active policy with the earliest order (the seeded Ms. L. order)."""
    return (
        DeadlinePolicy.objects.filter(is_active=True, withdrawn_at__isnull=True)
        .order_by("order_date", "created_at")
        .first()
        or DeadlinePolicy.objects.filter(withdrawn_at__isnull=True)
        .order_by("order_date", "created_at")
        .first()
    )


def _steps(**kwargs: str) -> dict[str, FilteredRelation]:
    """One LEFT JOIN per named step (a case has at most one of each): the planner joins them in
    one pass, where a subquery per case and column cost three index probes per case (and, with
    100,000 cases, an estimate that had PostgreSQL spend 0.36 s compiling JIT code)."""
    return {
        name: FilteredRelation("steps", condition=Q(steps__step=step, steps__withdrawn_at__isnull=True))
        for name, step in kwargs.items()
    }


def _classify(
    pk: str,
    child_id: str,
    status: str,
    outcome: str,
    closed_at: datetime | None,
    contact_due_at: datetime | None,
    reunify_due_at: datetime | None,
    contact_done_at: datetime | None,
    eligibility_done_at: datetime | None,
    eligibility_method: str | None,
    station: str,
    separated_at: datetime,
    *,
    as_of: datetime,
) -> CourtRow:
    closed = closed_at is not None and closed_at <= as_of and status in ("reunified", "closed")
    status = status if closed else "open"
    outcome = outcome if closed else ""
    keys = {"separated"}
    if status == "reunified":
        on_time = reunify_due_at is None or closed_at <= reunify_due_at  # type: ignore[operator]
        keys |= {"reunified", "reunified:on_time" if on_time else "reunified:late"}
    elif status == "closed" and outcome not in INELIGIBILITY_REASONS:
        keys |= {"discharged", f"discharged:{outcome if outcome in DISCHARGE_OUTCOMES else 'other'}"}
    else:
        keys.add("still_separated")
        reason = outcome if outcome in INELIGIBILITY_REASONS else ""
        if (
            not reason
            and eligibility_done_at is not None
            and eligibility_done_at <= as_of
            and eligibility_method in INELIGIBILITY_REASONS
        ):
            reason = eligibility_method
        keys |= {"not_eligible", f"not_eligible:{reason}"} if reason else {"in_process"}
    stopped_at = closed_at if closed else None
    contact = clock_state_at(
        due_at=contact_due_at, met_at=contact_done_at, as_of=as_of, stopped_at=stopped_at
    )
    reunify = clock_state_at(
        due_at=reunify_due_at,
        met_at=closed_at if status == "reunified" else None,
        as_of=as_of,
        stopped_at=stopped_at if status != "reunified" else None,
    )
    keys |= {f"contact:{contact}", f"reunify:{reunify}"}
    return CourtRow(
        case_id=pk,
        child_id=child_id,
        station=station,
        separated_at=separated_at,
        status=status,
        outcome=outcome,
        contact_state=contact,
        reunify_state=reunify,
        keys=keys,
    )


# The columns `_classify` takes, in its parameters' order (checked below); the keys as text (the
# drill-down and the access log want text, and 200,000 UUID objects cost more than the rest of a row).
_FIELDS = {
    "pk": Cast("pk", CharField()),
    "child_id": Cast("child_id", CharField()),
    "status": F("status"),
    "outcome": F("outcome"),
    "closed_at": F("closed_at"),
    "contact_due_at": F("contact_due_at"),
    "reunify_due_at": F("reunify_due_at"),
    "contact_done_at": F("contact__done_at"),
    "eligibility_done_at": F("eligibility__done_at"),
    "eligibility_method": F("eligibility__method"),
    "station": F("separation__station__code"),
    "separated_at": F("separation__occurred_at"),
}


# A row is passed positionally (a dict per row cost more than classifying it): same names, same order.
if list(_FIELDS) != list(inspect.signature(_classify).parameters)[:-1]:
    raise ImportError("reports.court: _FIELDS must name _classify's parameters in their order")


def court_status(
    *, cases: QuerySet[ReunificationCase], policy: DeadlinePolicy, as_of: datetime
) -> CourtReport:
    """The report over `cases` (the reader's scope) under `policy` as of `as_of`."""
    values = (
        cases.order_by()
        .filter(
            policy=policy,
            withdrawn_at__isnull=True,
            separation__withdrawn_at__isnull=True,
            separation__occurred_at__lte=as_of,
        )
        .exclude(separation__end_outcome="recorded_in_error")
        .annotate(
            **_steps(contact=CaseStep.Step.CONTACT_MADE, eligibility=CaseStep.Step.ELIGIBILITY_DECISION)
        )
        .annotate(**{f"court_{name}": expression for name, expression in _FIELDS.items()})
        .order_by("separation__occurred_at", "pk")
        .values_list(*(f"court_{name}" for name in _FIELDS))
    )
    return CourtReport(
        policy=policy,
        as_of=as_of,
        rows=one_per_child([_classify(*row, as_of=as_of) for row in values]),
    )


def one_per_child(rows: list[CourtRow]) -> list[CourtRow]:
    """Every child once, in one bucket (DOMAIN.md), though a child may have several cases under a
    policy: separated again after a reunification, or two records of one child merged (each had
    its separation and case). The child is counted by a case still open as of the report if there
    is one (not reunified while any separation of theirs is unresolved), else by the case of the
    latest separation. `rows` come in separation order (then case id); so does the result."""
    chosen: dict[Any, int] = {}
    for index, row in enumerate(rows):
        best = chosen.get(row.child_id)
        if best is None or "still_separated" in row.keys or "still_separated" not in rows[best].keys:
            chosen[row.child_id] = index
    if len(chosen) == len(rows):
        return rows
    return [rows[i] for i in sorted(chosen.values())]


def figures(counter: Counter) -> dict[str, Any]:
    """The figures of one tally in the API's shape."""
    return {
        "separated": counter["separated"],
        "reunified": {
            "total": counter["reunified"],
            "on_time": counter["reunified:on_time"],
            "late": counter["reunified:late"],
        },
        "discharged": {
            "total": counter["discharged"],
            "by_outcome": {k: counter[f"discharged:{k}"] for k in DISCHARGE_OUTCOMES},
        },
        "still_separated": counter["still_separated"],
        "not_eligible": {
            "total": counter["not_eligible"],
            "by_reason": {k: counter[f"not_eligible:{k}"] for k in INELIGIBILITY_REASONS},
        },
        "in_process": counter["in_process"],
        "clocks": {clock: {state: counter[f"{clock}:{state}"] for state in COUNTED} for clock in CLOCKS},
    }
