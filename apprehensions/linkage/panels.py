"""Person page panel: a merged record leads to its survivor; analysts see the pair's open candidates."""

from typing import Any

from django.db.models import Q
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
