"""Benchmark of the separated-children series: `GET /api/v1/reports/separated-children/series/`.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/dashboard_bench \
        .venv/bin/python bench/series.py --runs 20

Fill the database first with bench/scenario_separations.py (≈ 50,000 separations). For `--runs`
365-day windows spread over the scenario's period (deterministic for a given --seed), half of
them "as the system knew it" at a time inside the window, it times:
- api:           the API request in-process (DRF, authentication, scope, the selector, JSON): the
                 count per day (the contract's series; breakdowns are asked for with `split=`);
- api + splits:  `split=station,category` (what the dashboard's station and category charts use);
- api + agency:  `split=station,category,agency` (all of the dashboard's charts);
- bare SQL:      the straightforward answer in one statement: for every day end, count the
                 distinct children of the separations in effect then (a count per day over the
                 separations and members; as known: over their latest history rows), timed on
                 the first `--bare-runs` windows (it takes tens of seconds), on its own psycopg2
                 connection as in bench/asof.py: run on the API's connection, it slowed that
                 connection's next requests by 50-120 ms (measured 30 Nov: 170 ms before, 209-295 ms
                 for the four series after it; on another connection 169-192 ms), which the first
                 timed window (just after the warm-up window's bare SQL) then carried;
and checks that FamilyLink's count equals the bare SQL count for every day of every window.
Prints p50 / p95 / max in ms.
"""

import argparse
import os
import random
import sys
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "familylink.settings.base")

import django  # noqa: E402

django.setup()

from django.db import connection  # noqa: E402

from bench.asof import Bare, api_client, percentile, table_counts, timed  # noqa: E402

TARGET_MS = 300.0
DAYS = 365
TZ = "America/Denver"
URL = "/api/v1/reports/separated-children/series/"

# The straightforward statement: for every day end, the distinct children of the separations in
# effect then (a lateral count per day over the tables; as known: over their latest history rows).
BARE_NOW = """
WITH days AS (
    SELECT d::date AS day, ((d + interval '1 day')::timestamp AT TIME ZONE %(tz)s) AS day_end
    FROM generate_series(%(from)s::date, %(to)s::date, interval '1 day') d
)
SELECT days.day, (
    SELECT count(DISTINCT m.person_id)
    FROM separations_separation s
    JOIN separations_separationmember m
      ON m.separation_id = s.id AND m.side = 'child' AND m.withdrawn_at IS NULL
    WHERE s.status IN ('in_effect', 'ended') AND s.withdrawn_at IS NULL
      AND s.end_outcome <> 'recorded_in_error'
      AND s.occurred_at <= days.day_end AND (s.ended_at IS NULL OR s.ended_at > days.day_end)
      AND (m.ended_at IS NULL OR m.ended_at > days.day_end)
)
FROM days ORDER BY days.day"""

BARE_KNOWN = """
WITH days AS (
    SELECT d::date AS day, ((d + interval '1 day')::timestamp AT TIME ZONE %(tz)s) AS day_end
    FROM generate_series(%(from)s::date, %(to)s::date, interval '1 day') d
),
s AS MATERIALIZED (
    SELECT * FROM (
        SELECT DISTINCT ON (id) id, occurred_at, ended_at, status, withdrawn_at, end_outcome, history_type
        FROM separations_historicalseparation WHERE history_date <= %(known_at)s
        ORDER BY id, history_date DESC, history_id DESC
    ) h WHERE history_type <> '-' AND status IN ('in_effect', 'ended') AND withdrawn_at IS NULL
      AND end_outcome <> 'recorded_in_error'
),
m AS MATERIALIZED (
    SELECT * FROM (
        SELECT DISTINCT ON (id) id, separation_id, person_id, side, withdrawn_at, ended_at, history_type
        FROM separations_historicalseparationmember WHERE history_date <= %(known_at)s
        ORDER BY id, history_date DESC, history_id DESC
    ) h WHERE history_type <> '-' AND side = 'child' AND withdrawn_at IS NULL
),
sm AS MATERIALIZED (
    SELECT m.person_id, s.occurred_at, s.ended_at, m.ended_at AS member_ended_at
    FROM s JOIN m ON m.separation_id = s.id
)
SELECT days.day, (
    SELECT count(DISTINCT sm.person_id) FROM sm
    WHERE sm.occurred_at <= days.day_end AND (sm.ended_at IS NULL OR sm.ended_at > days.day_end)
      AND (sm.member_ended_at IS NULL OR sm.member_ended_at > days.day_end)
)
FROM days ORDER BY days.day"""


