"""What a reader may see in the reports: the one place the reports app asks, so the person-
visibility policy (being restructured) can be swapped in here without touching the views.

Today it asks the existing helpers: separations.policies.report_station for separations and
children, reunification.selectors.cases_visible_to for cases.
"""

from dataclasses import dataclass
from typing import Any

from django.core.exceptions import PermissionDenied
from django.db.models import QuerySet

from familylink.common.roles import has_capability
from reunification.models import ReunificationCase
from reunification.selectors import cases_visible_to
from separations.policies import report_station

SEPARATION_CAPABILITIES = ("report_separated_all", "report_separated_station")
CASE_CAPABILITIES = ("read_cases_all", "read_cases_station", "work_cases")


@dataclass(frozen=True)
class Scope:
    """`station`: the one station a reader is limited to (None: every station)."""

    station: str | None
    all_stations: bool

    def narrowed(self, station: str | None) -> str | None:
        """The station a report runs for: the reader's own, or any one they asked for if they may
        see all; asking for another station than one's own is refused."""
        if not station:
            return self.station
        if self.all_stations or station == self.station:
            return station
        raise PermissionDenied(f"You may read station {self.station} only.")


def separations_scope(user: Any) -> Scope:
    """Scope of separation and separated-children figures; PermissionDenied when none."""
    allowed, station = report_station(user)
    if not allowed:
        raise PermissionDenied("Your role cannot read the separation reports.")
    return Scope(station=station, all_stations=station is None)


def cases(user: Any) -> QuerySet[ReunificationCase]:
    """Reunification cases the reader may see (a coordinator's team, a supervisor's station...)."""
    return cases_visible_to(user)


def can_read_cases(user: Any) -> bool:
    return any(has_capability(user, c) for c in CASE_CAPABILITIES)


def case_station(user: Any, station: str | None, cases: QuerySet[ReunificationCase]) -> str | None:
    """The station a case figure is narrowed to (`cases`: the reader's). Readers of every case may
    name any; others their own station or one their cases are at. Another is refused, not answered
    with a false 0."""
    if not station or has_capability(user, "read_cases_all"):
        return station
    own = getattr(user, "station", "") or ""
    if station == own or cases.filter(separation__station__code=station).exists():
        return station
    raise PermissionDenied(f"You may read station {own} only." if own else "You may not read that station.")


def total_label(user: Any) -> str:
    """The heading of a case report's total column: 'All stations' only to readers of every case."""
    return "All stations" if has_capability(user, "read_cases_all") else "Total"


def cases_scope(user: Any) -> QuerySet[ReunificationCase]:
    if not can_read_cases(user):
        raise PermissionDenied("Your role cannot read reunification cases.")
    return cases(user)
