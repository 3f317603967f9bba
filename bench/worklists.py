"""Worklist benchmark: the morning build on 100,000 open cases, and claim-next under 8 coordinators.

    .venv/bin/python bench/worklists.py [--cases 100000] [--claims-per-worker 500] [--workers 8]
                                        [--mode processes|threads] [--pause-ms 0] [--skip-build]

Runs against the development database of DATABASE_URL (never the test database). The first run
generates the open cases with set-based SQL (every row with its history row, like the app's own
writes) on station BEN, team BEN-REUNIFY; later runs reuse them. Each run builds a fresh day (the
day after the last one built for BEN-REUNIFY), so the build always inserts the whole list; it then
re-runs the build for the same day (must insert nothing) and has `--workers` coordinators claim
concurrently with `worklist_claim_next` (SELECT … FOR UPDATE SKIP LOCKED), timing every claim
(one transaction each, commit included) and counting items handed out twice. Prints the figures.
`--pause-ms N` makes each coordinator pause a random 0..2N ms between claims (0: back to back,
the worst case); `--skip-build` claims from the last list built instead of building a new one;
`--bare-first` runs the bare claims before FamilyLink's (the first minute after a build is slower).

Beside each FamilyLink figure it times BARE SQL giving the same answer on the same data, in the same
run, through its own psycopg2 connections (no Django, no history rows, so no audit-chain links):
- the build: one INSERT … SELECT of the day's list (the same order and positions) for the next day,
  timed to the end of the statement and then rolled back;
- claim-next: the same number of processes claiming back to back from the same list with one
  statement each (SELECT … FOR UPDATE SKIP LOCKED, the item claimed, the case assigned) and a
  COMMIT, timed like FamilyLink's claims.
It prints both and the ratio FamilyLink / bare.
"""

import argparse
import multiprocessing
import os
import random
import statistics
import sys
import threading
import time
from collections import Counter
from datetime import date, timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "familylink.settings.base")

import django  # noqa: E402

django.setup()

from django.conf import settings  # noqa: E402
from django.contrib.auth.models import Group  # noqa: E402
from django.db import connection, connections, transaction  # noqa: E402

from apprehensions.models import Person, Station  # noqa: E402
from bench.bare import bare_connect  # noqa: E402
from familylink.common.models import User  # noqa: E402
from familylink.common.reference import ensure_all  # noqa: E402
from reunification.clocks import order_starts_at  # noqa: E402
from reunification.models import (  # noqa: E402
    STEP_ORDER,
    CaseAdult,
    CaseStep,
    DeadlinePolicy,
    ReunificationCase,
    Worklist,
    WorklistItem,
)
from reunification.services import worklist_claim_next, worklists_build  # noqa: E402
from reunification.sql import history_insert, history_params  # noqa: E402
from separations.models import ReasonCode, Separation, SeparationMember  # noqa: E402

STATION = "BEN"
TEAM = "BEN-REUNIFY"


def base_columns(model: Any, values: dict[str, str]) -> tuple[str, str]:
    """Column list and SELECT expressions: the BaseModel columns get their defaults."""
    defaults = {
        "id": "gen_random_uuid()",
        "created_at": "now()",
        "updated_at": "now()",
        "created_by_id": "NULL",
        "version": "1",
        "withdrawn_at": "NULL",
        "withdrawn_by_id": "NULL",
        "withdrawn_reason": "''",
    }
    fields = model._meta.concrete_fields
    cols = [f.column for f in fields]
    exprs = {**defaults, **values}
    # Columns added to the schema after this script was written take their model default, so the
    # benchmark keeps running as the models grow (a nullable column is NULL, a blank text one '').
    for field in fields:
        if field.column in exprs:
            continue
        if field.null:
            exprs[field.column] = "NULL"
        elif field.has_default() and isinstance(field.default, bool | int | float | str):
            exprs[field.column] = _literal(field.default)
    missing = [c for c in cols if c not in exprs]
    if missing:
        raise RuntimeError(f"{model.__name__}: no value for {missing}")
    return ", ".join(f'"{c}"' for c in cols), ", ".join(exprs[c] for c in cols)


