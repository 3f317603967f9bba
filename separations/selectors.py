"""Reads of the separations layer that are more than a `.get()`.

The central one is `separated_children(as_of=, known_at=)`: which children were in an in-effect
separation at the instant `as_of`,
- as the records stand now (valid time: `occurred_at` <= as_of < `ended_at`, and the child's own
  member end, if the child's separation ended before the siblings', after as_of too), or
- with `known_at`, as the system knew it at that instant: from the history tables, taking for
  each separation and each member the latest history row written at or before `known_at`.
So a separation entered three days late is absent before it was entered, and a corrected
`occurred_at` answers with the old value for any `known_at` before the correction.

It is one set-based SQL statement (a CTE) whatever the number of separations; callers take the
count, a page of rows, the counts by custody agency and by reason category, or every row (CSV).
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from django.db import connection
from django.db.models import Exists, OuterRef, Prefetch, Q, QuerySet
from django.utils import timezone
from django.utils.dateparse import parse_datetime

from apprehensions.models import Person, Station
from familylink.common.dates import check_year
from familylink.common.errors import ValidationFailed

from .models import CustodyPeriod, ReasonCode, Separation, SeparationMember

LIVE_STATUSES = (Separation.Status.IN_EFFECT.value, Separation.Status.ENDED.value)
NO_CUSTODY = "NONE"


# --- time parameters -------------------------------------------------------------------------

_SPACE_OFFSET = re.compile(r" (\d{2}(:?\d{2})?)$")


def parse_instant(value: str | None, field_name: str, *, required: bool = False) -> datetime | None:
    """An ISO 8601 instant with its offset (`2018-06-20T09:00:00-06:00`, `...Z`), else ValidationFailed.

    A `+` left unescaped in a query string arrives as a space; it is read back as `+`.
    """
    if value is None or not str(value).strip():
        if required:
            raise ValidationFailed({field_name: ["Give a date and time with its offset."]})
        return None
    text = str(value).strip()
    text = _SPACE_OFFSET.sub(r"+\1", text)
    try:
        parsed = parse_datetime(text)
    except ValueError:
        parsed = None
    if parsed is None:
        raise ValidationFailed(
            {
                field_name: [
                    f"{text[:40]!r} is not a date and time; use ISO 8601, e.g. 2018-06-20T09:00:00-06:00."
                ]
            }
        )
    if timezone.is_naive(parsed):
        raise ValidationFailed(
            {field_name: [f"{text[:40]!r} has no time zone; add the offset, e.g. 2018-06-20T09:00:00-06:00."]}
        )
    check_year(parsed, field_name)
    return parsed


# --- the as-of query -------------------------------------------------------------------------
#
# Two modes share one shape. `sep`: the separations in effect at as_of (from the table, or from
# the latest history row of each separation written at or before known_at); `mem`: the members of
# a set of separations (from the table, or their latest history rows), each row carrying its
# separation's occurred_at and reason, so later steps aggregate one row set and never join two
# materialised CTEs (PostgreSQL cannot estimate CTE sizes and would loop over them).
# A member counts while its own end (a child reunified before its siblings: `ended_at`) is
# null or after as_of; as known at known_at, that end is the one of the member's history row.
# A record whose latest version is a deletion ('-') is gone. Members never move between
# separations, so their history is read per separation, through the (separation_id, id,
# history_date) index; filtering by separation before DISTINCT ON is exact.
# As known: whether the latest version counts is computed inside the DISTINCT ON (`live`) and
# filtered outside: PostgreSQL has no statistics for a subquery's output columns and would take
# each condition on them (`withdrawn_at IS NULL`, ...) as matching 0.5 % of the rows, estimate one
# separation, and plan every later step (members, custody) as a loop; on one boolean it takes half.


def separation_counts(alias: str, *, since: str, until: str) -> str:
    """SQL: separation row `alias` (current, or a version in the history) counts as separating
    its children at some instant of (since, until]: decided (in effect, or ended since), not
    withdrawn, not recorded in error, begun by `until`, not ended by `since`. `since` and `until`
    name query parameters. One definition for the as-of report and the daily series."""
    return (
        f"{alias}.status IN ('in_effect', 'ended') AND {alias}.withdrawn_at IS NULL "
        f"AND {alias}.end_outcome <> 'recorded_in_error' AND {alias}.occurred_at <= %({until})s "
        f"AND ({alias}.ended_at IS NULL OR {alias}.ended_at > %({since})s)"
    )


_NOW_SEP = """
{name} AS (
    SELECT s.id, s.occurred_at, s.reason_code_id, s.station_id
    FROM separations_separation s
    WHERE {counts}
      {only} {station}
)""".replace("{counts}", separation_counts("s", since="as_of", until="as_of"))

_KNOWN_AT_SEP = """
{name} AS (
    SELECT h.id, h.occurred_at, h.reason_code_id, h.station_id
    FROM (
        SELECT DISTINCT ON (hs.id)
               hs.id, hs.occurred_at, hs.reason_code_id, hs.station_id,
               (hs.history_type <> '-' AND {counts}
                {station}) AS live
        FROM separations_historicalseparation hs
        WHERE hs.history_date <= %(known_at)s {only}
        ORDER BY hs.id, hs.history_date DESC, hs.history_id DESC
    ) h
    WHERE h.live
)""".replace("{counts}", separation_counts("hs", since="as_of", until="as_of"))

_NOW_MEM = """
{name} AS (
    SELECT m.separation_id, m.person_id, m.side, src.occurred_at, src.reason_code_id
    FROM {src} src
    JOIN separations_separationmember m ON m.separation_id = src.id
    WHERE m.withdrawn_at IS NULL AND (m.ended_at IS NULL OR m.ended_at > %(as_of)s) {side}
)"""

# As known, for every separation of `src` (the whole answer): one pass over the members' history
# in (separation, member, newest first) order, merge-joined with the separations (also in id
# order), instead of one index look-up per separation.
_KNOWN_AT_MEM_ALL = """
{name} AS (
    SELECT x.separation_id, x.person_id, x.side, src.occurred_at, src.reason_code_id
    FROM (
        SELECT DISTINCT ON (hm.separation_id, hm.id)
               hm.separation_id, hm.person_id, hm.side,
               (hm.history_type <> '-' AND hm.withdrawn_at IS NULL
                AND (hm.ended_at IS NULL OR hm.ended_at > %(as_of)s) {side}) AS live
        FROM separations_historicalseparationmember hm
        WHERE hm.history_date <= %(known_at)s
        ORDER BY hm.separation_id, hm.id, hm.history_date DESC, hm.history_id DESC
    ) x
    JOIN {src} src ON src.id = x.separation_id
    WHERE x.live
)"""

_KNOWN_AT_MEM = """
{name} AS (
    SELECT x.separation_id, x.person_id, x.side, src.occurred_at, src.reason_code_id
    FROM {src} src
    CROSS JOIN LATERAL (
        SELECT DISTINCT ON (hm.id)
               hm.separation_id, hm.person_id, hm.side, hm.withdrawn_at, hm.history_type, hm.ended_at
        FROM separations_historicalseparationmember hm
        WHERE hm.separation_id = src.id AND hm.history_date <= %(known_at)s
        ORDER BY hm.id, hm.history_date DESC, hm.history_id DESC
    ) x
    WHERE x.history_type <> '-' AND x.withdrawn_at IS NULL
      AND (x.ended_at IS NULL OR x.ended_at > %(as_of)s)
)"""

# The separations naming given children on the child side (as they are, or as known): the
# candidates of a page's details, found through the members' person index.
_NOW_CANDIDATES = """
cand AS (
    SELECT m.separation_id FROM separations_separationmember m
    WHERE m.person_id {children} AND m.side = 'child' AND m.withdrawn_at IS NULL
)"""

_KNOWN_AT_CANDIDATES = """
cand AS (
    SELECT x.separation_id FROM (
        SELECT DISTINCT ON (hm.id) hm.separation_id, hm.side, hm.withdrawn_at, hm.history_type
        FROM separations_historicalseparationmember hm
        WHERE hm.person_id {children} AND hm.history_date <= %(known_at)s
        ORDER BY hm.id, hm.history_date DESC, hm.history_id DESC
    ) x
    WHERE x.side = 'child' AND x.history_type <> '-' AND x.withdrawn_at IS NULL
)"""

# With an agency filter: the child was (NOT, for NONE) held by that agency at as_of.
_HELD = """AND {neg}EXISTS (
    SELECT 1 FROM separations_custodyperiod cpa
    WHERE cpa.person_id = {person} AND cpa.withdrawn_at IS NULL AND cpa.started_at <= %(as_of)s
      AND (cpa.ended_at IS NULL OR cpa.ended_at > %(as_of)s) {agency})"""

ONLY_CANDIDATES_NOW = "AND s.id IN (SELECT separation_id FROM cand)"
ONLY_CANDIDATES_KNOWN = "AND hs.id IN (SELECT separation_id FROM cand)"

# The report in one pass (`SeparatedChildren.report`): `mem` is read once and gives the children
# (`kids`: each child once, with its earliest separation and its reason categories), from which come
# the summary (each child's open custody period) and the page (`kids` in order). The page's rows
# then need both sides of the page children's separations: `_details` finds those separations
# through the members' person index from the page, in the same statement (joining `mem` to
# itself would be planned as a nested loop: PostgreSQL cannot estimate the CTEs' sizes). Each
# output row is tagged with its part: (part, agency, count, policy, child_welfare, person,
# separation, side, time, reason).
_PART_SUMMARY, _PART_PAGE, _PART_MEMBERS = 0, 1, 2
_REPORT_KIDS = """,
kids AS (
    -- Each child with the agency holding them now (one open custody period per person, so min()
    -- is that one), joined before grouping, where PostgreSQL knows how many rows to expect (so
    -- not one index look-up per child). The reason categories through two small arrays
    -- (computed once), not a join per member.
    SELECT mem.person_id AS child_id, min(mem.occurred_at) AS since, min(cp.agency) AS agency,
           bool_or(mem.reason_code_id = ANY(ARRAY(
               SELECT id FROM separations_reasoncode WHERE category = 'policy'))) AS policy,
           bool_or(mem.reason_code_id = ANY(ARRAY(
               SELECT id FROM separations_reasoncode WHERE category = 'child_welfare'))) AS child_welfare
    FROM mem
    LEFT JOIN separations_custodyperiod cp
      ON cp.person_id = mem.person_id AND cp.ended_at IS NULL AND cp.withdrawn_at IS NULL
    GROUP BY mem.person_id
),
page AS (
    -- ORDER BY with LIMIT alone: a top-N sort, not a sort of every child.
    SELECT child_id, since FROM kids ORDER BY since, child_id LIMIT %(limit)s OFFSET %(offset)s
),"""
_REPORT_SELECT = """
SELECT 0, coalesce(kids.agency, %(no_custody)s), count(*), count(*) FILTER (WHERE kids.policy),
       count(*) FILTER (WHERE kids.child_welfare), NULL::uuid, NULL::uuid, NULL::text,
       NULL::timestamptz, NULL::uuid
