"""Pages: the coordinator's queue, case pages with clocks and checklist, the supervisor's team
progress, notifications. Thin: check the capability, call a selector or service, render."""

from typing import Any
from urllib.parse import urlencode

from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.core.paginator import Paginator
from django.http import Http404, HttpRequest, HttpResponse
from django.http.response import HttpResponseBase
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.http import require_GET, require_POST

from audit.exports import Column, export_format, export_response, export_url
from audit.services import access_log_record
from familylink.common.errors import BusinessRuleError, StaleVersionError, ValidationFailed
from familylink.common.errors import PermissionDenied as DomainPermissionDenied
from familylink.common.roles import has_capability
from familylink.common.text import quoted
from separations.models import CustodyPeriod

from . import selectors, services
from .clocks import case_clocks, case_priority
from .models import NEXT_STEP_LABELS, STEP_ORDER, CaseStep, ReunificationCase, WorklistItem
from .services.worklists import today
from .teams import team_zone


def _require(request: HttpRequest, *capabilities: str) -> None:
    if not any(has_capability(request.user, c) for c in capabilities):
        raise PermissionDenied("Your role cannot open this page.")


def _visible_case(request: HttpRequest, case_id: Any) -> ReunificationCase:
    _require(request, "work_cases", "read_cases_station", "read_cases_all")
    case = selectors.cases_visible_to(request.user).filter(pk=case_id).first()
    if case is None:
        raise Http404("No reunification case you may see has this id.")
    return case


def _back(request: HttpRequest, default: str) -> HttpResponse:
    target = request.POST.get("next", "")
    if target and url_has_allowed_host_and_scheme(target, allowed_hosts={request.get_host()}):
        return redirect(target)
    return redirect(default)


def _shown_errors(errors: dict[str, list[str]], fields: set[str]) -> dict[str, list[str]]:
    """Errors of fields the form shows stay by their field; any other goes to the top of the form."""
    shown = {k: v for k, v in errors.items() if k in fields}
    rest = [m for k, v in errors.items() if k not in fields for m in v]
    if rest:
        shown["non_field"] = rest
    return shown


def _int(value: Any) -> int | None:
    try:
        return int(value)
    except (TypeError, ValueError):
        return None


METHOD_LABELS: dict[str, str] = {
    CaseStep.Step.PARENTAGE_VERIFIED: "How was parentage verified?",
    CaseStep.Step.ELIGIBILITY_DECISION: "Eligibility decision",
}


def checklist_context(request: HttpRequest, case: ReunificationCase, **extra: Any) -> dict[str, Any]:
    steps = {s.step: s for s in case.steps.all()}
    can_work = selectors.can_work_case(request.user, case) and case.is_open
    rows = []
    for key in STEP_ORDER:
        step = steps.get(key)
        if step is None:
            continue
        rows.append(
            {
                "step": step,
                "tickable": can_work and key != CaseStep.Step.REUNIFIED,
                "method_label": METHOD_LABELS.get(key, ""),
                "methods": (
                    CaseStep.ParentageMethod.choices
                    if key == CaseStep.Step.PARENTAGE_VERIFIED
                    else CaseStep.Eligibility.choices
                    if key == CaseStep.Step.ELIGIBILITY_DECISION
                    else None
                ),
            }
        )
    return {
        "case": case,
        "rows": rows,
        "can_work": can_work,
        "next_step_label": NEXT_STEP_LABELS.get(case.next_step, ""),
        "errors": {},
        "error_step": "",
        "entered": {},
        "next_url": request.get_full_path(),
        **extra,
    }


def case_context(request: HttpRequest, case: ReunificationCase, **extra: Any) -> dict[str, Any]:
    can_reassign = selectors.can_reassign_case(request.user, case) and case.is_open
    return {
        **checklist_context(request, case),
        "clocks": case_clocks(case),
        "priority": case_priority(case),
        "adults": [ca.person for ca in case.case_adults.all() if ca.withdrawn_at is None],
        "agencies": CustodyPeriod.Agency.choices,
        "other_outcomes": [
            (value, label)
            for value, label in ReunificationCase.Outcome.choices
            if value not in (ReunificationCase.Outcome.REUNIFIED, ReunificationCase.Outcome.SEPARATION_ENDED)
        ],
        "can_reassign": can_reassign,
        "coordinators": selectors.team_coordinators(case.team) if can_reassign else [],
        "close_errors": {},
        "close_form": "",
        "entered": {},
        **extra,
    }


