"""Import a generated field spreadsheet of N rows (default 10,000) with `import_legacy`'s service and
print the time, beside a bare-SQL COPY of the same rows into a staging table.

    .venv/bin/python bench/legacy_import.py --rows 10000              # against DATABASE_URL
    .venv/bin/python bench/legacy_import.py --rows 10000 --keep-csv /tmp/sheet.csv
    .venv/bin/python bench/legacy_import.py --rows 10000 --breakdown [--statements 25]

The sheet looks like the field offices' (LEGACY-SHEETS.md): one row per adult–child pair, an adult
on several rows, headers and cells in the sheets' spellings (A-numbers with and without dashes and
the A, dates as MM/DD/YYYY, YYYY-MM-DD, 1-Jun-18 and Excel serials, estimated birth years,
hand-typed reasons and relationships, rows with no separation, ~2% broken rows). Each run uses
new names and A-numbers (a run seed), so it imports new persons rather than re-linking the last
run's. The rows are real writes; they stay in the database (nothing is ever deleted).

The COPY figure is the floor for "getting the bytes into PostgreSQL": it loads the same rows as
text into a temporary table and checks nothing, matches no one, writes no history and opens no
reunification case — it is not an equivalent import, only the cost of moving the data.
"""

import argparse
import csv
import io
import os
import random
import sys
import time
from datetime import date, timedelta
from pathlib import Path

HEADERS = [
    "Apprehension Date",
    "Station",
    "Parent Name",
    "A#",
    "DOB",
    "Gender",
    "Minor Name",
    "UAC A#",
    "Date of Birth",
    "Sex",
    "Country",
    "Relationship",
    "Sep Date",
    "Sep Reason",
    "Parent Custody",
    "ORR Shelter",
    "Comments",
    "Agent",
]
GIVEN_F = [
    "Maria Jose",
    "Ana",
    "Rosa",
    "Luz",
    "Carmen",
    "Marta",
    "Elena",
    "Sandra",
    "Yesenia",
    "Gloria",
    "Dilcia",
    "Brenda",
    "Iris",
    "Karla",
    "Lesly",
    "Norma",
    "Olga",
    "Paola",
    "Reina",
    "Sonia",
]
GIVEN_M = [
    "Jose Luis",
    "Juan",
    "Carlos",
    "Pedro",
    "Mario",
    "Raul",
    "Hector",
    "Oscar",
    "Edgar",
    "Wilmer",
    "Byron",
    "Elmer",
    "Fredy",
    "Javier",
    "Kevin",
    "Milton",
    "Nelson",
    "Ronal",
    "Selvin",
    "Walter",
]
SURNAMES = [
    "Perez",
    "Lopez",
    "Hernandez",
    "Garcia",
    "Martinez",
    "Gonzalez",
    "Rodriguez",
    "Ramirez",
    "Cruz",
    "Flores",
    "Morales",
    "Reyes",
    "Ortiz",
    "Vasquez",
    "Castillo",
    "Mejia",
    "Chavez",
    "Diaz",
    "Ramos",
    "Aguilar",
    "Mendoza",
    "Juarez",
    "Pineda",
    "Orellana",
    "Cabrera",
    "Velasquez",
    "Escobar",
    "Tzul",
    "Xol",
    "Cac",
    "Pop",
    "Coc",
    "Chub",
    "Ical",
    "Maquin",
    "Caal",
    "Choc",
    "Yat",
    "Tiul",
    "Bol",
]
REASONS = [
    "ZT",
    "Zero Tolerance",
    "1325 prosecution",
    "Crim Hist",
    "criminal history",
    "Other - parent hospitalized",
    "",
    "prior removal",
]
RELATIONSHIPS = ["Mother", "Father", "mom", "Parent", "Aunt", "Grandmother", "Legal guardian", ""]
COUNTRIES = ["GT", "Guatemala", "HN", "Honduras", "SV", "El Salvador", "MX"]
_EXCEL_EPOCH = date(1899, 12, 30)


