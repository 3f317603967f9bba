"""Benchmark of the as-of answers: `separated_children(as_of=, known_at=)`.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/familylink_separations_bench \
        .venv/bin/python bench/asof.py --runs 40

Measures, for `--runs` different instants spread over the scenario's period (deterministic for
a given --seed), the wall time of:
- count:         `separated_children(as_of=T).count()`
- first page:    `separated_children(as_of=T).page(limit=50)` (rows with persons, reasons, custody)
- the same two with `known_at` (T plus 0-3 days: "as the system knew it then"),
plus the same four for one station (a supervisor's report). Prints p50 / p95 / max in ms and
checks that `known_at=now` gives the same answer as the current records. Fill the database first
with bench/scenario_separations.py (and bench/scenario.py when available).
"""

import argparse
import os
import random
import statistics
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "familylink.settings.base")

import django  # noqa: E402

django.setup()

from django.db import connection  # noqa: E402
from django.utils import timezone  # noqa: E402

from separations.selectors import separated_children  # noqa: E402

TARGET_MS = 500.0
REPORT_PAGE = 50


def api_client():
    """An API client signed in as a bench HQ analyst (created once, no usable password)."""
    from django.contrib.auth.models import Group
    from rest_framework.test import APIClient

    from familylink.common.models import User

    user = User.objects.filter(username="bench_hq").first()
    if user is None:
        user = User(username="bench_hq", first_name="Bench HQ")
        user.set_unusable_password()
        user.save()
        user.groups.add(Group.objects.get(name="hq_analyst"))
    client = APIClient(SERVER_NAME="localhost")
    client.force_authenticate(user)
    return client


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    index = max(0, min(len(ordered) - 1, round(q / 100 * len(ordered) + 0.5) - 1))
    return ordered[index]


def timed(fn) -> tuple[float, object]:
    started = time.perf_counter()
    result = fn()
    return (time.perf_counter() - started) * 1000, result


def table_counts() -> dict[str, int]:
    counts = {}
    with connection.cursor() as cursor:
        for table in (
            "apprehensions_person",
            "apprehensions_familyunit",
            "separations_separation",
            "separations_separationmember",
            "separations_historicalseparation",
            "separations_historicalseparationmember",
            "separations_custodyperiod",
        ):
            cursor.execute(f"SELECT count(*) FROM {table}")  # noqa: S608 - constant table names
            counts[table] = cursor.fetchone()[0]
    return counts


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--runs", type=int, default=40)
    parser.add_argument("--warmup", type=int, default=3)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--start", default="2017-11-01T00:00:00+00:00")
    parser.add_argument("--end", default="2019-02-01T00:00:00+00:00")
    parser.add_argument("--station", default="EPT", help="station for the supervisor's figures")
    parser.add_argument(
        "--api", action="store_true", help="also time GET /api/v1/reports/separated-children/ end to end"
    )
    args = parser.parse_args()

    counts = table_counts()
    print("FamilyLink as-of benchmark")
    print(f"database {connection.settings_dict['NAME']}, PostgreSQL {connection.pg_version}")
    print("rows: " + ", ".join(f"{t.split('_', 1)[1]}={n:,}" for t, n in counts.items()))

    rng = random.Random(args.seed)  # noqa: S311 - benchmark sampling
    start, end = datetime.fromisoformat(args.start), datetime.fromisoformat(args.end)
    span = (end - start).total_seconds()
    instants = [start + timedelta(seconds=rng.random() * span) for _ in range(args.runs + args.warmup)]
    known = [t + timedelta(seconds=rng.random() * 3 * 86400) for t in instants]

    cases = {
        "count": lambda t, k, s: separated_children(as_of=t, station=s).count(),
        "first page": lambda t, k, s: separated_children(as_of=t, station=s).page(limit=50),
        "count, known_at": lambda t, k, s: separated_children(as_of=t, known_at=k, station=s).count(),
        "first page, known_at": lambda t, k, s: separated_children(as_of=t, known_at=k, station=s).page(
            limit=50
        ),
    }
    results: dict[str, list[float]] = {}
    answers: dict[str, list[int]] = {}
    for scope, station in (("all stations", None), (f"station {args.station}", args.station)):
        for name, fn in cases.items():
            label = f"{name} ({scope})"
            times, sizes = [], []
            for i, (t, k) in enumerate(zip(instants, known, strict=True)):
                ms, result = timed(lambda fn=fn, t=t, k=k, s=station: fn(t, k, s))
                if i >= args.warmup:
                    times.append(ms)
                    sizes.append(result if isinstance(result, int) else len(result))
            results[label] = times
            answers[label] = sizes

    if args.api:
        client = api_client()
        for known_at in (False, True):
            label = "API report page 1" + (", known_at" if known_at else "") + " (all stations)"
            times = []
            for i, (t, k) in enumerate(zip(instants, known, strict=True)):
                query = {"as_of": t.isoformat()}
                if known_at:
                    query["known_at"] = k.isoformat()
                ms, response = timed(lambda q=query: client.get("/api/v1/reports/separated-children/", q))
                assert response.status_code == 200, response.content[:300]
                if i >= args.warmup:
                    times.append(ms)
            results[label] = times
            answers[label] = [REPORT_PAGE] * len(times)

    print(f"\n{args.runs} instants between {args.start} and {args.end} (after {args.warmup} warm-up runs)")
    print(f"{'query':<40} {'p50 ms':>8} {'p95 ms':>8} {'max ms':>8}  answer (median)")
    worst = 0.0
    for label, times in results.items():
        p95 = percentile(times, 95)
        worst = max(worst, p95)
        print(
            f"{label:<40} {statistics.median(times):8.1f} {p95:8.1f} {max(times):8.1f}  "
            f"{int(statistics.median(answers[label])):,}"
        )
    verdict = "met" if worst <= TARGET_MS else "NOT met"
    print(f"\nworst p95 {worst:.1f} ms; target p95 <= {TARGET_MS:.0f} ms: {verdict}")

    # Consistency: as the system knows it now == as the records stand now.
    now = timezone.now()
    mismatches = 0
    for t in instants[:5]:
        a = separated_children(as_of=t).count()
        b = separated_children(as_of=t, known_at=now).count()
        mismatches += a != b
    print(
        f"check known_at=now equals current records on 5 instants: {'ok' if not mismatches else 'MISMATCH'}"
    )
    peak = datetime(2018, 6, 20, 15, 0, tzinfo=UTC)
    print(f"children separated at 2018-06-20 09:00 MDT: {separated_children(as_of=peak).count():,}")


if __name__ == "__main__":
    main()
