"""Pages: the dashboard (home of HQ analysts and supervisors) and the court status report with
its drill-downs and exports. Thin: scope (reports/scope.py), call a selector, render."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any
from urllib.parse import urlencode
from zoneinfo import ZoneInfo

from django.core.exceptions import PermissionDenied
from django.core.paginator import Paginator
from django.db import transaction
from django.http import Http404, HttpRequest, HttpResponse
from django.http.response import HttpResponseBase
from django.shortcuts import render
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.http import require_GET

from apprehensions.models import Person
from audit.exports import Column, Record, export_format, export_response, export_url
from familylink.common.errors import ValidationFailed
from reunification.models import DeadlinePolicy
from reunification.selectors import OPEN_STATUSES
from separations.access import log_person_views
from separations.forms import default_time_zone
from separations.selectors import parse_instant, separated_children

from . import charts, court, scope
from .forms import CourtForm, SeriesForm
from .series import DIMENSIONS, Series, parse_range, separated_series

CATEGORY_LABELS = {"policy": "Policy-driven", "child_welfare": "Child welfare"}
CHILDREN_PAGE = 50


def _local(value: datetime, tz: str) -> str:
    return value.astimezone(ZoneInfo(tz)).strftime("%Y-%m-%dT%H:%M")


def report_url(
    *,
    as_of: datetime,
    tz: str,
    known_at: datetime | None = None,
    station: str | None = None,
    category: str | None = None,
    agency: str | None = None,
) -> str:
    """The separated-children list behind a figure: the as-of report at that instant, narrowed to
    the figure's station, reason category or custody agency."""
    query = {"as_of": _local(as_of, tz), "as_of_tz": tz}
    if known_at is not None:
        query |= {"known_at": _local(known_at, tz), "known_at_tz": tz}
    if station:
        query["station"] = station
    if category:
        query["category"] = category
    if agency:
        query["agency"] = agency
    return f"{reverse('separations:report')}?{urlencode(query)}"


def _series_tables(series: Series, tz: str) -> list[dict[str, Any]]:
    """Per chart: its lines, its SVG, and its data table (each cell with its link)."""

    def link(day: Any, dim: str = "total", key: str | None = None) -> str:
        return report_url(
            as_of=day.end,
            tz=tz,
            known_at=series.known_at,
            station=(key if dim == "station" else None) or series.station,
            category=key if dim == "category" else None,
            agency=key if dim == "agency" else None,
        )

    days = [d.date for d in series.days]
    charts_out = []
    total = charts.Line("All separated children", [d.count for d in series.days])
    specs: list[tuple[str, str, list[tuple[str, str]]]] = [
        ("total", "Separated children per day", [("", total.label)])
    ]
    for dim in series.splits:
        keys = series.keys(dim)
        if dim == "category":
            named = [(k, CATEGORY_LABELS.get(k, k)) for k in keys]
            title = "By reason category"
        elif dim == "agency":
            named = [(k, k) for k in keys]
            title = "By custody agency holding the child that day"
        else:
            named = [(k, k) for k in keys]
            title = "By station"
        specs.append((dim, title, named))
    for dim, title, named in specs:
        if dim == "total":
            lines = [total]
        else:
            lines = [
                charts.Line(label, [getattr(d, f"by_{dim}").get(key, 0) for d in series.days])
                for key, label in named
            ]
        rows = []
        for i, day in enumerate(series.days):
            cells = []
            for (key, _), line in zip(named, lines, strict=True):
                cells.append({"value": line.values[i], "url": link(day, dim, key or None)})
            rows.append({"date": day.date, "cells": cells, "total": day.count, "total_url": link(day)})
        description = (
            f"{title}, {days[0].isoformat()} to {days[-1].isoformat()}. "
            + "; ".join(
                f"{line.label}: {line.values[-1]:,} on the last day, at most {max(line.values):,}"
                for line in lines
            )
            + ". The exact figures are in the data table below."
        )
        charts_out.append(
            {
                "id": f"chart-{dim}",
                "title": title,
                "svg": charts.line_chart(
                    chart_id=f"svg-{dim}", title=title, description=description, days=days, lines=lines
                ),
                "legend": charts.legend(lines),
                "columns": [label for _, label in named],
                "rows": rows,
                "show_total": dim != "total",
            }
        )
    return charts_out


