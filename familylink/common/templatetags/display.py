"""`{{ when|wallclock }}` / `{{ when|wallclock:station }}`: the one way pages show an instant
(a built-in, so no template needs to load it). See familylink.common.clock."""

from datetime import datetime
from typing import Any

from django import template

from familylink.common.clock import wallclock_text
from familylink.common.countries import country_name

register = template.Library()


@register.filter
def wallclock(value: datetime | None, where: Any = None) -> str:
    """The instant in the zone of `where` (a station, a team, a zone name) or the reader's zone."""
    return wallclock_text(value, where)


@register.filter
def user_name(user: Any) -> str:
    """A user's full name, else their username, else "" (no user: scenario data, the system).

    `{{ x.get_full_name|default:x.username }}` raises VariableDoesNotExist (a 500) when x is None:
    Django resolves a filter's argument strictly.
    """
    if user is None:
        return ""
    return user.get_full_name() or user.username


@register.filter
def country(code: str | None) -> str:
    """`Guatemala` for `GT`: pages show country names, never bare codes."""
    return country_name(code)


@register.filter
def match_reasons(obj: Any) -> list[str]:
    """Why a search found this record (the reasons the search attached), or nothing."""
    text = getattr(obj, "search_reasons_text", None)
    return [r for r in (text or "").split("\x1f") if r]
