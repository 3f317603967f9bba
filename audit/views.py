"""Audit pages: the change history of any record, and the access log (who viewed what)."""

from typing import Any
from uuid import UUID

from django.core.exceptions import PermissionDenied
from django.core.paginator import Paginator
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseBase
from django.shortcuts import render
from django.utils.timezone import get_current_timezone_name

from familylink.common.roles import has_capability

from .exports import cell
from .history import history_for, history_for_people, record_as_of, tracked_model
from .models import AccessLog
from .services import access_log_record

# Through the model registry only: audit imports none of them (the FamilyLink apps it audits).
HISTORY_APPS = (
    "apprehensions",
    "separations",
    "reunification",
    "common",
    "audit",
    "linkage",
    "legacy",
    "events",
)


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
    as_of_text = request.GET.get("as_of", "").strip()[:40]
    as_of_state = None
    as_of_error = ""
    if as_of_text:
        from django.utils import timezone
        from django.utils.dateparse import parse_datetime

        try:
            moment = parse_datetime(as_of_text.replace(" ", "T"))
        except ValueError:
            moment = None
        if moment is None:
            as_of_error = "Enter a date and time as YYYY-MM-DD HH:MM, for example 2018-06-20 09:00."
        else:
            if timezone.is_naive(moment):
                moment = timezone.make_aware(moment)
            as_of_state = record_as_of(model, versions, moment) or []
    context: dict[str, Any] = {
        "label": label,
        "model_name": model._meta.verbose_name,
        "record": instance,
        "pk": pk,
        "versions": history_for_people(model, versions),
        "as_of": as_of_text,
        "as_of_state": as_of_state,
        "as_of_error": as_of_error,
        "time_zone": get_current_timezone_name(),
    }
    return render(request, "audit/record_history.html", context)


ACTION_LABELS = {
    "view": "Viewed",
    "view_apprehension": "Viewed in an apprehension",
    "list": "Listed on a page",
    "report": "Shown in a report",
    "history": "History read",
    "claim": "Case claimed from a worklist",
    "export": "Exported",
    "search": "Found in a search",
    "denied": "Refused (403)",
    "sign_in": "Signed in",
    "sign_out": "Signed out",
    "sign_in_failed": "Failed sign-in",
    "locked_out": "Locked out",
    "role_granted": "Role granted",
    "role_removed": "Role removed",
    "token_revoked": "API token revoked",
}


def _access_log_entries(request: HttpRequest) -> tuple[Any, dict[str, Any]]:
    """The access log filtered by person (name or A-number), user, role, action and date range."""
    from datetime import datetime, time

    from django.apps import apps
    from django.utils import timezone

    from familylink.common.text import fold

    entries = AccessLog.objects.select_related("user").order_by("-created_at")
    get = request.GET
    filters: dict[str, Any] = {
        "person": get.get("person", "").strip()[:120],
        "user": get.get("user", "").strip()[:150],
        "role": get.get("role", "").strip()[:40],
        "action": get.get("action", "").strip()[:32],
        "object_id": get.get("object_id", "").strip()[:64],
        "date_from": get.get("date_from", "").strip()[:10],
        "date_to": get.get("date_to", "").strip()[:10],
        "minors": get.get("minors") == "1",
    }
    errors: dict[str, str] = {}
    if filters["person"]:
        # Persons are read through the model registry: audit never imports the apps it audits.
        person_model = apps.get_model("apprehensions", "Person")
        wanted = filters["person"].replace("-", "").replace(" ", "").upper()
        if wanted.lstrip("A").isdigit() and 8 <= len(wanted.lstrip("A")) <= 9:
            matches = person_model.objects.filter(a_number="A" + wanted.lstrip("A").zfill(9))
        else:
            words = fold(filters["person"]).split()
            matches = person_model.objects.all()
            for word in words:
                matches = matches.filter(name_normalized__contains=word)
        ids = [str(pk) for pk in matches.values_list("pk", flat=True)[:500]]
        entries = entries.filter(object_id__in=ids)
    if filters["user"]:
        entries = entries.filter(user__username__iexact=filters["user"])
    if filters["role"]:
        entries = entries.filter(user__groups__name=filters["role"])
    if filters["action"]:
        entries = entries.filter(action=filters["action"])
    if filters["object_id"]:
        entries = entries.filter(object_id=filters["object_id"])
    if filters["minors"]:
        entries = entries.filter(is_minor_record=True)
    for key, bound in (("date_from", time.min), ("date_to", time.max)):
        if filters[key]:
            try:
                day = datetime.strptime(filters[key], "%Y-%m-%d").date()
            except ValueError:
                errors[key] = "Enter the date as YYYY-MM-DD, for example 2018-06-20."
                continue
            moment = timezone.make_aware(datetime.combine(day, bound))
            entries = entries.filter(
                **{"created_at__gte" if key == "date_from" else "created_at__lte": moment}
            )
    filters["errors"] = errors
    return entries, filters