def _literal(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return str(value)
    return "'" + str(value).replace("'", "''") + "'"


def insert_with_history(cursor: Any, model: Any, values: dict[str, str], source: str, params: dict) -> int:
    cols, exprs = base_columns(model, values)
    cursor.execute(
        f"WITH ins AS (INSERT INTO {model._meta.db_table} ({cols}) SELECT {exprs} FROM {source} RETURNING *) "
        + history_insert(model, "ins", history_type="+"),
        params,
    )
    return cursor.rowcount


def users() -> tuple[User, User, list[User]]:
    def user(name: str, role: str, **extra: str) -> User:
        obj = User.objects.filter(username=name).first()
        if obj is None:
            obj = User(username=name, first_name=name, **extra)
            obj.set_unusable_password()
            obj.save()
        obj.groups.set([Group.objects.get(name=role)])
        return obj

    agent = user("bench_agent", "field_agent", station=STATION)
    supervisor = user("bench_supervisor", "supervisor", station=STATION)
    coordinators = [user(f"bench_coord_{i}", "coordinator", team=TEAM) for i in range(8)]
    return agent, supervisor, coordinators


@transaction.atomic
def generate(n_cases: int, agent: User, supervisor: User) -> None:
    """n_cases open cases: n/2 separations of two children from one adult, with members, case
    adults and seven checklist steps per case, every row with its history row."""
    station = Station.objects.filter(code=STATION).first()
    if station is None:
        station = Station(code=STATION, name="Benchmark Station", sector="Benchmark")
        station.save()
    policy = DeadlinePolicy.objects.filter(is_active=True).order_by("-order_date").first()
    separations = n_cases // 2
    params = {
        "n": separations,
        "station": str(station.pk),
        "reason": str(ReasonCode.objects.get(code="ZERO_TOLERANCE_PROSECUTION").pk),
        "agent": agent.pk,
        "supervisor": supervisor.pk,
        "policy": str(policy.pk),
        "order_start": order_starts_at(policy.order_date),
        "contact_days": policy.contact_days,
        "young_age": policy.young_child_age,
        "young_days": policy.young_child_days,
        "other_days": policy.other_days,
        "team": TEAM,
        "tz": settings.TIME_ZONE,
        **history_params(when=django.utils.timezone.now(), reason="benchmark data", user=None),
    }
    with connection.cursor() as cursor:
        cursor.execute("SELECT setseed(0.42)")
        cursor.execute(
            """
            CREATE TEMP TABLE bench_map ON COMMIT DROP AS
            SELECT g, gen_random_uuid() AS sep_id, gen_random_uuid() AS adult_id,
                   gen_random_uuid() AS child1_id, gen_random_uuid() AS child2_id,
                   now() - make_interval(mins => (random() * 60 * 24 * 60)::int) AS occurred_at,
                   (current_date - make_interval(days => (random() * 17.9 * 365)::int))::date AS dob1,
                   (current_date - make_interval(days => (random() * 17.9 * 365)::int))::date AS dob2
            FROM generate_series(1, %(n)s) AS g
            """,
            params,
        )
        person = {
            "sex": "'U'",
            "aliases": "'[]'::jsonb",
            "second_surname": "''",
            "dob_estimated": "false",
            "country_of_citizenship": "'GT'",
            "language": "'es'",
            "a_number": "NULL",
            "is_unaccompanied": "false",
            "first_encountered_at": "m.occurred_at",
            "first_station_id": "%(station)s::uuid",
            "first_surname": "'Bench' || m.g",
        }
        insert_with_history(
            cursor,
            Person,
            {
                **person,
                "id": "m.adult_id",
                "given_names": "'Adulto'",
                "date_of_birth": "'1985-03-01'::date",
                "name_normalized": "'adulto bench' || m.g",
                "is_minor": "false",
            },
            "bench_map m",
            params,
        )
        for k in (1, 2):
            insert_with_history(
                cursor,
                Person,
                {
                    **person,
                    "id": f"m.child{k}_id",
                    "given_names": f"'Nino{k}'",
                    "date_of_birth": f"m.dob{k}",
                    "name_normalized": f"'nino{k} bench' || m.g",
                    "is_minor": "true",
                },
                "bench_map m",
                params,
            )
        insert_with_history(
            cursor,
            Separation,
            {
                "id": "m.sep_id",
                "created_by_id": "%(agent)s",
                "family_unit_id": "NULL",
                "occurred_at": "m.occurred_at",
                "recorded_at": "m.occurred_at",
                "station_id": "%(station)s::uuid",
                "place": "'Benchmark'",
                "reason_code_id": "%(reason)s::uuid",
                "narrative": "'Benchmark separation'",
                "status": "'in_effect'",
                "requested_by_id": "%(agent)s",
                "decided_by_id": "%(supervisor)s",
                "decided_at": "m.occurred_at",
                "decision_comment": "''",
                "ended_at": "NULL",
                "end_outcome": "''",
                "end_comment": "''",
            },
            "bench_map m",
            params,
        )
        for col, side in (("adult_id", "adult"), ("child1_id", "child"), ("child2_id", "child")):
            insert_with_history(
                cursor,
                SeparationMember,
                {"separation_id": "m.sep_id", "person_id": f"m.{col}", "side": f"'{side}'"},
                "bench_map m",
                params,
            )
        cursor.execute(
            """
            CREATE TEMP TABLE bench_cases ON COMMIT DROP AS
            SELECT gen_random_uuid() AS case_id, m.sep_id, m.adult_id, c.child_id, c.dob,
                   GREATEST(m.occurred_at, %(order_start)s) AS clock_start
            FROM bench_map m
            CROSS JOIN LATERAL (VALUES (m.child1_id, m.dob1), (m.child2_id, m.dob2)) AS c(child_id, dob)
            """,
            params,
        )
        reunify_due = (
            "b.clock_start + make_interval(days => CASE WHEN date_part('year', "
            "age((b.clock_start AT TIME ZONE %(tz)s)::date, b.dob)) < %(young_age)s "
            "THEN %(young_days)s ELSE %(other_days)s END)"
        )
        contact_due = "b.clock_start + make_interval(days => %(contact_days)s)"
        insert_with_history(
            cursor,
            ReunificationCase,
            {
                "id": "b.case_id",
                "created_by_id": "%(supervisor)s",
                "child_id": "b.child_id",
                "separation_id": "b.sep_id",
                "status": "'open'",
                "outcome": "''",
                "team": "%(team)s",
                "assigned_to_id": "NULL",
                "policy_id": "%(policy)s::uuid",
                "clock_start": "b.clock_start",
                "contact_due_at": contact_due,
                "reunify_due_at": reunify_due,
                "next_step": "'contact_made'",
                "due_at": f"LEAST({contact_due}, {reunify_due})",
                "closed_at": "NULL",
                "closed_by_id": "NULL",
                "close_note": "''",
            },
            "bench_cases b",
            params,
        )
        insert_with_history(
            cursor, CaseAdult, {"case_id": "b.case_id", "person_id": "b.adult_id"}, "bench_cases b", params
        )
        params["steps"] = STEP_ORDER
        insert_with_history(
            cursor,
            CaseStep,
            {
                "case_id": "b.case_id",
                "step": "s.step",
                "done_at": "NULL",
                "done_by_id": "NULL",
                "method": "''",
                "note": "''",
            },
            "bench_cases b CROSS JOIN unnest(%(steps)s::text[]) AS s(step)",
            params,
        )


def claim_loop(user_id: int, day: date, count: int, pause_ms: int, barrier: Any, out: Any) -> None:
    user = User.objects.get(pk=user_id)
    rng = random.Random(user_id)
    results = []
    barrier.wait()
    for _ in range(count):
        if pause_ms:
            time.sleep(rng.uniform(0, 2 * pause_ms) / 1000)
        started = time.perf_counter()
        item = worklist_claim_next(user=user, day=day)
        elapsed = time.perf_counter() - started
        if item is None:
            break
        results.append((str(item.pk), elapsed))
    connections.close_all()
    out.put((user.username, results))


def run_claims(
    coordinators: list[User], day: date, per_worker: int, mode: str, pause_ms: int, loop: Any = claim_loop
) -> list[tuple[str, list]]:
    if mode == "threads":
        import queue

        out: Any = queue.Queue()
        barrier: Any = threading.Barrier(len(coordinators))
        workers = [
            threading.Thread(target=loop, args=(c.pk, day, per_worker, pause_ms, barrier, out))
            for c in coordinators
        ]
    else:
        connections.close_all()  # no connection may cross the fork
        ctx = multiprocessing.get_context("fork")
        out = ctx.Queue()
        barrier = ctx.Barrier(len(coordinators))
        workers = [
            ctx.Process(target=loop, args=(c.pk, day, per_worker, pause_ms, barrier, out))
            for c in coordinators
        ]
    for w in workers:
        w.start()
    results = [out.get() for _ in workers]
    for w in workers:
        w.join()
    return results


# --- bare SQL: the same answers written by hand, on their own psycopg2 connections -------------

BARE_BUILD = """
WITH list AS (
    INSERT INTO reunification_worklist (id, created_at, updated_at, version, withdrawn_reason, team, date,
                                        built_at)
    VALUES (gen_random_uuid(), now(), now(), 1, '', %(team)s, %(day)s, now())
    RETURNING id
)
INSERT INTO reunification_worklistitem (id, created_at, updated_at, version, withdrawn_reason, worklist_id,
                                        case_id, position, next_step, due_at, is_overdue)
SELECT gen_random_uuid(), now(), now(), 1, '', list.id, c.id,
       row_number() OVER (ORDER BY coalesce(c.due_at < %(reference)s, false) DESC,
                                   (c.due_at AT TIME ZONE %(tz)s)::date ASC NULLS LAST,
                                   p.date_of_birth DESC NULLS FIRST, s.occurred_at, c.created_at, c.id),
       c.next_step, c.due_at, coalesce(c.due_at < %(reference)s, false)
FROM list, reunification_reunificationcase c
JOIN apprehensions_person p ON p.id = c.child_id
JOIN separations_separation s ON s.id = c.separation_id
WHERE c.team = %(team)s AND c.status IN ('open', 'in_progress') AND c.withdrawn_at IS NULL
"""

BARE_CLAIM = """
WITH picked AS (
    SELECT i.id FROM reunification_worklistitem i
    JOIN reunification_reunificationcase c ON c.id = i.case_id
    WHERE i.worklist_id = (SELECT id FROM reunification_worklist
                           WHERE team = %(team)s AND date = %(day)s AND withdrawn_at IS NULL)
      AND i.claimed_by_id IS NULL AND i.completed_at IS NULL AND i.withdrawn_at IS NULL
      AND c.status IN ('open', 'in_progress')
    ORDER BY i.position LIMIT 1
    FOR UPDATE OF i SKIP LOCKED
), item AS (
    UPDATE reunification_worklistitem i SET claimed_by_id = %(user)s, claimed_at = now()
    FROM picked WHERE i.id = picked.id RETURNING i.id, i.case_id
), assigned AS (
    UPDATE reunification_reunificationcase c
    SET assigned_to_id = %(user)s, status = CASE WHEN c.status = 'open' THEN 'in_progress' ELSE c.status END
    FROM item WHERE c.id = item.case_id
)
SELECT id FROM item
"""


def bare_build(day: date) -> tuple[float, list[str]]:
    """Seconds for the bare INSERT of `day`'s list, and its cases in position order (read back
    before the rollback). It is written under the next day's date (the day's list exists) with
    `day`'s reference time, so its answer must be FamilyLink's list for `day`."""
    from reunification.services.worklists import worklist_reference_time

    conn = bare_connect()
    try:
        with conn.cursor() as cursor:
            params = {"team": TEAM, "day": day + timedelta(days=1), "tz": settings.TIME_ZONE,
                      "reference": worklist_reference_time(day, TEAM)}  # fmt: skip
            started = time.perf_counter()
            cursor.execute(BARE_BUILD, params)
            took = time.perf_counter() - started
            cursor.execute(
                "SELECT i.case_id::text FROM reunification_worklistitem i JOIN reunification_worklist w "
                "ON w.id = i.worklist_id WHERE w.team = %(team)s AND w.date = %(day)s ORDER BY i.position",
                params,
            )
            return took, [row[0] for row in cursor.fetchall()]
    finally:
        conn.rollback()
        conn.close()


def bare_claim_loop(user_id: int, day: date, count: int, pause_ms: int, barrier: Any, out: Any) -> None:
    conn = bare_connect()
    rng = random.Random(user_id)
    results = []
    barrier.wait()
    with conn.cursor() as cursor:
        for _ in range(count):
            if pause_ms:
                time.sleep(rng.uniform(0, 2 * pause_ms) / 1000)
            started = time.perf_counter()
            cursor.execute(BARE_CLAIM, {"team": TEAM, "day": day, "user": user_id})
            row = cursor.fetchone()
            conn.commit()
            elapsed = time.perf_counter() - started
            if row is None:
                break
            results.append((str(row[0]), elapsed))
    conn.close()
    out.put((f"bare {user_id}", results))


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(p / 100 * (len(ordered) - 1))))]


