"""Who may see and do what in the separations layer (API contract, "Who may do what").

Views and the API ask these functions; services re-check what they must (two-person rule).
"Own station" means persons encountered at the user's station, and separations requested there.
"""

from typing import Any

from django.db.models import Exists, OuterRef, Q, QuerySet

from apprehensions.models import Person
from apprehensions.visibility import Action, can_act_for_person, is_person_visible
from familylink.common.roles import has_capability

from .models import Separation, SeparationMember

ALL = Q()
NONE = Q(pk__in=[])


def in_any_separation_q(viewer: Any = None) -> Q:
    """Person Q: a member (either side) of a separation, neither the separation nor the membership
    withdrawn. Registered as the coordinator's read scope (`read_persons_separated`) in ready()."""
    return Q(
        Exists(
            SeparationMember.objects.filter(
                person=OuterRef("pk"), withdrawn_at__isnull=True, separation__withdrawn_at__isnull=True
            )
        )
    )


def can_read_person(user: Any, person: Person) -> bool:
    """Read one person's record (by id): the one visibility policy, apprehensions.visibility."""
    return is_person_visible(user, person, by_identifier=True)


def separations_list_q(user: Any) -> Q:
    """A Q over Separation for lists: ALL, NONE, or station staff's own station's separations."""
    if any(
        has_capability(user, c)
        for c in ("report_separated_all", "read_persons_all", "read_persons_separated", "read_cases_all")
    ):
        return ALL
    if (
        has_capability(user, "request_separation") or has_capability(user, "decide_separation")
    ) and user.station:
        return Q(station__code=user.station)
    return NONE


def visible_separations(user: Any) -> QuerySet[Separation]:
    q = separations_list_q(user)
    return Separation.objects.none() if q == NONE else Separation.objects.filter(q)


def can_list_separations(user: Any) -> bool:
    return separations_list_q(user) != NONE


def can_read_separation(user: Any, separation: Separation) -> bool:
    """Detail by id: the list scope (partner agencies are not granted separations by the contract)."""
    return visible_separations(user).filter(pk=separation.pk).exists()


def can_request_separation_for(user: Any, person: Person) -> bool:
    return can_act_for_person(user, person, Action.REQUEST_SEPARATION)


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
    """Custody transfers: station staff for their station, coordinators for their team's cases,
    partner agencies for anyone (apprehensions.visibility, with reunification's registered scope)."""
    return can_act_for_person(user, person, Action.TRANSFER_CUSTODY)


def report_station(user: Any) -> tuple[bool, str | None]:
    """(allowed, station code or None for all stations) for the separated-children report."""
    if has_capability(user, "report_separated_all"):
        return True, None
    if has_capability(user, "report_separated_station") and user.station:
        return True, user.station
    return False, None
