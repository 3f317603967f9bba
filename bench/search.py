"""Person search: recall@20 and latency of FamilyLink's search beside a bare trigram query and
Django's `icontains`, on the same generated queries, in one run.

Queries are made from persons on file (a seeded sample): accents dropped, one or two typos
(a letter changed, dropped, added or two swapped, in a word of 4+ letters), and the surnames
swapped or the second one missing; each query is asked with the name alone and again with the
person's date of birth. A query is found when the person it was made from is in the first 20.

    DATABASE_URL=postgres://…/<copy of familylink_bench1m> .venv/bin/python bench/search.py [--queries 200]
"""

import argparse
import os
import random
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "familylink.settings.base")

import django  # noqa: E402

django.setup()

from django.db import connection  # noqa: E402

from apprehensions.models import Person  # noqa: E402
from apprehensions.selectors import person_search  # noqa: E402
from familylink.common.models import User  # noqa: E402
from familylink.common.text import fold  # noqa: E402

TOP = 20
LETTERS = "abcdefghijklmnopqrstuvwxyz"


def typo(word: str, rng: random.Random) -> str:
    i = rng.randrange(len(word))
    kind = rng.choice(["change", "drop", "add", "swap"])
    if kind == "change":
        return word[:i] + rng.choice(LETTERS.replace(word[i], "")) + word[i + 1 :]
    if kind == "drop":
        return word[:i] + word[i + 1 :]
    if kind == "add":
        return word[:i] + rng.choice(LETTERS) + word[i:]
    i = min(i, len(word) - 2)
    return word[:i] + word[i + 1] + word[i] + word[i + 2 :]


DAMAGES = ("1 typo", "2 typos", "surnames swapped", "second surname missing")


def make_query(person: dict[str, Any], rng: random.Random, mix: str) -> tuple[str, str]:
    """(query, what was done to it) from a person on file: accents always dropped; then, with
    `mix="one"`, one of DAMAGES; with `mix="all"`, one or two typos and the surnames swapped or
    the second one missing, together."""
    given = fold(person["given_names"]).split()
    first = fold(person["first_surname"]).split()
    second = fold(person["second_surname"]).split()
    if mix == "one":
        damage = rng.choice(DAMAGES)
        swap, drop = damage == "surnames swapped", damage == "second surname missing"
        typos = {"1 typo": 1, "2 typos": 2}.get(damage, 0)
    else:
        swap = rng.random() < 0.5
        drop, typos = not swap, rng.choice([1, 2])
    if swap and second:
        surnames, how = second + first, "surnames swapped"
    elif drop and second:
        surnames, how = first, "second surname missing"
    else:
        surnames, how = first + second, "surnames as on file"
    words = given + surnames
    person["clean_words"] = list(words)
    long_words = [i for i, w in enumerate(words) if len(w) >= 4] or list(range(len(words)))
    for _ in range(typos):
        i = rng.choice(long_words)  # two typos may fall in one word
        words[i] = typo(words[i], rng)
    return " ".join(words), f"{how}, {typos} typo{'s' if typos != 1 else ''}"


def sample_persons(n: int, seed: int) -> list[dict[str, Any]]:
    """A repeatable random sample of persons on file (TABLESAMPLE … REPEATABLE(seed))."""
    total = Person.objects.count()
    percent = min(100.0, 100.0 * n * 2 / max(total, 1))
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT id, given_names, first_surname, second_surname, date_of_birth FROM apprehensions_person "
            "TABLESAMPLE BERNOULLI (%s) REPEATABLE (%s) ORDER BY id LIMIT %s",
            [percent, seed, n],
        )
        rows = cursor.fetchall()
    return [
        {"id": pid, "given_names": given, "first_surname": first, "second_surname": second, "dob": dob}
        for pid, given, first, second, dob in rows
    ]


def familylink(analyst: User) -> Callable[[str, Any], list[Any]]:
    def run(q: str, dob: Any) -> list[Any]:
        rank = {"born": dob.isoformat()} if dob else {}
        return [p.pk for p in person_search(viewer=analyst, q=q, rank=rank)[:TOP]]

    return run


def bare_trigram(q: str, dob: Any) -> list[Any]:
    """pg_trgm's similarity operator (default threshold 0.3) on the trigram index, best first."""
    folded = fold(q)
    sql = "SELECT id FROM apprehensions_person WHERE name_normalized %% %s"
    params: list[Any] = [folded]
    if dob:
        sql += " AND date_of_birth = %s"
        params.append(dob)
    sql += " ORDER BY similarity(name_normalized, %s) DESC LIMIT %s"
    params += [folded, TOP]
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return [r[0] for r in cursor.fetchall()]


