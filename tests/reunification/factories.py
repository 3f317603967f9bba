"""Test data for reunification: families built with the ORM, separations through the real services."""

import itertools
from datetime import date, datetime, time, timedelta
from typing import Any

from django.utils import timezone

from apprehensions.models import (
    Apprehension,
    ApprehensionPerson,
    FamilyMembership,
    FamilyUnit,
    Person,
    Station,
)
from reunification.clocks import local_zone
from reunification.models import ReunificationCase
from separations.services import separation_approve, separation_request

from ..conftest import make_user

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
        person(given=f"Nino{i}", surname=surname, dob=dob, minor=True, at=where)
        for i, dob in enumerate(children)
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
    at: str = "EPT",
    surname: str | None = None,
) -> tuple[Any, list[ReunificationCase]]:
    """Request (field agent) and approve (supervisor) a separation; returns it and the cases it opened."""
    occurred_at = occurred_at or timezone.now() - timedelta(days=3)
    kids, grownups = family(
        agent=users["field_agent"],
        children=children,
        adults=adults,
        at=at,
        surname=surname,
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
    separation = separation_approve(separation_id=separation.pk, approver=users["supervisor"])
    cases = list(
        ReunificationCase.objects.filter(separation=separation)
        .select_related("child")
        .order_by("child__given_names")
    )
    return separation, cases


def at_local(day: date, hour: int) -> datetime:
    return datetime.combine(day, time(hour=hour), tzinfo=local_zone())


def ordering_scenario(users: dict[str, Any]) -> dict[str, Any]:
    """Hand-built open cases whose worklist order is known, plus cases that must stay off the list.

    Expected EPT-REUNIFY order: A, B (overdue, most overdue first), D (due in 5 days, age 2),
    F then C (due in 5 days, both age 10 with the same birthday: F was separated earlier),
    E (due in 5 days, age 12), G (due in 9 days), H (contact done: due at reunification, 15 days).
    """
    from reunification.services import case_close, case_step_update

    today = timezone.localdate()
    day = lambda n: today + timedelta(days=n)  # noqa: E731
    ten = years_ago(10)
    _, (a,) = approved_separation(
        users, children=[years_ago(8)], occurred_at=at_local(day(-20), 10), surname="A"
    )
    _, (b,) = approved_separation(
        users, children=[years_ago(3)], occurred_at=at_local(day(-12), 10), surname="B"
    )
    _, (c,) = approved_separation(users, children=[ten], occurred_at=at_local(day(-5), 10), surname="C")
    _, de = approved_separation(
        users, children=[years_ago(2), years_ago(12)], occurred_at=at_local(day(-5), 10), surname="DE"
    )
    d, e = sorted(de, key=lambda case: case.child.date_of_birth, reverse=True)
    _, (f,) = approved_separation(users, children=[ten], occurred_at=at_local(day(-5), 8), surname="F")
    _, (g,) = approved_separation(
        users, children=[years_ago(7)], occurred_at=at_local(day(-1), 10), surname="G"
    )
    _, (h,) = approved_separation(
        users, children=[years_ago(6)], occurred_at=at_local(day(-15), 10), surname="H"
    )
    case_step_update(case_id=h.pk, step="contact_made", done=True, by=users["coordinator"])
    _, (closed,) = approved_separation(users, children=[years_ago(5)], occurred_at=at_local(day(-30), 10))
    case_close(case_id=closed.pk, by=users["coordinator"], outcome="parent_removed", note="Removed")
    mca_users = {
        "field_agent": make_user("mca_agent", "field_agent", station="MCA"),
        "supervisor": make_user("mca_supervisor", "supervisor", station="MCA"),
    }
    _, (other_team,) = approved_separation(
        mca_users, children=[years_ago(1)], occurred_at=at_local(day(-40), 10), at="MCA"
    )
    return {
        "expected": [a.pk, b.pk, d.pk, f.pk, c.pk, e.pk, g.pk, h.pk],
        "overdue": {a.pk, b.pk},
        "closed": closed,
        "other_team": other_team,
    }
