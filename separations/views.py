"""Web pages of the separations layer. Thin: check, call a service or selector, render.

Bad input re-renders the form with the message next to the field and what was entered kept.
"""

import csv
from typing import Any, cast
from uuid import UUID

from django.contrib import messages
from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.core.paginator import Paginator
from django.db import transaction
from django.db.models import Q
from django.http import Http404, HttpRequest, HttpResponse
from django.http.response import HttpResponseBase
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from apprehensions.models import FamilyMembership, Person, Relationship, Station
from apprehensions.visibility import persons_visible_to
from audit.exports import export_format, export_response, export_url
from familylink.common.errors import BusinessRuleError, ValidationFailed, with_every_error
from familylink.common.models import User
from familylink.common.roles import has_capability, user_roles

from . import policies, services
from .access import log_person_views, log_separation_view
from .exports import REPORT_COLUMNS, SEPARATION_COLUMNS, separation_records, with_live_members
from .forms import (
    CustodyTransferForm,
    DecisionForm,
    ReportForm,
    SeparationRequestForm,
    default_time_zone,
)
from .models import CustodyPeriod, ReasonCode, Separation, SeparationMember
from .selectors import NO_CUSTODY, approval_queue, open_custody, separated_children

REPORT_PAGE_SIZE = 50


def _uuid(value: Any) -> UUID | None:
    try:
        return UUID(str(value))
    except ValueError:
        return None


def _require(request: HttpRequest, *capabilities: str) -> None:
    if not any(has_capability(request.user, c) for c in capabilities):
        raise DjangoPermissionDenied("Your role cannot open this page.")


def _person_or_404(request: HttpRequest, raw_id: Any) -> Person:
    pk = _uuid(raw_id)
    person = Person.objects.filter(pk=pk, withdrawn_at__isnull=True).first() if pk else None
    if person is None or not policies.can_read_person(request.user, person):
        raise Http404("No person with this id is visible to you.")
    return person


def person_record_url(person: Person) -> str:
    """The one person page (apprehensions), where the separations panels show."""
    return reverse("apprehensions:person", args=[person.pk])


def _apply_errors(form: Any, errors: dict[str, list[str]]) -> None:
    """Put a service's field-path errors (`children[1]`) on the form's fields (not twice on one field)."""
    for path, messages_ in errors.items():
        name = path.split("[", 1)[0].split(".", 1)[0]
        target = name if name in form.fields else None
        if target is not None and target in form.errors:
            continue
        for message in messages_:
            form.add_error(target, message)


def _submit(form: Any, service: Any, /, **kwargs: Any) -> Any:
    """Run `service` beside the (already cleaned) form's own checks: one round, every problem.

    Returns what the service returns, or None when anything is wrong (nothing is saved then).
    """
    form_errors = {name: [str(e) for e in errs] for name, errs in form.errors.items()}
    try:
        return with_every_error(form_errors, service, **kwargs)
    except ValidationFailed as exc:
        _apply_errors(form, exc.errors)
    except BusinessRuleError as exc:
        form.add_error(None, str(exc))
    return None


# --- separations -----------------------------------------------------------------------------


@require_GET
def separation_list(request: HttpRequest) -> HttpResponseBase:
    """Separations the user may see (own station for station staff), newest first, by status."""
    if not policies.can_list_separations(request.user):
        raise DjangoPermissionDenied("Your role cannot list separations.")
    status = request.GET.get("status", "")
    qs = (
        policies.visible_separations(request.user)
        .filter(withdrawn_at__isnull=True)
        .select_related("reason_code", "station", "requested_by", "decided_by")
        .order_by("-occurred_at", "id")
    )
    if status in Separation.Status.values:
        qs = qs.filter(status=status)
    elif status:  # an unknown status is said, not silently read as "all" (as the case list does)
        known = ", ".join(Separation.Status.values)
        messages.error(
            request, f"Status: {status[:30]!r} is not a status; choose one of {known}. Showing every status."
        )
        status = ""
    if (fmt := export_format(request)) is not None:
        return export_response(
            request,
            fmt=fmt,
            name="separations",
            columns=SEPARATION_COLUMNS,
            rows=_chunks(with_live_members(qs)),
            record=separation_records,
        )
    page = Paginator(qs, 25).get_page(request.GET.get("page"))
    members = SeparationMember.objects.filter(
        separation__in=[s.pk for s in page.object_list], withdrawn_at__isnull=True
    ).select_related("person")
    by_separation: dict[Any, list[SeparationMember]] = {}
    for member in members:
        by_separation.setdefault(member.separation_id, []).append(member)
    for separation in page.object_list:
        separation.live_members = by_separation.get(separation.pk, [])
    log_person_views(
        user=request.user,
        persons=[m.person for m in members],
        channel="web",
        path=request.path,
        action="list",
    )
    return render(
        request,
        "separations/list.html",
        {
            "page": page,
            "status": status,
            "statuses": Separation.Status.choices,
            "export_csv": export_url(request, "csv"),
            "export_xlsx": export_url(request, "xlsx"),
        },
    )