def _date(d: date, rng: random.Random) -> str:
    style = rng.randrange(4)
    if style == 0:
        return f"{d.month:02d}/{d.day:02d}/{d.year}"
    if style == 1:
        return d.isoformat()
    if style == 2:
        return f"{d.day}-{d.strftime('%b')}-{d.strftime('%y')}"
    return str((d - _EXCEL_EPOCH).days)


def _a_number(n: int, rng: random.Random) -> str:
    digits = f"{n:09d}"
    style = rng.randrange(3)
    return (
        f"A{digits}" if style == 0 else digits if style == 1 else f"A-{digits[:3]}-{digits[3:6]}-{digits[6:]}"
    )


def generate_rows(
    n: int, *, seed: int = 1, start: date = date(2018, 5, 5), broken: float = 0.02
) -> list[list[str]]:
    """`n` sheet rows (lists of cells, in HEADERS order), reproducible for a seed; unique people per seed."""
    rng = random.Random(seed)
    base = 100_000_000 + (seed % 8_000) * 100_000
    rows: list[list[str]] = []
    person = 0
    while len(rows) < n:
        person += 1
        mother = rng.random() < 0.7
        given = rng.choice(GIVEN_F if mother else GIVEN_M)
        s1, s2 = rng.choice(SURNAMES), rng.choice(SURNAMES)
        # A unique made-up extra given name keeps generated people apart (real data has namesakes;
        # the tests cover those).
        tag = "".join(chr(97 + (person * 7 + seed * 13 + k * 5) % 26) for k in range(6)).capitalize()
        adult_dob = date(1962, 1, 1) + timedelta(days=rng.randrange(9000))
        adult_a = _a_number(base + person * 5, rng) if rng.random() < 0.8 else ""
        appr = start + timedelta(days=rng.randrange(45))
        for k in range(rng.choice([1, 1, 2, 3])):
            if len(rows) >= n:
                break
            child_given = rng.choice(GIVEN_F + GIVEN_M)
            child_dob = appr - timedelta(days=rng.randrange(365, 17 * 365))
            child_a = _a_number(base + person * 5 + 1 + k, rng) if rng.random() < 0.6 else ""
            separated = rng.random() < 0.88
            adult_name = (
                f"{s1.upper()} {s2.upper()}, {given} {tag}"
                if rng.random() < 0.5
                else f"{given} {tag} {s1} {s2}"
            )
            child_name = f"{child_given} {tag}{chr(97 + k)} {s1} {rng.choice(SURNAMES)}"
            child_dob_text = f"~{child_dob.year}" if rng.random() < 0.05 else _date(child_dob, rng)
            row = [
                _date(appr, rng),
                rng.choice(["EPT", "ept", "El Paso"]),
                adult_name,
                adult_a,
                _date(adult_dob, rng),
                "F" if mother else "M",
                child_name,
                child_a,
                child_dob_text,
                rng.choice(["F", "M"]),
                rng.choice(COUNTRIES),
                rng.choice(RELATIONSHIPS),
                _date(appr, rng) if separated else "",
                rng.choice(REASONS) if separated else "",
                rng.choice(["ICE", "USMS", "ICE Otero County Processing Center", ""]),
                rng.choice(["Southwest Key Casa Padre", "BCFS Harlingen", ""]),
                "",
                rng.choice(["JB", "RT", ""]),
            ]
            if rng.random() < broken:
                row[8] = "02/30/2012"  # an impossible date of birth: quarantined
            rows.append(row)
    return rows


