"""Benchmark of the as-of answers: `separated_children(as_of=, known_at=)`.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/familylink_separations_bench \
        .venv/bin/python bench/asof.py --runs 40 [--api] [--start ... --end ...]

Measures, for `--runs` different instants spread over the scenario's period (deterministic for
a given --seed), the wall time of:
- count:         `separated_children(as_of=T).count()`
- first page:    `separated_children(as_of=T).page(limit=50)` (rows with persons, reasons, custody)
- the same two with `known_at` (T plus 0-3 days: "as the system knew it then"),
plus the same four for one station (a supervisor's report), and (`--api`) the report API's first
page: `GET /api/v1/reports/separated-children/` end to end (count, counts by custody agency and by
reason category, 50 rows, access log, JSON) and the selector's one pass alone (`report()`).

Beside each FamilyLink figure it times BARE SQL giving the same answer on the same instants, in the
same run, through its own psycopg2 connection (no Django): for the counts one statement counting
the distinct children; for the report one statement returning the count, both breakdowns and the
50 rows (names, custody, adults, reasons, separations) as JSON, written by hand (latest history
rows by DISTINCT ON over each history table). It prints p50 / p95 / max of both and
the p95 ratio, checks that the bare answers equal FamilyLink's, and that `known_at=now` gives the
same answer as the current records. Fill the database first with bench/scenario_separations.py
(and bench/scenario.py when available); give --start/--end a window where separations exist.
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

from bench.bare import bare_connect  # noqa: E402
from separations.selectors import separated_children  # noqa: E402

TARGET_MS = 500.0
API_TARGET_MS = 200.0  # issue 12: the report API page with known_at
REPORT_PAGE = 50

# --- bare SQL: the same answers, written by hand without the selector's fragments --------------

_BARE_SEP_NOW = """
sep AS (
    SELECT s.id, s.occurred_at, s.reason_code_id FROM separations_separation s
    WHERE s.status IN ('in_effect', 'ended') AND s.withdrawn_at IS NULL
      AND s.end_outcome <> 'recorded_in_error' AND s.occurred_at <= %(as_of)s
      AND (s.ended_at IS NULL OR s.ended_at > %(as_of)s) {station}
),
kmem AS (
    SELECT m.person_id, sep.occurred_at, sep.reason_code_id
    FROM separations_separationmember m JOIN sep ON sep.id = m.separation_id
    WHERE m.side = 'child' AND m.withdrawn_at IS NULL AND (m.ended_at IS NULL OR m.ended_at > %(as_of)s)
)"""

_BARE_SEP_KNOWN = """
sep AS (
    -- Latest version of each separation as known; whether it counts, as one flag (a subquery's
    -- columns have no statistics: several conditions on them would be estimated as one row).
    SELECT s.id, s.occurred_at, s.reason_code_id FROM (
        SELECT DISTINCT ON (hs.id) hs.id, hs.occurred_at, hs.reason_code_id,
               (hs.history_type <> '-' AND hs.status IN ('in_effect', 'ended') AND hs.withdrawn_at IS NULL
                AND hs.end_outcome <> 'recorded_in_error' AND hs.occurred_at <= %(as_of)s
                AND (hs.ended_at IS NULL OR hs.ended_at > %(as_of)s) {station}) AS counts
        FROM separations_historicalseparation hs WHERE hs.history_date <= %(known_at)s
        ORDER BY hs.id, hs.history_date DESC, hs.history_id DESC
    ) s WHERE s.counts
),
kmem AS (
    SELECT m.person_id, sep.occurred_at, sep.reason_code_id
    FROM (
        SELECT DISTINCT ON (hm.separation_id, hm.id) hm.separation_id, hm.person_id,
               (hm.side = 'child' AND hm.history_type <> '-' AND hm.withdrawn_at IS NULL
                AND (hm.ended_at IS NULL OR hm.ended_at > %(as_of)s)) AS counts
        FROM separations_historicalseparationmember hm WHERE hm.history_date <= %(known_at)s
        ORDER BY hm.separation_id, hm.id, hm.history_date DESC, hm.history_id DESC
    ) m JOIN sep ON sep.id = m.separation_id
    WHERE m.counts
)"""

# Both sides of the separations in effect that name a child of the page (through the person index).
_BARE_PMEM_NOW = """
cand AS (SELECT c.separation_id FROM separations_separationmember c
         WHERE c.person_id IN (SELECT child_id FROM page)),
