"""Demo separations on top of the apprehensions demo (manage.py seed_demo). Idempotent.

Works from whatever family units exist at station EPT (the apprehensions demo runs first) and
does nothing when there are none. Everything goes through the services, as a user would:
some requests wait for the demo supervisor; others are in effect (Zero Tolerance prosecution)
with the children moved CBP → HHS ORR and the adults to ICE or the U.S. Marshals.
"""

from datetime import timedelta
from typing import Any

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from apprehensions.models import FamilyMembership, FamilyUnit, Station
from familylink.common.models import User

from . import services
from .models import CustodyPeriod, Separation

# (reason, approve?) for the first family units at EPT, in order.
PLAN = [
    ("ZERO_TOLERANCE_PROSECUTION", False),
    ("CRIMINAL_HISTORY", False),
    ("ZERO_TOLERANCE_PROSECUTION", True),
    ("ZERO_TOLERANCE_PROSECUTION", True),
    ("ZERO_TOLERANCE_PROSECUTION", True),
    ("PARENT_IN_CRIMINAL_CUSTODY", True),
]
ORR_SHELTERS = ["Casa Padre, Brownsville TX", "Tornillo, TX", "Southwest Key Casa Franklin, El Paso TX"]


def _say(stdout: Any, text: str) -> None:
    if stdout is not None:
        stdout.write(text)


def _demo_users(stdout: Any) -> tuple[User, User] | None:
    agent = User.objects.filter(username="field_agent", is_active=True).first()
    supervisor = User.objects.filter(username="supervisor", is_active=True).first()
    if (agent is None or supervisor is None) and settings.DEBUG:
        # seed_demo creates its users after the apps' demo data; the requests need them now.
        from familylink.common.demo import ensure_demo_users

        ensure_demo_users()
        agent = User.objects.get(username="field_agent")
        supervisor = User.objects.get(username="supervisor")
    if agent is None or supervisor is None:
        _say(stdout, "separations demo: no demo field agent/supervisor (DEBUG off); skipped.")
        return None
    return agent, supervisor


def _units_with_a_child_and_an_adult(station: Station) -> list[tuple[FamilyUnit, list, list]]:
    units = []
    for unit in (
        FamilyUnit.objects.filter(apprehension__station=station, withdrawn_at__isnull=True)
        .select_related("apprehension")
        .order_by("apprehension__occurred_at", "id")[:200]
    ):
        members = [
            m.person
            for m in FamilyMembership.objects.filter(
                family_unit=unit, withdrawn_at__isnull=True
            ).select_related("person")
        ]
        children = [p for p in members if p.is_minor and p.withdrawn_at is None]
        adults = [p for p in members if not p.is_minor and p.withdrawn_at is None]
        if children and adults:
            units.append((unit, children, adults))
        if len(units) >= len(PLAN):
            break
    return units


def _move(person: Any, agency: str, facility: str, at: Any, by: User) -> None:
    current = CustodyPeriod.objects.filter(
        person=person, ended_at__isnull=True, withdrawn_at__isnull=True
    ).first()
    if current is not None and current.agency == agency:
        return
    if current is not None and current.started_at > at:
        return
    services.custody_transfer(
        person_id=person.pk, agency=agency, facility=facility, started_at=at, by=by, change_reason="seed_demo"
    )


def seed(sender: Any, scale: int | None = None, stdout: Any = None, **kwargs: Any) -> None:
    station = Station.objects.filter(code="EPT").first()
    if station is None:
        return
    units = _units_with_a_child_and_an_adult(station)
    if not units:
        _say(stdout, "separations demo: no family unit with a child and an adult at EPT; nothing to add.")
        return
    users = _demo_users(stdout)
    if users is None:
        return
    agent, supervisor = users
    now = timezone.now()
    added = 0
    for index, ((unit, children, adults), (reason, approve)) in enumerate(zip(units, PLAN, strict=False)):
        if Separation.objects.filter(family_unit=unit).exists():
            continue
        encountered = unit.apprehension.occurred_at if unit.apprehension else now - timedelta(days=2)
        occurred_at = min(encountered + timedelta(hours=6), now - timedelta(minutes=5))
        with transaction.atomic():
            for person in [*children, *adults]:
                _move(person, "CBP", "El Paso Station (Border Patrol)", encountered, agent)
            separation = services.separation_request(
                requester=agent,
                children=[p.pk for p in children],
                adults=[p.pk for p in adults[:1]],
                reason_code=reason,
                occurred_at=occurred_at,
                narrative="Adult referred for prosecution under 8 USC 1325 (demo)."
                if reason == "ZERO_TOLERANCE_PROSECUTION"
                else "Demo separation.",
                place="El Paso Station",
                family_unit=unit.pk,
                change_reason="seed_demo",
            )
            added += 1
            if not approve:
                continue
            services.separation_approve(
                separation_id=separation.pk, approver=supervisor, comment="Demo: approved per policy."
            )
            moved_at = min(occurred_at + timedelta(hours=20), now - timedelta(minutes=1))
            for child in children:
                _move(child, "HHS_ORR", ORR_SHELTERS[index % len(ORR_SHELTERS)], moved_at, agent)
            adult_agency = "USMS" if reason == "PARENT_IN_CRIMINAL_CUSTODY" or index % 2 else "ICE"
            facility = "Otero County Processing Center, NM" if adult_agency == "ICE" else "USMS El Paso"
            _move(adults[0], adult_agency, facility, moved_at, agent)
    _say(stdout, f"separations demo: {added} separation(s) added at EPT.")