def _chunks(qs: Any, size: int = 500) -> Any:
    """A prefetching queryset read a chunk at a time (iterator() would drop the prefetch)."""
    start = 0
    while True:
        chunk = list(qs[start : start + size])
        yield from chunk
        if len(chunk) < size:
            return
        start += size


def _subject(separation: Separation) -> str:
    children = [m.person.full_name for m in separation.live_members if m.side == "child"]
    adults = [m.person.full_name for m in separation.live_members if m.side == "adult"]
    return f"{', '.join(children)} from {', '.join(adults)}"


def _queue_context(request: HttpRequest, bound: dict[Any, DecisionForm] | None = None) -> dict[str, Any]:
    separations = list(approval_queue(station=cast(User, request.user).station))
    items = []
    for separation in separations:
        form = (bound or {}).get(separation.pk) or DecisionForm(prefix=str(separation.pk))
        items.append(
            {
                "separation": separation,
                "form": form,
                "refusal": policies.decision_refusal(request.user, separation),
                "subject": _subject(separation),
            }
        )
    log_person_views(
        user=request.user,
        persons=[m.person for s in separations for m in s.live_members],
        channel="web",
        path=request.path,
        action="list",
    )
    return {"items": items}


@require_GET
def separation_queue(request: HttpRequest) -> HttpResponse:
    """The supervisor's approval queue: requested separations of their station, oldest first."""
    _require(request, "decide_separation")
    return render(request, "separations/queue.html", _queue_context(request))


@require_http_methods(["GET", "POST"])
def separation_new(request: HttpRequest) -> HttpResponse:
    """Request a separation for a person (`?person=`) or a family unit (`?family_unit=`)."""
    _require(request, "request_separation")
    source = request.GET if request.method == "GET" else request.POST
    person = None
    unit_id = _uuid(source.get("family_unit")) if source.get("family_unit") else None
    if source.get("person"):
        person = _person_or_404(request, source.get("person"))
    candidates = _candidates(request, person, unit_id)
    if person is None and not candidates:
        raise Http404("Open this form from a person's or a family unit's page.")
    initial: dict[str, Any] = {
        "occurred_at_tz": default_time_zone(request.user),
        "family_unit": str(unit_id) if unit_id else "",
    }
    if person is not None:
        initial["children" if person.is_minor else "adults"] = [str(person.pk)]
    if request.method == "POST":
        form = SeparationRequestForm(request.POST, candidates=candidates, initial=initial)
        form.is_valid()
        data = form.cleaned_data
        # The service runs even when the form found problems, so one round names them all.
        separation = _submit(
            form,
            services.separation_request,
            requester=request.user,
            children=data.get("children") or [],
            adults=data.get("adults") or [],
            reason_code=data.get("reason_code") or "",
            occurred_at=data.get("occurred_at"),
            narrative=data.get("narrative") or "",
            place=data.get("place") or "",
            family_unit=data.get("family_unit") or None,
        )
        if separation is not None:
            messages.success(
                request,
                f"Separation requested. A supervisor of station {separation.station.code} "
                "other than you must approve it before it takes effect.",
            )
            return redirect("separations:detail", pk=separation.pk)
    else:
        form = SeparationRequestForm(candidates=candidates, initial=initial)
    log_person_views(user=request.user, persons=candidates, channel="web", path=request.path)
    return render(
        request,
        "separations/request_form.html",
        {"form": form, "person": person, "candidates": candidates, "family_unit": unit_id},
        status=400 if form.errors else 200,
    )