pmem AS MATERIALIZED (
    SELECT m.separation_id, m.person_id, m.side, s.occurred_at, s.reason_code_id
    FROM separations_separationmember m JOIN separations_separation s ON s.id = m.separation_id
    WHERE m.separation_id IN (SELECT separation_id FROM cand)
      AND m.withdrawn_at IS NULL AND (m.ended_at IS NULL OR m.ended_at > %(as_of)s)
      AND s.status IN ('in_effect', 'ended') AND s.withdrawn_at IS NULL
      AND s.end_outcome <> 'recorded_in_error' AND s.occurred_at <= %(as_of)s
      AND (s.ended_at IS NULL OR s.ended_at > %(as_of)s) {station}
)"""

_BARE_PMEM_KNOWN = """
cand AS (SELECT c.separation_id FROM separations_historicalseparationmember c
         WHERE c.person_id IN (SELECT child_id FROM page)),
psep AS (
    SELECT s.id, s.occurred_at, s.reason_code_id FROM (
        SELECT DISTINCT ON (hs.id) hs.id, hs.occurred_at, hs.reason_code_id,
               (hs.history_type <> '-' AND hs.status IN ('in_effect', 'ended') AND hs.withdrawn_at IS NULL
                AND hs.end_outcome <> 'recorded_in_error' AND hs.occurred_at <= %(as_of)s
                AND (hs.ended_at IS NULL OR hs.ended_at > %(as_of)s) {station}) AS counts
        FROM separations_historicalseparation hs
        WHERE hs.history_date <= %(known_at)s AND hs.id IN (SELECT separation_id FROM cand)
        ORDER BY hs.id, hs.history_date DESC, hs.history_id DESC
    ) s WHERE s.counts
),
pmem AS MATERIALIZED (
    SELECT m.separation_id, m.person_id, m.side, psep.occurred_at, psep.reason_code_id
    FROM (
        SELECT DISTINCT ON (hm.separation_id, hm.id) hm.separation_id, hm.person_id, hm.side,
               (hm.history_type <> '-' AND hm.withdrawn_at IS NULL
                AND (hm.ended_at IS NULL OR hm.ended_at > %(as_of)s)) AS counts
        FROM separations_historicalseparationmember hm
        WHERE hm.history_date <= %(known_at)s AND hm.separation_id IN (SELECT separation_id FROM cand)
        ORDER BY hm.separation_id, hm.id, hm.history_date DESC, hm.history_id DESC
    ) m JOIN psep ON psep.id = m.separation_id
    WHERE m.counts
)"""

_BARE_COUNT = "\nSELECT count(DISTINCT person_id) FROM kmem"

_BARE_REPORT = """,
kids AS (
    SELECT kmem.person_id AS child_id, min(kmem.occurred_at) AS since, min(cp.agency) AS agency,
           bool_or(kmem.reason_code_id = ANY(ARRAY(
               SELECT id FROM separations_reasoncode WHERE category = 'policy'))) AS policy,
           bool_or(kmem.reason_code_id = ANY(ARRAY(
               SELECT id FROM separations_reasoncode WHERE category = 'child_welfare'))) AS welfare
    FROM kmem LEFT JOIN separations_custodyperiod cp
      ON cp.person_id = kmem.person_id AND cp.ended_at IS NULL AND cp.withdrawn_at IS NULL
    GROUP BY kmem.person_id
),
page AS (SELECT child_id, since FROM kids ORDER BY since, child_id LIMIT %(limit)s),
{pmem},
page_sep AS (
    SELECT DISTINCT page.child_id, pmem.separation_id, pmem.occurred_at, pmem.reason_code_id
    FROM page JOIN pmem ON pmem.person_id = page.child_id AND pmem.side = 'child'
),
page_adult AS (
    SELECT DISTINCT ps.child_id, pmem.person_id AS adult_id
    FROM page_sep ps JOIN pmem ON pmem.separation_id = ps.separation_id AND pmem.side = 'adult'
)
SELECT json_build_object(
    'count', (SELECT count(*) FROM kids),
    'by_custody_agency', (
        SELECT json_object_agg(agency, n) FROM (
            SELECT coalesce(kids.agency, 'NONE') AS agency, count(*) AS n FROM kids GROUP BY 1) a),
    'by_reason_category', json_build_object(
        'policy', (SELECT count(*) FROM kids WHERE policy),
        'child_welfare', (SELECT count(*) FROM kids WHERE welfare)),
    'results', (
        SELECT json_agg(json_build_object(
            'child', json_build_object('id', p.id, 'given_names', p.given_names,
                                       'first_surname', p.first_surname, 'a_number', p.a_number,
                                       'date_of_birth', p.date_of_birth),
            'child_current_custody', json_build_object('agency', cc.agency, 'facility', cc.facility),
            'separated_since', page.since,
            'adults', (SELECT json_agg(json_build_object('id', a.id, 'given_names', a.given_names,
                                                        'first_surname', a.first_surname,
                                                        'agency', ac.agency))
                       FROM page_adult pa JOIN apprehensions_person a ON a.id = pa.adult_id
                       LEFT JOIN separations_custodyperiod ac
                         ON ac.person_id = a.id AND ac.ended_at IS NULL AND ac.withdrawn_at IS NULL
                       WHERE pa.child_id = page.child_id),
            'reasons', (SELECT json_agg(DISTINCT rc.code) FROM page_sep ps
                        JOIN separations_reasoncode rc ON rc.id = ps.reason_code_id
                        WHERE ps.child_id = page.child_id),
            'separations', (SELECT json_agg(ps.separation_id ORDER BY ps.occurred_at, ps.separation_id)
                            FROM page_sep ps WHERE ps.child_id = page.child_id)
        ) ORDER BY page.since, page.child_id)
        FROM page JOIN apprehensions_person p ON p.id = page.child_id
        LEFT JOIN separations_custodyperiod cc
          ON cc.person_id = page.child_id AND cc.ended_at IS NULL AND cc.withdrawn_at IS NULL)
)::text"""


class Bare:
    """Bare SQL on its own psycopg2 connection (autocommit: one statement, no Django)."""

    def __init__(self) -> None:
        self.conn = bare_connect(autocommit=True)
        self.stations: dict[str, str] = {}

    def run(self, tail: str, as_of, known_at=None, station=None, limit: int = REPORT_PAGE):
        params = {"as_of": as_of, "known_at": known_at, "limit": limit}
        where = ""
        if station is not None:
            if station not in self.stations:
                with self.conn.cursor() as cursor:
                    cursor.execute("SELECT id FROM apprehensions_station WHERE code = %s", [station])
                    self.stations[station] = cursor.fetchone()[0]
            params["station_id"] = self.stations[station]
            where = "AND station_id = %(station_id)s"
        head = (_BARE_SEP_KNOWN if known_at is not None else _BARE_SEP_NOW).format(station=where)
        with self.conn.cursor() as cursor:
            cursor.execute("WITH " + head + tail, params)
            return cursor.fetchone()[0]

    def count(self, as_of, known_at=None, station=None) -> int:
        return self.run(_BARE_COUNT, as_of, known_at, station)

    def report(self, as_of, known_at=None, station=None) -> dict:
        import json

        pmem = _BARE_PMEM_KNOWN if known_at is not None else _BARE_PMEM_NOW
        where = "AND station_id = %(station_id)s" if station is not None else ""
        return json.loads(
            self.run(_BARE_REPORT.format(pmem=pmem.format(station=where)), as_of, known_at, station)
        )


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


def same_answer(familylink, bare) -> bool:
    """The bare SQL answer is FamilyLink's: the same count, or the same summary and page of children."""
    if isinstance(familylink, int):
        return familylink == bare
    if isinstance(familylink, dict):  # the API's JSON
        count, by_agency, by_category = (
            familylink["count"],
            familylink["by_custody_agency"],
            familylink["by_reason_category"],
        )
        children = [r["child"]["id"] for r in familylink["results"]]
        seps = [r["separations"] for r in familylink["results"]]
    else:  # SeparatedChildrenReport
        count, by_agency, by_category = familylink.count, familylink.by_agency, familylink.by_category
        children = [str(r.child.pk) for r in familylink.rows]
        seps = [[str(s.pk) for s in r.separations] for r in familylink.rows]
    bare_results = bare["results"] or []
    return (
        count == bare["count"]
        and by_agency == (bare["by_custody_agency"] or {})
        and by_category == {k: v for k, v in bare["by_reason_category"].items() if v}
        and children == [r["child"]["id"] for r in bare_results]
        and seps == [[str(x) for x in r["separations"]] for r in bare_results]
    )


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


