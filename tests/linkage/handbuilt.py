"""A hand-built set: unrecorded families and duplicates discovery must find, and decoys it must not.

Everyone is recorded through the intake service, the way field agents record them. Each helper
returns the persons by a short label so tests can name the pairs they expect.
"""

from datetime import date, datetime
from typing import Any

from apprehensions.models import Person
from apprehensions.services import apprehension_record


def _p(ref: str, given: str, first: str, second: str, sex: str, dob: str, **extra: Any) -> dict[str, Any]:
    data = {
        "ref": ref,
        "given_names": given,
        "first_surname": first,
        "second_surname": second,
        "sex": sex,
        "date_of_birth": date.fromisoformat(dob),
        "country_of_citizenship": "GT",
    }
    data.update(extra)
    return data


def _encounter(
    user: Any, when: str, station: str, persons: list[dict[str, Any]], **extra: Any
) -> dict[str, Person]:
    result = apprehension_record(
        user=user, occurred_at=datetime.fromisoformat(when), station=station, persons=persons, **extra
    )
    return {plan.ref: plan.person for plan in result.persons}


def build(user: Any) -> dict[str, Person]:
    """Record the set; returns label → Person."""
    people: dict[str, Person] = {}
    # Family 1: father and son together, nothing recorded (the 2018 pattern: no family unit).
    people |= _encounter(
        user,
        "2018-06-01T10:00:00-06:00",
        "EPT",
        [
            _p("father", "Juan Carlos", "Gómez", "Ruiz", "M", "1985-03-10"),
            _p("son", "Luis", "Gómez", "Pérez", "M", "2012-05-01"),
        ],
    )
    # Family 2: mother and daughter; the child carries the mother's first surname second.
    # With them, an unrelated adult (decoy: no surname in common).
    people |= _encounter(
        user,
        "2018-06-02T08:30:00-06:00",
        "EPT",
        [
            _p("mother", "Rosa María", "Xol", "Caal", "F", "1990-07-19"),
            _p("daughter", "Ana", "Cuc", "Xol", "F", "2014-02-11"),
            _p("stranger", "Pedro", "Ramírez", "Soto", "M", "1979-01-30"),
        ],
    )
    # Decoy: an unrelated adult and child in one event, no common surname.
    people |= _encounter(
        user,
        "2018-06-03T07:00:00-06:00",
        "YUM",
        [
            _p("lone_adult", "Marco", "Villatoro", "Ajanel", "M", "1983-09-09"),
            _p("lone_child", "Kevin", "Mejía", "Cruz", "M", "2006-12-24"),
        ],
    )
    # Decoy: twins with their mother, recorded as a family (nothing to discover).
    people |= _encounter(
        user,
        "2018-06-04T09:00:00-06:00",
        "MCA",
        [
            _p("twin_mother", "Elena", "Tum", "Batz", "F", "1987-02-02"),
            _p("twin_a", "Mateo", "Chávez", "Tum", "M", "2015-08-08"),
            _p("twin_b", "Marcos", "Chávez", "Tum", "M", "2015-08-08"),
        ],
        family_units=[{"members": ["twin_mother", "twin_a", "twin_b"]}],
        relationships=[
            {"from": "twin_mother", "to": "twin_a", "type": "parent", "evidence": "claimed"},
            {"from": "twin_mother", "to": "twin_b", "type": "parent", "evidence": "claimed"},
        ],
    )
    # Siblings: an adult sister (19) with her brother (12); a sibling at most, never a parent.
    people |= _encounter(
        user,
        "2018-06-05T11:00:00-06:00",
        "EPT",
        [
            _p("sister", "Marta", "Lux", "Coc", "F", "1999-01-15"),
            _p("brother", "Jorge", "Lux", "Coc", "M", "2006-03-03"),
        ],
    )
    # Duplicate 1: one woman entered twice; the second time the accents, one given name and the
    # second surname were dropped, and no A-number was typed.
    people |= _encounter(
        user,
        "2018-06-06T10:00:00-06:00",
        "EPT",
        [_p("dup1_a", "María José", "Pérez", "Núñez", "F", "1988-04-02", a_number="A201234567")],
    )
    people |= _encounter(
        user, "2019-01-10T10:00:00-07:00", "YUM", [_p("dup1_b", "Maria", "Perez", "", "F", "1988-04-02")]
    )
    # Duplicate 2: surnames swapped and two A-number digits transposed.
    people |= _encounter(
        user,
        "2018-06-07T10:00:00-06:00",
        "EPT",
        [_p("dup2_a", "Francisco", "Xol", "Caal", "M", "1979-11-23", a_number="A098765432")],
    )
    people |= _encounter(
        user,
        "2018-09-07T10:00:00-06:00",
        "MCA",
        [_p("dup2_b", "Francisco", "Caal", "Xol", "M", "1979-11-23", a_number="A098765423")],
    )
    # Duplicate 3: day and month swapped, a new A-number.
    people |= _encounter(
        user,
        "2018-06-08T10:00:00-06:00",
        "EPT",
        [_p("dup3_a", "Juana", "Tzul", "Ixcoy", "F", "1992-05-07", a_number="A111222333")],
    )
    people |= _encounter(
        user,
        "2018-12-08T10:00:00-06:00",
        "EPT",
        [_p("dup3_b", "Juana", "Tzul", "Ixcoy", "F", "1992-07-05", a_number="A444555666")],
    )
    # Duplicate 4: a child's name with a typo (Alexandr), same birth date.
    people |= _encounter(
        user,
        "2018-06-09T10:00:00-06:00",
        "EPT",
        [_p("dup4_a", "Kevin Alexander", "Chávez", "Mendoza", "M", "2010-01-15")],
    )
    people |= _encounter(
        user,
        "2018-06-20T10:00:00-06:00",
        "YUM",
        [_p("dup4_b", "Kevin Alexandr", "Chavez", "Mendoza", "M", "2010-01-15")],
    )
    # Decoy: namesakes, same full name, different people (born years apart).
    people |= _encounter(
        user,
        "2018-06-10T10:00:00-06:00",
        "EPT",
        [_p("namesake_a", "José", "García", "López", "M", "1980-01-01")],
    )
    people |= _encounter(
        user,
        "2018-07-10T10:00:00-07:00",
        "YUM",
        [_p("namesake_b", "José", "García", "López", "M", "1975-07-12")],
    )
    # Decoy: cousins, same given name and first surname, born the same year.
    people |= _encounter(
        user, "2018-06-11T10:00:00-06:00", "EPT", [_p("cousin_a", "Ana", "López", "Díaz", "F", "2011-03-04")]
    )
    people |= _encounter(
        user,
        "2018-06-12T10:00:00-06:00",
        "MCA",
        [_p("cousin_b", "Ana", "López", "García", "F", "2011-08-19")],
    )
    # Decoy: brothers José Luis and José Carlos, one birth date apart in the same year.
    people |= _encounter(
        user,
        "2018-06-13T10:00:00-06:00",
        "EPT",
        [_p("bro_a", "José Luis", "Ordóñez", "Tax", "M", "2003-10-10")],
    )
    people |= _encounter(
        user,
        "2018-06-14T10:00:00-06:00",
        "EPT",
        [_p("bro_b", "José Carlos", "Ordóñez", "Tax", "M", "2003-10-01")],
    )
    return people


FAMILIES = {("father", "son", "parent"), ("mother", "daughter", "parent")}
DUPLICATES = {("dup1_a", "dup1_b"), ("dup2_a", "dup2_b"), ("dup3_a", "dup3_b"), ("dup4_a", "dup4_b")}
# Pairs that may be proposed, but only with this type.
SIBLINGS = {("sister", "brother", "sibling")}
