"""What the separations layer adds to the person record (apprehensions/extensions.py):
two panels on the person page, two fields of the persons API and two persons-list filters.

Both sides see each other: the child's panel names the adult(s), since when, why, who approved,
and where each adult is now; the adult's panel lists each separated child and where the child is.
"""

from typing import Any

from django.db.models import Q, QuerySet
from django.http import HttpRequest
from django.urls import reverse

from apprehensions.models import Person, Station
from familylink.common.errors import ValidationFailed

from . import policies
from .models import CustodyPeriod, Separation
from .selectors import (
    annotate_separation_status,
    custody_periods,
    open_custody,
    person_in_effect_q,
    person_separations,
    prefetch_open_custody,
    separation_status,
)
from .serializers import custody_brief

SEPARATION_PANEL_TEMPLATE = "separations/panels/separations.html"
CUSTODY_PANEL_TEMPLATE = "separations/panels/custody.html"


def _entry(
    separation: Separation, person: Person, custody: dict[Any, CustodyPeriod | None]
) -> dict[str, Any]:
    """One separation as `person` sees it. A child whose own separation ended before the
    siblings' (member `ended_at`) sees it as past; the adult sees only the children still apart."""
    mine = next(m for m in separation.live_members if m.person_id == person.pk)
    others = [m for m in separation.live_members if m.side != mine.side]
    in_effect = separation.status == Separation.Status.IN_EFFECT and mine.ended_at is None
    still_apart = [m for m in others if m.ended_at is None] if in_effect else others
    own_end = mine.ended_at is not None and separation.status == Separation.Status.IN_EFFECT
    return {
        "separation": separation,
        "side": mine.side,
        "in_effect": in_effect,
        "others": [{"person": m.person, "custody": custody.get(m.person_id)} for m in still_apart],
        "others_ended": [m for m in others if m.ended_at is not None] if in_effect else [],
        "ended_at": mine.ended_at if own_end else separation.ended_at,
        "end_outcome": mine.get_end_outcome_display() if own_end else separation.get_end_outcome_display(),
        "url": reverse("separations:detail", args=[separation.pk]),
    }


def separation_panel_context(request: HttpRequest, person: Person) -> dict[str, Any]:
    """Current, pending and past separations of `person`, both sides with where they are now."""
    separations = person_separations(person)
    other_ids = {m.person_id for s in separations for m in s.live_members}
    custody = {
        p.person_id: p
        for p in CustodyPeriod.objects.filter(
            person_id__in=other_ids, ended_at__isnull=True, withdrawn_at__isnull=True
        )
    }
    entries = [_entry(s, person, custody) for s in separations]
    user = request.user
    can_request = policies.can_request_separation_for(user, person)
    return {
        "person": person,
        "in_effect": [e for e in entries if e["in_effect"]],
        "pending": [e for e in entries if e["separation"].status == Separation.Status.REQUESTED],
        "past": [
            e for e in entries if not e["in_effect"] and e["separation"].status != Separation.Status.REQUESTED
        ],
        "separation_status": separation_status(person),
        "can_request": can_request,
        "request_url": f"{reverse('separations:new')}?person={person.pk}" if can_request else "",
    }


def display_time_zone(request: HttpRequest, person: Person) -> str:
    """Times on a person's panels: in the zone of the station that first encountered them."""
    from .forms import default_time_zone

    if person.first_station_id:
        tz = Station.objects.filter(pk=person.first_station_id).values_list("timezone", flat=True).first()
        if tz:
            return tz
    return default_time_zone(request.user)


def custody_panel_context(request: HttpRequest, person: Person) -> dict[str, Any]:
    can_transfer = policies.can_transfer_custody(request.user, person)
    return {
        "person": person,
        "display_tz": display_time_zone(request, person),
        "current_custody": open_custody(person),
        "custody_periods": list(custody_periods(person)),
        "can_transfer": can_transfer,
        "transfer_url": f"{reverse('separations:custody_new')}?person={person.pk}" if can_transfer else "",
    }


def separation_panel(request: HttpRequest, person: Person) -> tuple[str, dict[str, Any]]:
    return SEPARATION_PANEL_TEMPLATE, separation_panel_context(request, person)


def custody_panel(request: HttpRequest, person: Person) -> tuple[str, dict[str, Any]]:
    return CUSTODY_PANEL_TEMPLATE, custody_panel_context(request, person)


# --- persons API fields and filters ----------------------------------------------------------


def current_custody_field(person: Person, request: Any) -> dict[str, Any] | None:
    return custody_brief(open_custody(person))


def separation_status_field(person: Person, request: Any) -> str:
    return separation_status(person)


TRUE = {"true", "1", "yes"}
FALSE = {"false", "0", "no"}


def filter_separated(queryset: QuerySet, value: str) -> QuerySet:
    """`separated=true`: on either side of a separation in effect now; `false`: not."""
    flag = (value or "").strip().lower()
    if flag in TRUE:
        return queryset.filter(person_in_effect_q())
    if flag in FALSE:
        return queryset.exclude(person_in_effect_q())
    raise ValidationFailed({"separated": ["Use true or false."]})


def filter_custody_agency(queryset: QuerySet, value: str) -> QuerySet:
    """`custody_agency=HHS_ORR`: the agency of the person's open custody period."""
    agency = (value or "").strip().upper()
    if agency not in CustodyPeriod.Agency.values:
        raise ValidationFailed(
            {"custody_agency": [f"Unknown agency; use one of {', '.join(CustodyPeriod.Agency.values)}."]}
        )
    return queryset.filter(
        Q(
            custody_periods__agency=agency,
            custody_periods__ended_at__isnull=True,
            custody_periods__withdrawn_at__isnull=True,
        )
    )


def register_person_extensions() -> None:
    from apprehensions.extensions import (
        register_person_api_field,
        register_person_filter,
        register_person_panel,
    )

    register_person_panel(20, separation_panel)
    register_person_panel(30, custody_panel)
    register_person_api_field("current_custody", current_custody_field, prefetch=prefetch_open_custody)
    register_person_api_field(
        "separation_status", separation_status_field, prefetch=annotate_separation_status
    )
    register_person_filter("separated", filter_separated)
    register_person_filter("custody_agency", filter_custody_agency)
