"""Factories and helpers for apprehensions tests. Persons are recorded through the intake service,
so "encountered at a station" is true the same way it is in the application."""

from datetime import date
from typing import Any

import factory

from apprehensions.models import Person, Relationship, Station
from apprehensions.serializers import ApprehensionInSerializer
from apprehensions.services import apprehension_record
from apprehensions.services.conflicts import with_every_error_reported
from familylink.common.api import validated_partly

STATION_NAMES = {
    "EPT": ("El Paso Station", "America/Denver"),
    "MCA": ("McAllen Station", "America/Chicago"),
    "YUM": ("Yuma Station", "America/Phoenix"),
}


def station(code: str = "EPT") -> Station:
    existing = Station.objects.filter(code=code).first()
    if existing is not None:
        return existing
    name, tz = STATION_NAMES.get(code, (f"{code} Station", "America/Denver"))
    obj = Station(code=code, name=name, timezone=tz)
    obj._change_reason = "test"
    obj.save()
    return obj


class PersonFactory(factory.django.DjangoModelFactory):
    """A person on file without any apprehension (e.g. imported); use `record` for encountered ones."""

    class Meta:
        model = Person

    given_names = factory.Iterator(["Ana", "José", "María José", "Luis Fernando"])
    first_surname = factory.Iterator(["Pérez", "López", "Hernández"])
    second_surname = "Núñez"
    sex = "F"
    date_of_birth = date(1988, 4, 2)


def person_data(ref: str, **overrides: Any) -> dict[str, Any]:
    data = {
        "ref": ref,
        "given_names": "María José",
        "first_surname": "Pérez",
        "second_surname": "Núñez",
        "sex": "F",
        "date_of_birth": "1988-04-02",
        "country_of_citizenship": "GT",
    }
    data.update(overrides)
    return data


def intake_payload(**overrides: Any) -> dict[str, Any]:
    """The API contract's example request (without the existing person)."""
    data: dict[str, Any] = {
        "occurred_at": "2018-06-01T10:15:00-06:00",
        "station": "EPT",
        "location_description": "Near the Paso del Norte bridge",
        "persons": [
            person_data("p1", a_number="A201234567"),
            {
                "ref": "p2",
                "given_names": "Ana",
                "first_surname": "Pérez",
                "sex": "F",
                "date_of_birth": "2013-09-30",
                "country_of_citizenship": "GT",
            },
        ],
        "family_units": [{"members": ["p1", "p2"]}],
        "relationships": [{"from": "p1", "to": "p2", "type": "parent", "evidence": "claimed"}],
    }
    data.update(overrides)
    return data


def submit_intake(user: Any, data: Any, *, source: str = Relationship.Source.API):
    """A request body of the contract recorded as `POST /api/v1/apprehensions/` records it: read by
    the API's serializer, then `apprehension_record`; every problem of both in one ValidationFailed."""
    intake, errors = validated_partly(ApprehensionInSerializer, data)
    return with_every_error_reported(errors, apprehension_record, user=user, source=source, **intake)


def record(user: Any, data: dict[str, Any] | None = None, **overrides: Any):
    station(str((data or overrides).get("station", "EPT")))
    return submit_intake(user, data or intake_payload(**overrides))


def encountered(person: Person, code: str = "EPT", *, when: str = "2017-11-01T09:00:00-06:00") -> Person:
    """Put a person on file into an earlier encounter at station `code` (so that station sees them).

    Written directly, not through intake: intake links only persons the agent may already see.
    """
    from django.utils.dateparse import parse_datetime

    from apprehensions.models import Apprehension, ApprehensionPerson

    apprehension = Apprehension(station=station(code), occurred_at=parse_datetime(when))
    apprehension._change_reason = "test: earlier encounter"
    apprehension.save()
    link = ApprehensionPerson(
        apprehension=apprehension, person=person, match=ApprehensionPerson.Match.EXISTING
    )
    link._change_reason = "test: earlier encounter"
    link.save()
    return person
