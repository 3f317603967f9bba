"""The change feed at scale: reading a page (FamilyLink beside bare SQL for the same rows), and
what the outbox trigger adds to a custody transfer. Writes to the database in DATABASE_URL.

    DATABASE_URL=postgres://…/fl_events .venv/bin/python bench/events.py --events 1000000

Synthetic events are written by the same trigger function the app uses (familylink_event_emit),
in transactions of 10,000, so the feed spans many transaction ids like a real one.
"""

import argparse
import os
import statistics
import sys
import time
import uuid
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "familylink.settings.base")

import django  # noqa: E402

django.setup()

from django.contrib.auth.models import Group  # noqa: E402
from django.db import connection, transaction  # noqa: E402
from rest_framework.test import APIClient  # noqa: E402

from apprehensions.models import Person  # noqa: E402
from events.models import Event  # noqa: E402
from events.selectors import current_snapshot, encode_cursor  # noqa: E402
from familylink.common.models import User  # noqa: E402
from separations.services import custody_transfer  # noqa: E402


def timed(fn, repeat: int) -> tuple[float, float]:  # type: ignore[no-untyped-def]
    times = []
    for _ in range(repeat):
        started = time.perf_counter()
        fn()
        times.append((time.perf_counter() - started) * 1000)
    return statistics.median(times), min(times)


def fill(target: int) -> None:
    have = Event.objects.count()
    person = str(uuid.uuid4())
    while have < target:
        n = min(10_000, target - have)
        with transaction.atomic(), connection.cursor() as cursor:
            cursor.execute(
                """SELECT familylink_event_emit('custody.transferred', now(), 'person', %s::uuid,
                          jsonb_build_object('agency', jsonb_build_array('CBP', 'HHS_ORR')), ARRAY[%s::uuid])
                     FROM generate_series(1, %s)""",
                [person, person, n],
            )
        have += n
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE events_event")


def user(name: str, role: str) -> User:
    found = User.objects.filter(username=name).first()
    if found is None:
        found = User(username=name, station="EPT")
        found.save()
        found.groups.add(Group.objects.get(name=role))
    return found


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--repeat", type=int, default=20)
    parser.add_argument("--transfers", type=int, default=200)
    args = parser.parse_args()

    started = time.perf_counter()
    fill(args.events)
    total = Event.objects.count()
    print(f"events on file: {total:,} (filled in {time.perf_counter() - started:.0f} s)")
    client = APIClient(HTTP_HOST="localhost")
    client.force_authenticate(user("bench_partner", "partner_agency"))
    ordered = Event.objects.order_by("xid", "position").values_list("xid", "position")
    middle = ordered[total // 2]
    head = current_snapshot()
    cases = {
        "first page (no cursor)": None,
        "page from the middle (catching up)": {"lo": None, "hi": current_snapshot(), "k": list(middle)},
        "poll at the head (nothing new)": {"lo": head, "hi": None, "k": None},
    }
    bare = {
        "first page (no cursor)": ("SELECT * FROM events_event ORDER BY xid, position LIMIT 101", []),
        "page from the middle (catching up)": (
            "SELECT * FROM events_event WHERE (xid, position) > (%s, %s) ORDER BY xid, position LIMIT 101",
            list(middle),
        ),
        "poll at the head (nothing new)": (
            "SELECT * FROM events_event WHERE xid >= %s ORDER BY xid, position LIMIT 101",
            [int(head.split(":")[0])],
        ),
    }
    header = f"{'GET /api/v1/events/?limit=100':<40} {'FamilyLink (API, JSON)':>24}"
    print(f"{header} {'bare SQL (same rows)':>24}")
    for label, cursor in cases.items():
        url = "/api/v1/events/?limit=100" + (f"&after={encode_cursor(cursor)}" if cursor else "")
        response = client.get(url)
        assert response.status_code == 200, response.content[:300]
        api = timed(lambda url=url: client.get(url), args.repeat)
        sql, params = bare[label]

        def run(sql: str = sql, params: list = params) -> None:
            with connection.cursor() as cursor:
                cursor.execute(sql, params)
                cursor.fetchall()

        raw = timed(run, args.repeat)
        shown = len(response.json()["results"])
        figures = f"{api[0]:9.1f} ms (best {api[1]:6.1f}) {raw[0]:9.2f} ms (best {raw[1]:6.2f})"
        print(f"{label:<40} {figures}  [{shown} events]")

    # What the outbox adds to a write: custody transfers with the trigger on, then off.
    agent = user("bench_agent", "field_agent")
    persons = []
    for i in range(args.transfers):
        person = Person(given_names=f"Bench{i}", first_surname="Evento")
        person.save()
        persons.append(person)
    try:
        for round_, state in enumerate(("ENABLE", "DISABLE", "ENABLE")):
            _set_trigger(state)
            times = []
            for person in persons:
                began = time.perf_counter()
                custody_transfer(person_id=person.pk, agency=("CBP", "ICE", "USMS")[round_], by=agent)
                times.append((time.perf_counter() - began) * 1000)
            label = "with the outbox trigger" if state == "ENABLE" else "trigger disabled"
            median = statistics.median(times)
            print(f"custody_transfer, {label:<24} median {median:6.2f} ms over {len(times)} transfers")
    finally:
        _set_trigger("ENABLE")


def _set_trigger(state: str) -> None:
    """Switching a trigger is DDL: only the owner role may (the bench runs as the app role)."""
    from familylink.common.db_roles import connected_as

    with connected_as("owner"), connection.cursor() as cursor:
        cursor.execute(f"ALTER TABLE separations_custodyperiod {state} TRIGGER fl_event_custody")


if __name__ == "__main__":
    main()