# --- Coordinator: my queue today -------------------------------------------------------------


@require_GET
def queue(request: HttpRequest) -> HttpResponse:
    """Today's worklist of the coordinator's team: claim next, work the claimed cases, complete."""
    _require(request, "work_worklist")
    user: Any = request.user
    day = today(user.team)
    worklist = selectors.worklist_for(user.team, day)
    mine = []
    if worklist is not None:
        for item in selectors.my_claimed_items(user, worklist).prefetch_related("case__steps__done_by"):
            # The card shows the child's case (clocks, checklist): a view of a child's record.
            access_log_record(user=user, obj=item.case, path=request.path, is_minor_record=True)
            mine.append(
                {
                    "item": item,
                    "priority": case_priority(item.case),
                    "clocks": case_clocks(item.case),
                    **checklist_context(request, item.case),
                }
            )
    return render(
        request,
        "reunification/queue.html",
        {
            "day": day,
            "team": user.team,
            "worklist": worklist,
            "progress": selectors.worklist_progress(worklist) if worklist else None,
            "mine": mine,
            "build_hour": services.worklist_reference_time(day, user.team),
        },
    )


@require_POST
def claim_next(request: HttpRequest) -> HttpResponse:
    _require(request, "work_worklist")
    try:
        item = services.worklist_claim_next(user=request.user, day=today(getattr(request.user, "team", "")))
    except DomainPermissionDenied as exc:
        raise PermissionDenied(str(exc)) from exc
    if item is None:
        messages.info(request, "Nothing left to claim on today's list.")
    else:
        messages.success(
            request,
            f"You claimed {item.case.child.full_name} (position {item.position}); "
            f"next step: {NEXT_STEP_LABELS.get(item.next_step, item.next_step)}.",
        )
        access_log_record(
            user=request.user, obj=item.case, action="claim", path=request.path, is_minor_record=True
        )
    return redirect(reverse("reunification:queue") + (f"#item-{item.pk}" if item else ""))


@require_POST
def item_complete(request: HttpRequest, item_id: Any) -> HttpResponse:
    _require(request, "work_worklist")
    user: Any = request.user
    item = WorklistItem.objects.filter(pk=item_id, worklist__team=user.team).first()
    if item is None:
        raise Http404("No item of your team's worklist has this id.")
    try:
        services.worklist_item_complete(item_id=item.pk, user=request.user)
        messages.success(request, f"Completed today's work on {item.case.child.full_name}.")
    except BusinessRuleError as exc:
        messages.error(request, str(exc))
    return _back(request, reverse("reunification:queue"))


# --- Cases ------------------------------------------------------------------------------------

CASE_COLUMNS = [
    Column("case_id", lambda c: c.pk),
    Column("child_id", lambda c: c.child_id),
    Column("child_name", lambda c: c.child.full_name),
    Column("child_a_number", lambda c: c.child.a_number),
    Column("status", lambda c: c.status),
    Column("outcome", lambda c: c.outcome),
    Column("station", lambda c: c.separation.station.code),
    Column("team", lambda c: c.team),
    Column("assigned_to", lambda c: c.assigned_to.get_username() if c.assigned_to else ""),
    Column("contact_due_at", lambda c: c.contact_due_at),
    Column("reunify_due_at", lambda c: c.reunify_due_at),
    Column("next_step", lambda c: c.next_step),
    Column("due_at", lambda c: c.due_at),
    Column("closed_at", lambda c: c.closed_at),
]


def _closed_since(request: HttpRequest) -> Any:
    """`closed_since=YYYY-MM-DD` (with `closed_since_tz`): cases closed from that local day on."""
    from datetime import date, datetime, time
    from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

    raw = request.GET.get("closed_since", "").strip()
    if not raw:
        return None
    try:
        day = date.fromisoformat(raw)
    except ValueError:
        messages.error(
            request, f"Closed since: {raw[:20]!r} is not a date; use YYYY-MM-DD. Showing every date."
        )
        return None
    zone_name = request.GET.get("closed_since_tz") or "UTC"
    try:
        zone = ZoneInfo(zone_name)
    except (ValueError, OSError, ZoneInfoNotFoundError):  # OSError: a name too long for a file
        messages.error(
            request,
            f"Closed since: time zone {quoted(zone_name)} is not one FamilyLink knows; use a name such as "
            "America/Denver or UTC. Showing every date.",
        )
        return None
    return datetime.combine(day, time.min, tzinfo=zone)