FROM kids
GROUP BY 2
UNION ALL
SELECT 1, NULL, NULL, NULL, NULL, page.child_id, NULL, NULL, page.since, NULL FROM page
UNION ALL
SELECT 2, NULL, NULL, NULL, NULL, dmem.person_id, dmem.separation_id, dmem.side, dmem.occurred_at,
       dmem.reason_code_id
FROM dmem"""

# A first page needs only the earliest separations: walk them in occurred_at order and stop.
FAST_PAGE_LIMIT = 1000
FIRST_WINDOW_EXTRA = 50


@dataclass
class SeparatedChild:
    """One child in an in-effect separation at `as_of`, with both sides and where each is now."""

    child: Person
    since: datetime
    days_separated: int
    adults: list[Person]
    reasons: list[ReasonCode]
    separations: list[Separation]
    child_custody: CustodyPeriod | None
    adult_custody: dict[Any, CustodyPeriod | None] = field(default_factory=dict)

    @property
    def imported(self) -> bool:
        """True when a separation of this child was imported from a field spreadsheet, not entered."""
        return any(s.source == Separation.Source.LEGACY_IMPORT for s in self.separations)

    @property
    def adults_with_custody(self) -> list[tuple[Person, CustodyPeriod | None]]:
        return [(adult, self.adult_custody.get(adult.pk)) for adult in self.adults]


@dataclass
class SeparatedChildrenReport:
    """A page of the report with its summary, from one pass (`SeparatedChildren.report`)."""

    count: int
    by_agency: dict[str, int]
    by_category: dict[str, int]
    rows: list[SeparatedChild]


@dataclass
class SeparatedChildren:
    """The answer of `separated_children`: run `count()`, `page()`, the counts, or `iter_rows()`.

    Children are ordered by how long they have been separated (earliest separation first), then id.
    """

    as_of: datetime
    known_at: datetime | None = None
    station: str | None = None
    category: str | None = None
    agency: str | None = None

    @property
    def _known(self) -> bool:
        return self.known_at is not None

    def _params(self, **extra: Any) -> dict[str, Any]:
        params: dict[str, Any] = {"as_of": self.as_of, "known_at": self.known_at, **extra}
        if self.station is not None:
            params["station_id"] = (
                Station.objects.filter(code=self.station).values_list("pk", flat=True).first()
            )
        if self.category is not None:
            params["category_reasons"] = list(
                ReasonCode.objects.filter(category=self.category).values_list("pk", flat=True)
            )
        if self.agency is not None:
            params["agency"] = self.agency
        return params

    def _sep(self, *, only: str = "", name: str = "sep") -> str:
        template = _KNOWN_AT_SEP if self._known else _NOW_SEP
        station = "AND station_id = %(station_id)s" if self.station is not None else ""
        if self.category is not None:
            station += " AND reason_code_id = ANY(%(category_reasons)s)"
        return template.format(station=station, only=only, name=name)

    def _held(self, person: str) -> str:
        """With `agency`: the condition that the child `person` (a column) was held by it at as_of
        (custody periods as recorded now, valid time: the series' agency split), or by nobody for
        NONE."""
        if self.agency is None:
            return ""
        if self.agency == NO_CUSTODY:
            return _HELD.format(person=person, neg="NOT ", agency="")
        return _HELD.format(person=person, neg="", agency="AND cpa.agency = %(agency)s")

    def _details(self, children: str, *, sep: str = "sep", mem: str = "mem") -> str:
        """CTEs `cand`, `{sep}`, `{mem}`: the separations in effect at as_of that name one of
        `children` (an SQL condition on a person id) on the child side, and all their members,
        found through the members' person index (so only those separations' history is read)."""
        candidates = _KNOWN_AT_CANDIDATES if self._known else _NOW_CANDIDATES
        only = ONLY_CANDIDATES_KNOWN if self._known else ONLY_CANDIDATES_NOW
        return (
            candidates.format(children=children)
            + ","
            + self._sep(only=only, name=sep)
            + ","
            + self._mem(src=sep, name=mem)
        )

    def _mem(
        self, src: str = "sep", name: str = "mem", *, every: bool = False, children: bool = False
    ) -> str:
        """Members of `src`'s separations. `every`: `src` is the whole answer (as known, one pass
        over the members' history, not a look-up per separation). `children`: child side only."""
        if not self._known:
            side = "AND m.side = 'child' " + self._held("m.person_id") if children else ""
            return _NOW_MEM.format(src=src, name=name, side=side)
        if every:
            side = "AND hm.side = 'child' " + self._held("hm.person_id") if children else ""
            return _KNOWN_AT_MEM_ALL.format(src=src, name=name, side=side)
        return _KNOWN_AT_MEM.format(src=src, name=name)

    def _fetch(self, sql: str, params: dict[str, Any]) -> list[tuple]:
        with connection.cursor() as cursor:
            cursor.execute(sql, params)
            return cursor.fetchall()

    def _with_children(self, tail: str, **extra: Any) -> list[tuple]:
        """`tail` after CTEs `sep` and `mem` (the child-side members of every separation in effect)."""
        return self._fetch(
            "WITH " + self._sep() + "," + self._mem(every=True, children=True) + tail, self._params(**extra)
        )

    def summary(self) -> tuple[int, dict[str, int], dict[str, int]]:
        """(count, children by custody agency now, children by reason category) in one pass.

        By agency: where each child is now (NONE: no custody recorded). By category: a child in
        separations of both categories counts in each.
        """
        report = self.report(limit=0)
        return report.count, report.by_agency, report.by_category

    def report(self, *, offset: int = 0, limit: int = 50) -> SeparatedChildrenReport:
        """The report's page and its summary from ONE pass over the separations and members.

        One statement reads the separations in effect at as_of (as recorded, or as known at
        known_at) and their members once, and returns the summary (count, by agency, by
        category), the page's children in order and the member rows of the page's separations;
        then the page's persons, reasons and custody are loaded for those rows only.
        """
        offset, limit = max(0, int(offset)), max(0, int(limit))
        rows = self._fetch(
            "WITH "  # noqa: S608 - constant fragments only; values are parameters
            + self._sep()
            + ","
            + self._mem(every=True, children=True)
            + _REPORT_KIDS
            + self._details("IN (SELECT child_id FROM page)", sep="dsep", mem="dmem")
            + _REPORT_SELECT,
            self._params(no_custody=NO_CUSTODY, offset=offset, limit=limit),
        )
        by_agency_rows = [(r[1], r[2], r[3], r[4]) for r in rows if r[0] == _PART_SUMMARY]
        by_agency = dict(
            sorted(((a, n) for a, n, _, _ in by_agency_rows), key=lambda item: (-item[1], item[0]))
        )
        categories = {
            "policy": sum(r[2] for r in by_agency_rows),
            "child_welfare": sum(r[3] for r in by_agency_rows),
        }
        by_category = dict(
            sorted(((c, n) for c, n in categories.items() if n), key=lambda item: (-item[1], item[0]))
        )
        # Page order: since, then child id (PostgreSQL orders uuids by their bytes, as UUID does).
        ordered = sorted(((r[5], r[8]) for r in rows if r[0] == _PART_PAGE), key=lambda r: (r[1], r[0]))
        members = [(r[6], r[5], r[7], r[8], r[9]) for r in rows if r[0] == _PART_MEMBERS]
        return SeparatedChildrenReport(
            count=sum(by_agency.values()),
            by_agency=by_agency,
            by_category=by_category,
            rows=self._assemble(ordered, members) if ordered else [],
        )

    def count(self) -> int:
        """How many distinct children were separated at `as_of`."""
        return self._with_children(
            "\nSELECT count(*) FROM (SELECT person_id FROM mem GROUP BY person_id) kids"
        )[0][0]

    def child_ids(self) -> list[Any]:
        return [row[0] for row in self._with_children("\nSELECT DISTINCT person_id FROM mem")]

    def by_custody_agency(self) -> dict[str, int]:
        """Children counted by the agency holding them now (NONE: no custody recorded)."""
        return self.summary()[1]

    def by_reason_category(self) -> dict[str, int]:
        """Children counted by the category of the reason (a child in two separations may count twice)."""
        return self.summary()[2]

    # -- ordering ------------------------------------------------------------------------------

    def ordered_children(self, *, offset: int = 0, limit: int | None = None) -> list[tuple[Any, datetime]]:
        """(child id, separated since) in page order; all of them when `limit` is None."""
        # The fast path walks separations, not children: not with the per-child agency filter.
        if limit is not None and offset + limit <= FAST_PAGE_LIMIT and self.agency is None:
            return self._first_children(offset + limit)[offset:]
        window = "" if limit is None else "LIMIT %(limit)s OFFSET %(offset)s"
        rows = self._with_children(
            f"""
SELECT person_id, min(occurred_at) AS since FROM mem
GROUP BY person_id ORDER BY since, person_id {window}""",  # noqa: S608 - constant fragments only
            limit=limit,
            offset=offset,
        )
        return [(child, since) for child, since in rows]

    def _first_children(self, wanted: int) -> list[tuple[Any, datetime]]:
        """The first `wanted` children, reading only the earliest separations (widening as needed).

        A child's place is the earliest of their separations, so children found in the first n
        separations (by occurred_at) are exact up to the last occurred_at of that window.
        """
        n = max(1, wanted * 2 + FIRST_WINDOW_EXTRA)
        while True:
            rows = self._fetch(
                "WITH "  # noqa: S608 - constant fragments only; values are parameters
                + self._sep()
                + """,
first AS (SELECT id, occurred_at, reason_code_id FROM sep ORDER BY occurred_at, id LIMIT %(n)s),"""
                + self._mem(src="first")
                + """
SELECT f.n, f.last, m.person_id, m.occurred_at
FROM (SELECT count(*) AS n, max(occurred_at) AS last FROM first) f
LEFT JOIN (SELECT person_id, occurred_at FROM mem WHERE side = 'child') m ON true
ORDER BY m.occurred_at, m.person_id""",
                self._params(n=n),
            )
            got, last = rows[0][0], rows[0][1]
            exhausted = got < n
            seen: dict[Any, datetime] = {}
            for _, _, child, occurred in rows:
                if child is not None and child not in seen and (exhausted or occurred < last):
                    seen[child] = occurred
            if exhausted or len(seen) >= wanted:
                return list(seen.items())[:wanted]
            n *= 4

    # -- rows ----------------------------------------------------------------------------------

    def page(self, *, offset: int = 0, limit: int = 50) -> list[SeparatedChild]:
        """Rows ordered by the longest separated first (then child id), `limit` from `offset`."""
        return self._rows(self.ordered_children(offset=max(0, int(offset)), limit=max(0, int(limit))))

    def iter_rows(self, *, chunk: int = 1000) -> Iterator[SeparatedChild]:
        """Every row, in page order, a chunk at a time (for the CSV export)."""
        ordered = self.ordered_children()
        for start in range(0, len(ordered), chunk):
            yield from self._rows(ordered[start : start + chunk])

    def _rows(self, ordered: list[tuple[Any, datetime]]) -> list[SeparatedChild]:
        """Both sides of each child's separations in effect at as_of, for a page of children."""
        if not ordered:
            return []
        rows = self._fetch(
            "WITH "  # noqa: S608 - constant fragments only; values are parameters
            + self._details("= ANY(%(children)s)")
            + "\nSELECT separation_id, person_id, side, occurred_at, reason_code_id FROM mem",
            self._params(children=[child for child, _ in ordered]),
        )
        return self._assemble(ordered, rows)

    def _assemble(self, ordered: list[tuple[Any, datetime]], rows: list[tuple]) -> list[SeparatedChild]:
        """Rows for `ordered` children from the member rows (separation, person, side, occurred_at,
        reason) of the separations in effect that name them."""
        separations_of: dict[Any, list[Any]] = {}
        facts: dict[Any, tuple[datetime, Any]] = {}
        adults_of: dict[Any, set[Any]] = {}
        wanted = {child for child, _ in ordered}
        for separation_id, person_id, side, occurred_at, reason_id in rows:
            facts[separation_id] = (occurred_at, reason_id)
            if side == "child" and person_id in wanted:
                separations_of.setdefault(person_id, []).append(separation_id)
            elif side == "adult":
                adults_of.setdefault(separation_id, set()).add(person_id)
        return self._hydrate(
            [
                (
                    child,
                    since,
                    sorted(separations_of.get(child, []), key=lambda s: (facts[s][0], str(s))),
                    {a for s in separations_of.get(child, []) for a in adults_of.get(s, set())},
                    {facts[s][1] for s in separations_of.get(child, [])},
                )
                for child, since in ordered
            ]
        )

    def _hydrate(self, rows: list[tuple]) -> list[SeparatedChild]:
        person_ids = {r[0] for r in rows} | {a for r in rows for a in r[3]}
        persons = Person.objects.in_bulk(person_ids)
        reasons = ReasonCode.objects.in_bulk({x for r in rows for x in r[4]})
        separations = (
            Separation.objects.select_related("station")
            .only("id", "source", "station__code", "station__timezone")
            .in_bulk({x for r in rows for x in r[2]})
        )
        custody = {
            p.person_id: p
            for p in CustodyPeriod.objects.filter(
                person_id__in=person_ids, ended_at__isnull=True, withdrawn_at__isnull=True
            )
        }
        result = []
        for child_id, since, separation_ids, adult_ids, reason_ids in rows:
            adults = sorted(
                (persons[a] for a in adult_ids if a in persons), key=lambda p: (p.full_name, str(p.pk))
            )
            result.append(
                SeparatedChild(
                    child=persons[child_id],
                    since=since,
                    days_separated=max(0, (self.as_of - since).days),
                    adults=adults,
                    reasons=sorted((reasons[r] for r in reason_ids if r in reasons), key=lambda r: r.code),
                    separations=[separations[s] for s in separation_ids if s in separations],
                    child_custody=custody.get(child_id),
                    adult_custody={a.pk: custody.get(a.pk) for a in adults},
                )
            )
        return result


