"""The HQ analysts' link review pages: the queue (filters), one candidate side by side, decisions.

Thin: capability check, selector or service, render. The API calls the same services.
"""

from typing import Any
from urllib.parse import urlencode
from uuid import UUID

from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.core.paginator import Paginator
from django.db import transaction
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_POST

from apprehensions.models import Relationship, Station
from audit.services import access_log_record_many
from familylink.common.errors import BusinessRuleError, ValidationFailed
from familylink.common.roles import has_capability, user_roles

from . import services
from .carry import superseded_story, unmerge_summary
from .models import LinkCandidate
from .selectors import (
    QUEUE_FILTERS,
    active_merge_for_candidate,
    candidate_queue,
    parse_queue_filters,
    person_file,
)

# The error keys candidate.html shows beside their fields; any other is shown at the top.
SHOWN_BESIDE_FIELDS = frozenset({"non_field_errors", "type", "survivor", "reason", "unmerge_reason"})
RELATIONSHIP_TYPES = [(v, label) for v, label in Relationship.Type.choices]


def _require_read(request: HttpRequest) -> None:
    if not has_capability(request.user, "read_link_candidates"):
        raise PermissionDenied("Your role cannot open link review.")


def _can_decide(request: HttpRequest) -> bool:
    return has_capability(request.user, "decide_link_candidates") and "auditor" not in user_roles(
        request.user
    )


def _queue_params(request: HttpRequest) -> dict[str, str]:
    params = {k: request.GET.get(k, "").strip() for k in QUEUE_FILTERS}
    if "status" not in request.GET:
        params["status"] = LinkCandidate.Status.PROPOSED
    return params


@transaction.atomic  # reads and their access-log rows in one transaction (rule 3)
def queue(request: HttpRequest) -> HttpResponse:
    """Candidates best score first, filtered by kind, status, score, station and date."""
    _require_read(request)
    params = _queue_params(request)
    filters, errors = parse_queue_filters(params)
    candidates = candidate_queue(filters={} if errors else filters)
    page = Paginator(candidates, 25).get_page(request.GET.get("page"))
    # The queue names both persons of each candidate (children among them): logged as a list (rule 3).
    access_log_record_many(
        user=request.user,
        records=[p for c in page for p in (c.person_a, c.person_b) if p is not None],
        action="list",
        path=request.get_full_path(),
    )
    return render(
        request,
        "linkage/queue.html",
        {
            "page": page,
            "params": params,
            "errors": errors,
            "querystring": urlencode({k: v for k, v in params.items() if v}),
            "kinds": LinkCandidate.Kind.choices,
            "statuses": LinkCandidate.Status.choices,
            "stations": Station.objects.filter(withdrawn_at__isnull=True).order_by("code"),
        },
    )


def _candidate(pk: UUID) -> LinkCandidate:
    candidate = (
        LinkCandidate.objects.select_related("person_a", "person_b", "decided_by").filter(pk=pk).first()
    )
    if candidate is None:
        raise Http404("No link candidate with this id.")
    return candidate


def _next_proposed(candidate: LinkCandidate) -> LinkCandidate | None:
    return (
        LinkCandidate.objects.filter(status=LinkCandidate.Status.PROPOSED)
        .exclude(pk=candidate.pk)
        .order_by("-score", "created_at", "id")
        .first()
    )


@transaction.atomic  # reads and their access-log rows in one transaction (rule 3)
def candidate_page(
    request: HttpRequest,
    pk: UUID,
    *,
    errors: dict[str, Any] | None = None,
    entered: dict[str, str] | None = None,
    status: int = 200,
) -> HttpResponse:
    """Both persons side by side (apprehensions, family units, relationships), the reasons, and the
    accept and reject forms."""
    _require_read(request)
    candidate = _candidate(pk)
    # Both records are shown in full, side by side: each is a view of a person's record (rule 3).
    access_log_record_many(
        user=request.user,
        records=[p for p in (candidate.person_a, candidate.person_b) if p is not None],
        path=request.get_full_path(),
    )
    errors = dict(errors or {})
    # A problem the form has no place for (the decision itself, a field the service added) is shown
    # at the top rather than dropped, which left a 400 page with no message.
    for key in [k for k in errors if k not in SHOWN_BESIDE_FIELDS]:
        label = "" if key == "decision" else f"{key.replace('_', ' ').capitalize()}: "
        errors.setdefault("non_field_errors", []).extend(f"{label}{m}" for m in errors.pop(key))
    return render(
        request,
        "linkage/candidate.html",
        {
            "candidate": candidate,
            "files": [person_file(candidate.person_a), person_file(candidate.person_b)],
            "can_decide": _can_decide(request),
            "merge": active_merge_for_candidate(candidate),
            "superseded": superseded_story(candidate, viewer=request.user),
            "relationship_types": RELATIONSHIP_TYPES,
            "errors": errors,
            "entered": entered or {},
            "next_candidate": _next_proposed(candidate),
        },
        status=status,
    )