def as_csv(rows: list[list[str]]) -> bytes:
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(HEADERS)
    writer.writerows(rows)
    return out.getvalue().encode()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rows", type=int, default=10_000)
    parser.add_argument("--seed", type=int, default=int(time.time()) % 100_000)
    parser.add_argument("--keep-csv", default="")
    parser.add_argument(
        "--breakdown", action="store_true", help="also time the import's SQL statements and COMMITs"
    )
    parser.add_argument(
        "--statements",
        type=int,
        default=0,
        metavar="N",
        help="with --breakdown: also list the N statement shapes (first 70 characters) that took longest",
    )
    args = parser.parse_args()

    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "familylink.settings.base")
    os.environ["DEBUG"] = "false"
    os.environ.setdefault("SECRET_KEY", "bench-only-secret-key-not-used-anywhere-else-0123456789")
    import django

    django.setup()
    from django.db import connection

    from apprehensions.demo import ensure_stations
    from apprehensions.models import Person
    from legacy.services import import_file, system_user

    ensure_stations()
    rows = generate_rows(args.rows, seed=args.seed)
    content = as_csv(rows)
    if args.keep_csv:
        Path(args.keep_csv).write_bytes(content)
    persons_before = Person.objects.count()

    started = time.perf_counter()
    with connection.cursor() as cursor:
        cursor.execute(
            "CREATE TEMP TABLE bench_sheet (" + ", ".join(f"c{i} text" for i in range(len(HEADERS))) + ")"
        )
        cursor.cursor.copy_expert(
            "COPY bench_sheet FROM STDIN WITH (FORMAT csv, HEADER true)", io.BytesIO(content)
        )
        cursor.execute("SELECT count(*) FROM bench_sheet")
        copied = cursor.fetchone()[0]
        cursor.execute("DROP TABLE bench_sheet")
    copy_seconds = time.perf_counter() - started

    by = system_user()
    spent = {"sql": 0.0, "statements": 0, "commit": 0.0, "commits": 0}
    by_shape: dict[str, list[float]] = {}  # statement head -> [seconds, count]

    def timed_sql(execute, sql, params, many, context):  # type: ignore[no-untyped-def]
        t = time.perf_counter()
        try:
            return execute(sql, params, many, context)
        finally:
            took = time.perf_counter() - t
            spent["sql"] += took
            spent["statements"] += 1
            shape = by_shape.setdefault(" ".join(sql.split())[:70], [0.0, 0])
            shape[0] += took
            shape[1] += 1

    def timed_commit(real=connection._commit):  # type: ignore[no-untyped-def]
        # COMMIT runs the deferred triggers (audit chain, outbox): timed apart from the statements.
        t = time.perf_counter()
        try:
            return real()
        finally:
            spent["commit"] += time.perf_counter() - t
            spent["commits"] += 1

    started = time.perf_counter()
    if args.breakdown:
        connection._commit = timed_commit
        with connection.execute_wrapper(timed_sql):
            batch = import_file(content=content, filename=f"bench-{args.rows}.csv", by=by)
        del connection._commit
    else:
        batch = import_file(content=content, filename=f"bench-{args.rows}.csv", by=by)
    seconds = time.perf_counter() - started

    print(f"database: {connection.settings_dict['NAME']}, persons before: {persons_before:,}")
    print(f"sheet: {args.rows:,} rows (seed {args.seed}), {len(content) / 1e6:.1f} MB CSV")
    print(
        f"FamilyLink import_legacy: {seconds:.1f} s ({args.rows / seconds:,.0f} rows/s) - rows read "
        f"{batch.rows_total:,} = imported {batch.rows_imported:,} + quarantined {batch.rows_quarantined:,}; "
        f"persons created {Person.objects.count() - persons_before:,}"
    )
    if args.breakdown:
        print(
            f"  of which SQL statements {spent['sql']:.1f} s ({spent['statements']:,}), COMMIT "
            f"{spent['commit']:.1f} s ({spent['commits']:,}), the rest (Python) "
            f"{seconds - spent['sql'] - spent['commit']:.1f} s"
        )
        for head, (took, count) in sorted(by_shape.items(), key=lambda kv: -kv[1][0])[: args.statements]:
            print(f"  {took:7.2f} s {count:6,}  {head}")
    print(f"bare SQL COPY of the same rows into a staging table: {copy_seconds:.2f} s ({copied:,} rows)")


if __name__ == "__main__":
    main()