def _tiles(request: HttpRequest, reach: scope.Scope, now: datetime, tz: str) -> list[dict[str, Any]]:
    tiles = [
        {
            "label": "Separated now",
            "value": separated_children(as_of=now, station=reach.station).count(),
            "url": reverse("separations:report"),
            "testid": "tile-separated",
        }
    ]
    if scope.can_read_cases(request.user):
        cases = scope.cases(request.user)
        case_list = reverse("reunification:case_list")
        # The last 7 local days: today and the 6 before it (from the local midnight 6 days ago).
        since = now.astimezone(ZoneInfo(tz)).date() - timedelta(days=6)
        tiles += [
            {
                "label": "Open cases",
                "value": cases.filter(status__in=OPEN_STATUSES).count(),
                "url": f"{case_list}?status=active",
                "testid": "tile-open",
            },
            {
                "label": "Overdue",
                "value": cases.filter(status__in=OPEN_STATUSES, due_at__lt=now).count(),
                "url": f"{case_list}?status=active&overdue=1",
                "testid": "tile-overdue",
            },
            {
                "label": "Reunified in the last 7 days",
                "value": cases.filter(
                    status="reunified",
                    closed_at__gte=datetime.combine(since, datetime.min.time(), tzinfo=ZoneInfo(tz)),
                ).count(),
                "url": f"{case_list}?"
                + urlencode(
                    {"status": "reunified", "closed_since": since.isoformat(), "closed_since_tz": tz}
                ),
                "testid": "tile-reunified",
            },
        ]
    return tiles


def _deadlines(request: HttpRequest, now: datetime, tz: str) -> dict[str, Any] | None:
    """Reunifications against their deadlines under the default policy, as of now."""
    if not scope.can_read_cases(request.user):
        return None
    policy = court.default_policy()
    if policy is None:
        return None
    report = court.court_status(cases=scope.cases(request.user), policy=policy, as_of=now)
    total = report.total
    base = reverse("reports:court_children")

    def url(key: str) -> str:
        query = {"policy": str(policy.pk), "as_of": now.isoformat(), "as_of_tz": tz, "key": key}
        return f"{base}?{urlencode(query)}"

    rows = []
    for clock, clock_label in court.CLOCKS.items():
        rows.append(
            {
                "label": clock_label,
                "cells": [
                    {"value": total[f"{clock}:{s}"], "url": url(f"{clock}:{s}")} for s in court.COUNTED
                ],
            }
        )
    bars = [
        (f"{court.CLOCKS['reunify']}: {court.LABELS[s].lower()}", total[f"reunify:{s}"])
        for s in court.COUNTED
    ]
    return {
        "policy": policy,
        "states": [court.LABELS[s] for s in court.COUNTED],
        "rows": rows,
        "svg": charts.bar_chart(
            chart_id="svg-deadlines",
            title=f"Reunification clocks under {policy.name}, now",
            description="; ".join(f"{label}: {n:,}" for label, n in bars)
            + ". Figures and links in the table below.",
            bars=bars,
        ),
        "court_url": f"{reverse('reports:court_status')}?"
        + urlencode({"policy": str(policy.pk), "as_of_tz": tz}),
    }


