"""Station scoping: "own station" means persons encountered in apprehensions at the user's station."""

from typing import Any

from django.db.models import Exists, OuterRef, Q

from .models import ApprehensionPerson, Station


def at_station_q(station_code: str) -> Q:
    """A Q for Person querysets: encountered at least once at `station_code`.

    The station's id is looked up first, so PostgreSQL sees a constant and uses its statistics of
    apprehensions per station (a join on the code made it guess 1% of rows, and pick slow plans).
    """
    station_id = Station.objects.filter(code=station_code).values_list("id", flat=True).first()
    if station_id is None:
        return Q(pk__in=[])
    return Q(
        Exists(ApprehensionPerson.objects.filter(person=OuterRef("pk"), apprehension__station_id=station_id))
    )


def is_person_at_station(person: Any, station_code: str) -> bool:
    """Encountered at `station_code`. Not for access decisions: ask apprehensions.visibility."""
    if not station_code:
        return False
    return ApprehensionPerson.objects.filter(person=person, apprehension__station__code=station_code).exists()