def parse_args() -> argparse.Namespace:
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
    return parser.parse_args()


class Runner:
    """Times FamilyLink and bare SQL alternately on each instant (so both see the same load)."""

    def __init__(self, instants: list[datetime], known: list[datetime], warmup: int) -> None:
        self.instants, self.known, self.warmup = instants, known, warmup
        self.results: dict[str, tuple[list[float], list[float]]] = {}
        self.answers: dict[str, list[int]] = {}
        self.mismatches: list[str] = []

    def measure(self, label: str, fl, bare_fn, size) -> None:
        times, bare_times, sizes = [], [], []
        for i, (t, k) in enumerate(zip(self.instants, self.known, strict=True)):
            ms, result = timed(lambda t=t, k=k: fl(t, k))
            bms, bare_result = timed(lambda t=t, k=k: bare_fn(t, k)) if bare_fn else (None, None)
            if i >= self.warmup:
                times.append(ms)
                sizes.append(size(result))
                if bms is not None:
                    bare_times.append(bms)
            if bare_fn and not same_answer(result, bare_result):
                self.mismatches.append(f"{label} at {t.isoformat()}")
        self.results[label] = (times, bare_times)
        self.answers[label] = sizes

    def print_table(self) -> float:
        print(
            f"{'query':<48} {'p50 ms':>8} {'p95 ms':>8} {'max ms':>8} {'bare p50':>9} {'bare p95':>9} "
            f"{'ratio p95':>9}  answer (median)"
        )
        worst = 0.0
        for label, (times, bare_times) in self.results.items():
            p95 = percentile(times, 95)
            worst = max(worst, p95)
            if bare_times:
                bare_p95 = percentile(bare_times, 95)
                bare_cols = f"{statistics.median(bare_times):9.1f} {bare_p95:9.1f} {p95 / bare_p95:8.2f}x"
            else:
                bare_cols = f"{'-':>9} {'-':>9} {'-':>9}"
            print(
                f"{label:<48} {statistics.median(times):8.1f} {p95:8.1f} {max(times):8.1f} {bare_cols}  "
                f"{int(statistics.median(self.answers[label])):,}"
            )
        return worst


