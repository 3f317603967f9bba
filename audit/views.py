"""Audit pages: the change history of any record, and the access log (who viewed what)."""

from typing import Any
from uuid import UUID

from django.core.exceptions import PermissionDenied
from django.core.paginator import Paginator
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import render

from familylink.common.roles import has_capability

from .history import history_for, tracked_model
from .models import AccessLog
from .services import access_log_record

HISTORY_APPS = ("apprehensions", "separations", "reunification", "common", "audit")


def record_history(request: HttpRequest, label: str, pk: UUID) -> HttpResponse:
    """Every version of one record: when, by whom, why, what changed (HQ analysts and auditors)."""
    if not has_capability(request.user, "read_history"):
        raise PermissionDenied("Only HQ analysts and auditors read record history.")
    if label.split(".")[0] not in HISTORY_APPS:
        raise Http404("Unknown record type.")
    try:
        model = tracked_model(label)
        versions = history_for(label, pk)
    except LookupError as exc:
        raise Http404(str(exc)) from exc
    instance = model._default_manager.filter(pk=pk).first()
    if instance is not None:
        access_log_record(
            user=request.user,
            obj=instance,
            action="history",
            path=request.path,
            is_minor_record=bool(getattr(instance, "is_minor", False)),
        )
    context: dict[str, Any] = {
        "label": label,
        "model_name": model._meta.verbose_name,
        "record": instance,
        "pk": pk,
        "versions": list(reversed(versions)),
    }
    return render(request, "audit/record_history.html", context)


def access_log(request: HttpRequest) -> HttpResponse:
    """Who viewed which record, newest first; filter by user name or record id (auditors)."""
    if not has_capability(request.user, "read_access_log"):
        raise PermissionDenied("Only auditors read the access log.")
    entries = AccessLog.objects.select_related("user").order_by("-created_at")
    username = request.GET.get("user", "").strip()
    object_id = request.GET.get("object_id", "").strip()
    minors_only = request.GET.get("minors") == "1"
    if username:
        entries = entries.filter(user__username__iexact=username)
    if object_id:
        entries = entries.filter(object_id=object_id)
    if minors_only:
        entries = entries.filter(is_minor_record=True)
    page = Paginator(entries, 50).get_page(request.GET.get("page"))
    return render(
        request,
        "audit/access_log.html",
        {"page": page, "filters": {"user": username, "object_id": object_id, "minors": minors_only}},
    )