@require_GET
def dashboard(request: HttpRequest) -> HttpResponseBase:
    """Separated now, open, overdue, reunified this week; separated children per day over a range
    (as now known or as known then) by station, reason category and agency; clocks vs deadlines."""
    reach = scope.separations_scope(request.user)
    now = timezone.now()
    tz = default_time_zone(request.user)
    data = request.GET.copy()
    data.setdefault("tz", tz)
    data.setdefault("known_at_tz", tz)
    form = SeriesForm(data, stations_allowed=reach.all_stations)
    context: dict[str, Any] = {"form": form, "station_scope": reach.station}
    series = None
    status = 200
    if form.is_valid():
        tz = form.cleaned_data["tz"]
        try:
            date_from, date_to = parse_range(
                data.get("date_from"), data.get("date_to"), today=now.astimezone(ZoneInfo(tz)).date()
            )
            station = reach.narrowed(form.cleaned_data.get("station") or data.get("station") or None)
            series = separated_series(
                date_from=date_from,
                date_to=date_to,
                station=station,
                known_at=form.cleaned_data["known_at"],
                tz=tz,
            )
        except ValidationFailed as exc:
            for name, messages in exc.errors.items():
                target = {"from": "date_from", "to": "date_to"}.get(name, name)
                for message in messages:
                    form.add_error(target if target in form.fields else None, message)
            # The reader's own station missing from the reference data is not their input's fault.
            own_station_missing = set(exc.errors) == {"station"} and not data.get("station")
            status = 200 if own_station_missing else 400
    else:
        status = 400
    if series is not None:
        query = request.GET.copy()
        context.update(
            {
                "series": series,
                "charts": _series_tables(series, tz),
                "api_url": f"{reverse('api-report-series')}?{urlencode(_api_query(series))}",
                "export_csv": export_url(request, "csv"),
                "export_xlsx": export_url(request, "xlsx"),
                "query": query.urlencode(),
            }
        )
        if (fmt := export_format(request)) is not None:
            return _series_export(request, fmt, series)
    context["tiles"] = _tiles(request, reach, now, tz)
    context["deadlines"] = _deadlines(request, now, tz)
    context["tz"] = tz
    return render(request, "reports/dashboard.html", context, status=status)


def _api_query(series: Series) -> dict[str, str]:
    query = {"from": series.date_from.isoformat(), "to": series.date_to.isoformat(), "tz": series.tz}
    if series.station:
        query["station"] = series.station
    if series.known_at:
        query["known_at"] = series.known_at.isoformat()
    return query


def _split_value(dim: str, key: str) -> Any:
    def value(day: Any) -> int:
        return getattr(day, f"by_{dim}").get(key, 0)

    return value


def _series_export(request: HttpRequest, fmt: str, series: Series) -> HttpResponseBase:
    """The day-by-day table (aggregate figures; no person is named, so nothing to access-log but
    the export itself)."""
    keys = {dim: series.keys(dim) for dim in DIMENSIONS if dim in series.splits}
    columns: list[Column] = [
        Column("date", lambda d: d.date),
        Column("day_ends_at", lambda d: d.end),
        Column("count", lambda d: d.count),
    ]
    for dim, names in keys.items():
        for key in names:
            columns.append(Column(f"{dim}:{key}", _split_value(dim, key)))
    return export_response(
        request,
        fmt=fmt,
        name="separated-children-per-day",
        columns=columns,
        rows=series.days,
        record=lambda d: Record("reports.series_day", d.date.isoformat()),
    )


# --- the court status report -----------------------------------------------------------------