def _candidates(request: HttpRequest, person: Person | None, unit_id: UUID | None) -> list[Person]:
    """Who can be picked: the person's family units' members and recorded relatives (own station)."""
    unit_ids: set[Any] = set()
    if unit_id is not None:
        unit_ids.add(unit_id)
    elif person is not None:
        unit_ids |= set(
            FamilyMembership.objects.filter(
                person=person, withdrawn_at__isnull=True, family_unit__withdrawn_at__isnull=True
            ).values_list("family_unit_id", flat=True)
        )
    ids = set(
        FamilyMembership.objects.filter(family_unit_id__in=unit_ids, withdrawn_at__isnull=True).values_list(
            "person_id", flat=True
        )
    )
    if person is not None:
        ids.add(person.pk)
        for a, b in Relationship.objects.filter(
            Q(from_person=person) | Q(to_person=person), withdrawn_at__isnull=True
        ).values_list("from_person_id", "to_person_id"):
            ids |= {a, b}
    qs = persons_visible_to(request.user).filter(pk__in=ids, withdrawn_at__isnull=True)
    return list(qs.order_by("-is_minor", "first_surname", "given_names"))


@require_GET
def separation_detail(request: HttpRequest, pk: UUID) -> HttpResponse:
    if not policies.can_list_separations(request.user):
        raise DjangoPermissionDenied("Your role cannot read separations.")
    separation = _visible_separation(request, pk)
    return _render_detail(request, separation, DecisionForm(prefix=str(separation.pk)))


def _visible_separation(request: HttpRequest, pk: UUID) -> Separation:
    separation = (
        Separation.objects.select_related(
            "reason_code", "station", "requested_by", "decided_by", "ended_by", "family_unit"
        )
        .filter(pk=pk)
        .first()
    )
    if separation is None or not policies.can_read_separation(request.user, separation):
        raise Http404("No separation with this id is visible to you.")
    separation.live_members = list(
        separation.members.filter(withdrawn_at__isnull=True).select_related("person").order_by("side")
    )
    return separation


def _render_detail(
    request: HttpRequest, separation: Separation, form: DecisionForm, status: int = 200
) -> HttpResponse:
    log_separation_view(user=request.user, separation=separation, channel="web", path=request.path)
    sides: dict[str, list[Any]] = {"child": [], "adult": []}
    for member in separation.live_members:
        sides[member.side].append(
            {"person": member.person, "custody": open_custody(member.person), "member": member}
        )
    history = list(separation.history.select_related("history_user").order_by("-history_date", "-history_id"))
    return render(
        request,
        "separations/detail.html",
        {
            "separation": separation,
            "children": sides["child"],
            "adults": sides["adult"],
            "form": form,
            "refusal": policies.decision_refusal(request.user, separation),
            "subject": _subject(separation),
            "history": history,
        },
        status=status,
    )


@require_POST
def separation_decide(request: HttpRequest, pk: UUID) -> HttpResponse:
    """Approve or reject from the queue or the detail page (button `decision`)."""
    _require(request, "decide_separation")
    separation = _visible_separation(request, pk)
    form = DecisionForm(request.POST, prefix=str(separation.pk))
    decision = request.POST.get("decision")
    back = request.POST.get("next") == "queue"
    if decision not in ("approve", "reject") or not form.is_valid():
        form.add_error(None, "Choose Approve or Reject.")
    else:
        comment = form.cleaned_data["comment"]
        try:
            if decision == "approve":
                services.separation_approve(
                    separation_id=separation.pk, approver=request.user, comment=comment
                )
                messages.success(request, f"Separation approved; it is in effect since {_when(separation)}.")
            else:
                services.separation_reject(
                    separation_id=separation.pk, approver=request.user, comment=comment
                )
                messages.success(request, "Separation rejected; the requester sees your comment.")
        except ValidationFailed as exc:
            _apply_errors(form, exc.errors)
        except BusinessRuleError as exc:
            messages.error(request, str(exc))
            return _back(back, separation)
        else:
            return _back(back, separation)
    if back:
        return render(
            request, "separations/queue.html", _queue_context(request, {separation.pk: form}), status=400
        )
    return _render_detail(request, separation, form, status=400)


