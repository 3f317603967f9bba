"""Link discovery at scale: the full pass beside the bare SQL blocking query, and the incremental
pass an intake adds.

    # a copy of the 1M-person scenario (never the shared one), migrated:
    createdb -h 127.0.0.1 -U postgres -T familylink_bench1m linkage_1m
    DATABASE_URL=postgres://postgres@127.0.0.1:5432/linkage_1m .venv/bin/python manage.py migrate
    DATABASE_URL=... .venv/bin/python bench/linkage_scale.py discovery
    DATABASE_URL=... .venv/bin/python bench/linkage_scale.py intake --requests 200
    DATABASE_URL=... .venv/bin/python bench/linkage_scale.py blocks         # pairs block by block
    # on the database bench/linkage/quality.py --persons 20000 --seed 1 wrote: true duplicates too
    DATABASE_URL=... .venv/bin/python bench/linkage_scale.py blocks --labelled 20000 1
    DATABASE_URL=... .venv/bin/python bench/linkage_scale.py calibration 20000 1   # score bands

`discovery` runs `discover_links(persist=False)` (with --persist: as the nightly job, filing the
candidates) over every person (FamilyLink: blocking in SQL,
scoring in Python, the co-encounter check) and then the bare SQL that builds the same blocked
pairs (the same query: each block's window of `discovery.WINDOW` neighbours) and counts them (no
scoring): the floor any implementation of these blocks pays.
`blocks` prints, for each block, how many blocks pair anyone, their records, the largest, the
pairs with and without the window and the windowed pairs per person: run at two scales, it shows
where the pairs grow. `intake` posts families through `POST /api/v1/apprehensions/` (as
bench/intake.py), alternating LINKAGE_INCREMENTAL=off and inline, and prints both latencies and
the pass's own time. The intakes are real writes (bench user `bench_intake_agent`, station EPT).
"""

import argparse
import os
import random
import statistics
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "familylink.settings.base")
os.environ["DEBUG"] = "false"
os.environ.setdefault("SECRET_KEY", "bench-only-secret-key-not-used-anywhere-else-0123456789")
os.environ.setdefault("ALLOWED_HOSTS", "testserver")
os.environ.setdefault("SECURE_SSL_REDIRECT", "false")

import django  # noqa: E402

django.setup()

from django.db import connection, transaction  # noqa: E402
from django.test import override_settings  # noqa: E402

from apprehensions.linkage import discovery  # noqa: E402
from apprehensions.models import Person  # noqa: E402


def _header() -> None:
    with connection.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM apprehensions_person")
        persons = cursor.fetchone()[0]
    print(
        f"database: {connection.settings_dict['NAME']}  persons: {persons:,}  cpus: {os.cpu_count()}  "
        f"load: {tuple(round(x, 1) for x in os.getloadavg())}"
    )


@contextmanager
def _keys_table() -> Iterator[Any]:
    """A cursor in a transaction with the full pass's settings and its keys table, lk_keys."""
    with transaction.atomic(), connection.cursor() as cursor:
        discovery.full_pass_settings(cursor)
        cursor.execute(f"CREATE TEMP TABLE lk_keys AS {discovery._KEYS_FULL}")  # noqa: S608
        cursor.execute("ANALYZE lk_keys")
        yield cursor
        cursor.execute("DROP TABLE lk_keys")


def bench_discovery(persist: bool) -> None:
    _header()
    result = discovery.discover_links(persist=persist)
    print(
        f"FamilyLink discover_links(persist={persist}) (full pass): {result.seconds:.1f} s  "
        f"filed: {result.created}  "
        f"pairs scored: {result.pairs_scored}  proposed: {result.by_kind()}"
    )
    print("  phases (s): " + ", ".join(f"{k} {v:.1f}" for k, v in result.timings.items()))
    print(f"  window: {discovery.WINDOW} neighbours per record and block")
    started = time.monotonic()
    with _keys_table() as cursor:
        cursor.execute(f"SELECT count(*) FROM ({discovery.full_pass_pairs_sql()}) pairs")  # noqa: S608
        pairs = cursor.fetchone()[0]
    print(
        f"bare SQL, same blocks (keys + pairs, no scoring): {time.monotonic() - started:.1f} s  "
        f"pairs: {pairs:,}"
    )


def _block_label(block: "discovery._Block") -> str:
    def keys(side: tuple[str, ...]) -> str:
        return "+".join(k.format(t="").lstrip(".") for k in side)

    label = keys(block.left) + (f" ~ {keys(block.right)}" if block.right else "")
    return label + (" (one estimated)" if block.estimated else "")


