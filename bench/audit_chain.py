"""Cost of `verify_audit_chain`, beside the bare SQL that reads and hashes the same rows; with
`--append N`, the cost of appending links at commit instead.

    DATABASE_URL=postgres://familylink_app@127.0.0.1:5432/<db> .venv/bin/python bench/audit_chain.py
    DATABASE_URL=... .venv/bin/python bench/audit_chain.py --append 20000 [--runs 3] [--small 500]

Runs against the database of DATABASE_URL (never the test database). For every chained table it
times FamilyLink's full verification (stream every link joined to its row, re-hash the row in
PostgreSQL, recompute the chain in Python, then look for rows with no link) and, on the same data,
the bare SQL floor: one statement per table that joins links to rows and counts row hashes that
differ (the part of the answer plain SQL can give; the chain fold itself is sequential). Prints rows,
seconds, rows per second and the ratio, so the cost can be read per million rows.

`--append N` writes N access-log rows in one INSERT, as the app role (rows marked action "bench";
they stay, as every write does), and times the statement (the rows: the bare SQL) and the COMMIT,
where the chain's deferred trigger appends their N links, on the row path and on the batch path
(`audit.chain.batch_links`, runs alternated); then `--small K` transactions of two
one-row INSERTs; then the per-row cost of each hash form (the row's text; its JSON, as links
written before migration 0006 of audit) over N rows. Medians of `--runs`.
"""

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "familylink.settings.base")

import django  # noqa: E402

django.setup()

from django.db import connection, transaction  # noqa: E402

from audit import chain  # noqa: E402


def bare_sql(table: str, pk: str) -> tuple[int, int]:
    qn = connection.ops.quote_name
    with transaction.atomic(), connection.cursor() as cursor:
        chain.set_canonical(cursor)
        cursor.execute(
            f"""
            SELECT count(*), count(*) FILTER (
                WHERE t.{qn(pk)} IS NULL
                   OR CASE l.form WHEN 'row' THEN encode(sha256(convert_to(t::text, 'UTF8')), 'hex')
                      ELSE encode(sha256(convert_to(to_jsonb(t)::text, 'UTF8')), 'hex') END <> l.row_hash)
            FROM audit_chainlink l LEFT JOIN {qn(table)} t ON t.{qn(pk)}::text = l.row_pk
            WHERE l.table_name = %s
            """,  # noqa: S608 - table names from the model registry
            [table],
        )
        rows, bad = cursor.fetchone()
    return rows, bad


TABLE = "audit_accesslog"
# N access-log rows marked as this bench's (action "bench"), copies of the newest one without its user
# keys (so no foreign-key check runs at commit beside the links); parameter: N.
COPIES = (
    f"INSERT INTO {TABLE} SELECT r.* FROM generate_series(1, %s) g "
    f"CROSS JOIN (SELECT * FROM {TABLE} ORDER BY created_at DESC LIMIT 1) a "
    f"CROSS JOIN LATERAL jsonb_populate_record(NULL::{TABLE}, to_jsonb(a) || jsonb_build_object("
    "'id', gen_random_uuid(), 'action', 'bench', 'path', 'bench/audit_chain.py --append', "
    "'user_id', NULL, 'created_by_id', NULL, 'withdrawn_by_id', NULL, 'version', g)) r"
)


def _timed(rows: int, statements: int = 1, batch: bool = False) -> tuple[float, float]:
    """One transaction of `statements` INSERTs of `rows` rows each: (the statements, the commit).
    The chain links them at commit (its deferred trigger), so the commit is the links' cost; on
    the batch path (`batch`) the statement also hashes and stages its rows."""
    with connection.cursor() as cursor:
        cursor.execute("BEGIN")
        if batch:
            chain.batch_links(cursor)
        started = time.perf_counter()
        for _ in range(statements):
            cursor.execute(COPIES, [rows])
        inserted = time.perf_counter()
        cursor.execute("COMMIT")
        return inserted - started, time.perf_counter() - inserted


def _hash_cost(rows: int, form: str) -> float:
    expr = "t::text" if form == "row" else "to_jsonb(t)::text"
    with transaction.atomic(), connection.cursor() as cursor:
        chain.set_canonical(cursor)
        started = time.perf_counter()
        cursor.execute(
            f"SELECT sum(length(encode(sha256(convert_to({expr}, 'UTF8')), 'hex'))) "  # noqa: S608 - constants
            f"FROM (SELECT * FROM {TABLE} LIMIT %s) t",
            [rows],
        )
        cursor.fetchone()
        return time.perf_counter() - started


