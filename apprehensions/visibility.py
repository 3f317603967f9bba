"""The one person-visibility policy: who may see a person, and who may act for one.

Pages, the API, search, exports and every service that reveals a person ask this module, never
re-derive the rule. It mirrors the "Who may do what" table of the API contract:

| viewer                       | sees (lists, search)                | reads by id / A-number |
|------------------------------|-------------------------------------|------------------------|
| field agent, supervisor      | persons encountered at own station  | same                   |
| hq analyst, auditor          | everyone                            | everyone               |
| coordinator                  | persons in any separation (*)       | same                   |
| partner agency               | no one (no list)                    | anyone                 |
| anyone else, or signed out   | no one                              | no one                 |

(*) registered by the separations app (a floor above) through `register_read_scope`.

Acting for a person (`can_act_for_person`): station staff act for their own station's persons;
coordinators edit relationship evidence and record custody for persons in their team's
reunification cases (registered by the reunification app through `register_action_scope`);
partner agencies record custody for anyone; an auditor acts for no one.

Scopes are `Q` objects over `Person` with one meaning: `ALL` (`Q()`) is everyone, `NONE` is no one.
There is no `None` standing for either. Apps register in their `AppConfig.ready()`, so no lower app
imports a higher one; without the higher app installed its scope is simply absent (deny by default).
"""

from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum
from typing import Any
from uuid import UUID

from django.db.models import Q, QuerySet
from django.http import Http404

from familylink.common.roles import has_capability, user_roles

from .models import Person
from .scoping import at_station_q

ScopeFn = Callable[[Any], Q]

ALL = Q()
NONE = Q(pk__in=[])
NOT_VISIBLE = "No person with this id, or not one you may see."
READ_CAPABILITIES = ("read_persons_all", "read_persons_station", "read_persons_separated", "lookup_persons")


class Action(StrEnum):
    """What a user may do for one person (beyond reading it)."""

    EDIT_PERSON = "edit_person"  # identity fields, relationships recorded for the person
    EDIT_RELATIONSHIP_EVIDENCE = "edit_relationship_evidence"  # evidence of a relationship of the person
    TRANSFER_CUSTODY = "transfer_custody"
    REQUEST_SEPARATION = "request_separation"


@dataclass(frozen=True)
class _Rule:
    """Holders of every capability in `capabilities` get the persons of `scope(viewer)`."""

    capabilities: tuple[str, ...]
    scope: ScopeFn
    source: str


def _is_all(q: Q) -> bool:
    return not q.children and not q.negated


def _is_none(q: Q) -> bool:
    return q.children == [("pk__in", [])] and not q.negated


def station_scope(viewer: Any) -> Q:
    """Persons encountered at least once at the viewer's station; no one without a station."""
    station = str(getattr(viewer, "station", "") or "")
    return at_station_q(station) if station else NONE


def _everyone(viewer: Any) -> Q:
    return ALL


_READ_RULES: list[_Rule] = [
    _Rule(("read_persons_all",), _everyone, "apprehensions"),
    _Rule(("read_persons_station",), station_scope, "apprehensions"),
]
# Reading one person by id or A-number (never a list): partner agencies look anyone up.
_LOOKUP_RULES: list[_Rule] = [_Rule(("lookup_persons",), _everyone, "apprehensions")]
_ACTION_RULES: dict[Action, list[_Rule]] = {
    Action.EDIT_PERSON: [_Rule(("record_intake",), station_scope, "apprehensions")],
    Action.EDIT_RELATIONSHIP_EVIDENCE: [_Rule(("record_intake",), station_scope, "apprehensions")],
    Action.TRANSFER_CUSTODY: [
        _Rule(("transfer_custody", "read_persons_station"), station_scope, "apprehensions"),
        _Rule(("transfer_custody", "lookup_persons"), _everyone, "apprehensions"),
    ],
    Action.REQUEST_SEPARATION: [_Rule(("request_separation",), station_scope, "apprehensions")],
}


def _add(rules: list[_Rule], rule: _Rule) -> None:
    """Registering twice (ready() runs again in some test setups) keeps one copy."""
    rules[:] = [r for r in rules if (r.capabilities, r.source) != (rule.capabilities, rule.source)]
    rules.append(rule)


def register_read_scope(capability: str, scope: ScopeFn, *, source: str) -> None:
    """A higher app adds the persons holders of `capability` may see (e.g. in any separation)."""
    _add(_READ_RULES, _Rule((capability,), scope, source))


