"""Reads of link review: the analysts' queue (filtered), one candidate with both persons' files."""

from datetime import date
from typing import Any

from django.db.models import Prefetch, Q, QuerySet

from apprehensions.models import ApprehensionPerson, FamilyMembership, Person, Relationship, Station

from .models import LinkCandidate, PersonMerge

QUEUE_FILTERS = ("kind", "status", "min_score", "station", "date_from", "date_to")


def _date(value: str) -> date | None:
    try:
        return date.fromisoformat(value)
    except ValueError:
        return None


def _clean_station(station: str, cleaned: dict[str, Any], errors: dict[str, list[str]]) -> None:
    """A station code on file filters the queue; any other is named back (it matched nothing)."""
    if Station.objects.filter(code=station).exists():
        cleaned["station"] = station
    else:
        errors["station"] = [
            f"No station has the code {station!r}; choose one from the list, or every station."
        ]


def parse_queue_filters(params: Any) -> tuple[dict[str, Any], dict[str, list[str]]]:
    """Clean the queue's query parameters; errors name the parameter and the fix (never a 500)."""
    cleaned: dict[str, Any] = {}
    errors: dict[str, list[str]] = {}
    kind = (params.get("kind") or "").strip()
    if kind:
        if kind not in LinkCandidate.Kind.values:
            errors["kind"] = [f"Unknown kind {kind!r}; use one of {', '.join(LinkCandidate.Kind.values)}."]
        else:
            cleaned["kind"] = kind
    status = (params.get("status") or "").strip()
    if status and status != "all":
        if status not in LinkCandidate.Status.values:
            errors["status"] = [
                f"Unknown status {status!r}; use one of {', '.join(LinkCandidate.Status.values)} or all."
            ]
        else:
            cleaned["status"] = status
    min_score = (params.get("min_score") or "").strip()
    if min_score:
        try:
            value = float(min_score)
            if not 0 <= value <= 1:
                raise ValueError
            cleaned["min_score"] = value
        except ValueError:
            errors["min_score"] = [f"{min_score!r} is not a score; give a number from 0 to 1, e.g. 0.8."]
    station = (params.get("station") or "").strip().upper()
    if station:
        _clean_station(station, cleaned, errors)
    for name in ("date_from", "date_to"):
        raw = (params.get(name) or "").strip()
        if raw:
            day = _date(raw)
            if day is None:
                errors[name] = [f"{raw!r} is not a date; write it as YYYY-MM-DD, e.g. 2018-06-01."]
            else:
                cleaned[name] = day
    return cleaned, errors


def candidate_queue(*, filters: dict[str, Any]) -> QuerySet[LinkCandidate]:
    """Candidates, best score first, with both persons loaded."""
    qs = LinkCandidate.objects.select_related("person_a", "person_b", "decided_by")
    if "kind" in filters:
        qs = qs.filter(kind=filters["kind"])
    if "status" in filters:
        qs = qs.filter(status=filters["status"])
    if "min_score" in filters:
        qs = qs.filter(score__gte=filters["min_score"])
    if "station" in filters:
        qs = qs.filter(station_code=filters["station"])
    if "date_from" in filters:
        qs = qs.filter(encountered_on__gte=filters["date_from"])
    if "date_to" in filters:
        qs = qs.filter(encountered_on__lte=filters["date_to"])
    return qs.order_by("-score", "created_at", "id")


def person_file(person: Person | None) -> dict[str, Any] | None:
    """What an analyst compares: the person, apprehensions, family units, relationships, merges."""
    if person is None:
        return None
    encounters = (
        ApprehensionPerson.objects.filter(person=person, withdrawn_at__isnull=True)
        .select_related("apprehension__station")
        .order_by("apprehension__occurred_at")
    )
    memberships = (
        FamilyMembership.objects.filter(person=person, withdrawn_at__isnull=True)
        .select_related("family_unit")
        .prefetch_related(
            Prefetch(
                "family_unit__memberships",
                queryset=FamilyMembership.objects.filter(withdrawn_at__isnull=True).select_related("person"),
            )
        )
    )
    relationships = Relationship.objects.filter(
        Q(from_person=person) | Q(to_person=person), withdrawn_at__isnull=True
    ).select_related("from_person", "to_person")
    return {
        "person": person,
        "encounters": list(encounters),
        "memberships": list(memberships),
        "relationships": list(relationships),
        "merged_into": PersonMerge.objects.filter(merged=person, undone_at__isnull=True)
        .select_related("survivor")
        .first(),
    }


def active_merge_for_candidate(candidate: LinkCandidate) -> PersonMerge | None:
    return PersonMerge.objects.filter(candidate=candidate, undone_at__isnull=True).first()
