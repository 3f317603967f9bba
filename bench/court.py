"""Benchmark of the court status report's figures (what `/dashboard/`'s deadline table, the court
page and `GET /api/v1/reports/court-status/` count), beside bare SQL giving the same figures.

    DATABASE_URL=postgres://familylink_app@127.0.0.1:5432/fl_reunify .venv/bin/python bench/court.py --runs 5

Runs on whatever cases the database holds (bench/worklists.py makes 100,000 open ones; `seed_demo`
makes cases in every state), for an HQ reader (every station), under the default deadline policy,
as of now (or `--as-of`). It times:
- FamilyLink: `reports.court.court_status(...).total`, the service every one of those pages and the
  API call: one query, then each case classified in Python by the one definition of a clock's state
  (`reunification.clocks.clock_state`), so that every figure drills down to its children;
- bare SQL: one statement over the same tables that classifies and counts in the database, on its
  own psycopg2 connection;
and checks that the two give the same figure for every key (bucket and clock state): a bench whose
two sides disagree exits with status 1. Prints median and best in ms, and the ratio.
"""

import argparse
import os
import statistics
import sys
import time
from datetime import datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "familylink.settings.base")

import django  # noqa: E402

django.setup()

from django.db import connection  # noqa: E402
from django.utils import timezone  # noqa: E402

from bench.bare import bare_connect  # noqa: E402
from reports import court  # noqa: E402
from reunification.models import ReunificationCase  # noqa: E402


def _clock(due: str, met: str, stopped: str) -> str:
    """`clock_state` as SQL, in the report's names (reports/clockstates.py), as of %(as_of)s."""
    return f"""CASE
        WHEN {met} IS NOT NULL AND {met} <= %(as_of)s
            THEN CASE WHEN {due} IS NULL OR {met} <= {due} THEN 'on_time' ELSE 'late' END
        WHEN {due} IS NULL THEN 'stopped'
        WHEN {due} < COALESCE(CASE WHEN {stopped} <= %(as_of)s THEN {stopped} END, %(as_of)s) THEN 'missed'
        WHEN {stopped} IS NOT NULL AND {stopped} <= %(as_of)s THEN 'stopped'
        ELSE 'pending' END"""


BARE = f"""
WITH c AS (
    SELECT rc.id, rc.child_id, s.occurred_at, rc.status, rc.outcome, rc.closed_at, rc.contact_due_at,
           rc.reunify_due_at,
           cs.done_at AS contact_done, es.done_at AS eligibility_done, es.method AS eligibility_method,
           (rc.closed_at IS NOT NULL AND rc.closed_at <= %(as_of)s
            AND rc.status IN ('reunified', 'closed')) AS closed
    FROM reunification_reunificationcase rc
    JOIN separations_separation s ON s.id = rc.separation_id
    LEFT JOIN reunification_casestep cs
           ON cs.case_id = rc.id AND cs.step = 'contact_made' AND cs.withdrawn_at IS NULL
    LEFT JOIN reunification_casestep es
           ON es.case_id = rc.id AND es.step = 'eligibility_decision' AND es.withdrawn_at IS NULL
    WHERE rc.policy_id = %(policy)s AND rc.withdrawn_at IS NULL AND s.withdrawn_at IS NULL
      AND s.occurred_at <= %(as_of)s AND s.end_outcome <> 'recorded_in_error'
), k AS (
    SELECT c.*,
           CASE WHEN closed THEN status ELSE 'open' END AS st,
           CASE WHEN closed THEN outcome ELSE '' END AS oc,
           CASE WHEN closed THEN closed_at END AS stopped
    FROM c
), b AS (
    SELECT k.*,
           CASE WHEN st = 'reunified' THEN 'reunified'
                WHEN st = 'closed' AND NOT oc = ANY(%(ineligible)s) THEN 'discharged'
                ELSE 'still_separated' END AS bucket,
           CASE WHEN oc = ANY(%(ineligible)s) THEN oc
                WHEN eligibility_done IS NOT NULL AND eligibility_done <= %(as_of)s
                     AND eligibility_method = ANY(%(ineligible)s) THEN eligibility_method END AS reason
    FROM k
), d AS (
    -- One case per child (reports.court.one_per_child): one still open, else the latest separation's.
    SELECT DISTINCT ON (child_id) * FROM b
    ORDER BY child_id, (bucket = 'still_separated') DESC, occurred_at DESC, id DESC
)
SELECT key, count(*)
FROM d CROSS JOIN LATERAL unnest(ARRAY[
    'separated',
    bucket,
    CASE bucket
        WHEN 'reunified' THEN CASE WHEN reunify_due_at IS NULL OR closed_at <= reunify_due_at
                                   THEN 'reunified:on_time' ELSE 'reunified:late' END
        WHEN 'discharged' THEN 'discharged:' || CASE WHEN oc = ANY(%(discharge)s) THEN oc ELSE 'other' END
        ELSE CASE WHEN reason IS NOT NULL THEN 'not_eligible' ELSE 'in_process' END END,
    CASE WHEN bucket = 'still_separated' AND reason IS NOT NULL THEN 'not_eligible:' || reason END,
    'contact:' || {_clock("contact_due_at", "contact_done", "stopped")},
    'reunify:' || {
    _clock(
        "reunify_due_at",
        "CASE WHEN st = 'reunified' THEN closed_at END",
        "CASE WHEN st <> 'reunified' THEN stopped END",
    )
}
]) AS key
WHERE key IS NOT NULL
GROUP BY key
"""  # noqa: S608 - constants only; values are parameters