def append(rows: int, runs: int, small: int) -> None:
    connection.ensure_connection()
    connection.connection.autocommit = True
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT count(*) FROM {TABLE}")  # noqa: S608 - constant
        on_file = cursor.fetchone()[0]
        if not on_file:
            sys.exit(f"{TABLE} is empty: seed the database first (seed_demo writes access-log rows)")
        cursor.execute(f"SELECT form, count(*) FROM audit_chainlink WHERE table_name = '{TABLE}' GROUP BY 1")  # noqa: S608
        forms = dict(cursor.fetchall())
    print(f"database {connection.settings_dict['NAME']}: {on_file:,} rows in {TABLE}, links by form {forms}")
    # Alternated, so both paths see the same machine.
    timings: dict[bool, list[tuple[float, float]]] = {False: [], True: []}
    for _ in range(runs):
        for batch in (False, True):
            timings[batch].append(_timed(rows, batch=batch))
    bare = statistics.median(t[0] for t in timings[False])
    for batch, label in ((False, "row path (one trigger call a row)"), (True, "batch path (batch_links)")):
        ins = statistics.median(t[0] for t in timings[batch])
        com = statistics.median(t[1] for t in timings[batch])
        links = ins - bare + com  # the batch path hashes and stages in the statement
        print(
            f"one INSERT of {rows:,} rows, {label}: the statement {ins:.2f} s, the commit {com:.2f} s; "
            f"the links (beyond the bare statement, {bare:.2f} s: the rows, no links yet) "
            f"{links:.2f} s = {links / rows * 1e6:.1f} µs per row; "
            f"FamilyLink / bare = {(ins + com) / bare:.2f}x"
        )
    if small:
        few = [_timed(1, 2) for _ in range(small)]
        ins, com = statistics.median(f[0] for f in few), statistics.median(f[1] for f in few)
        print(
            f"{small} transactions of two one-row INSERTs (a claim's shape): "
            f"the statements {ins * 1000:.3f} ms, "
            f"the commit (two links and the WAL flush) {com * 1000:.3f} ms (medians)"
        )
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT count(*) FROM {TABLE}")  # noqa: S608 - constant
        sample = min(rows, cursor.fetchone()[0])
    text = statistics.median(_hash_cost(sample, "row") for _ in range(runs))
    js = statistics.median(_hash_cost(sample, "jsonb") for _ in range(runs))
    print(
        f"hashing {sample:,} rows: their text (form 'row') {text / sample * 1e6:.1f} µs per row, "
        f"their JSON (form 'jsonb', links before audit migration 0006) {js / sample * 1e6:.1f} µs per row"
    )


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--append", type=int, default=0, help="time appending links for N rows instead")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--small", type=int, default=500)
    args = parser.parse_args()
    if args.append:
        append(args.append, args.runs, args.small)
        return
    tables = chain.chained_tables()
    with connection.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM apprehensions_person")
        persons = cursor.fetchone()[0]
    print(f"database {connection.settings_dict['NAME']}: {persons:,} persons, {len(tables)} chained tables")

    started = time.perf_counter()
    reports = chain.verify()
    ours = time.perf_counter() - started
    rows = sum(r.count for r in reports)
    problems = [p for r in reports for p in r.problems]

    started = time.perf_counter()
    bare_rows = bare_bad = 0
    for table, pk in tables.items():
        n, bad = bare_sql(table, pk)
        bare_rows += n
        bare_bad += bad
    bare = time.perf_counter() - started

    per_million = ours / rows * 1_000_000 if rows else 0.0
    print(
        f"FamilyLink verify_audit_chain: {rows:,} rows in {ours:.2f} s "
        f"({rows / max(ours, 1e-9):,.0f} rows/s, "
        f"{per_million:.1f} s per million rows); problems: {len(problems)}"
    )
    print(
        f"bare SQL (join + re-hash, no chain fold): {bare_rows:,} rows in {bare:.2f} s; "
        f"mismatches: {bare_bad}"
    )
    print(f"ratio FamilyLink / bare SQL: {ours / max(bare, 1e-9):.2f}x")
    for problem in problems[:5]:
        print(f"  BROKEN: {problem}")


if __name__ == "__main__":
    main()