def _back(to_queue: bool, separation: Separation) -> HttpResponse:
    if to_queue:
        return redirect("separations:queue")
    return redirect("separations:detail", pk=separation.pk)


def _when(separation: Separation) -> str:
    return timezone.localtime(separation.occurred_at).strftime("%Y-%m-%d %H:%M %Z")


# --- persons and custody ---------------------------------------------------------------------


@require_http_methods(["GET", "POST"])
def custody_transfer_new(request: HttpRequest) -> HttpResponse:
    """Record a custody transfer for `?person=`: closes the open period and opens the next."""
    _require(request, "transfer_custody")
    if "auditor" in user_roles(request.user):
        raise DjangoPermissionDenied("Auditors change nothing.")
    source = request.GET if request.method == "GET" else request.POST
    person = _person_or_404(request, source.get("person"))
    if not policies.can_transfer_custody(request.user, person):
        raise DjangoPermissionDenied("You may record custody transfers only for persons in your scope.")
    initial = {"started_at_tz": default_time_zone(request.user)}
    if request.method == "POST":
        form = CustodyTransferForm(request.POST, initial=initial)
        form.is_valid()
        data = form.cleaned_data
        period = _submit(
            form,
            services.custody_transfer,
            person_id=person.pk,
            agency=data.get("agency") or "",
            facility=data.get("facility") or "",
            started_at=data.get("started_at"),
            by=request.user,
            change_reason=data.get("change_reason") or "",
        )
        if period is not None:
            messages.success(
                request,
                f"{person.full_name} is now in {period.get_agency_display()} custody {period.facility}.",
            )
            return redirect(person_record_url(person))
    else:
        form = CustodyTransferForm(initial=initial)
    log_person_views(user=request.user, persons=[person], channel="web", path=request.path)
    return render(
        request,
        "separations/custody_form.html",
        {"form": form, "person": person, "current_custody": open_custody(person)},
        status=400 if form.errors else 200,
    )


# --- the as-of report ------------------------------------------------------------------------


@require_GET
@transaction.atomic  # the report's reads and its access-log rows in one transaction (rule 3)
def separated_children_report(request: HttpRequest) -> HttpResponseBase:
    """HQ page "Separated children at <time>": count, list, counts by agency and category, CSV."""
    allowed, station = policies.report_station(request.user)
    if not allowed:
        raise DjangoPermissionDenied("Your role cannot read the separated-children report.")
    tz = default_time_zone(request.user)
    data = request.GET.copy()
    data.setdefault("as_of_tz", tz)
    data.setdefault("known_at_tz", tz)
    form = ReportForm(data)
    context: dict[str, Any] = {"form": form, "station": station}
    if not form.is_valid():
        return render(request, "separations/report.html", context, status=400)
    as_of = form.cleaned_data["as_of"] or timezone.now()
    known_at = form.cleaned_data["known_at"]
    requested = request.GET.get("station", "").strip().upper()
    if requested and station is None:
        # Readers of every station may narrow the report to one (the dashboard's station figures).
        if not Station.objects.filter(code=requested).exists():
            form.add_error(
                None, f"Station: no station has the code {requested!r}; leave it out for all stations."
            )
            return render(request, "separations/report.html", context, status=400)
        station = context["station"] = requested
    elif requested and requested != station:
        # A station's reader sees their own station only: say so rather than ignore the station asked.
        messages.error(
            request, f"Station: you read the report of your station {station} only, not {requested!r}."
        )
    answer = separated_children(
        as_of=as_of,
        known_at=known_at,
        station=station,
        category=form.cleaned_data["category"] or None,
        agency=form.cleaned_data["agency"] or None,
    )
    if request.GET.get("format") == "csv":
        return _report_csv(request, answer)
    if request.GET.get("format") == "xlsx":
        return export_response(
            request,
            fmt="xlsx",
            name="separated-children",
            columns=REPORT_COLUMNS,
            rows=answer.iter_rows(),
            record=lambda row: row.child,
        )
    # The summary and the asked page in one pass; only a page number past the end (shown as the
    # last page, like Paginator.get_page) takes a second pass for that page.
    try:
        asked = max(1, int(request.GET.get("page") or 1))
    except ValueError:
        asked = 1
    report = answer.report(offset=(asked - 1) * REPORT_PAGE_SIZE, limit=REPORT_PAGE_SIZE)
    count, by_agency, by_category, rows = report.count, report.by_agency, report.by_category, report.rows
    page = Paginator(range(count), REPORT_PAGE_SIZE).get_page(request.GET.get("page"))
    if count and page.number != asked:
        rows = answer.report(offset=page.start_index() - 1, limit=REPORT_PAGE_SIZE).rows
    log_person_views(
        user=request.user, persons=[r.child for r in rows], channel="web", path=request.path, action="report"
    )
    query = request.GET.copy()
    query.pop("page", None)
    csv_query = query.copy()
    csv_query["format"] = "csv"
    context.update(
        {
            "as_of": as_of,
            "known_at": known_at,
            "display_tz": form.cleaned_data["as_of_tz"],
            "count": count,
            "rows": rows,
            "page": page,
            "query": query.urlencode(),
            "csv_url": f"{request.path}?{csv_query.urlencode()}",
            "xlsx_url": export_url(request, "xlsx"),
            "by_agency": by_agency,
            "by_category": by_category,
            "category_label": ReasonCode.Category(answer.category).label if answer.category else "",
            "agency_label": _agency_label(answer.agency),
        }
    )
    return render(request, "separations/report.html", context)


