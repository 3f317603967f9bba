"""`{% history_link obj %}`: a "History" link to a record's history page, for readers with
`read_history` (HQ analysts, auditors); nothing for everyone else. A built-in (settings), so any
record page adds it in one line without loading anything or importing the audit app."""

from typing import Any

from django import template
from django.urls import reverse
from django.utils.html import format_html

from familylink.common.roles import has_capability

register = template.Library()


@register.simple_tag(takes_context=True)
def history_link(context: template.Context, obj: Any, text: str = "History") -> str:
    request = context.get("request")
    if obj is None or getattr(obj, "pk", None) is None or request is None:
        return ""
    if not has_capability(request.user, "read_history"):
        return ""
    url = reverse("audit:record_history", args=[obj._meta.label_lower, obj.pk])
    label = f"{text} of {obj._meta.verbose_name}"
    return format_html('<a class="history-link" href="{}" aria-label="{}">{}</a>', url, label, text)