def _court_params(request: HttpRequest) -> tuple[CourtForm, DeadlinePolicy | None, datetime | None, str]:
    tz = default_time_zone(request.user)
    policies = list(DeadlinePolicy.objects.filter(withdrawn_at__isnull=True).order_by("order_date", "name"))
    data = request.GET.copy()
    data.setdefault("as_of_tz", tz)
    default = court.default_policy()
    if default is not None:
        data.setdefault("policy", str(default.pk))
    raw_as_of = data.get("as_of", "")
    iso = None
    if raw_as_of:
        # An ISO instant with its offset (the links of the report and the dashboard) is read as
        # given; a local date and time (the form) is read in the chosen zone.
        try:
            iso = parse_instant(raw_as_of, "as_of")
        except ValidationFailed:
            iso = None
        if iso is not None:
            data["as_of"] = _local(iso, str(data["as_of_tz"]))
    form = CourtForm(data, policies=policies)
    if not form.is_valid():
        return form, None, None, str(data["as_of_tz"])
    policy = next((p for p in policies if str(p.pk) == form.cleaned_data["policy"]), None)
    as_of = iso or form.cleaned_data["as_of"] or timezone.now()
    return form, policy, as_of, form.cleaned_data["as_of_tz"]


def _figure_rows(
    report: court.CourtReport, link: Any
) -> tuple[list[str], list[dict[str, Any]], list[dict[str, Any]]]:
    stations = report.stations()
    total = report.total
    columns = [code for code, _ in stations]
    buckets = [
        {
            "key": key,
            "label": label,
            "indent": indent,
            "total": {"value": total[key], "url": link(key, None)},
            "cells": [{"value": counter[key], "url": link(key, code)} for code, counter in stations],
        }
        for key, label, indent in court.bucket_rows()
    ]
    clocks = [
        {
            "key": key,
            "label": f"{clock_label}: {state_label.lower()}",
            "total": {"value": total[key], "url": link(key, None)},
            "cells": [{"value": counter[key], "url": link(key, code)} for code, counter in stations],
        }
        for key, clock_label, state_label in court.clock_rows()
    ]
    return columns, buckets, clocks


@require_GET
@transaction.atomic  # exports name children: reads and log rows in one transaction
def court_status(request: HttpRequest) -> HttpResponseBase:
    """For a deadline policy, as of any time: every child in one bucket, by station; XLSX and PDF."""
    cases = scope.cases_scope(request.user)
    form, policy, as_of, tz = _court_params(request)
    context: dict[str, Any] = {"form": form, "tz": tz}
    if policy is None or as_of is None:
        if form.is_valid() and policy is None:
            context["no_policy"] = True
        return render(request, "reports/court_status.html", context, status=400 if form.errors else 200)
    report = court.court_status(cases=cases, policy=policy, as_of=as_of)
    base = reverse("reports:court_children")

    def link(key: str, station: str | None) -> str:
        query = {"policy": str(policy.pk), "as_of": as_of.isoformat(), "as_of_tz": tz, "key": key}
        if station:
            query["station"] = station
        return f"{base}?{urlencode(query)}"

    columns, buckets, clocks = _figure_rows(report, link)
    context.update(
        {
            "policy": policy,
            "as_of": as_of,
            "report": report,
            "columns": columns,
            "buckets": buckets,
            "clocks": clocks,
            "adds_up": _adds_up(report.total),
            "total_label": scope.total_label(request.user),
            "generated_at": timezone.now(),
            "pdf_url": _court_url(request, policy, as_of, tz, "pdf"),
            "xlsx_url": _court_url(request, policy, as_of, tz, "xlsx"),
        }
    )
    fmt = request.GET.get("format", "")
    if fmt == "xlsx":
        return _court_xlsx(request, report, columns, buckets, clocks, tz, context["total_label"])
    if fmt == "pdf":
        return _court_pdf(request, context)
    return render(request, "reports/court_status.html", context)


def _court_url(request: HttpRequest, policy: DeadlinePolicy, as_of: datetime, tz: str, fmt: str) -> str:
    """A download of the report as shown: the same instant, told in the same zone."""
    query = {"policy": str(policy.pk), "as_of": as_of.isoformat(), "as_of_tz": tz, "format": fmt}
    return f"{request.path}?{urlencode(query)}"


def _file_stamp(as_of: datetime, tz: str) -> str:
    """The as-of time in a download's name, told in the zone the page showed it in, with its offset."""
    return as_of.astimezone(ZoneInfo(tz)).strftime("%Y%m%dT%H%M%z")


