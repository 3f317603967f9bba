"""Station scoping: "own station" means persons encountered in apprehensions at the user's station."""

from typing import Any

from django.db.models import Exists, OuterRef, Q

from .models import ApprehensionPerson


def at_station_q(station_code: str) -> Q:
    """A Q for Person querysets: encountered at least once at `station_code`."""
    return Q(
        Exists(
            ApprehensionPerson.objects.filter(person=OuterRef("pk"), apprehension__station__code=station_code)
        )
    )


def is_person_at_station(person: Any, station_code: str) -> bool:
    if not station_code:
        return False
    return ApprehensionPerson.objects.filter(person=person, apprehension__station__code=station_code).exists()
