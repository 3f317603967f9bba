"""Separated children per day: how many children were in an in-effect separation at the end of
each local day, over any date range, as the records stand now or as the system knew it then.

It answers the same question as `separations.selectors.separated_children(as_of=<end of day>)`
for every day at once (a test proves the two agree day by day). Instead of one as-of query per
day, one SQL statement:
1. takes each child's separation intervals [occurred_at, end) — the end is the earlier of the
   separation's end and the child's own end — from the tables, or, with `known_at`, from the latest
   history row of each separation and member written at or before `known_at` (as the selector);
2. merges overlapping intervals of one child (a child in two separations at once counts once);
3. turns each merged interval into +1 on the first day whose end it covers and -1 on the first day
   whose end it does not, and sums them in day order.
The splits (by station, reason category, custody agency) are the same computation with the child
counted once per station / category / agency; a child in separations of two stations counts in
each (as in the as-of report's category counts). The custody agency is the one holding the child
at the end of that day (custody periods as recorded now; the agency split is valid time only);
a child with no custody recorded then counts under NONE, as in the as-of report.

A day ends at the next local midnight of the zone given (the station's, else the deployment's).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from django.conf import settings
from django.db import connection, transaction

from apprehensions.models import Station
from familylink.common.errors import ValidationFailed
from familylink.common.text import quoted
from separations.models import ReasonCode
from separations.selectors import NO_CUSTODY, separation_counts

MAX_DAYS = 3660
DIMENSIONS = ("station", "category", "agency")

_NOW_SEP = """
sep AS (
    SELECT s.id, s.occurred_at, s.ended_at, s.station_id, s.reason_code_id
    FROM separations_separation s
    WHERE {counts}
      {station}
),
mem AS (
    SELECT m.person_id AS child, sep.occurred_at AS start, least(sep.ended_at, m.ended_at) AS stop,
           sep.station_id, sep.reason_code_id
    FROM sep JOIN separations_separationmember m ON m.separation_id = sep.id
    WHERE m.side = 'child' AND m.withdrawn_at IS NULL
)""".replace("{counts}", separation_counts("s", since="first_end", until="last_end"))

# As known at known_at: the latest history row of each separation and of each member written at
# or before known_at. Whether that version counts is computed inside the DISTINCT ON (`live`) and
# filtered outside, as in `separations.selectors`: PostgreSQL has no statistics for a subquery's
# output columns and takes each condition on them as matching 0.5 % of the rows, so six conditions
# estimated ONE separation, and every later step (the members, `multi`, the anti-join of `one`)
# was planned as a nested loop (35,000 member look-ups, and a loop over `multi` per interval);
# on one boolean it estimates half. The members' latest rows come from one pass over their
# history in (separation, member, newest first) order, joined with the separations, not a
# look-up per separation (members never move between separations, so the DISTINCT ON on
# (separation_id, id) is the one on id).
_KNOWN_AT_SEP = """
sep AS (
    SELECT h.id, h.occurred_at, h.ended_at, h.station_id, h.reason_code_id
    FROM (
        SELECT DISTINCT ON (hs.id)
               hs.id, hs.occurred_at, hs.ended_at, hs.station_id, hs.reason_code_id,
               (hs.history_type <> '-' AND {counts}
                {station}) AS live
        FROM separations_historicalseparation hs
        WHERE hs.history_date <= %(known_at)s
        ORDER BY hs.id, hs.history_date DESC, hs.history_id DESC
    ) h
    WHERE h.live
),
mem AS (
    SELECT x.person_id AS child, sep.occurred_at AS start, least(sep.ended_at, x.ended_at) AS stop,
           sep.station_id, sep.reason_code_id
    FROM (
        SELECT DISTINCT ON (hm.separation_id, hm.id)
               hm.separation_id, hm.person_id, hm.ended_at,
               (hm.side = 'child' AND hm.history_type <> '-' AND hm.withdrawn_at IS NULL) AS live
        FROM separations_historicalseparationmember hm
        WHERE hm.history_date <= %(known_at)s
        ORDER BY hm.separation_id, hm.id, hm.history_date DESC, hm.history_id DESC
    ) x
    JOIN sep ON sep.id = x.separation_id
    WHERE x.live
)""".replace("{counts}", separation_counts("hs", since="first_end", until="last_end"))

# Day index of an instant: how many day-ends come before it (width_bucket over the sorted ends).
# An interval [start, stop) counts at the day-ends e with start <= e < stop: from day
# `wb(start - 1µs)` up to, not including, day `wb(stop - 1µs)`; index 0 carries in everything
# before the first day, an index >= the number of days is past the range. `wb(x - 1µs) < n` is
# `x - 1µs < last_end`, i.e. `x <= last_end` (microsecond timestamps): the events past the range
# are left out by that test on the column, not by a second width_bucket over the day ends (the
# planner pushes a filter on `day` into each branch and computes the width_bucket twice). A NULL
# or infinite stop (an open interval) fails the test, so it has no -1 event.
_WB = "width_bucket({col} - interval '1 microsecond', %(ends)s::timestamptz[])"

# Children with more than one interval need their intervals merged (per split key) so they count
# once; every other child's interval is counted as it is, all splits in one grouped pass.
_MULTI = """,
multi AS MATERIALIZED (SELECT child FROM mem GROUP BY child HAVING count(*) > 1),
one AS (
    SELECT mem.* FROM mem
    WHERE NOT EXISTS (SELECT 1 FROM multi WHERE multi.child = mem.child)
      AND start < coalesce(stop, 'infinity')
),
many AS (SELECT mem.* FROM mem JOIN multi USING (child))"""

_ONE_EVENTS = """
SELECT {dims}, coalesce({keys}''), day, sum(d)::int
FROM (
    SELECT {wb_start} AS day, 1 AS d, station_id, reason_code_id FROM one WHERE start <= %(last_end)s
    UNION ALL
    SELECT {wb_stop}, -1, station_id, reason_code_id FROM one WHERE stop <= %(last_end)s
) ev
GROUP BY GROUPING SETS ({sets})"""

_AGENCY_PIECES = """
SELECT cp.agency, greatest(src.start, cp.started_at) AS start, least(src.stop, cp.ended_at) AS stop
FROM {src} src JOIN separations_custodyperiod cp
  ON cp.person_id = src.child AND cp.withdrawn_at IS NULL
 AND cp.started_at < coalesce(src.stop, 'infinity')
 AND coalesce(cp.ended_at, 'infinity') > src.start"""

_ONE_AGENCY = """
SELECT 'agency', agency, day, sum(d)::int
FROM (
    SELECT agency, {wb_start} AS day, 1 AS d FROM apieces WHERE start <= %(last_end)s
    UNION ALL
    SELECT agency, {wb_stop}, -1 FROM apieces WHERE stop <= %(last_end)s
) ev
GROUP BY 1, 2, 3"""

# Intervals of the children with several, per (dimension, key, child), merged where they overlap.
_MANY_INTERVALS = {
    "total": "SELECT 'total' AS dim, '' AS key, child, start, stop FROM many",
    "station": "SELECT 'station', station_id::text, child, start, stop FROM many",
    "category": """SELECT 'category', rc.category, child, start, stop
        FROM many JOIN separations_reasoncode rc ON rc.id = many.reason_code_id""",
    "agency": "SELECT 'agency', p.agency, p.child, p.start, p.stop FROM ("  # noqa: S608 - constant fragments
    + _AGENCY_PIECES.replace("SELECT cp.agency,", "SELECT src.child, cp.agency,").format(src="many")
    + ") p",
}

_MANY_EVENTS = """
SELECT dim, key, day, sum(d)::int FROM (
    SELECT dim, key, {wb_start} AS day, 1 AS d FROM merged WHERE start <= %(last_end)s
    UNION ALL
    SELECT dim, key, {wb_stop}, -1 FROM merged WHERE stop <= %(last_end)s
) ev
GROUP BY 1, 2, 3"""

_MERGE = """,
iv AS ({intervals}),
ord AS (
    SELECT dim, key, child, start, coalesce(stop, 'infinity') AS stop,
           max(coalesce(stop, 'infinity')) OVER (
               PARTITION BY dim, key, child ORDER BY start, stop
               ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING) AS prev
    FROM iv WHERE start < coalesce(stop, 'infinity')
),
isl AS (
    SELECT dim, key, child, start, stop,
           count(*) FILTER (WHERE prev IS NULL OR start > prev)
               OVER (PARTITION BY dim, key, child ORDER BY start, stop) AS grp
    FROM ord
),
merged AS (SELECT dim, key, min(start) AS start, max(stop) AS stop FROM isl GROUP BY dim, key, child, grp)"""


def _statement(splits: tuple[str, ...]) -> str:
    """The sweep after the `sep`/`mem` CTEs: (dimension, key, day index, change) rows."""
    wb = {"wb_start": _WB.format(col="start"), "wb_stop": _WB.format(col="stop")}
    sets, dims, keys = ["(day)"], "", ""
    for split, column, dim in (
        ("station", "station_id", "station"),
        ("category", "reason_code_id", "reason"),
    ):
        if split in splits:
            sets.append(f"(day, {column})")
            dims += f" WHEN grouping({column}) = 0 THEN '{dim}'"
            keys += f"{column}::text, "
    dims = f"CASE{dims} ELSE 'total' END" if dims else "'total'"
    intervals = " UNION ALL ".join(_MANY_INTERVALS[d] for d in ("total", *splits))
    parts = [_ONE_EVENTS.format(sets=", ".join(sets), dims=dims, keys=keys, **wb), _MANY_EVENTS.format(**wb)]
    if "agency" in splits:
        parts.append(_ONE_AGENCY.format(**wb))
    pieces = f",\napieces AS MATERIALIZED ({_AGENCY_PIECES.format(src='one')})" if "agency" in splits else ""
    return _MULTI + pieces + _MERGE.format(intervals=intervals) + "\n" + "\nUNION ALL\n".join(parts)


@dataclass
class Day:
    date: date
    end: datetime
    count: int
    by_station: dict[str, int] = field(default_factory=dict)
    by_category: dict[str, int] = field(default_factory=dict)
    by_agency: dict[str, int] = field(default_factory=dict)


@dataclass
class Series:
    date_from: date
    date_to: date
    tz: str
    station: str | None
    known_at: datetime | None
    days: list[Day]
    splits: tuple[str, ...]

    def keys(self, dimension: str) -> list[str]:
        """The keys of a split seen on any day, largest total first."""
        totals: dict[str, int] = {}
        for day in self.days:
            for key, n in getattr(day, f"by_{dimension}").items():
                totals[key] = totals.get(key, 0) + n
        return sorted(totals, key=lambda k: (-totals[k], k))


def zone(name: str | None) -> ZoneInfo:
    try:
        return ZoneInfo(name or settings.TIME_ZONE)
    except (ZoneInfoNotFoundError, ValueError, OSError) as exc:  # OSError: a name too long for a file
        raise ValidationFailed(
            {"tz": [f"{quoted(name or '')} is not a time zone; use a name like America/Denver."]}
        ) from exc


def day_end(day: date, tz: ZoneInfo) -> datetime:
    """The instant a local day ends: the next local midnight."""
    return datetime.combine(day + timedelta(days=1), time.min, tzinfo=tz)


def parse_range(
    raw_from: str | None, raw_to: str | None, *, today: date, default_days: int = 90
) -> tuple[date, date]:
    """`from` and `to` (YYYY-MM-DD) from a query string; ValidationFailed naming the field."""
    errors: dict[str, list[str]] = {}
    parsed: dict[str, date | None] = {}
    for name, raw in (("from", raw_from), ("to", raw_to)):
        text = (raw or "").strip()
        if not text:
            parsed[name] = None
            continue
        try:
            parsed[name] = date.fromisoformat(text)
        except ValueError:
            errors[name] = [f"{text[:20]!r} is not a date; use YYYY-MM-DD, e.g. 2018-06-20."]
    if errors:
        raise ValidationFailed(errors)
    date_to = parsed["to"] or today
    date_from = parsed["from"] or date_to - timedelta(days=default_days - 1)
    if date_from > date_to:
        raise ValidationFailed({"from": [f"Start on or before {date_to.isoformat()} (the 'to' date)."]})
    if (date_to - date_from).days + 1 > MAX_DAYS:
        raise ValidationFailed({"from": [f"Ask for at most {MAX_DAYS} days at once."]})
    return date_from, date_to


def _count_no_custody(days: list[Day]) -> None:
    """A child with no custody period covering the day's end is held by no recorded agency: counted
    under NONE, as the as-of report does, so the agency split adds up to the day's count. (At one
    instant a child is in at most one custody period, so the difference is exact.)"""
    for day in days:
        if (missing := day.count - sum(day.by_agency.values())) > 0:
            day.by_agency[NO_CUSTODY] = missing


def separated_series(
    *,
    date_from: date,
    date_to: date,
    station: str | None = None,
    known_at: datetime | None = None,
    tz: str | None = None,
    splits: tuple[str, ...] = DIMENSIONS,
) -> Series:
    """Children in an in-effect separation at the end of each local day from `date_from` to `date_to`.

    `station` (a code) limits it to that station's separations; `known_at` answers as the system
    knew it then; `splits` names the breakdowns wanted (station, category, agency).
    """
    unknown = [s for s in splits if s not in DIMENSIONS]
    if unknown:
        raise ValidationFailed({"split": [f"Use any of {', '.join(DIMENSIONS)}; not {', '.join(unknown)}."]})
    station_obj = None
    if station:
        station_obj = Station.objects.filter(code=station).first()
        if station_obj is None:
            raise ValidationFailed({"station": [f"No station has the code {station!r}."]})
    tz_name = tz or (station_obj.timezone if station_obj else settings.TIME_ZONE)
    tzinfo = zone(tz_name)
    params: dict[str, Any] = {
        "first_end": day_end(date_from, tzinfo),
        "last_end": day_end(date_to, tzinfo),
        "known_at": known_at,
        "station_id": station_obj.pk if station_obj else None,
    }
    head = (_KNOWN_AT_SEP if known_at is not None else _NOW_SEP).format(
        station="AND station_id = %(station_id)s" if station_obj else ""
    )
    days = [
        Day(date=d, end=day_end(d, tzinfo), count=0)
        for d in (date_from + timedelta(days=i) for i in range((date_to - date_from).days + 1))
    ]
    params["ends"] = [d.end for d in days]
    with transaction.atomic(), connection.cursor() as cursor:
        # The sorts and hashes of ~100,000 intervals fit in memory with a little more than the default.
        cursor.execute("SET LOCAL work_mem = '32MB'")
        cursor.execute("WITH " + head + _statement(tuple(splits)), params)
        rows = cursor.fetchall()

    station_codes = {str(pk): code for pk, code in Station.objects.values_list("pk", "code")}
    categories = {str(pk): category for pk, category in ReasonCode.objects.values_list("pk", "category")}
    deltas: dict[tuple[str, str], list[int]] = {}
    for dim, key, index, delta in rows:
        if dim == "reason":
            dim, key = "category", categories.get(key, key)
        elif dim == "station":
            key = station_codes.get(key, key)
        deltas.setdefault((dim, key), [0] * len(days))[index] += delta
    for (dim, key), changes in deltas.items():
        running = 0
        for day, change in zip(days, changes, strict=True):
            running += change
            if dim == "total":
                day.count += running
            elif running:
                by = getattr(day, f"by_{dim}")
                by[key] = by.get(key, 0) + running
    if "agency" in splits:
        _count_no_custody(days)
    return Series(
        date_from=date_from,
        date_to=date_to,
        tz=tz_name,
        station=station,
        known_at=known_at,
        days=days,
        splits=tuple(splits),
    )
