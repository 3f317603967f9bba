"""Latency of the person reads that grow with the database: station-scoped lists, name search,
likely-duplicate search. Runs the selectors in-process against the database in `.env`.

    .venv/bin/python bench/person_reads.py
"""

import os
import sys
import time
from datetime import date
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "familylink.settings.base")

import django  # noqa: E402

django.setup()

from apprehensions.models import Person  # noqa: E402
from apprehensions.selectors import likely_duplicates, person_search  # noqa: E402
from familylink.common.models import User  # noqa: E402


def best_of(label: str, fn, repeat: int = 5) -> None:  # type: ignore[no-untyped-def]
    times = []
    result = None
    for _ in range(repeat):
        started = time.perf_counter()
        result = fn()
        times.append((time.perf_counter() - started) * 1000)
    times.sort()
    print(f"{label:<52} median {times[len(times) // 2]:7.1f} ms  best {times[0]:7.1f} ms  -> {result}")


def main() -> None:
    agent = User.objects.get(username="field_agent")
    analyst = User.objects.get(username="hq_analyst")
    print(f"persons on file: {Person.objects.count():,}")
    best_of("field agent (EPT): count of persons in scope", lambda: person_search(viewer=agent).count())
    best_of("field agent (EPT): first page of 25", lambda: len(person_search(viewer=agent)[:25]))
    best_of(
        "field agent (EPT): q=gomez, first page", lambda: len(person_search(viewer=agent, q="gomez")[:25])
    )
    best_of("HQ analyst: first page of 25", lambda: len(person_search(viewer=analyst)[:25]))
    best_of(
        "HQ analyst: q='Nunez Perez maria' (order, accents)",
        lambda: len(person_search(viewer=analyst, q="Nunez Perez maria")[:25]),
    )
    best_of(
        "HQ analyst: q='Peres Nunes' (typos)",
        lambda: len(person_search(viewer=analyst, q="Peres Nunes")[:25]),
    )
    best_of(
        "HQ analyst: a_number='200-012-345'",
        lambda: len(person_search(viewer=analyst, filters={"a_number": "200-012-345"})),
    )
    best_of(
        "likely duplicates of one person typed at intake",
        lambda: len(
            likely_duplicates(
                given_names="María José",
                first_surname="Pérez",
                second_surname="Núñez",
                date_of_birth=date(1988, 4, 2),
            )
        ),
    )


if __name__ == "__main__":
    main()