def next_day(last: date | None) -> date:
    """The day a new build is for: the day after the last one built (from 2100, clear of real days)."""
    return max(last + timedelta(days=1), date(2100, 1, 1)) if last else date(2100, 1, 1)


class _RollBack(Exception):
    pass


def time_rolled_back_builds(runs: int, last: date | None) -> None:
    """Time `runs` builds of the day after `last`, each in a transaction that is then rolled back.

    The deferred triggers a COMMIT would fire (the audit chain's links) are fired inside the timed
    part (SET CONSTRAINTS ALL IMMEDIATE), so a build costs here what it costs committed."""
    day = next_day(last)
    on_file = WorklistItem.objects.count()
    for run in range(1, runs + 1):
        started = time.perf_counter()
        try:
            with transaction.atomic():
                counts = worklists_build(day=day)
                with connection.cursor() as cursor:
                    cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")
                took = time.perf_counter() - started
                raise _RollBack
        except _RollBack:
            pass
        print(
            f"build {run} for {day} (rolled back): {took:.2f} s, {counts['items_created']} items; "
            f"{on_file:,} items on file"
        )


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--cases", type=int, default=100_000)
    parser.add_argument("--workers", type=int, default=8)
    parser.add_argument("--claims-per-worker", type=int, default=500)
    parser.add_argument("--mode", choices=["processes", "threads"], default="processes")
    parser.add_argument(
        "--pause-ms",
        type=int,
        default=0,
        help="mean pause between a coordinator's claims (0: claim back to back, the worst case)",
    )
    parser.add_argument("--skip-build", action="store_true", help="claim from the last list built")
    parser.add_argument(
        "--bare-first", action="store_true", help="run the bare SQL claims before FamilyLink's, not after"
    )
    parser.add_argument(
        "--rolled-back-builds",
        type=int,
        default=0,
        metavar="N",
        help="only time N builds of the next day, each rolled back (the table does not grow between "
        "them: for comparing two versions of the code on the same data), with the items on file",
    )
    args = parser.parse_args()

    db = connection.settings_dict["NAME"]
    if db.startswith("test_"):
        sys.exit(f"Refusing to run on test database {db}.")
    ensure_all()
    agent, supervisor, coordinators = users()
    coordinators = coordinators[: args.workers]
    existing = ReunificationCase.objects.filter(team=TEAM, status__in=["open", "in_progress"]).count()
    print(f"database {db}; open cases of {TEAM}: {existing}")
    if existing < args.cases:
        started = time.perf_counter()
        generate(args.cases - existing, agent, supervisor)
        took = time.perf_counter() - started
        print(f"generated {args.cases - existing} open cases (with history) in {took:.1f} s")
        # As the owner: PostgreSQL skips an ANALYZE of tables the app role does not own (with a
        # mere warning), and the planner would then plan the build for the few rows of the demo.
        from familylink.common.db_roles import connected_as

        with connected_as("owner"), connection.cursor() as cursor:
            cursor.execute("ANALYZE")
    open_cases = ReunificationCase.objects.filter(team=TEAM, status__in=["open", "in_progress"]).count()

    last = Worklist.objects.filter(team=TEAM).order_by("-date").values_list("date", flat=True).first()
    if args.rolled_back_builds:
        time_rolled_back_builds(args.rolled_back_builds, last)
        return
    if args.skip_build and last:
        run_claim_phase(args, coordinators, last)
        return
    day = next_day(last)
    started = time.perf_counter()
    counts = worklists_build(day=day)
    build_s = time.perf_counter() - started
    items = WorklistItem.objects.filter(worklist__team=TEAM, worklist__date=day).count()
    history = WorklistItem.history.filter(
        worklist_id__in=Worklist.objects.filter(team=TEAM, date=day)
    ).count()
    started = time.perf_counter()
    again = worklists_build(day=day)
    rebuild_s = time.perf_counter() - started
    bare_s, bare_cases = bare_build(day)
    listed = [
        str(c)
        for c in WorklistItem.objects.filter(worklist__team=TEAM, worklist__date=day)
        .order_by("position")
        .values_list("case_id", flat=True)
    ]
    print(
        f"build for {day}: {build_s:.2f} s, {counts['items_created']} items in all teams, {items} on {TEAM} "
        f"({open_cases} open cases), {history} history rows"
    )
    print(
        f"build, bare SQL (one INSERT … SELECT of {TEAM}'s list, no history, rolled back): {bare_s:.2f} s, "
        f"{len(bare_cases)} items; FamilyLink / bare = {build_s / bare_s:.2f}; "
        f"same cases in the same order: {'yes' if bare_cases == listed else 'NO'}"
    )
    print(f"same-day re-run: {rebuild_s:.2f} s, items added {again['items_created']}")
    run_claim_phase(args, coordinators, day)


