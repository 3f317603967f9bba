"""Server-side latency of `POST /api/v1/apprehensions/` with 4–6 persons and their relationships.

Runs the whole Django stack in-process (middleware, token authentication, DRF, the intake service,
PostgreSQL) against the database in `.env` (DATABASE_URL), with production settings (DEBUG off), and
times each request from the moment Django receives it to the response: no network, no client-side
JSON work. Each request is a new family (1–2 adults, children, parent links, one family unit) with new
A-numbers, like a field agent's intake. Prints p50/p95/p99 and the size of the database.

    .venv/bin/python manage.py seed_demo --scale 1000000      # once: the 1M-person scenario
    .venv/bin/python bench/intake.py --requests 500

The requests are real writes: they stay in the database (nothing is ever deleted), as bench intakes at
station EPT by the user `bench_intake_agent`.
"""

import argparse
import os
import random
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "familylink.settings.base")
# Production behaviour: DEBUG off (no query recording), the test client's host allowed, no HTTPS redirect.
os.environ["DEBUG"] = "false"
os.environ.setdefault("SECRET_KEY", "bench-only-secret-key-not-used-anywhere-else-0123456789")
os.environ.setdefault("ALLOWED_HOSTS", "testserver")
os.environ.setdefault("SECURE_SSL_REDIRECT", "false")

import django  # noqa: E402

django.setup()

from django.contrib.auth.models import Group  # noqa: E402
from django.db import connection  # noqa: E402
from django.test.utils import CaptureQueriesContext  # noqa: E402
from rest_framework.authtoken.models import Token  # noqa: E402
from rest_framework.test import APIClient  # noqa: E402

from apprehensions.demo import ensure_stations  # noqa: E402
from apprehensions.models import Person  # noqa: E402
from bench import scenario  # noqa: E402
from familylink.common.models import User  # noqa: E402


def bench_user() -> User:
    user = User.objects.filter(username="bench_intake_agent").first()
    if user is None:
        user = User(username="bench_intake_agent", station="EPT", first_name="Bench", last_name="Agent")
        user.set_unusable_password()
        user._change_reason = "bench/intake.py"
        user.save()
        user.groups.add(Group.objects.get(name="field_agent"))
    return user


_FRESH = random.SystemRandom()


def family_payload(rng: random.Random, n: int) -> dict:
    """A family of `n` (4–6): one or two parents and their children, with parent links and one unit."""
    adults = 2 if rng.random() < 0.4 else 1
    father, mother = rng.choice(scenario.SURNAMES), rng.choice(scenario.SURNAMES)
    persons, relationships = [], []
    parent_years = [rng.randint(1975, 1992) for _ in range(adults)]
    for i in range(n):
        adult = i < adults
        sex = ("F" if i == 0 else "M") if adult else rng.choice("FM")
        year = parent_years[i] if adult else rng.randint(max(parent_years) + 14, 2017)
        person = {
            "ref": f"p{i + 1}",
            "given_names": rng.choice(scenario.FEMALE if sex == "F" else scenario.MALE),
            "first_surname": mother if adult and i == 0 else father,
            "second_surname": rng.choice(scenario.SURNAMES) if adult else mother,
            "sex": sex,
            "date_of_birth": f"{year}-{rng.randint(1, 12):02d}-{rng.randint(1, 28):02d}",
            "country_of_citizenship": rng.choice(["GT", "HN", "SV"]),
        }
        if adult or rng.random() < 0.6:
            # New numbers on every run (bench writes stay on file; a repeated number would link that person).
            person["a_number"] = f"A3{_FRESH.randrange(10**8):08d}"
        persons.append(person)
    for parent in range(adults):
        for child in range(adults, n):
            relationships.append(
                {"from": f"p{parent + 1}", "to": f"p{child + 1}", "type": "parent", "evidence": "claimed"}
            )
    day = rng.randint(1, 30)
    return {
        "occurred_at": f"2018-06-{day:02d}T{rng.randint(0, 23):02d}:{rng.randint(0, 59):02d}:00-06:00",
        "station": "EPT",
        "location_description": "Bench intake",
        "persons": persons,
        "family_units": [{"members": [p["ref"] for p in persons]}],
        "relationships": relationships,
    }


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    k = (len(ordered) - 1) * p / 100
    lo, hi = int(k), min(int(k) + 1, len(ordered) - 1)
    return ordered[lo] + (ordered[hi] - ordered[lo]) * (k - lo)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--requests", type=int, default=300)
    parser.add_argument("--warmup", type=int, default=20)
    parser.add_argument("--seed", type=int, default=None, help="Random seed (default: time-based).")
    args = parser.parse_args()

    ensure_stations()
    user = bench_user()
    token, _ = Token.objects.get_or_create(user=user)
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {token.key}")
    rng = random.Random(args.seed if args.seed is not None else time.time_ns())
    persons_before = Person.objects.count()
    print(f"database: {connection.settings_dict['NAME']}  persons on file: {persons_before:,}")

    with CaptureQueriesContext(connection) as queries:
        response = client.post("/api/v1/apprehensions/", family_payload(rng, 5), format="json")
    assert response.status_code == 201, response.content
    print(f"one request with 5 persons: {len(queries)} SQL queries")

    timings: list[float] = []
    sizes: list[int] = []
    links: list[int] = []
    for i in range(args.warmup + args.requests):
        n = rng.randint(4, 6)
        payload = family_payload(rng, n)
        while Person.objects.filter(a_number__in=[p.get("a_number") for p in payload["persons"]]).exists():
            payload = family_payload(rng, n)  # a number already on file would link that person instead
        started = time.perf_counter()
        response = client.post("/api/v1/apprehensions/", payload, format="json")
        elapsed = (time.perf_counter() - started) * 1000
        if response.status_code != 201:
            raise SystemExit(f"request {i} failed: {response.status_code} {response.content[:500]!r}")
        if i >= args.warmup:
            timings.append(elapsed)
            sizes.append(n)
            links.append(len(payload["relationships"]))
    print(
        f"POST /api/v1/apprehensions/  requests={len(timings)} (after {args.warmup} warm-up)  "
        f"persons/request={statistics.mean(sizes):.1f}  relationships/request={statistics.mean(links):.1f}"
    )
    print(
        f"latency ms: p50={percentile(timings, 50):.1f}  p95={percentile(timings, 95):.1f}  "
        f"p99={percentile(timings, 99):.1f}  mean={statistics.mean(timings):.1f}  max={max(timings):.1f}"
    )
    print(
        f"persons on file after: {Person.objects.count():,}  cpus: {os.cpu_count()}  load: {os.getloadavg()}"
    )


if __name__ == "__main__":
    main()
