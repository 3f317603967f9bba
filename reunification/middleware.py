"""The reader's wall clock: times not tied to a station or team (when a notice was sent, when a
record was viewed) are shown in the zone of the reader's own team or station."""

from collections.abc import Callable
from typing import Any

from django.http import HttpRequest, HttpResponse
from django.utils import timezone

from .teams import team_zone


def reader_zone(user: Any) -> Any:
    """A coordinator's team zone; a field agent's or supervisor's station zone; else None."""
    if not getattr(user, "is_authenticated", False):
        return None
    if getattr(user, "team", ""):
        return team_zone(user.team)
    if getattr(user, "station", ""):
        return team_zone(f"{user.station}-REUNIFY")
    return None


class ReaderTimeZoneMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        # Pages only: the API keeps ISO 8601 with its offset as it always has.
        zone = None if request.path.startswith("/api/") else reader_zone(getattr(request, "user", None))
        if zone is not None:
            timezone.activate(zone)
        try:
            return self.get_response(request)
        finally:
            timezone.deactivate()