@require_GET
def case_list(request: HttpRequest) -> HttpResponseBase:
    _require(request, "work_cases", "read_cases_station", "read_cases_all")
    cases = selectors.cases_visible_to(request.user).order_by("due_at", "created_at", "id")
    status = request.GET.get("status", "active")
    if status == "active":
        cases = cases.filter(status__in=selectors.OPEN_STATUSES)
    elif status in ReunificationCase.Status.values:
        cases = cases.filter(status=status)
    else:
        if status != "all":  # an unknown status is said, not silently read as "all"
            known = ", ".join(["active", *ReunificationCase.Status.values, "all"])
            wrong = f"Status: {status[:30]!r} is not a status; choose one of {known}."
            messages.error(request, f"{wrong} Showing every status.")
        status = "all"
    overdue = request.GET.get("overdue") == "1"
    if overdue:
        cases = cases.filter(due_at__lt=timezone.now(), status__in=selectors.OPEN_STATUSES)
    closed_since = _closed_since(request)
    if closed_since is not None:
        cases = cases.filter(closed_at__gte=closed_since)
    if (fmt := export_format(request)) is not None:
        return export_response(request, fmt=fmt, name="cases", columns=CASE_COLUMNS, rows=cases)
    page = Paginator(cases, 50).get_page(request.GET.get("page"))
    query = urlencode(
        {
            "status": status,
            **({"overdue": "1"} if overdue else {}),
            **(
                {
                    "closed_since": request.GET["closed_since"],
                    "closed_since_tz": request.GET.get("closed_since_tz") or "UTC",
                }
                if closed_since is not None
                else {}
            ),
        }
    )
    rows = [
        {
            "case": case,
            "priority": case_priority(case),
            "next_step_label": NEXT_STEP_LABELS.get(case.next_step, ""),
        }
        for case in page
    ]
    return render(
        request,
        "reunification/case_list.html",
        {
            "page": page,
            "rows": rows,
            "status": status,
            "overdue": overdue,
            "closed_since": closed_since,
            "query": query,
            "export_csv": export_url(request, "csv"),
            "export_xlsx": export_url(request, "xlsx"),
            "statuses": [
                ("active", "Open and in progress"),
                *ReunificationCase.Status.choices,
                ("all", "All"),
            ],
        },
    )


@require_GET
def case_detail(request: HttpRequest, case_id: Any) -> HttpResponse:
    case = _visible_case(request, case_id)
    access_log_record(user=request.user, obj=case, path=request.path, is_minor_record=True)
    return render(request, "reunification/case_detail.html", case_context(request, case))


@require_POST
def step_update(request: HttpRequest, case_id: Any, step: str) -> HttpResponse:
    """Tick or untick one step; htmx gets the checklist back in place, a plain form the page."""
    case = _visible_case(request, case_id)
    done = request.POST.get("done") == "1"
    entered = {"method": request.POST.get("method", ""), "note": request.POST.get("note", "")}
    errors: dict[str, list[str]] = {}
    try:
        services.case_step_update(
            case_id=case.pk,
            step=step,
            done=done,
            by=request.user,
            method=entered["method"],
            note=entered["note"],
            expected_version=_int(request.POST.get("version")),
        )
    except DomainPermissionDenied as exc:
        raise PermissionDenied(str(exc)) from exc
    except ValidationFailed as exc:
        errors = _shown_errors(exc.errors, {"method"})
    except (BusinessRuleError, StaleVersionError) as exc:
        errors = {"non_field": [str(exc)]}
    case = _visible_case(request, case_id)
    if getattr(request, "htmx", False):
        context = checklist_context(
            request,
            case,
            errors=errors,
            error_step=step if errors else "",
            entered=entered,
            oob=True,
            clocks=case_clocks(case),
            priority=case_priority(case),
        )
        context["next_url"] = request.POST.get("next", "")
        context["heading_level"] = _int(request.POST.get("heading_level")) or 2
        return render(request, "reunification/partials/checklist.html", context)
    if errors:
        context = case_context(request, case, errors=errors, error_step=step, entered=entered)
        return render(request, "reunification/case_detail.html", context, status=400)
    messages.success(request, f"Checklist updated: {dict(CaseStep.Step.choices).get(step, step)}.")
    return _back(request, reverse("reunification:case_detail", args=[case.pk]))