def _after_decision(request: HttpRequest, candidate: LinkCandidate, message: str) -> HttpResponse:
    following = _next_proposed(candidate)
    if request.POST.get("then") == "next" and following is not None:
        if (
            candidate.kind == LinkCandidate.Kind.DUPLICATE_PERSON
            and candidate.status == LinkCandidate.Status.ACCEPTED
        ):
            # The page shown next is another candidate's: say where the undo is.
            names = " and ".join(
                p.full_name for p in (candidate.person_a, candidate.person_b) if p is not None
            )
            message = (
                f"Accepted; {names} are merged. "
                "To undo the merge, open that candidate from Link review (status Accepted). "
                "This is the next proposed candidate."
            )
        messages.success(request, message)
        return redirect("linkage:candidate", pk=following.pk)
    messages.success(request, message)
    return redirect("linkage:candidate", pk=candidate.pk)


@require_POST
def decide(request: HttpRequest, pk: UUID) -> HttpResponse:
    """Accept or reject (the button pressed says which); errors come back beside the fields."""
    _require_read(request)
    if not _can_decide(request):
        raise PermissionDenied("Your role cannot decide link candidates.")
    _candidate(pk)  # an unknown id is a 404 here, not the service's API NotFound (a 500 on a page)
    entered = {k: request.POST.get(k, "") for k in ("decision", "reason", "type", "survivor", "then")}
    decision = entered["decision"]
    try:
        if decision == "accept":
            candidate = services.candidate_accept(
                candidate_id=pk,
                by=request.user,
                reason=entered["reason"],
                relationship_type=entered["type"],
                survivor_id=entered["survivor"] or None,
            )
            return _after_decision(request, candidate, _accepted_message(candidate))
        if decision == "reject":
            candidate = services.candidate_reject(candidate_id=pk, by=request.user, reason=entered["reason"])
            return _after_decision(request, candidate, "Rejected; this pair will not be proposed again.")
        errors: dict[str, Any] = {"decision": ["Choose Accept or Reject."]}
    except ValidationFailed as exc:
        errors = exc.errors
    except BusinessRuleError as exc:
        errors = {"non_field_errors": [str(exc)]}
        return candidate_page(request, pk, errors=errors, entered=entered, status=409)
    return candidate_page(request, pk, errors=errors, entered=entered, status=400)


def _accepted_message(candidate: LinkCandidate) -> str:
    if candidate.kind == LinkCandidate.Kind.RELATIONSHIP:
        return "Accepted; the relationship is recorded (evidence: claimed)."
    if candidate.kind == LinkCandidate.Kind.DUPLICATE_PERSON:
        return "Accepted; the two records are merged. You can undo the merge on this page."
    return "Marked as reviewed."


@require_POST
def unmerge(request: HttpRequest, pk: UUID) -> HttpResponse:
    _require_read(request)
    if not _can_decide(request):
        raise PermissionDenied("Your role cannot undo merges.")
    candidate = _candidate(pk)
    merge = active_merge_for_candidate(candidate)
    entered = {"unmerge_reason": request.POST.get("reason", "")}
    if merge is None:
        return candidate_page(
            request,
            pk,
            errors={"non_field_errors": ["This candidate has no merge in force to undo."]},
            status=409,
        )
    try:
        unmerged = services.person_unmerge(
            merge_id=merge.pk, by=request.user, reason=entered["unmerge_reason"]
        )
    except ValidationFailed as exc:
        return candidate_page(
            request, pk, errors={"unmerge_reason": exc.errors.get("reason", [])}, entered=entered, status=400
        )
    except BusinessRuleError as exc:
        return candidate_page(
            request, pk, errors={"non_field_errors": [str(exc)]}, entered=entered, status=409
        )
    said = unmerge_summary(unmerged, viewer=request.user)
    messages.success(request, f"The merge is undone; both records are as they were before it. {said}".strip())
    return redirect("linkage:candidate", pk=pk)
