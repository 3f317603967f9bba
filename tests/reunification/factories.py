"""Test data for reunification: families built with the ORM, separations through the real services."""

import itertools
from datetime import date, datetime, timedelta
from typing import Any

from django.utils import timezone

from apprehensions.models import Apprehension, ApprehensionPerson, FamilyMembership, FamilyUnit, Person, Station
from reunification.models import ReunificationCase
from separations.services import separation_approve, separation_request

_counter = itertools.count(1)


def station(code: str = "EPT") -> Station:
    existing = Station.objects.filter(code=code).first()
    if existing is not None:
        return existing
    obj = Station(code=code, name=f"{code} Station", sector=f"{code} Sector")
    obj.save()
    return obj


def years_ago(years: int, *, on: date | None = None, days: int = 30) -> date:
    """A date of birth making a child `years` old on `on` (today by default), `days` past a birthday."""
    on = on or timezone.localdate()
    return date(on.year - years, on.month, min(on.day, 28)) - timedelta(days=days)


def person(*, given: str, surname: str, dob: date | None, minor: bool, at: Station, **extra: Any) -> Person:
    obj = Person(
        given_names=given,
        first_surname=surname,
        date_of_birth=dob,
        is_minor=minor,
        first_station=at,
        sex=extra.pop("sex", "U"),
        **extra,
    )
    obj.save()
    return obj


def family(
    *,
    agent: Any,
    children: list[date | None],
    adults: int = 1,
    at: str = "EPT",
    surname: str | None = None,
    occurred_at: datetime | None = None,
) -> tuple[list[Person], list[Person]]:
    """An apprehension of one family: adult(s) and children in one family unit. Returns (children, adults)."""
    where = station(at)
    n = next(_counter)
    surname = surname or f"Familia{n}"
    appr = Apprehension(
        occurred_at=occurred_at or timezone.now() - timedelta(days=40),
        station=where,
        location_description="Near the Paso del Norte bridge",
        apprehending_agent=agent,
    )
    appr.save()
    unit = FamilyUnit(apprehension=appr, label=f"{surname} family")
    unit.save()
    adult_people = [
        person(given=f"Adulto{i}", surname=surname, dob=date(1985, 3, 1), minor=False, at=where)
        for i in range(adults)
    ]
    child_people = [
        person(given=f"Nino{i}", surname=surname, dob=dob, minor=True, at=where) for i, dob in enumerate(children)
    ]
    for p, role in [(a, "adult") for a in adult_people] + [(c, "child") for c in child_people]:
        ApprehensionPerson(apprehension=appr, person=p).save()
        FamilyMembership(family_unit=unit, person=p, role=role).save()
    return child_people, adult_people


def approved_separation(
    users: dict[str, Any],
    *,
    children: list[date | None],
    occurred_at: datetime | None = None,
    adults: int = 1,
    reason_code: str = "ZERO_TOLERANCE_PROSECUTION",
) -> tuple[Any, list[ReunificationCase]]:
    """Request (field agent) and approve (supervisor) a separation; returns it and the cases it opened."""
    occurred_at = occurred_at or timezone.now() - timedelta(days=3)
    kids, grownups = family(
        agent=users["field_agent"],
        children=children,
        adults=adults,
        occurred_at=occurred_at - timedelta(hours=6),
    )
    separation = separation_request(
        requester=users["field_agent"],
        children=[c.pk for c in kids],
        adults=[a.pk for a in grownups],
        reason_code=reason_code,
        occurred_at=occurred_at,
        narrative="Adult referred for prosecution under 8 USC 1325",
    )
    separation_approve(separation_id=separation.pk, approver=users["supervisor"])
    cases = list(
        ReunificationCase.objects.filter(separation=separation).select_related("child").order_by("child__given_names")
    )
    return separation, cases