@require_POST
def case_close(request: HttpRequest, case_id: Any) -> HttpResponse:
    case = _visible_case(request, case_id)
    form = request.POST.get("form", "other")
    outcome = "reunified" if form == "reunified" else request.POST.get("outcome", "")
    entered = {k: request.POST.get(k, "") for k in ("outcome", "custody_agency", "custody_facility", "note")}
    try:
        services.case_close(
            case_id=case.pk,
            by=request.user,
            outcome=outcome,
            note=entered["note"],
            custody_agency=entered["custody_agency"] or CustodyPeriod.Agency.RELEASED,
            custody_facility=entered["custody_facility"],
            expected_version=_int(request.POST.get("version")),
        )
    except DomainPermissionDenied as exc:
        raise PermissionDenied(str(exc)) from exc
    except ValidationFailed as exc:
        errors = _shown_errors(exc.errors, {"custody_agency", "custody_facility", "outcome", "note"})
    except (BusinessRuleError, StaleVersionError) as exc:
        errors = {"non_field": [str(exc)]}
    else:
        verb = "reunified" if outcome == "reunified" else "closed"
        messages.success(request, f"The case of {case.child.full_name} is {verb}.")
        return redirect("reunification:case_detail", case.pk)
    case = _visible_case(request, case_id)
    context = case_context(request, case, close_errors=errors, close_form=form, entered=entered)
    return render(request, "reunification/case_detail.html", context, status=400)


@require_POST
def case_reassign(request: HttpRequest, case_id: Any) -> HttpResponse:
    case = _visible_case(request, case_id)
    from familylink.common.models import User

    to_user = User.objects.filter(pk=_int(request.POST.get("assigned_to")) or 0).first()
    try:
        reason = request.POST.get("change_reason", "").strip()[:500]
        services.case_reassign(case_id=case.pk, to_user=to_user, by=request.user, change_reason=reason)
        messages.success(request, f"{case.child.full_name}'s case is now assigned to {to_user}.")
    except DomainPermissionDenied as exc:
        raise PermissionDenied(str(exc)) from exc
    except (ValidationFailed, BusinessRuleError) as exc:
        text = (
            "; ".join(m for ms in exc.errors.values() for m in ms)
            if isinstance(exc, ValidationFailed)
            else str(exc)
        )
        messages.error(request, text)
    return _back(request, reverse("reunification:case_detail", args=[case.pk]))


# --- Supervisor: team progress ----------------------------------------------------------------


@require_GET
def team(request: HttpRequest) -> HttpResponse:
    _require(request, "read_cases_station")
    team_name = selectors.supervised_team(request.user)
    day = today(team_name)
    worklist = selectors.worklist_for(team_name, day)
    page = None
    rows = []
    if worklist is not None:
        page = Paginator(selectors.worklist_items(worklist), 50).get_page(request.GET.get("page"))
        rows = [
            {
                "item": item,
                "priority": case_priority(item.case),
                "next_step_label": NEXT_STEP_LABELS.get(item.next_step, item.next_step),
            }
            for item in page
        ]
    return render(
        request,
        "reunification/team.html",
        {
            "team": team_name,
            "team_zone": str(team_zone(team_name)),
            "day": day,
            "worklist": worklist,
            "progress": selectors.worklist_progress(worklist) if worklist else None,
            "by_coordinator": selectors.worklist_progress_by_coordinator(worklist) if worklist else [],
            "page": page,
            "rows": rows,
            "coordinators": list(selectors.team_coordinators(team_name)),
        },
    )


@require_POST
def team_build(request: HttpRequest) -> HttpResponse:
    """The supervisor's button: build (or top up) today's list of their team now."""
    _require(request, "read_cases_station")
    team_name = selectors.supervised_team(request.user)
    counts = services.worklists_build(day=today(team_name), team=team_name, by=request.user)
    messages.success(
        request, f"Today's worklist of {team_name} is ready: {counts['items_created']} new item(s) added."
    )
    return redirect("reunification:team")


# --- Notifications ----------------------------------------------------------------------------


@require_GET
def notifications(request: HttpRequest) -> HttpResponse:
    _require(request, "work_worklist", "read_cases_station")
    page = Paginator(selectors.notifications_for(request.user), 50).get_page(request.GET.get("page"))
    unread = selectors.notifications_for(request.user).filter(read_at__isnull=True).count()
    return render(request, "reunification/notifications.html", {"page": page, "unread": unread})


@require_POST
def notifications_read(request: HttpRequest) -> HttpResponse:
    _require(request, "work_worklist", "read_cases_station")
    count = services.notifications_mark_read(user=request.user)
    messages.success(request, f"{count} notification(s) marked as read.")
    return redirect("reunification:notifications")