REPORT_AGENCIES = [*CustodyPeriod.Agency.values, NO_CUSTODY]


def separated_children(
    *,
    as_of: datetime,
    known_at: datetime | None = None,
    station: str | None = None,
    category: str | None = None,
    agency: str | None = None,
):
    """Children in an in-effect separation at `as_of`: as recorded now, or as known at `known_at`.

    `station` (a code) limits the answer to separations of that station (a supervisor's report);
    `category` (a reason category) to separations for a reason of it; `agency` to children held
    by that agency at `as_of` (NONE: no custody recorded then), the dashboard's splits.
    """
    errors: dict[str, list[str]] = {}
    if as_of is None or timezone.is_naive(as_of):
        errors["as_of"] = ["Give a date and time with its time zone."]
    if known_at is not None and timezone.is_naive(known_at):
        errors["known_at"] = ["Give a date and time with its time zone."]
    if category is not None and category not in ReasonCode.Category.values:
        errors["category"] = [
            f"No reason category is called {category!r}; use one of {', '.join(ReasonCode.Category.values)}."
        ]
    if agency is not None and agency not in REPORT_AGENCIES:
        errors["agency"] = [
            f"No custody agency is called {agency!r}; use one of {', '.join(REPORT_AGENCIES)}."
        ]
    if errors:
        raise ValidationFailed(errors)
    return SeparatedChildren(
        as_of=as_of, known_at=known_at, station=station, category=category, agency=agency
    )


