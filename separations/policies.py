"""Who may see and do what in the separations layer (API contract, "Who may do what").

Views and the API ask these functions; services re-check what they must (two-person rule).
"Own station" means persons encountered at the user's station, and separations requested there.
"""

from collections.abc import Callable
from typing import Any

from django.db.models import Exists, OuterRef, Q, QuerySet

from apprehensions.models import Person
from apprehensions.scoping import at_station_q, is_person_at_station
from familylink.common.roles import has_capability

from .models import Separation, SeparationMember

# A coordinator transfers custody "for their cases". Cases live in the reunification app (a floor
# above); it may register a function user -> Q over Person narrowing this. Until it does, a
# coordinator may act on persons who are in any separation (their read scope in the contract).
_CASE_SCOPE: list[Callable[[Any], Q]] = []


def register_case_scope(fn: Callable[[Any], Q]) -> None:
    _CASE_SCOPE[:] = [fn]


def in_any_separation_q() -> Q:
    """Person Q: a member (either side) of a separation that is not withdrawn."""
    return Q(
        Exists(
            SeparationMember.objects.filter(
                person=OuterRef("pk"), withdrawn_at__isnull=True, separation__withdrawn_at__isnull=True
            )
        )
    )


def _coordinator_q(user: Any) -> Q:
    if _CASE_SCOPE:
        return _CASE_SCOPE[0](user)
    return in_any_separation_q()


def persons_list_q(user: Any) -> Q | None:
    """A Q over Person for lists the user may read; None = every person; Q(pk__in=[]) = none."""
    if has_capability(user, "read_persons_all"):
        return None
    parts = []
    if has_capability(user, "read_persons_station") and user.station:
        parts.append(at_station_q(user.station))
    if has_capability(user, "read_persons_separated"):
        parts.append(in_any_separation_q())
    if not parts:
        return Q(pk__in=[])
    q = parts[0]
    for part in parts[1:]:
        q |= part
    return q


def can_read_person(user: Any, person: Person) -> bool:
    """Read one person's record: lists scope, plus partner agencies looking up by id."""
    if has_capability(user, "lookup_persons"):
        return True
    q = persons_list_q(user)
    if q is None:
        return True
    return Person.objects.filter(q, pk=person.pk).exists()


def separations_list_q(user: Any) -> Q | None:
    """A Q over Separation for lists; None = all; station staff see their station's separations."""
    if any(
        has_capability(user, c)
        for c in ("report_separated_all", "read_persons_all", "read_persons_separated", "read_cases_all")
    ):
        return None
    if (
        has_capability(user, "request_separation") or has_capability(user, "decide_separation")
    ) and user.station:
        return Q(station__code=user.station)
    return Q(pk__in=[])


def visible_separations(user: Any) -> QuerySet[Separation]:
    qs = Separation.objects.all()
    q = separations_list_q(user)
    return qs if q is None else qs.filter(q)


def can_list_separations(user: Any) -> bool:
    q = separations_list_q(user)
    return q is None or q != Q(pk__in=[])


def can_read_separation(user: Any, separation: Separation) -> bool:
    """Detail by id: list scope, plus partner agencies (they read by id, never list)."""
    if has_capability(user, "lookup_persons"):
        return True
    q = separations_list_q(user)
    return q is None or visible_separations(user).filter(pk=separation.pk).exists()


def can_request_separation_for(user: Any, person: Person) -> bool:
    return (
        has_capability(user, "request_separation")
        and bool(user.station)
        and is_person_at_station(person, user.station)
    )


def decision_refusal(user: Any, separation: Separation) -> str | None:
    """Why `user` may not approve or reject `separation` now, or None when they may."""
    if not has_capability(user, "decide_separation"):
        return "Only a supervisor can approve or reject a separation."
    if separation.requested_by_id == user.pk:
        return "You requested this separation; another supervisor of the station must decide it."
    if user.station != separation.station.code:
        return f"A supervisor of station {separation.station.code} decides this separation."
    if separation.withdrawn_at is not None or separation.status != Separation.Status.REQUESTED:
        return "This separation is no longer waiting for a decision."
    return None


def can_transfer_custody(user: Any, person: Person) -> bool:
    """Custody transfers: station staff for their station, coordinators for their cases, partners."""
    if not has_capability(user, "transfer_custody") or "auditor" in getattr(user, "role_names", set()):
        return False
    if has_capability(user, "lookup_persons"):
        return True
    if (
        has_capability(user, "read_persons_station")
        and user.station
        and is_person_at_station(person, user.station)
    ):
        return True
    if has_capability(user, "work_cases"):
        return Person.objects.filter(_coordinator_q(user), pk=person.pk).exists()
    return False


def report_station(user: Any) -> tuple[bool, str | None]:
    """(allowed, station code or None for all stations) for the separated-children report."""
    if has_capability(user, "report_separated_all"):
        return True, None
    if has_capability(user, "report_separated_station") and user.station:
        return True, user.station
    return False, None