def selector_cases(runner: Runner, bare: Bare, station_code: str) -> None:
    """count and first page, as recorded and as known, for all stations and for one station."""
    cases = {  # label -> (FamilyLink call, bare SQL call or None); each returns its answer
        "count": (
            lambda t, k, s: separated_children(as_of=t, station=s).count(),
            lambda t, k, s: bare.count(t, None, s),
        ),
        "first page": (lambda t, k, s: separated_children(as_of=t, station=s).page(limit=50), None),
        "count, known_at": (
            lambda t, k, s: separated_children(as_of=t, known_at=k, station=s).count(),
            lambda t, k, s: bare.count(t, k, s),
        ),
        "first page, known_at": (
            lambda t, k, s: separated_children(as_of=t, known_at=k, station=s).page(limit=50),
            None,
        ),
    }
    for scope, station in (("all stations", None), (f"station {station_code}", station_code)):
        for name, (fn, bare_fn) in cases.items():
            runner.measure(
                f"{name} ({scope})",
                lambda t, k, fn=fn, st=station: fn(t, k, st),
                (lambda t, k, b=bare_fn, st=station: b(t, k, st)) if bare_fn else None,
                lambda r: r if isinstance(r, int) else len(r),
            )


def api_cases(runner: Runner, bare: Bare) -> None:
    """The report API's first page end to end, and the selector's one pass, beside the bare report."""
    client = api_client()
    for known_at in (False, True):
        suffix = (", known_at" if known_at else "") + " (all stations)"

        def api(t, k, known_at=known_at):
            query = {"as_of": t.isoformat()}
            if known_at:
                query["known_at"] = k.isoformat()
            response = client.get("/api/v1/reports/separated-children/", query)
            assert response.status_code == 200, response.content[:300]
            return response.json()

        def bare_report(t, k, known_at=known_at):
            return bare.report(t, k if known_at else None)

        def one_pass(t, k, known_at=known_at):
            return separated_children(as_of=t, known_at=k if known_at else None).report(limit=REPORT_PAGE)

        runner.measure("API report page 1" + suffix, api, bare_report, lambda r: len(r["results"]))
        runner.measure("report() one pass" + suffix, one_pass, bare_report, lambda r: len(r.rows))