# --- one person ------------------------------------------------------------------------------


def in_effect_now_q(*, prefix: str = "") -> Q:
    """Separation Q: in effect at this moment (approved, not ended, not withdrawn)."""
    return Q(
        **{
            f"{prefix}status": Separation.Status.IN_EFFECT,
            f"{prefix}withdrawn_at__isnull": True,
            f"{prefix}occurred_at__lte": timezone.now(),
        }
    )


def person_in_effect_q() -> Q:
    """Person Q: on either side of a separation in effect now, and not ended on their own (a child
    reunified before their siblings is no longer separated)."""
    return Q(
        Exists(
            SeparationMember.objects.filter(
                person=OuterRef("pk"), withdrawn_at__isnull=True, ended_at__isnull=True
            ).filter(in_effect_now_q(prefix="separation__"))
        )
    )


def person_reunified_q() -> Q:
    """Person Q: on a separation that ended reunified for them: their own end (a child), or, when
    they have none (an adult, or a record from before per-child ends), the separation's."""
    return Q(
        Exists(
            SeparationMember.objects.filter(
                person=OuterRef("pk"),
                withdrawn_at__isnull=True,
                separation__withdrawn_at__isnull=True,
            ).filter(
                Q(end_outcome=Separation.EndOutcome.REUNIFIED)
                | Q(
                    end_outcome="",
                    separation__status=Separation.Status.ENDED,
                    separation__end_outcome=Separation.EndOutcome.REUNIFIED,
                )
            )
        )
    )


