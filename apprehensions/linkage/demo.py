"""Demo data of link discovery: a few encounters whose links nobody recorded, so that `make run`'s
Link review queue shows what the nightly pass finds (the synthetic scenario records every family
it generates, so it leaves nothing to discover).

Recorded by the demo field agent through the intake service, as an agent would; then the discovery
pass runs for those persons only (never a full pass: `seed_demo --scale 1000000` stays fast).
Only for the default demo (`seed_demo` without `--scale`, as `make run` does) and when the demo
field agent exists. Idempotent: the set is recorded once (its first A-number marks it).
"""

from datetime import date, datetime
from typing import Any

from django.db.models import Q

from apprehensions.services.inputs import PersonInput

MARKER_A_NUMBER = "A201234567"


def _person(
    ref: str, given: str, first: str, second: str, sex: str, born: str, a_number: str = ""
) -> PersonInput:
    person: PersonInput = {
        "ref": ref,
        "given_names": given,
        "first_surname": first,
        "second_surname": second,
        "sex": sex,
        "date_of_birth": date.fromisoformat(born),
        "country_of_citizenship": "GT",
    }
    if a_number:
        person["a_number"] = a_number
    return person


# (when, persons): each an encounter at EPT with no family unit and no relationship recorded.
ENCOUNTERS = [
    # A father and son together (the 2018 pattern: the family never linked).
    (
        "2018-06-01T10:00:00-06:00",
        [
            _person("father", "Juan Carlos", "Gómez", "Ruiz", "M", "1985-03-10"),
            _person("son", "Luis", "Gómez", "Pérez", "M", "2012-05-01"),
        ],
    ),
    # A mother and daughter: the child carries the mother's first surname second.
    (
        "2018-06-02T08:30:00-06:00",
        [
            _person("mother", "Rosa María", "Xol", "Caal", "F", "1990-07-19"),
            _person("daughter", "Ana", "Cuc", "Xol", "F", "2014-02-11"),
        ],
    ),
    # The same father a month later, alone: his second surname dropped, an A-number issued. Accepting
    # this duplicate (he survives: he has the A-number) moves the father-and-son question to him.
    (
        "2018-07-01T09:00:00-06:00",
        [_person("father_again", "Juan Carlos", "Gómez", "", "M", "1985-03-10", a_number="A123123123")],
    ),
    # One woman entered twice: accents, a given name and the second surname dropped, no A-number.
    (
        "2018-06-06T10:00:00-06:00",
        [_person("dup_a", "María José", "Pérez", "Núñez", "F", "1988-04-02", a_number=MARKER_A_NUMBER)],
    ),
    ("2018-09-10T10:00:00-06:00", [_person("dup_b", "Maria", "Perez", "", "F", "1988-04-02")]),
    # One man entered twice: surnames swapped and two A-number digits transposed.
    (
        "2018-06-07T10:00:00-06:00",
        [_person("dup_c", "Francisco", "Xol", "Caal", "M", "1979-11-23", a_number="A098765432")],
    ),
    (
        "2018-09-07T10:00:00-06:00",
        [_person("dup_d", "Francisco", "Caal", "Xol", "M", "1979-11-23", a_number="A098765423")],
    ),
]


def seed(sender: Any, scale: int | None = None, stdout: Any = None, **kwargs: Any) -> None:
    from apprehensions.models import Person, Station
    from apprehensions.services import apprehension_record
    from familylink.common.models import User

    from .discovery import discover_links
    from .models import LinkCandidate

    write = stdout.write if stdout is not None else (lambda _text: None)
    agent = User.objects.filter(username="field_agent", is_active=True).first()
    station = Station.objects.filter(code="EPT").first()
    if scale is not None or agent is None or station is None:
        return  # an explicit --scale is a benchmark's or a test's data: the scenario alone
    if Person.objects.filter(a_number=MARKER_A_NUMBER).exists():
        return
    ids = []
    for when, persons in ENCOUNTERS:
        result = apprehension_record(
            user=agent, occurred_at=datetime.fromisoformat(when), station=station.code, persons=persons
        )
        ids += [str(plan.person.pk) for plan in result.persons]
    # The intake's own pass has run if LINKAGE_INCREMENTAL is on; this one files what it left (none
    # when it ran: pairs on file are never filed twice).
    discover_links(person_ids=ids, by=agent)
    proposed = LinkCandidate.objects.filter(Q(person_a_id__in=ids) | Q(person_b_id__in=ids)).count()
    write(f"Link discovery demo: {len(ids)} persons with no link recorded; {proposed} candidates to review.")
