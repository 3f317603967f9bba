"""Factories for the separations tests: stations, persons encountered together, separations."""

from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta

import factory
from factory.django import DjangoModelFactory

from apprehensions.models import (
    Apprehension,
    ApprehensionPerson,
    FamilyMembership,
    FamilyUnit,
    Person,
    Relationship,
    Station,
)
from separations import services
from separations.models import Separation


class StationFactory(DjangoModelFactory):
    class Meta:
        model = Station
        django_get_or_create = ("code",)

    code = "EPT"
    name = factory.LazyAttribute(lambda o: f"{o.code} Station")
    timezone = "America/Denver"


class PersonFactory(DjangoModelFactory):
    class Meta:
        model = Person

    given_names = factory.Sequence(lambda n: f"Persona{n}")
    first_surname = "Pérez"
    second_surname = "Núñez"
    sex = "F"
    date_of_birth = date(1988, 4, 2)
    country_of_citizenship = "GT"
    is_minor = False


class ApprehensionFactory(DjangoModelFactory):
    class Meta:
        model = Apprehension

    occurred_at = datetime(2018, 5, 10, 16, 15, tzinfo=UTC)
    station = factory.SubFactory(StationFactory)
    location_description = "Near the Paso del Norte bridge"


@dataclass
class Family:
    apprehension: Apprehension
    unit: FamilyUnit
    adults: list[Person] = field(default_factory=list)
    children: list[Person] = field(default_factory=list)

    @property
    def adult(self) -> Person:
        return self.adults[0]

    @property
    def child(self) -> Person:
        return self.children[0]


def encounter(person: Person, apprehension: Apprehension) -> None:
    ApprehensionPerson.objects.create(apprehension=apprehension, person=person)
    if person.first_station_id is None:
        person.first_station = apprehension.station
        person.first_encountered_at = apprehension.occurred_at
        person.save()


def family(
    *,
    station: str = "EPT",
    adults: int = 1,
    children: int = 1,
    surname: str = "Pérez",
    occurred_at: datetime | None = None,
    unit: bool = True,
) -> Family:
    """Persons apprehended together at `station`; in one family unit unless `unit=False`."""
    apprehension = ApprehensionFactory(
        station=StationFactory(code=station),
        occurred_at=occurred_at or datetime(2018, 5, 10, 16, 15, tzinfo=UTC),
    )
    grown = [PersonFactory(first_surname=surname, given_names=f"Madre{i} {surname}") for i in range(adults)]
    kids = [
        PersonFactory(
            first_surname=surname,
            given_names=f"Niña{i} {surname}",
            is_minor=True,
            date_of_birth=date(2013, 9, 30) + timedelta(days=i),
        )
        for i in range(children)
    ]
    for person in [*grown, *kids]:
        encounter(person, apprehension)
    family_unit = FamilyUnit.objects.create(apprehension=apprehension, label=f"{surname} family")
    if unit:
        for person in grown:
            FamilyMembership.objects.create(family_unit=family_unit, person=person, role="adult")
        for person in kids:
            FamilyMembership.objects.create(family_unit=family_unit, person=person, role="child")
    return Family(apprehension=apprehension, unit=family_unit, adults=grown, children=kids)


def relate(parent: Person, child: Person, evidence: str = "claimed") -> Relationship:
    return Relationship.objects.create(from_person=parent, to_person=child, type="parent", evidence=evidence)


def request_separation(fam: Family, requester, **kwargs) -> Separation:
    defaults = {
        "children": [c.pk for c in fam.children],
        "adults": [a.pk for a in fam.adults],
        "reason_code": "ZERO_TOLERANCE_PROSECUTION",
        "occurred_at": datetime(2018, 5, 11, 14, 0, tzinfo=UTC),
        "narrative": "Adult referred for prosecution under 8 USC 1325",
    }
    defaults.update(kwargs)
    return services.separation_request(requester=requester, **defaults)


def in_effect_separation(fam: Family, requester, approver, **kwargs) -> Separation:
    separation = request_separation(fam, requester, **kwargs)
    return services.separation_approve(separation_id=separation.pk, approver=approver, comment="ok")
