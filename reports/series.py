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
at the end of that day (custody periods as recorded now; the agency split is valid time only).

A day ends at the next local midnight of the zone given (the station's, else the deployment's).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from django.conf import settings
from django.db import connection

from apprehensions.models import Station
from familylink.common.errors import ValidationFailed

MAX_DAYS = 3660
DIMENSIONS = ("station", "category", "agency")

_NOW_SEP = """
sep AS (
    SELECT s.id, s.occurred_at, s.ended_at, s.station_id, s.reason_code_id
    FROM separations_separation s
    WHERE s.status IN ('in_effect', 'ended')
      AND s.withdrawn_at IS NULL
      AND s.end_outcome <> 'recorded_in_error'
      AND s.occurred_at <= %(last_end)s
      AND (s.ended_at IS NULL OR s.ended_at > %(first_end)s)
      {station}
),
mem AS (
    SELECT m.person_id AS child, sep.occurred_at AS start, least(sep.ended_at, m.ended_at) AS stop,
           sep.station_id, sep.reason_code_id
    FROM sep JOIN separations_separationmember m ON m.separation_id = sep.id
    WHERE m.side = 'child' AND m.withdrawn_at IS NULL
)"""

_KNOWN_AT_SEP = """
sep AS (
    SELECT h.id, h.occurred_at, h.ended_at, h.station_id, h.reason_code_id
    FROM (
        SELECT DISTINCT ON (hs.id)
               hs.id, hs.occurred_at, hs.ended_at, hs.station_id, hs.reason_code_id, hs.status,
               hs.withdrawn_at, hs.end_outcome, hs.history_type
        FROM separations_historicalseparation hs
        WHERE hs.history_date <= %(known_at)s
        ORDER BY hs.id, hs.history_date DESC, hs.history_id DESC
    ) h
    WHERE h.history_type <> '-'
      AND h.status IN ('in_effect', 'ended')
      AND h.withdrawn_at IS NULL
      AND h.end_outcome <> 'recorded_in_error'
      AND h.occurred_at <= %(last_end)s
      AND (h.ended_at IS NULL OR h.ended_at > %(first_end)s)
      {station}
),
mem AS (
    SELECT x.person_id AS child, sep.occurred_at AS start, least(sep.ended_at, x.ended_at) AS stop,
           sep.station_id, sep.reason_code_id
    FROM sep
    CROSS JOIN LATERAL (
        SELECT DISTINCT ON (hm.id) hm.person_id, hm.side, hm.withdrawn_at, hm.history_type, hm.ended_at
        FROM separations_historicalseparationmember hm
        WHERE hm.separation_id = sep.id AND hm.history_date <= %(known_at)s
        ORDER BY hm.id, hm.history_date DESC, hm.history_id DESC
    ) x
    WHERE x.side = 'child' AND x.history_type <> '-' AND x.withdrawn_at IS NULL
)"""

# Intervals per (dimension, key, child): '' is the total. Custody periods cut a child's interval
# into the pieces spent with each agency.
_INTERVALS = {
    "total": "SELECT 'total' AS dim, '' AS key, child, start, stop FROM mem",
    "station": "SELECT 'station', station_id::text, child, start, stop FROM mem",
    "category": """SELECT 'category', rc.category, child, start, stop
        FROM mem JOIN separations_reasoncode rc ON rc.id = mem.reason_code_id""",
    "agency": """SELECT 'agency', cp.agency, mem.child, greatest(mem.start, cp.started_at),
               least(mem.stop, cp.ended_at)
        FROM mem JOIN separations_custodyperiod cp
          ON cp.person_id = mem.child AND cp.withdrawn_at IS NULL
         AND cp.started_at < coalesce(mem.stop, 'infinity')
         AND coalesce(cp.ended_at, 'infinity') > mem.start""",
}

