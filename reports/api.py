"""`GET /api/v1/reports/separated-children/series/` and `GET /api/v1/reports/court-status/`
(API contract, "Series and the court"). Thin: scope, parse, call the selector, shape."""

from typing import Any

from django.utils import timezone
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework.request import Request
from rest_framework.response import Response

from familylink.common.api import ApiView
from familylink.common.errors import ValidationFailed
from reunification.models import DeadlinePolicy
from separations.selectors import parse_instant

from . import court, scope
from .series import DIMENSIONS, parse_range, separated_series

DEFAULT_SPLITS: tuple[str, ...] = ()


class SeparatedSeriesApi(ApiView):
    """Children in an in-effect separation at the end of each local day, `from`..`to`."""

    capabilities = scope.SEPARATION_CAPABILITIES

    @extend_schema(
        parameters=[
            OpenApiParameter(
                "from", str, description="First day, YYYY-MM-DD (default: 89 days before `to`)."
            ),
            OpenApiParameter("to", str, description="Last day, YYYY-MM-DD (default: today)."),
            OpenApiParameter("station", str, description="A station code: its separations only."),
            OpenApiParameter(
                "known_at", str, description="ISO 8601 with offset: as the system knew it then."
            ),
            OpenApiParameter(
                "tz", str, description="Zone whose midnight ends a day (default: the station's)."
            ),
            OpenApiParameter(
                "split",
                str,
                description="Comma-separated breakdowns per day, each a `by_<name>` object: station, "
                "category, agency (default: none, the count only).",
            ),
        ],
        responses={200: dict},
    )
    def get(self, request: Request) -> Response:
        reach = scope.separations_scope(request.user)
        params = request.query_params
        errors: dict[str, list[str]] = {}
        known_at = None
        try:
            known_at = parse_instant(params.get("known_at"), "known_at")
        except ValidationFailed as exc:
            errors.update(exc.errors)
        splits: tuple[str, ...] = DEFAULT_SPLITS
        if "split" in params:
            splits = tuple(s.strip() for s in params["split"].split(",") if s.strip())
            unknown = [s for s in splits if s not in DIMENSIONS]
            if unknown:
                errors["split"] = [f"Use any of {', '.join(DIMENSIONS)}; not {', '.join(unknown)}."]
        date_range = None
        try:
            date_range = parse_range(params.get("from"), params.get("to"), today=timezone.localdate())
        except ValidationFailed as exc:
            errors.update(exc.errors)
        if errors or date_range is None:
            raise ValidationFailed(errors)
        station = reach.narrowed(params.get("station") or None)
        series = separated_series(
            date_from=date_range[0],
            date_to=date_range[1],
            station=station,
            known_at=known_at,
            tz=params.get("tz") or None,
            splits=splits,
        )
        days = []
        for day in series.days:
            item: dict[str, Any] = {
                "date": day.date.isoformat(),
                "count": day.count,
                "end": day.end.isoformat(),
            }
            for dim in series.splits:
                item[f"by_{dim}"] = getattr(day, f"by_{dim}")
            days.append(item)
        return Response(
            {
                "from": series.date_from.isoformat(),
                "to": series.date_to.isoformat(),
                "tz": series.tz,
                "station": series.station,
                "known_at": series.known_at.isoformat() if series.known_at else None,
                "days": days,
            }
        )


class CourtStatusApi(ApiView):
    """The deadline policy's status report as of a time, in total and by station."""

    capabilities = scope.CASE_CAPABILITIES

    @extend_schema(
        parameters=[
            OpenApiParameter("as_of", str, description="ISO 8601 with offset; default now."),
            OpenApiParameter(
                "policy", str, description="Deadline policy id; default the seeded Ms. L. order."
            ),
        ],
        responses={200: dict},
    )
    def get(self, request: Request) -> Response:
        cases = scope.cases_scope(request.user)
        errors: dict[str, list[str]] = {}
        as_of = None
        try:
            as_of = parse_instant(request.query_params.get("as_of"), "as_of")
        except ValidationFailed as exc:
            errors.update(exc.errors)
        raw_policy = request.query_params.get("policy", "").strip()
        policy = None
        if raw_policy:
            policy = next(
                (
                    p
                    for p in DeadlinePolicy.objects.filter(withdrawn_at__isnull=True)
                    if str(p.pk) == raw_policy
                ),
                None,
            )
            if policy is None:
                errors["policy"] = [
                    f"No deadline policy has the id {raw_policy[:40]!r}; see the admin's list."
                ]
        else:
            policy = court.default_policy()
            if policy is None:
                errors["policy"] = ["No deadline policy is on file; an administrator adds one."]
        if errors or policy is None:
            raise ValidationFailed(errors)
        as_of = as_of or timezone.now()
        report = court.court_status(cases=cases, policy=policy, as_of=as_of)
        return Response(
            {
                "policy": {
                    "id": str(policy.pk),
                    "name": policy.name,
                    "order_date": policy.order_date.isoformat(),
                },
                "as_of": as_of.isoformat(),
                **court.figures(report.total),
                "stations": [
                    {"station": code, **court.figures(counter)} for code, counter in report.stations()
                ],
            }
        )