def open_custody(person: Person) -> CustodyPeriod | None:
    """The person's current location: their one open custody period."""
    cached = getattr(person, "_open_custody", None)
    if cached is not None:
        return cached[0] if cached else None
    return CustodyPeriod.objects.filter(
        person=person, ended_at__isnull=True, withdrawn_at__isnull=True
    ).first()


def custody_periods(person: Person) -> QuerySet[CustodyPeriod]:
    return (
        CustodyPeriod.objects.filter(person=person, withdrawn_at__isnull=True)
        .select_related("recorded_by")
        .order_by("-started_at", "-created_at")
    )


def prefetch_open_custody(queryset: QuerySet) -> QuerySet:
    return queryset.prefetch_related(
        Prefetch(
            "custody_periods",
            queryset=CustodyPeriod.objects.filter(ended_at__isnull=True, withdrawn_at__isnull=True),
            to_attr="_open_custody",
        )
    )


def separation_status(person: Person) -> str:
    """`separated` (in an in-effect separation now and not ended on their own), `reunified` (a
    separation ended reunified for them), or `none`."""
    in_effect = getattr(person, "_sep_in_effect", None)
    reunified = getattr(person, "_sep_reunified", None)
    if in_effect is None:
        in_effect = Person.objects.filter(person_in_effect_q(), pk=person.pk).exists()
    if in_effect:
        return "separated"
    if reunified is None:
        reunified = Person.objects.filter(person_reunified_q(), pk=person.pk).exists()
    return "reunified" if reunified else "none"