_SWEEP = """,
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
merged AS (SELECT dim, key, min(start) AS start, max(stop) AS stop FROM isl GROUP BY dim, key, child, grp),
ev AS (
    SELECT dim, key, ((start AT TIME ZONE %(tz)s) - interval '1 microsecond')::date AS day, 1 AS d
    FROM merged
    UNION ALL
    SELECT dim, key, ((stop AT TIME ZONE %(tz)s) - interval '1 microsecond')::date, -1
    FROM merged WHERE stop <> 'infinity'
)
SELECT dim, key, greatest(day, %(from)s::date) AS day, sum(d)::int
FROM ev WHERE day <= %(to)s::date
GROUP BY 1, 2, 3
ORDER BY 1, 2, 3"""

# When only the total is wanted, a child with a single interval needs no merging: the window
# functions run only over the children with more than one interval.
_TOTAL_ONLY = """,
multi AS (SELECT child FROM mem GROUP BY child HAVING count(*) > 1),
single AS (
    SELECT start, coalesce(stop, 'infinity') AS stop FROM mem
    WHERE child NOT IN (SELECT child FROM multi) AND start < coalesce(stop, 'infinity')
),
ord AS (
    SELECT child, start, coalesce(stop, 'infinity') AS stop,
           max(coalesce(stop, 'infinity')) OVER (
               PARTITION BY child ORDER BY start, stop
               ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING) AS prev
    FROM mem WHERE child IN (SELECT child FROM multi) AND start < coalesce(stop, 'infinity')
),
isl AS (
    SELECT child, start, stop,
           count(*) FILTER (WHERE prev IS NULL OR start > prev)
               OVER (PARTITION BY child ORDER BY start, stop) AS grp
    FROM ord
),
merged AS (
    SELECT start, stop FROM single
    UNION ALL
    SELECT min(start), max(stop) FROM isl GROUP BY child, grp
),
ev AS (
    SELECT ((start AT TIME ZONE %(tz)s) - interval '1 microsecond')::date AS day, 1 AS d FROM merged
    UNION ALL
    SELECT ((stop AT TIME ZONE %(tz)s) - interval '1 microsecond')::date, -1
    FROM merged WHERE stop <> 'infinity'
)
SELECT 'total', '', greatest(day, %(from)s::date) AS day, sum(d)::int
FROM ev WHERE day <= %(to)s::date
GROUP BY 3 ORDER BY 3"""


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
    except (ZoneInfoNotFoundError, ValueError):
        raise ValidationFailed({"tz": [f"{name!r} is not a time zone; use a name like America/Denver."]})


def day_end(day: date, tz: ZoneInfo) -> datetime:
    """The instant a local day ends: the next local midnight."""
    return datetime.combine(day + timedelta(days=1), time.min, tzinfo=tz)


def parse_range(raw_from: str | None, raw_to: str | None, *, today: date, default_days: int = 90) -> tuple[date, date]:
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
        "tz": tz_name,
        "from": date_from,
        "to": date_to,
        "station_id": station_obj.pk if station_obj else None,
    }
    head = (_KNOWN_AT_SEP if known_at is not None else _NOW_SEP).format(
        station="AND station_id = %(station_id)s" if station_obj else ""
    )
    if splits:
        intervals = " UNION ALL ".join(_INTERVALS[d] for d in ("total", *splits))
        sql = "WITH " + head + _SWEEP.format(intervals=intervals)
    else:
        sql = "WITH " + head + _TOTAL_ONLY
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        rows = cursor.fetchall()

    station_codes = {str(pk): code for pk, code in Station.objects.values_list("pk", "code")}
    deltas: dict[tuple[str, str], dict[date, int]] = {}
    for dim, key, day, delta in rows:
        deltas.setdefault((dim, key), {})[day] = delta
    days = [
        Day(date=d, end=day_end(d, tzinfo), count=0)
        for d in (date_from + timedelta(days=i) for i in range((date_to - date_from).days + 1))
    ]
    for (dim, key), by_day in deltas.items():
        running = 0
        for day in days:
            running += by_day.get(day.date, 0)
            if dim == "total":
                day.count = running
            elif running:
                label = station_codes.get(key, key) if dim == "station" else key
                getattr(day, f"by_{dim}")[label] = running
    return Series(
        date_from=date_from,
        date_to=date_to,
        tz=tz_name,
        station=station,
        known_at=known_at,
        days=days,
        splits=tuple(splits),
    )