def icontains(q: str, dob: Any) -> list[Any]:
    """What a plain Django filter does: every word of the query `icontains` the name."""
    queryset = Person.objects.all()
    for word in fold(q).split():
        queryset = queryset.filter(name_normalized__icontains=word)
    if dob:
        queryset = queryset.filter(date_of_birth=dob)
    return list(
        queryset.order_by("first_surname", "second_surname", "given_names", "id").values_list(
            "id", flat=True
        )[:TOP]
    )


def name_twins(words: list[str]) -> int:
    """Persons whose name holds every (undamaged) word of the query: who a name alone cannot tell apart."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT count(*) FROM apprehensions_person "
            "WHERE string_to_array(name_normalized, ' ') @> %s::text[]",
            [words],
        )
        return int(cursor.fetchone()[0])


def pct(values: list[float], p: float) -> float:
    values = sorted(values)
    return values[min(len(values) - 1, int(round(p / 100 * (len(values) - 1))))]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--queries", type=int, default=200)
    parser.add_argument("--seed", type=int, default=20180620)
    parser.add_argument("--show-misses", action="store_true")
    parser.add_argument(
        "--mix", choices=["one", "all"], default="one", help="one damage per query, or all of them together"
    )
    parser.add_argument("--only", default="", help="run only the systems whose label starts with this")
    args = parser.parse_args()

    analyst = User.objects.get(username="hq_analyst")
    persons = sample_persons(args.queries, args.seed)
    rng = random.Random(args.seed)
    queries = [(p, *make_query(p, rng, args.mix)) for p in persons]
    with connection.cursor() as cursor:
        cursor.execute("SELECT count(*), count(DISTINCT name_normalized) FROM apprehensions_person")
        total, distinct = cursor.fetchone()
        cursor.execute("SHOW server_version")
        version = cursor.fetchone()[0]
    print(
        f"{total:,} persons on file, {distinct:,} distinct names; PostgreSQL {version}; "
        f"load {os.getloadavg()}"
    )
    print(f"{len(queries)} queries (seed {args.seed}, mix {args.mix}), e.g.:")
    for p, q, how in queries[:5]:
        print(f"   {q!r:<42} ({how}) from {p['given_names']} {p['first_surname']} {p['second_surname']}")
    twins = [name_twins(p["clean_words"]) for p, _, _ in queries]
    ambiguous = sum(1 for t in twins if t > TOP)
    ceiling = sum(min(1.0, TOP / max(t, 1)) for t in twins) / len(queries)
    print(
        f"names alone: {ambiguous} of {len(queries)} queries' words (before typos) "
        f"fit more than {TOP} persons; "
        f"a ranking that cannot tell those apart expects recall@{TOP} <= {ceiling:.3f} on names alone"
    )
    systems: list[tuple[str, Callable[[str, Any], list[Any]]]] = [
        ("FamilyLink person_search", familylink(analyst)),
        ("bare trigram (% , similarity order)", bare_trigram),
        ("Django icontains per word", icontains),
    ]
    systems = [s for s in systems if s[0].startswith(args.only)]
    # Warm up caches equally for everyone (the first queries pay for cold pages).
    for _, run in systems:
        for _p, q, _ in queries[:5]:
            run(q, None)
    print()
    clear = len(queries) - ambiguous
    print(
        f"| system | with | recall@{TOP} | recall@{TOP}, the {clear} queries a name can tell "
        "| p50 ms | p95 ms | max ms |"
    )
    print("|---|---|---|---|---|---|---|")
    for label, run in systems:
        for with_dob in (False, True):
            found, times, misses = 0, [], []
            by_how: dict[str, list[int]] = {}
            clear_found = 0
            for (p, q, how), t in zip(queries, twins, strict=True):
                dob = p["dob"] if with_dob else None
                started = time.perf_counter()
                ids = run(q, dob)
                times.append((time.perf_counter() - started) * 1000)
                hit = p["id"] in ids
                by_how.setdefault(how, []).append(int(hit))
                if hit:
                    found += 1
                    clear_found += int(t <= TOP)
                else:
                    misses.append((q, how, p))
            mode = "name + date of birth" if with_dob else "name alone"
            print(
                f"| {label} | {mode} | {found / len(queries):.3f} | {clear_found / clear:.3f} "
                f"| {statistics.median(times):.1f} "
                f"| {pct(times, 95):.1f} | {max(times):.1f} |",
                flush=True,
            )
            if args.show_misses:
                print(
                    "     by damage: "
                    + ", ".join(f"{k} {sum(v)}/{len(v)}" for k, v in sorted(by_how.items()))
                )
            if args.show_misses and label.startswith("FamilyLink"):
                for q, how, p in misses[:15]:
                    print(
                        f"     miss: {q!r} ({how}) from {p['given_names']} {p['first_surname']} "
                        f"{p['second_surname']} {p['dob']}"
                    )


if __name__ == "__main__":
    main()