def familylink(policy: Any, as_of: datetime) -> tuple[float, dict[str, int]]:
    started = time.perf_counter()
    report = court.court_status(cases=ReunificationCase.objects.all(), policy=policy, as_of=as_of)
    total = report.total
    return time.perf_counter() - started, dict(total)


def bare_figures(cursor: Any, policy: Any, as_of: datetime) -> dict[str, int]:
    """The figures by the bare statement, on `cursor` (tests/reports/test_court.py runs it on the
    hand-built set, so the two sides are known to agree on every state, not only on this data)."""
    cursor.execute(
        BARE,
        {
            "as_of": as_of,
            "policy": str(policy.pk),
            "ineligible": list(court.INELIGIBILITY_REASONS),
            "discharge": list(court.DISCHARGE_OUTCOMES),
        },
    )
    return {key: n for key, n in cursor.fetchall()}


def bare(conn: Any, policy: Any, as_of: datetime) -> tuple[float, dict[str, int]]:
    started = time.perf_counter()
    with conn.cursor() as cursor:
        figures = bare_figures(cursor, policy, as_of)
    conn.rollback()
    return time.perf_counter() - started, figures


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--as-of", type=datetime.fromisoformat, default=None, help="ISO 8601 with offset")
    args = parser.parse_args()
    policy = court.default_policy()
    if policy is None:
        sys.exit("no deadline policy in this database (run migrate, then bench/worklists.py or seed_demo)")
    as_of = args.as_of or timezone.now()
    cases = ReunificationCase.objects.filter(policy=policy).count()
    print(f"database {connection.settings_dict['NAME']}; {cases:,} cases under {policy.name}; as of {as_of}")
    conn = bare_connect()
    fl_times, bare_times = [], []
    agree = True
    for _ in range(args.runs):
        took, fl_figures = familylink(policy, as_of)
        fl_times.append(took)
        took, bare_figures = bare(conn, policy, as_of)
        bare_times.append(took)
        if fl_figures != bare_figures:
            agree = False
            keys = sorted(set(fl_figures) | set(bare_figures))
            for key in keys:
                if fl_figures.get(key, 0) != bare_figures.get(key, 0):
                    ours, theirs = fl_figures.get(key, 0), bare_figures.get(key, 0)
                    print(f"  differ: {key}: FamilyLink {ours}, bare {theirs}")
    conn.close()
    fl_ms, bare_ms = statistics.median(fl_times) * 1000, statistics.median(bare_times) * 1000
    print("figures: " + ", ".join(f"{k} {v:,}" for k, v in sorted(fl_figures.items())))
    print(f"FamilyLink court_status(...).total: median {fl_ms:.0f} ms, best {min(fl_times) * 1000:.0f} ms")
    print(
        f"bare SQL (classified and counted in one statement): median {bare_ms:.0f} ms, "
        f"best {min(bare_times) * 1000:.0f} ms"
    )
    print(
        f"FamilyLink / bare = {fl_ms / bare_ms:.2f}; same figures for every key: {'yes' if agree else 'NO'}"
    )
    if not agree:
        sys.exit(1)


if __name__ == "__main__":
    main()
