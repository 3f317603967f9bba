"""One clock on the wall: every instant is stored in UTC and shown in the zone of the place it
belongs to (a station's, a team's) with that zone's abbreviation, the same way on every page and
in every message. The API keeps ISO 8601 with offset; this module is for people."""

from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from django.conf import settings
from django.utils import timezone

WALLCLOCK_FORMAT = "%Y-%m-%d %H:%M %Z"


def zone_of(where: Any = None) -> ZoneInfo:
    """The zone of `where`: a zone name, a ZoneInfo, or anything with a `timezone`/`time_zone`
    (a station, a team); otherwise the zone active for this request (the reader's station or
    team), else the deployment's TIME_ZONE."""
    if isinstance(where, ZoneInfo):
        return where
    name = (
        where
        if isinstance(where, str)
        else getattr(where, "timezone", None) or getattr(where, "time_zone", None)
    )
    if name:
        try:
            return ZoneInfo(str(name))
        except (ZoneInfoNotFoundError, ValueError, OSError):
            pass
    current = timezone.get_current_timezone()
    return current if isinstance(current, ZoneInfo) else ZoneInfo(settings.TIME_ZONE)


def wallclock_text(value: datetime | str | None, where: Any = None) -> str:
    """`2018-06-01 14:00 MDT`: `value` in the zone of `where` (see `zone_of`), with its abbreviation.
    An ISO 8601 string (as history and the API carry them) is read first; other text is left as is."""
    if value is None or value == "":
        return ""
    if isinstance(value, str):
        try:
            value = datetime.fromisoformat(value)
        except ValueError:
            return str(value)
    assert isinstance(value, datetime)
    if timezone.is_naive(value):
        value = timezone.make_aware(value, ZoneInfo("UTC"))
    return value.astimezone(zone_of(where)).strftime(WALLCLOCK_FORMAT)
