"""Teams and their time zones: a team's worklist day is its own local day, built at its local
morning hour, and its pages and messages show times in its zone."""

from datetime import UTC, date, datetime, time
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from django.conf import settings
from django.utils import timezone

from .models import Team


def _zone(name: str | None) -> ZoneInfo | None:
    try:
        return ZoneInfo(name) if name else None
    except (ZoneInfoNotFoundError, ValueError, OSError):
        return None


def team_for(code: str | None) -> Team | None:
    return Team.objects.filter(code=code).first() if code else None


_ZONES: dict[str, ZoneInfo] = {}


def forget_zones(**kwargs: Any) -> None:
    """Teams and stations changed: read their zones afresh (connected to post_save)."""
    _ZONES.clear()


def team_zone(code: str | None) -> ZoneInfo:
    """The team's zone; for a team not on file, its station's (EPT-REUNIFY → EPT); else TIME_ZONE.
    Kept per process (pages show many cases of one team) until a team or station is saved."""
    if code and code in _ZONES:
        return _ZONES[code]
    zone = _team_zone(code)
    if code:
        _ZONES[code] = zone
    return zone


def _team_zone(code: str | None) -> ZoneInfo:
    team = team_for(code)
    zone = _zone(team.timezone) if team is not None else None
    if zone is None and code:
        from apprehensions.models import Station

        station = Station.objects.filter(code=code.split("-")[0]).first()
        zone = _zone(station.timezone) if station is not None else None
    return zone or ZoneInfo(settings.TIME_ZONE)


def team_morning_hour(code: str | None) -> int:
    team = team_for(code)
    if team is not None and team.morning_hour is not None:
        return int(team.morning_hour)
    return int(settings.WORKLIST_BUILD_HOUR)


def team_today(code: str | None, now: datetime | None = None) -> date:
    """The team's local date now: an El Paso team's day ends at midnight in El Paso, not UTC."""
    return (now or timezone.now()).astimezone(team_zone(code)).date()


def team_morning(code: str | None, day: date) -> datetime:
    """The moment the team's list for `day` is "as of": its morning hour, local time.

    Read as PostgreSQL reads a local time (the list's build computes "overdue" in SQL): an hour
    that happens twice (fall back) is the second one, in standard time; an hour that is skipped
    (spring forward) keeps the offset before the change.
    """
    zone = team_zone(code)
    first = datetime.combine(day, time(hour=team_morning_hour(code)), tzinfo=zone)
    second = first.replace(fold=1)
    chosen = second if second.utcoffset() < first.utcoffset() else first  # type: ignore[operator]
    # In UTC: Python never finds a repeated or skipped local time equal to any other zone's time.
    return chosen.astimezone(UTC)


def ensure_team(code: str, *, by: Any = None) -> Team:
    """The team named `code`, created (with history) in its station's zone when new."""
    team = team_for(code)
    if team is not None:
        return team
    team = Team(code=code, name=code, timezone=str(team_zone(code)))
    team._change_reason = "team first named on a case"
    if by is not None:
        team._history_user = by
    team.save()
    return team