def _adds_up(total: Any) -> bool:
    return (
        total["separated"] == total["reunified"] + total["discharged"] + total["still_separated"]
        and total["still_separated"] == total["not_eligible"] + total["in_process"]
    )


def _log_report_children(request: HttpRequest, report: court.CourtReport, channel: str = "web") -> None:
    from audit.exports import log_export

    log_export(
        user=request.user,
        records=[Record("apprehensions.person", str(r.child_id), True) for r in report.rows],
        path=request.get_full_path(),
        channel=channel,
    )


def _court_xlsx(
    request: HttpRequest,
    report: court.CourtReport,
    columns: list[str],
    buckets: list[dict],
    clocks: list[dict],
    tz: str,
    total_label: str,
) -> HttpResponseBase:
    """The report's tables in one sheet, and its children (one row each) in a second."""
    import tempfile

    from django.http import FileResponse
    from openpyxl import Workbook
    from openpyxl.styles import Alignment, Font

    from audit.exports import XLSX_TYPE, cell

    workbook = Workbook()
    sheet = workbook.active
    sheet.title = "Court status"
    bold = Font(bold=True)
    sheet.append([f"Court status report: {report.policy.name}"])
    sheet["A1"].font = Font(bold=True, size=14)
    sheet.append(
        [
            f"As of {report.as_of.astimezone(ZoneInfo(tz)).strftime('%Y-%m-%d %H:%M %Z')}"
            f" ({report.as_of.isoformat()})"
        ]
    )
    sheet.append([f"Generated {timezone.now().isoformat()} by {request.user.get_username()}"])
    sheet.append([])
    sheet.append(["Children", total_label, *columns])
    for c in sheet[sheet.max_row]:
        c.font = bold
    for row in buckets:
        sheet.append(
            ["  " * row["indent"] + row["label"], row["total"]["value"], *[c["value"] for c in row["cells"]]]
        )
    sheet.append([])
    sheet.append(["Clocks", total_label, *columns])
    for c in sheet[sheet.max_row]:
        c.font = bold
    for row in clocks:
        sheet.append([row["label"], row["total"]["value"], *[c["value"] for c in row["cells"]]])
    sheet.column_dimensions["A"].width = 60
    for c in sheet["A"]:
        c.alignment = Alignment(wrap_text=False)
    children = workbook.create_sheet("Children")
    # The drill-down's columns (its CSV and XLSX), so the court's copy and HQ's list read alike.
    children.append([column.header for column in CHILD_COLUMNS])
    for record in _with_persons(report.rows):
        children.append([cell(column.value(record)) for column in CHILD_COLUMNS])
    _log_report_children(request, report)
    spool = tempfile.SpooledTemporaryFile(max_size=8 * 1024 * 1024)  # noqa: SIM115 - FileResponse closes it
    workbook.save(spool)
    spool.seek(0)
    stamp = _file_stamp(report.as_of, tz)
    return FileResponse(
        spool, as_attachment=True, filename=f"court-status-{stamp}.xlsx", content_type=XLSX_TYPE
    )


def _court_pdf(request: HttpRequest, context: dict[str, Any]) -> HttpResponse:
    """A document a court can read: title, policy, as-of time, the tables, page numbers."""
    from django.template.loader import render_to_string
    from weasyprint import HTML

    html = render_to_string("reports/court_status_pdf.html", context, request=request)
    pdf = HTML(string=html, base_url=request.build_absolute_uri("/")).write_pdf()
    _log_report_children(request, context["report"])
    response = HttpResponse(pdf, content_type="application/pdf")
    stamp = _file_stamp(context["as_of"], context["tz"])
    response["Content-Disposition"] = f'attachment; filename="court-status-{stamp}.pdf"'
    return response


