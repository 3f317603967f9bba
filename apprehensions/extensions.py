"""Extension points of the person record for the apps above this one.

Apps lower in the house never import higher ones (STYLE.md), yet the person page and the
persons API must show separations and custody (separations app) and reunification cases
(reunification app). Those apps register here in their AppConfig.ready():

- `register_person_panel(order, fn)`: `fn(request, person) -> (template_name, context) | None`;
  the person page renders each returned panel, in `order` (below 10: above the record, for notices
  such as "merged into another record").
- `register_person_api_field(name, fn, prefetch=None)`: `fn(person, request) -> JSON value`,
  added to the person serializer as a read-only field `name`; `prefetch(queryset) -> queryset`
  lets a list endpoint load what `fn` needs in a few queries.
- `register_person_filter(name, fn)`: `fn(queryset, value: str) -> queryset` for the persons
  list filter `name` (e.g. `separated`, `custody_agency`).
"""

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from django.db.models import QuerySet
from django.http import HttpRequest


@dataclass(frozen=True)
class PersonApiField:
    name: str
    fn: Callable[[Any, Any], Any]
    prefetch: Callable[[QuerySet], QuerySet] | None = None


_PANELS: list[tuple[int, Callable[[HttpRequest, Any], tuple[str, dict[str, Any]] | None]]] = []
_API_FIELDS: dict[str, PersonApiField] = {}
_FILTERS: dict[str, Callable[[QuerySet, str], QuerySet]] = {}


def register_person_panel(
    order: int, fn: Callable[[HttpRequest, Any], tuple[str, dict[str, Any]] | None]
) -> None:
    if all(existing is not fn for _, existing in _PANELS):
        _PANELS.append((order, fn))
        _PANELS.sort(key=lambda item: item[0])


def person_panels(request: HttpRequest, person: Any) -> list[dict[str, Any]]:
    panels = []
    for order, fn in _PANELS:
        result = fn(request, person)
        if result is not None:
            template_name, context = result
            panels.append({"template": template_name, "context": context, "order": order})
    return panels


def register_person_api_field(
    name: str, fn: Callable[[Any, Any], Any], prefetch: Callable[[QuerySet], QuerySet] | None = None
) -> None:
    _API_FIELDS[name] = PersonApiField(name, fn, prefetch)


def person_api_fields() -> list[PersonApiField]:
    return list(_API_FIELDS.values())


def prefetch_person_api_fields(queryset: QuerySet) -> QuerySet:
    for field in _API_FIELDS.values():
        if field.prefetch is not None:
            queryset = field.prefetch(queryset)
    return queryset


def register_person_filter(name: str, fn: Callable[[QuerySet, str], QuerySet]) -> None:
    _FILTERS[name] = fn


def person_filters() -> dict[str, Callable[[QuerySet, str], QuerySet]]:
    return dict(_FILTERS)