def annotate_separation_status(queryset: QuerySet) -> QuerySet:
    return queryset.annotate(_sep_in_effect=person_in_effect_q(), _sep_reunified=person_reunified_q())


def person_separations(person: Person) -> list[Separation]:
    """Every separation naming the person (either side), newest first, with members loaded."""
    return list(
        Separation.objects.filter(
            members__person=person, members__withdrawn_at__isnull=True, withdrawn_at__isnull=True
        )
        .select_related("reason_code", "station", "requested_by", "decided_by", "ended_by")
        .prefetch_related(
            Prefetch(
                "members",
                queryset=SeparationMember.objects.filter(withdrawn_at__isnull=True).select_related("person"),
                to_attr="live_members",
            )
        )
        .distinct()
        .order_by("-occurred_at")
    )


def approval_queue(*, station: str) -> QuerySet[Separation]:
    """Requested separations of a station waiting for a supervisor, oldest request first."""
    return (
        Separation.objects.filter(
            status=Separation.Status.REQUESTED, withdrawn_at__isnull=True, station__code=station
        )
        .select_related("reason_code", "station", "requested_by")
        .prefetch_related(
            Prefetch(
                "members",
                queryset=SeparationMember.objects.filter(withdrawn_at__isnull=True).select_related("person"),
                to_attr="live_members",
            )
        )
        .order_by("recorded_at")
    )
