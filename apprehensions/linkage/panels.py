"""Person page panel: a merged record leads to its survivor; analysts see the pair's open candidates.
The persons API field `merged_into` says the same to API readers."""

from typing import Any

from django.db.models import OuterRef, Q, QuerySet, Subquery
from django.http import HttpRequest

from familylink.common.roles import has_capability

from .models import LinkCandidate, PersonMerge


def person_linkage_panel(request: HttpRequest, person: Any) -> tuple[str, dict[str, Any]] | None:
    merge = (
        PersonMerge.objects.filter(merged=person, undone_at__isnull=True).select_related("survivor").first()
    )
    absorbed = list(
        PersonMerge.objects.filter(survivor=person, undone_at__isnull=True).select_related("merged")
    )
    candidates: list[LinkCandidate] = []
    if has_capability(request.user, "read_link_candidates"):
        candidates = list(
            LinkCandidate.objects.filter(
                Q(person_a=person) | Q(person_b=person), status=LinkCandidate.Status.PROPOSED
            ).select_related("person_a", "person_b")[:20]
        )
    if merge is None and not absorbed and not candidates:
        return None
    return "linkage/panels/person.html", {
        "person": person,
        "merge": merge,
        "absorbed": absorbed,
        "candidates": candidates,
    }


_NOT_LOADED = object()


def _merged_into_subquery() -> Subquery:
    return Subquery(
        PersonMerge.objects.filter(merged=OuterRef("pk"), undone_at__isnull=True).values("survivor_id")[:1]
    )


def annotate_merged_into(queryset: QuerySet) -> QuerySet:
    return queryset.annotate(_merged_into=_merged_into_subquery())


def merged_into_field(person: Any, request: Any) -> str | None:
    """The survivor's id while this record is merged into it, else null: the record is not a second
    live person (partners holding its id or A-number are led to the one that carries the case)."""
    survivor_id = getattr(person, "_merged_into", _NOT_LOADED)
    if survivor_id is _NOT_LOADED:
        survivor_id = (
            PersonMerge.objects.filter(merged=person, undone_at__isnull=True)
            .values_list("survivor_id", flat=True)
            .first()
        )
    return str(survivor_id) if survivor_id else None
