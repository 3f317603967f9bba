"""Template helpers: instants shown with their zone, custody in words."""

from datetime import datetime
from typing import Any

from django import template

from familylink.common.clock import wallclock_text

register = template.Library()


@register.filter
def instant(value: datetime | None, tz_name: str = "") -> str:
    """`2018-06-01 14:00 MDT` in `tz_name` (e.g. the station's zone), else the reader's zone:
    the one wall clock of familylink.common.clock."""
    return wallclock_text(value, tz_name or None)


@register.filter
def custody_text(period: Any) -> str:
    """`HHS Office of Refugee Resettlement, Casa Padre` or `no custody recorded`."""
    if period is None:
        return "no custody recorded"
    label = period.get_agency_display()
    return f"{label}, {period.facility}" if period.facility else label


@register.filter
def uswds(field: Any) -> str:
    """Render a form field's widget with the USWDS class and its hint/error described-by ids."""
    widget = field.field.widget
    kind = getattr(widget, "input_type", "") or widget.__class__.__name__.lower()
    css = {"select": "usa-select", "textarea": "usa-textarea"}.get(kind, "usa-input")
    if field.errors:
        css += " usa-input--error"
    described = []
    if field.help_text:
        described.append(f"{field.auto_id}-hint")
    if field.errors:
        described.append(f"{field.auto_id}-error")
    attrs = {"class": css}
    if described:
        attrs["aria-describedby"] = " ".join(described)
    if field.errors:
        attrs["aria-invalid"] = "true"
    return field.as_widget(attrs=attrs)


@register.filter
def side_names(separation: Any, side: str) -> str:
    """`Ana Pérez, Luis Pérez`: the names on one side of a separation (its `live_members`)."""
    members = getattr(separation, "live_members", None)
    if members is None:
        members = separation.members.filter(withdrawn_at__isnull=True).select_related("person")
    return ", ".join(m.person.full_name for m in members if m.side == side)