def register_action_scope(
    action: Action | str, capabilities: tuple[str, ...], scope: ScopeFn, *, source: str
) -> None:
    """A higher app adds the persons holders of all `capabilities` may act for with `action`."""
    _add(_ACTION_RULES[Action(action)], _Rule(tuple(capabilities), scope, source))


def _holds(viewer: Any, capabilities: tuple[str, ...]) -> bool:
    return all(has_capability(viewer, c) for c in capabilities)


def _combine(viewer: Any, rules: list[_Rule]) -> Q:
    combined: Q | None = None
    for rule in rules:
        if not _holds(viewer, rule.capabilities):
            continue
        q = rule.scope(viewer)
        if _is_all(q):
            return ALL
        if _is_none(q):
            continue
        combined = q if combined is None else combined | q
    return NONE if combined is None else combined


def persons_visible_q(viewer: Any, *, by_identifier: bool = False) -> Q:
    """The persons `viewer` may see, as a Q over Person (`ALL` = everyone, `NONE` = no one).

    `by_identifier=True`: reading one person by id or A-number, which partner agencies may do.
    """
    if not getattr(viewer, "is_authenticated", False):
        return NONE
    rules = _READ_RULES + (_LOOKUP_RULES if by_identifier else [])
    return _combine(viewer, rules)


def persons_visible_to(viewer: Any, *, by_identifier: bool = False) -> QuerySet[Person]:
    """Persons `viewer` may list (or, with `by_identifier`, read one at a time)."""
    q = persons_visible_q(viewer, by_identifier=by_identifier)
    if _is_none(q):
        return Person.objects.none()
    return Person.objects.all() if _is_all(q) else Person.objects.filter(q)


def can_read_persons(viewer: Any) -> bool:
    """The role reads person records at all (pages and API answer 403 otherwise)."""
    return any(has_capability(viewer, c) for c in READ_CAPABILITIES)


def can_list_persons(viewer: Any) -> bool:
    return not _is_none(persons_visible_q(viewer))


def is_person_visible(viewer: Any, person: Any, *, by_identifier: bool = True) -> bool:
    q = persons_visible_q(viewer, by_identifier=by_identifier)
    if _is_all(q):
        return True
    if _is_none(q) or person is None or getattr(person, "pk", None) is None:
        return False
    return Person.objects.filter(q, pk=person.pk).exists()


def _as_uuid(value: Any) -> UUID | None:
    if isinstance(value, UUID):
        return value
    try:
        return UUID(str(value))
    except (TypeError, ValueError, AttributeError):
        return None


def person_visible_or_none(*, viewer: Any, person_id: Any, include_withdrawn: bool = True) -> Person | None:
    """The person with `person_id` if `viewer` may read it by id; None when unknown or out of scope."""
    pid = _as_uuid(person_id)
    if pid is None:
        return None
    queryset = persons_visible_to(viewer, by_identifier=True)
    if not include_withdrawn:
        queryset = queryset.filter(withdrawn_at__isnull=True)
    return queryset.filter(pk=pid).first()


def person_visible_or_404(*, viewer: Any, person_id: Any, include_withdrawn: bool = True) -> Person:
    """The person with `person_id` if `viewer` may read it; Http404 (the same answer as an unknown id)."""
    person = person_visible_or_none(viewer=viewer, person_id=person_id, include_withdrawn=include_withdrawn)
    if person is None:
        raise Http404(NOT_VISIBLE)
    return person


def persons_actionable_q(viewer: Any, action: Action | str) -> Q:
    """The persons `viewer` may act for with `action`, as a Q over Person (auditors: no one)."""
    if not getattr(viewer, "is_authenticated", False) or "auditor" in user_roles(viewer):
        return NONE
    return _combine(viewer, _ACTION_RULES[Action(action)])


def can_act_for_person(viewer: Any, person: Any, action: Action | str) -> bool:
    """May `viewer` do `action` for `person`? (contract table; deny by default)."""
    q = persons_actionable_q(viewer, action)
    if _is_all(q):
        return person is not None
    if _is_none(q) or person is None:
        return False
    return Person.objects.filter(q, pk=person.pk).exists()


def can_act_for_any(viewer: Any, persons: Any, action: Action | str) -> bool:
    """May `viewer` do `action` for at least one of `persons` (e.g. either end of a relationship)?"""
    ids = [p.pk for p in persons if p is not None]
    q = persons_actionable_q(viewer, action)
    if _is_all(q):
        return bool(ids)
    if _is_none(q) or not ids:
        return False
    return Person.objects.filter(q, pk__in=ids).exists()