CHILD_COLUMNS = [
    Column("child_id", lambda r: r["row"].child_id),
    Column("child_name", lambda r: r["person"].full_name if r["person"] else ""),
    Column("a_number", lambda r: r["person"].a_number if r["person"] else ""),
    Column("date_of_birth", lambda r: r["person"].date_of_birth if r["person"] else ""),
    Column("station", lambda r: r["row"].station),
    Column("separated_at", lambda r: r["row"].separated_at),
    Column("status_as_of", lambda r: r["row"].status),
    Column("outcome", lambda r: r["row"].outcome),
    Column("contact_clock", lambda r: r["row"].contact_state),
    Column("reunification_clock", lambda r: r["row"].reunify_state),
    Column("case_id", lambda r: r["row"].case_id),
]


def _with_persons(rows: list[court.CourtRow]) -> list[dict[str, Any]]:
    persons = {str(pk): p for pk, p in Person.objects.in_bulk([r.child_id for r in rows]).items()}
    return [{"row": r, "person": persons.get(r.child_id)} for r in rows]


@require_GET
@transaction.atomic  # the rows' reads and their access-log rows in one transaction (rule 3)
def court_children(request: HttpRequest) -> HttpResponseBase:
    """The children behind one figure of the court status report (or the dashboard's clocks)."""
    cases = scope.cases_scope(request.user)
    key = request.GET.get("key", "")
    if key not in court.KNOWN_KEYS:
        raise Http404("No figure of the court status report has this name.")
    form, policy, as_of, tz = _court_params(request)
    if policy is None or as_of is None:
        # Bad input: the report's form, with the message next to the field and what was typed.
        return render(request, "reports/court_status.html", {"form": form, "tz": tz}, status=400)
    station = scope.case_station(request.user, request.GET.get("station") or None, cases)
    report = court.court_status(cases=cases, policy=policy, as_of=as_of)
    rows = report.rows_for(key, station)
    label = court.label_of(key)
    if (fmt := export_format(request)) is not None:
        return export_response(
            request,
            fmt=fmt,
            name="court-status-children",
            columns=CHILD_COLUMNS,
            rows=_ChunkedPersons(rows),
            record=lambda r: r["person"],
        )
    page = Paginator(rows, CHILDREN_PAGE).get_page(request.GET.get("page"))
    shown = _with_persons(list(page.object_list))
    log_person_views(
        user=request.user,
        persons=[s["person"] for s in shown if s["person"]],
        channel="web",
        path=request.path,
        action="report",
    )
    query = request.GET.copy()
    query.pop("page", None)
    back = {"policy": str(policy.pk), "as_of": as_of.isoformat(), "as_of_tz": tz}
    return render(
        request,
        "reports/court_children.html",
        {
            "label": label,
            "policy": policy,
            "as_of": as_of,
            "tz": tz,
            "station": station,
            "page": page,
            "rows": shown,
            "count": len(rows),
            "query": query.urlencode(),
            "export_csv": export_url(request, "csv"),
            "export_xlsx": export_url(request, "xlsx"),
            "report_url": f"{reverse('reports:court_status')}?{urlencode(back)}",
            "state_labels": court.LABELS,
        },
    )


class _ChunkedPersons:
    """Court rows with their persons, loaded a chunk at a time for an export."""

    def __init__(self, rows: list[court.CourtRow], chunk: int = 1000) -> None:
        self.rows, self.chunk = rows, chunk

    def __iter__(self) -> Any:
        for start in range(0, len(self.rows), self.chunk):
            yield from _with_persons(self.rows[start : start + self.chunk])


def home_for(user: Any) -> str | None:
    """The dashboard is the home page of HQ analysts and supervisors."""
    from familylink.common.roles import user_roles

    if user_roles(user) & {"hq_analyst", "supervisor"}:
        try:
            scope.separations_scope(user)
        except PermissionDenied:
            return None
        return reverse("reports:dashboard")
    return None