def main() -> None:
    args = parse_args()
    counts = table_counts()
    print("FamilyLink as-of benchmark")
    print(f"database {connection.settings_dict['NAME']}, PostgreSQL {connection.pg_version}")
    print("rows: " + ", ".join(f"{t.split('_', 1)[1]}={n:,}" for t, n in counts.items()))

    rng = random.Random(args.seed)  # noqa: S311 - benchmark sampling
    start, end = datetime.fromisoformat(args.start), datetime.fromisoformat(args.end)
    span = (end - start).total_seconds()
    instants = [start + timedelta(seconds=rng.random() * span) for _ in range(args.runs + args.warmup)]
    known = [t + timedelta(seconds=rng.random() * 3 * 86400) for t in instants]

    bare = Bare()
    runner = Runner(instants, known, args.warmup)
    selector_cases(runner, bare, args.station)
    if args.api:
        api_cases(runner, bare)

    print(f"\n{args.runs} instants between {args.start} and {args.end} (after {args.warmup} warm-up runs)")
    print("FamilyLink beside bare SQL for the same answer (own psycopg2 connection, same instants, same run)")
    worst = runner.print_table()
    verdict = "met" if worst <= TARGET_MS else "NOT met"
    print(f"\nworst p95 {worst:.1f} ms; target p95 <= {TARGET_MS:.0f} ms: {verdict}")
    if args.api:
        label = "API report page 1, known_at (all stations)"
        p95 = percentile(runner.results[label][0], 95)
        ratio = p95 / percentile(runner.results[label][1], 95)
        verdict = "met" if p95 <= API_TARGET_MS and ratio <= 2 else "NOT met"
        print(
            f"{label}: p95 {p95:.1f} ms, {ratio:.2f}x bare SQL; "
            f"target p95 <= {API_TARGET_MS:.0f} ms and <= 2x bare: {verdict}"
        )
    same = "ok" if not runner.mismatches else "MISMATCH " + ", ".join(runner.mismatches[:5])
    print(f"bare SQL answers equal FamilyLink's: {same}")

    # Consistency: as the system knows it now == as the records stand now.
    now = timezone.now()
    differ = 0
    for t in instants[:5]:
        a = separated_children(as_of=t).count()
        b = separated_children(as_of=t, known_at=now).count()
        differ += a != b
    print(f"check known_at=now equals current records on 5 instants: {'ok' if not differ else 'MISMATCH'}")
    peak = datetime(2018, 6, 20, 15, 0, tzinfo=UTC)
    print(f"children separated at 2018-06-20 09:00 MDT: {separated_children(as_of=peak).count():,}")


if __name__ == "__main__":
    main()