def bench_blocks(labelled: tuple[int, int] | None) -> None:
    """Each block's share of the full pass's pairs, with and without the window: which blocks the
    pairs grow in from one scale to the next (run it at two scales and compare). With `labelled`
    (persons, seed of bench/linkage's generator, on the database its quality bench wrote), also the
    true duplicate pairs each block holds, and those no other block holds (what dropping it loses)."""
    _header()
    truth: set[tuple[str, str]] = set()
    if labelled:
        from bench.linkage.generator import generate

        dataset = generate(persons=labelled[0], seed=labelled[1])
        truth = {(a, b) for a, b in (sorted(map(str, pair)) for pair in dataset.truth.duplicate_pairs())}
    held: dict[tuple[str, str], int] = {}
    found: list[set[tuple[str, str]]] = []
    with _keys_table() as cursor:
        cursor.execute("SELECT count(*) FROM lk_keys")
        records = cursor.fetchone()[0] or 1
        print(
            f"window: {discovery.WINDOW} neighbours per record and block; 'records': in blocks that pair "
            "anyone (a two-sided block counts a record once per side); "
            "'per record': 2 × windowed pairs / persons"
        )
        columns = (
            ("blocks", 9),
            ("records", 9),
            ("largest", 7),
            ("pairs", 11),
            ("windowed", 11),
            ("per record", 10),
        ) + ((("true", 6),) if labelled else ())
        print(f"{'block':58} " + " ".join(f"{name:>{width}}" for name, width in columns))
        for block in discovery._BLOCKS:
            rows, keys, blocks = discovery._block_sql(block)
            cursor.execute(
                f"SELECT count(*), coalesce(sum(n), 0), coalesce(max(n), 0) FROM ("  # noqa: S608
                f"SELECT count(*) AS n FROM ({rows}) k JOIN ({blocks}) b USING ({keys}) GROUP BY {keys}) s"
            )
            count, in_blocks, largest = cursor.fetchone()
            pairs = []
            for window in (1_000_000, discovery.WINDOW):
                windowed = discovery._window_pairs_sql(block, window)
                from_pairs = (
                    f"FROM (SELECT DISTINCT a, b FROM ({windowed}) p) p "  # noqa: S608
                    "JOIN lk_keys x ON x.id = p.a WHERE x.g <> '' AND x.s1 <> ''"
                )
                cursor.execute(f"SELECT count(*) {from_pairs}")  # noqa: S608
                pairs.append(cursor.fetchone()[0])
            true = ""
            if labelled:
                cursor.execute(f"SELECT p.a::text, p.b::text {from_pairs}")  # noqa: S608
                found.append({pair for pair in cursor.fetchall() if pair in truth})
                for pair in found[-1]:
                    held[pair] = held.get(pair, 0) + 1
                true = f" {len(found[-1]):>6,}"
            print(
                f"{_block_label(block):58} {count:>9,} {in_blocks:>9,} {largest:>7,} "
                f"{pairs[0]:>11,} {pairs[1]:>11,} {2 * pairs[1] / records:>10.3f}{true}"
            )
    if labelled:
        print(f"true duplicate pairs: {len(truth):,}, in some block (windowed): {len(held):,}")
        print("held by one block only (what dropping it would lose):")
        for block, true_pairs in zip(discovery._BLOCKS, found, strict=True):
            print(f"  {_block_label(block):58} {sum(1 for pair in true_pairs if held[pair] == 1):>6,}")


def bench_calibration(persons: int, seed: int) -> None:
    """How often each band of `duplicate_score` is right, on the labelled data in this database (the
    one bench/linkage/quality.py --persons P --seed S wrote): every blocked pair of the full pass
    scored without the cutoff. A band well above its score is a scorer too shy there."""
    from apprehensions.linkage import scoring
    from bench.linkage.generator import generate

    _header()
    dataset = generate(persons=persons, seed=seed)
    truth = {frozenset(map(str, pair)) for pair in dataset.truth.duplicate_pairs()}
    pairs, right = [0] * 10, [0] * 10
    n = discovery._N
    with transaction.atomic(), connection.cursor() as cursor:
        discovery.full_pass_settings(cursor)
        pairs_from, params = discovery._duplicate_pairs(cursor, None)
        freq = discovery.name_frequencies(cursor, from_keys=True)
        cursor.execute(
            f"SELECT {discovery._cols('pa')}, {discovery._cols('pb')}, "  # noqa: S608 - constants only
            "lk_pairs.ga, lk_pairs.s1a, lk_pairs.s2a, lk_pairs.gb, lk_pairs.s1b, lk_pairs.s2b "
            f"FROM {pairs_from} JOIN apprehensions_person pa ON pa.id = lk_pairs.a "
            "JOIN apprehensions_person pb ON pb.id = lk_pairs.b",
            params,
        )
        for row in cursor.fetchall():
            p = discovery._facts(row[:n], row[2 * n : 2 * n + 3])
            q = discovery._facts(row[n : 2 * n], row[2 * n + 3 : 2 * n + 6])
            band = min(int(scoring.duplicate_score(p, q, freq=freq).score * 10), 9)  # type: ignore[union-attr]
            pairs[band] += 1
            right[band] += frozenset((str(p.id), str(q.id))) in truth
        cursor.execute("DROP TABLE IF EXISTS lk_keys, lk_pairs")
    print(f"duplicate_score bands (prior log2 {freq.prior():.2f}; proposed from {discovery.PROPOSE_AT}):")
    for band in range(10):
        share = right[band] / pairs[band] if pairs[band] else 0.0
        print(
            f"  {band / 10:.1f}-{(band + 1) / 10:.1f}: pairs {pairs[band]:>9,}  "
            f"true duplicates {right[band]:>7,} ({share:.2f})"
        )


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    k = (len(ordered) - 1) * p / 100
    lo, hi = int(k), min(int(k) + 1, len(ordered) - 1)
    return ordered[lo] + (ordered[hi] - ordered[lo]) * (k - lo)