def _person_names(entries: Any) -> dict[str, str]:
    from django.apps import apps

    person_model = apps.get_model("apprehensions", "Person")
    ids = {e.object_id for e in entries if e.object_type == "apprehensions.person"}
    names = {}
    for person in person_model.objects.filter(pk__in=ids).only(
        "given_names", "first_surname", "second_surname", "a_number"
    ):
        name = " ".join(filter(None, (person.given_names, person.first_surname, person.second_surname)))
        names[str(person.pk)] = f"{name} ({person.a_number})" if person.a_number else name
    return names


def access_log(request: HttpRequest) -> HttpResponseBase:
    """Who viewed or did what, newest first, each row naming the person; filters and CSV export (auditors)."""
    if not has_capability(request.user, "read_access_log"):
        raise PermissionDenied("Only auditors read the access log.")
    entries, filters = _access_log_entries(request)
    if request.GET.get("format") == "csv":
        return _access_log_csv(request, entries)
    page = Paginator(entries, 50).get_page(request.GET.get("page"))
    names = _person_names(page.object_list)
    rows = [
        {
            "entry": e,
            "action_label": ACTION_LABELS.get(e.action, e.action),
            "person": names.get(e.object_id, ""),
        }
        for e in page.object_list
    ]
    query = request.GET.copy()
    query.pop("page", None)
    query.pop("format", None)
    from django.contrib.auth.models import Group

    from .models import ChainCheckpoint

    return render(
        request,
        "audit/access_log.html",
        {
            "page": page,
            "rows": rows,
            "filters": filters,
            "query": query.urlencode(),
            "actions": sorted(ACTION_LABELS.items(), key=lambda item: item[1]),
            "roles": list(Group.objects.order_by("name").values_list("name", flat=True)),
            "checkpoints": ChainCheckpoint.objects.order_by("-created_at")[:5],
        },
    )


def _access_log_csv(request: HttpRequest, entries: Any) -> HttpResponseBase:
    """The filtered log as CSV (at most 100,000 rows); the export is itself logged."""
    import csv

    from django.http import StreamingHttpResponse

    chosen = list(entries[:100_000])
    names = _person_names(chosen)
    access_log_record(
        user=request.user,
        obj=request.user,
        action="export",
        channel="web",
        path=request.get_full_path(),
        detail=f"access log exported, {len(chosen)} rows",
    )

    class Echo:
        def write(self, value: str) -> str:
            return value

    writer = csv.writer(Echo())

    def rows() -> Any:
        # A BOM, as every other CSV export has (audit.exports), so Excel reads María, not MarÃ­a.
        yield "\ufeff"
        yield writer.writerow(
            ["when_utc", "user", "action", "channel", "record_type", "record_id", "person", "detail"]
        )
        for e in chosen:
            yield writer.writerow(
                [
                    # cell(): a typed name or detail starting with = + - @ never runs as a formula.
                    cell(v)
                    for v in (
                        e.created_at.isoformat(),
                        e.user.username if e.user else "",
                        e.action,
                        e.channel,
                        e.object_type,
                        e.object_id,
                        names.get(e.object_id, ""),
                        e.detail,
                    )
                ]
            )

    response = StreamingHttpResponse(rows(), content_type="text/csv")
    response["Content-Disposition"] = 'attachment; filename="familylink-access-log.csv"'
    return response


def checkpoint_download(request: HttpRequest, pk: int) -> HttpResponse:
    """One signed audit-chain checkpoint as JSON, for auditors to keep outside the system."""
    from .models import ChainCheckpoint

    if not has_capability(request.user, "read_access_log"):
        raise PermissionDenied("Only auditors export audit checkpoints.")
    try:
        checkpoint = ChainCheckpoint.objects.get(pk=pk)
    except ChainCheckpoint.DoesNotExist as exc:
        raise Http404("No such checkpoint.") from exc
    return checkpoint_json_response(checkpoint)


def checkpoint_json_response(checkpoint: Any) -> HttpResponse:
    """A signed checkpoint as the JSON file `verify_audit_chain --checkpoint FILE` reads."""
    import json

    body = json.dumps(
        {
            "created_at": checkpoint.created_at.isoformat(),
            "heads": checkpoint.heads,
            "signature": checkpoint.signature,
            "verified": checkpoint.verified,
        },
        indent=2,
        sort_keys=True,
    )
    response = HttpResponse(body, content_type="application/json")
    response["Content-Disposition"] = f'attachment; filename="audit-checkpoint-{checkpoint.pk}.json"'
    return response