def run_claim_phase(args: argparse.Namespace, coordinators: list[User], day: date) -> None:
    waiting = WorklistItem.objects.filter(
        worklist__team=TEAM, worklist__date=day, claimed_by__isnull=True, completed_at__isnull=True
    ).count()
    print(f"claiming from the list of {day}: {waiting} items waiting")

    def bare_phase() -> list[float]:
        started = time.perf_counter()
        bare = run_claims(
            coordinators, day, args.claims_per_worker, args.mode, args.pause_ms, loop=bare_claim_loop
        )
        wall = time.perf_counter() - started
        bare_ms = [lat * 1000 for _, rs in bare for _, lat in rs]
        claimed = [pk for _, rs in bare for pk, _ in rs]
        if bare_ms:
            print(
                f"claim-next, bare SQL, {len(coordinators)} concurrent: {len(claimed)} claims "
                f"in {wall:.1f} s ({len(claimed) / wall:.0f}/s); latency ms p50 "
                f"{statistics.median(bare_ms):.1f}, p95 {percentile(bare_ms, 95):.1f}, "
                f"p99 {percentile(bare_ms, 99):.1f}, max {max(bare_ms):.1f}; "
                f"handed out twice {len(claimed) - len(set(claimed))}"
            )
        else:
            print("claim-next, bare SQL: no item left to claim")
        return bare_ms

    # The same claims in bare SQL, from the same list, right after (or before: --bare-first).
    bare_ms = bare_phase() if args.bare_first else []
    started = time.perf_counter()
    results = run_claims(coordinators, day, args.claims_per_worker, args.mode, args.pause_ms)
    wall = time.perf_counter() - started
    latencies = [lat for _, rs in results for _, lat in rs]
    claimed = [pk for _, rs in results for pk, _ in rs]
    handed_twice = len(claimed) - len(set(claimed))
    recorded = Counter(
        WorklistItem.history.filter(id__in=set(claimed), history_change_reason="claimed (next)").values_list(
            "id", flat=True
        )
    )
    claimed_twice_in_db = sum(1 for n in recorded.values() if n > 1)
    ms = [x * 1000 for x in latencies]
    print(
        f"claim-next, {len(coordinators)} concurrent coordinators ({args.mode}, pause {args.pause_ms} ms): "
        f"{len(claimed)} claims in "
        f"{wall:.1f} s ({len(claimed) / wall:.0f}/s); latency ms p50 {statistics.median(ms):.1f}, "
        f"p95 {percentile(ms, 95):.1f}, p99 {percentile(ms, 99):.1f}, max {max(ms):.1f}"
    )
    print(f"double claims: {handed_twice} handed out twice, {claimed_twice_in_db} items with two claim rows")
    if not args.bare_first:
        bare_ms = bare_phase()
    if bare_ms:
        print(
            f"claim-next p95, FamilyLink / bare = {percentile(ms, 95) / percentile(bare_ms, 95):.2f} "
            f"(p50 {statistics.median(ms) / statistics.median(bare_ms):.2f})"
        )


if __name__ == "__main__":
    main()
