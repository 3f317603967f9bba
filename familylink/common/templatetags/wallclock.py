"""`{{ when|wallclock }}` / `{{ when|wallclock:station }}`: the one way pages show an instant
(a built-in, so no template needs to load it). See familylink.common.clock."""

from datetime import datetime
from typing import Any

from django import template

from familylink.common.clock import wallclock_text

register = template.Library()


@register.filter
def wallclock(value: datetime | None, where: Any = None) -> str:
    """The instant in the zone of `where` (a station, a team, a zone name) or the reader's zone."""
    return wallclock_text(value, where)
