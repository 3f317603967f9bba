"""Cost of `verify_audit_chain`, beside the bare SQL that reads and hashes the same rows.

    DATABASE_URL=postgres://familylink_app@127.0.0.1:5432/<db> .venv/bin/python bench/audit_chain.py

Runs against the database of DATABASE_URL (never the test database). For every chained table it
times FamilyLink's full verification (stream every link joined to its row, re-hash the row in
PostgreSQL, recompute the chain in Python, then look for rows with no link) and, on the same data,
the bare SQL floor: one statement per table that joins links to rows and counts row hashes that
differ (the part of the answer plain SQL can give; the chain fold itself is sequential). Prints rows,
seconds, rows per second and the ratio, so the cost can be read per million rows.
"""

import os
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
        cursor.execute("SET LOCAL TimeZone = 'UTC'")
        cursor.execute("SET LOCAL extra_float_digits = 1")
        cursor.execute(
            f"""
            SELECT count(*), count(*) FILTER (
                WHERE t.{qn(pk)} IS NULL
                   OR encode(sha256(convert_to(to_jsonb(t)::text, 'UTF8')), 'hex') <> l.row_hash)
            FROM audit_chainlink l LEFT JOIN {qn(table)} t ON t.{qn(pk)}::text = l.row_pk
            WHERE l.table_name = %s
            """,  # noqa: S608 - table names from the model registry
            [table],
        )
        rows, bad = cursor.fetchone()
    return rows, bad


def main() -> None:
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