_BARE: Bare | None = None


def bare_sql(start: date, end: date, known_at: datetime | None) -> list[int]:
    """The bare statement on its own connection (autocommit, no Django), not the API's."""
    global _BARE  # noqa: PLW0603 - one connection for the run
    if _BARE is None:
        _BARE = Bare()
    with _BARE.conn.cursor() as cursor:
        cursor.execute(
            BARE_KNOWN if known_at else BARE_NOW, {"from": start, "to": end, "tz": TZ, "known_at": known_at}
        )
        return [n for _, n in cursor.fetchall()]


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--runs", type=int, default=20)
    parser.add_argument("--warmup", type=int, default=2)
    parser.add_argument("--seed", type=int, default=11)
    parser.add_argument("--start", default="2017-10-01")
    parser.add_argument("--end", default="2019-09-30")
    parser.add_argument(
        "--bare-runs", type=int, default=4, help="bare SQL is slow: time it on the first N windows"
    )
    args = parser.parse_args()

    rng = random.Random(args.seed)
    first, last = date.fromisoformat(args.start), date.fromisoformat(args.end)
    span = (last - first).days - DAYS
    windows = []
    for i in range(args.warmup + args.runs):
        start = first + timedelta(days=rng.randrange(max(1, span + 1)))
        end = start + timedelta(days=DAYS - 1)
        known_at = None
        if i % 2:
            known_at = datetime.combine(start + timedelta(days=rng.randrange(DAYS)), datetime.min.time(), UTC)
        windows.append((start, end, known_at))

    counts = table_counts()
    print("database:", connection.settings_dict["NAME"], "; ".join(f"{k}={v:,}" for k, v in counts.items()))
    with open("/proc/loadavg") as f:
        print("load average at start:", " / ".join(f.read().split()[:3]))
    client = api_client()
    timings: dict[str, list[float]] = {"api": [], "api + splits": [], "api + agency": [], "bare SQL": []}
    mismatches = 0
    for i, (start, end, known_at) in enumerate(windows):
        query = {"from": start.isoformat(), "to": end.isoformat(), "tz": TZ}
        if known_at:
            query["known_at"] = known_at.isoformat()
        ms, response = timed(lambda q=query: client.get(URL, q, secure=True))
        assert response.status_code == 200, response.content[:300]
        ours = [d["count"] for d in response.json()["days"]]
        ms_splits, _ = timed(lambda q=query: client.get(URL, {**q, "split": "station,category"}, secure=True))
        ms_agency, _ = timed(
            lambda q=query: client.get(URL, {**q, "split": "station,category,agency"}, secure=True)
        )
        warm = i >= args.warmup
        if warm:
            timings["api"].append(ms)
            timings["api + splits"].append(ms_splits)
            timings["api + agency"].append(ms_agency)
        if i < args.warmup + args.bare_runs:
            ms_bare, bare = timed(lambda s=start, e=end, k=known_at: bare_sql(s, e, k))
            if warm:
                timings["bare SQL"].append(ms_bare)
            if bare != ours:
                mismatches += 1
                print(f"MISMATCH {start}..{end} known_at={known_at}")
        print(
            f"  {start}..{end} known_at={str(known_at.date()) if known_at else '-':<10} "
            f"peak={max(ours):>6,} api={ms:7.1f} ms splits={ms_splits:7.1f} agency={ms_agency:7.1f}"
        )
    print(f"\n365-day series, {args.runs} windows (half as known at a time), ms:")
    print(f"{'':<14}{'n':>4}{'p50':>10}{'p95':>10}{'max':>10}")
    for name, values in timings.items():
        if values:
            print(
                f"{name:<14}{len(values):>4}{percentile(values, 50):>10.1f}{percentile(values, 95):>10.1f}"
                f"{max(values):>10.1f}"
            )
    p95 = percentile(timings["api"], 95)
    verdict = "MET" if p95 <= TARGET_MS else "NOT MET"
    print(f"\ntarget p95 <= {TARGET_MS:.0f} ms (api: the count per day): {verdict}")
    print(
        "answers equal to bare SQL on every day checked:", "yes" if not mismatches else f"NO ({mismatches})"
    )
    with open("/proc/loadavg") as f:
        print("load average at end:", " / ".join(f.read().split()[:3]))


if __name__ == "__main__":
    main()