def bench_intake(requests: int, warmup: int) -> None:
    from rest_framework.authtoken.models import Token
    from rest_framework.test import APIClient

    from apprehensions.demo import ensure_stations
    from bench.intake import bench_user, family_payload

    _header()
    ensure_stations()
    client = APIClient()
    token, _ = Token.objects.get_or_create(user=bench_user())
    client.credentials(HTTP_AUTHORIZATION=f"Token {token.key}")
    rng = random.Random(time.time_ns())
    passes: list[float] = []
    real = discovery.discover_links

    def timed(**kwargs):  # type: ignore[no-untyped-def]
        started = time.perf_counter()
        result = real(**kwargs)
        passes.append((time.perf_counter() - started) * 1000)
        return result

    discovery.discover_links = timed  # the receiver imports it from the module at call time
    timings: dict[str, list[float]] = {"off": [], "inline": []}
    for i in range(2 * (warmup + requests)):
        mode = "inline" if i % 2 else "off"
        payload = family_payload(rng, rng.randint(4, 6))
        while Person.objects.filter(a_number__in=[p.get("a_number") for p in payload["persons"]]).exists():
            payload = family_payload(rng, 5)
        with override_settings(LINKAGE_INCREMENTAL=mode):
            started = time.perf_counter()
            response = client.post("/api/v1/apprehensions/", payload, format="json")
            elapsed = (time.perf_counter() - started) * 1000
        if response.status_code != 201:
            raise SystemExit(f"request {i} failed: {response.status_code} {response.content[:300]!r}")
        if i >= 2 * warmup:
            timings[mode].append(elapsed)
    passes = passes[warmup:]
    for mode, values in timings.items():
        print(
            f"POST /api/v1/apprehensions/ incremental pass {mode:6}: n={len(values)}  "
            f"p50={percentile(values, 50):.1f} ms  p95={percentile(values, 95):.1f} ms  "
            f"mean={statistics.mean(values):.1f} ms"
        )
    print(
        f"the incremental pass itself (discover_links(person_ids=...)): n={len(passes)}  "
        f"p50={percentile(passes, 50):.1f} ms  p95={percentile(passes, 95):.1f} ms  max={max(passes):.1f} ms"
    )
    print(
        "added to an intake at p95: "
        f"{percentile(timings['inline'], 95) - percentile(timings['off'], 95):.1f} ms  "
        f"load: {tuple(round(x, 1) for x in os.getloadavg())}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    sub = parser.add_subparsers(dest="what", required=True)
    disc = sub.add_parser("discovery")
    disc.add_argument("--persist", action="store_true", help="file the candidates (as the nightly job)")
    disc.add_argument(
        "--window", type=int, default=None, help="neighbours per record and block (default: discovery.WINDOW)"
    )
    blocks = sub.add_parser("blocks", help="each block's pairs, with and without the window")
    blocks.add_argument(
        "--labelled",
        nargs=2,
        type=int,
        metavar=("PERSONS", "SEED"),
        help="the quality bench's labelled data in this database: count its true duplicates per block",
    )
    calibration = sub.add_parser("calibration", help="how often each score band is right (labelled data)")
    calibration.add_argument("persons", type=int)
    calibration.add_argument("seed", type=int)
    intake = sub.add_parser("intake")
    intake.add_argument("--requests", type=int, default=200)
    intake.add_argument("--warmup", type=int, default=10)
    args = parser.parse_args()
    if args.what == "discovery":
        if args.window is not None:
            discovery.WINDOW = args.window
        bench_discovery(args.persist)
    elif args.what == "calibration":
        bench_calibration(args.persons, args.seed)
    elif args.what == "blocks":
        bench_blocks(tuple(args.labelled) if args.labelled else None)
    else:
        bench_intake(args.requests, args.warmup)


if __name__ == "__main__":
    main()