def _agency_label(agency: str | None) -> str:
    """The report's agency filter as the page names it ('' when none was chosen)."""
    if not agency:
        return ""
    return "No custody recorded" if agency == NO_CUSTODY else str(CustodyPeriod.Agency(agency).label)


def _csv_cell(value: Any) -> str:
    text = "" if value is None else str(value)
    # A cell starting with = + - @ would run as a formula in a spreadsheet.
    return "'" + text if text[:1] in ("=", "+", "-", "@", "\t", "\r") else text


CSV_HEADER = [
    "child_id",
    "child_name",
    "child_a_number",
    "child_date_of_birth",
    "separated_since",
    "days_separated",
    "reason_codes",
    "reason_categories",
    "adults",
    "adult_a_numbers",
    "child_now_agency",
    "child_now_facility",
    "adults_now",
    "stations",
    "separation_ids",
    "recorded_as",
]


def _report_csv(request: HttpRequest, answer: Any) -> HttpResponse:
    stamp = answer.as_of.strftime("%Y%m%dT%H%M%z")
    response = HttpResponse(content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="separated-children-{stamp}.csv"'
    # A BOM, as every other CSV export has (audit.exports), so Excel reads María José, not MarÃ­a.
    response.write("\ufeff")
    writer = csv.writer(response)
    writer.writerow(CSV_HEADER)
    batch: list[Person] = []
    for row in answer.iter_rows():
        writer.writerow(
            [
                _csv_cell(v)
                for v in (
                    row.child.pk,
                    row.child.full_name,
                    row.child.a_number or "",
                    row.child.date_of_birth or "",
                    row.since.isoformat(),
                    row.days_separated,
                    " ".join(r.code for r in row.reasons),
                    " ".join(sorted({r.category for r in row.reasons})),
                    "; ".join(a.full_name for a in row.adults),
                    "; ".join(a.a_number or "" for a in row.adults),
                    row.child_custody.agency if row.child_custody else "",
                    row.child_custody.facility if row.child_custody else "",
                    "; ".join(
                        f"{a.full_name}: {c.agency} {c.facility}".strip() if c else f"{a.full_name}: unknown"
                        for a, c in row.adults_with_custody
                    ),
                    " ".join(sorted({s.station.code for s in row.separations})),
                    " ".join(str(s.pk) for s in row.separations),
                    "imported" if row.imported else "entered",
                )
            ]
        )
        batch.append(row.child)
        if len(batch) >= 1000:
            log_person_views(
                user=request.user, persons=batch, channel="web", path=request.path, action="export"
            )
            batch = []
    log_person_views(user=request.user, persons=batch, channel="web", path=request.path, action="export")
    return response
