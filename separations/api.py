"""REST API of the separations layer (API contract: Separations, Custody, Reports).

Thin views: capability check per method, scoping (separations.policies), then a service or a
selector. A method a view does not offer answers 405 to any signed-in user (e.g. every DELETE).
"""

from typing import Any
from uuid import UUID

from django.db.models import Prefetch
from django.http import Http404
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import status
from rest_framework.generics import GenericAPIView
from rest_framework.permissions import IsAuthenticated
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.utils.urls import remove_query_param, replace_query_param

from apprehensions.models import Person
from familylink.common.api import ETagMixin, check_if_match
from familylink.common.errors import PermissionDenied, ValidationFailed
from familylink.common.permissions import capability_permission

from . import policies, services
from .access import log_person_views, log_separation_view, log_separations_viewed
from .models import CustodyPeriod, Separation, SeparationMember
from .selectors import custody_periods, parse_instant, separated_children
from .serializers import (
    CustodyPeriodSerializer,
    CustodyTransferSerializer,
    DecisionSerializer,
    SeparatedChildrenReportSerializer,
    SeparationCorrectionSerializer,
    SeparationRequestSerializer,
    SeparationSerializer,
    separated_child_row,
)

READ_SEPARATIONS = (
    "request_separation",
    "decide_separation",
    "report_separated_all",
    "read_persons_all",
    "read_persons_separated",
    "read_cases_all",
)  # not partner agencies: the contract grants them persons and cases by id, never separations
STATION_STAFF = ("request_separation", "decide_separation")


class CapabilityView(GenericAPIView):
    """`method_capabilities` maps each offered method to the capabilities allowed to call it."""

    method_capabilities: dict[str, tuple[str, ...]] = {}

    def get_permissions(self) -> list[Any]:
        method = "GET" if self.request.method == "HEAD" else self.request.method
        capabilities = self.method_capabilities.get(method or "")
        if capabilities is None:
            # Not offered: authenticate (401 for anonymous), then the handler answers 405.
            return [IsAuthenticated()]
        return [capability_permission(*capabilities)()]


def _data(request: Request) -> dict[str, Any]:
    if not isinstance(request.data, dict):
        raise ValidationFailed({"non_field_errors": ["Send a JSON object."]})
    return request.data


def _text(data: dict[str, Any], key: str, errors: dict[str, list[str]]) -> str:
    value = data.get(key, "")
    if value is None:
        return ""
    if not isinstance(value, str):
        errors[key] = ["Must be text."]
        return ""
    return value


def _uuid(value: Any) -> UUID | None:
    try:
        return UUID(str(value))
    except ValueError:
        return None


def _expected_version(request: Request, separation: Separation) -> int | None:
    """Decisions may send If-Match (never required for these POST actions); stale → 412."""
    if request.headers.get("If-Match"):
        check_if_match(request, separation)
        return separation.version
    return None


def _separations_queryset() -> Any:
    return Separation.objects.select_related(
        "reason_code", "station", "requested_by", "decided_by", "ended_by"
    ).prefetch_related(
        Prefetch(
            "members",
            queryset=SeparationMember.objects.filter(withdrawn_at__isnull=True)
            .select_related("person")
            .prefetch_related(
                Prefetch(
                    "person__custody_periods",
                    queryset=CustodyPeriod.objects.filter(ended_at__isnull=True, withdrawn_at__isnull=True),
                    to_attr="_open_custody",
                )
            ),
            to_attr="live_members",
        )
    )


def _visible_separation(request: Request, pk: Any) -> Separation:
    separation = _separations_queryset().filter(pk=pk).first()
    if separation is None or not policies.can_read_separation(request.user, separation):
        raise Http404("No separation with this id is visible to you.")
    return separation


class SeparationListCreateView(ETagMixin, CapabilityView):
    """`GET /api/v1/separations/` (scoped list) and `POST` (request a separation: status `requested`)."""

    method_capabilities = {"GET": READ_SEPARATIONS, "POST": ("request_separation",)}
    serializer_class = SeparationSerializer
    queryset = Separation.objects.none()

    @extend_schema(
        parameters=[
            OpenApiParameter("status", str, enum=Separation.Status.values),
            OpenApiParameter("station", str),
            OpenApiParameter("person", str, description="A person id on either side."),
            OpenApiParameter("reason_code", str),
        ],
        operation_id="v1_separations_list",
        responses=SeparationSerializer(many=True),
    )
    def get(self, request: Request) -> Response:
        if not policies.can_list_separations(request.user):
            raise PermissionDenied("Your role reads separations by id only.")
        qs = policies.visible_separations(request.user).filter(withdrawn_at__isnull=True)
        qs = _separations_queryset().filter(pk__in=qs.values("pk"))
        params = request.query_params
        if params.get("status"):
            if params["status"] not in Separation.Status.values:
                raise ValidationFailed({"status": [f"Use one of {', '.join(Separation.Status.values)}."]})
            qs = qs.filter(status=params["status"])
        if params.get("station"):
            qs = qs.filter(station__code=params["station"].upper())
        if params.get("reason_code"):
            qs = qs.filter(reason_code__code=params["reason_code"].upper())
        if params.get("person"):
            person_id = _uuid(params["person"])
            if person_id is None:
                raise ValidationFailed({"person": ["Not a person id."]})
            qs = qs.filter(members__person_id=person_id, members__withdrawn_at__isnull=True).distinct()
        qs = qs.order_by("-occurred_at", "id")
        page = self.paginate_queryset(qs)
        log_separations_viewed(user=request.user, separations=page or [], channel="api", path=request.path)
        return self.get_paginated_response(SeparationSerializer(page, many=True).data)

    @extend_schema(request=SeparationRequestSerializer, responses={201: SeparationSerializer})
    def post(self, request: Request) -> Response:
        data = _data(request)
        errors: dict[str, list[str]] = {}
        occurred_at = None
        try:
            occurred_at = parse_instant(data.get("occurred_at"), "occurred_at", required=True)
        except ValidationFailed as exc:
            errors.update(exc.errors)
        narrative = _text(data, "narrative", errors)
        place = _text(data, "place", errors)
        change_reason = _text(data, "change_reason", errors)
        reason_code = _text(data, "reason_code", errors)
        try:
            separation = services.separation_request(
                requester=request.user,
                # The service names bad input (missing, not a list, unknown ids) by its field.
                children=data.get("children") or [],
                adults=data.get("adults") or [],
                reason_code=reason_code,
                occurred_at=occurred_at,  # type: ignore[arg-type]
                narrative=narrative,
                place=place,
                family_unit=data.get("family_unit"),
                change_reason=change_reason,
            )
        except ValidationFailed as exc:
            raise ValidationFailed({**exc.errors, **errors}) from exc
        if errors:
            raise ValidationFailed(errors)
        separation = _visible_separation(request, separation.pk)
        self._etag_instance = separation
        return Response(SeparationSerializer(separation).data, status=status.HTTP_201_CREATED)


class SeparationDetailView(ETagMixin, CapabilityView):
    """`GET /api/v1/separations/{id}/`; `PATCH` corrects when/where/why with If-Match and a reason."""

    method_capabilities = {"GET": READ_SEPARATIONS, "PATCH": STATION_STAFF}
    serializer_class = SeparationSerializer
    queryset = Separation.objects.none()

    def get(self, request: Request, pk: Any) -> Response:
        separation = _visible_separation(request, pk)
        log_separation_view(user=request.user, separation=separation, channel="api", path=request.path)
        self._etag_instance = separation
        return Response(SeparationSerializer(separation).data)

    @extend_schema(request=SeparationCorrectionSerializer, responses=SeparationSerializer)
    def patch(self, request: Request, pk: Any) -> Response:
        separation = _visible_separation(request, pk)
        check_if_match(request, separation)
        data = _data(request)
        errors: dict[str, list[str]] = {}
        kwargs: dict[str, Any] = {}
        if "occurred_at" in data:
            try:
                kwargs["occurred_at"] = parse_instant(data.get("occurred_at"), "occurred_at", required=True)
            except ValidationFailed as exc:
                errors.update(exc.errors)
        for key in ("place", "narrative", "reason_code"):
            if key in data:
                kwargs[key] = _text(data, key, errors)
        change_reason = _text(data, "change_reason", errors)
        if errors:
            raise ValidationFailed(errors)
        services.separation_correct(
            separation_id=separation.pk,
            by=request.user,
            change_reason=change_reason,
            expected_version=separation.version,
            **kwargs,
        )
        separation = _visible_separation(request, pk)
        self._etag_instance = separation
        return Response(SeparationSerializer(separation).data)


class _DecisionView(ETagMixin, CapabilityView):
    method_capabilities = {"POST": ("decide_separation",)}
    serializer_class = SeparationSerializer
    queryset = Separation.objects.none()

    def decide(self, request: Request, separation: Separation, comment: str) -> Separation:
        raise NotImplementedError

    @extend_schema(request=DecisionSerializer, responses=SeparationSerializer)
    def post(self, request: Request, pk: Any) -> Response:
        separation = _visible_separation(request, pk)
        data = request.data if isinstance(request.data, dict) else {}
        errors: dict[str, list[str]] = {}
        comment = _text(data, "comment", errors)
        if errors:
            raise ValidationFailed(errors)
        self.decide(request, separation, comment)
        separation = _visible_separation(request, pk)
        self._etag_instance = separation
        return Response(SeparationSerializer(separation).data)


class SeparationApproveView(_DecisionView):
    """`POST /api/v1/separations/{id}/approve/` → `in_effect` (station supervisor, not the requester)."""

    def decide(self, request: Request, separation: Separation, comment: str) -> Separation:
        return services.separation_approve(
            separation_id=separation.pk,
            approver=request.user,
            comment=comment,
            expected_version=_expected_version(request, separation),
        )


class SeparationRejectView(_DecisionView):
    """`POST /api/v1/separations/{id}/reject/` with a `comment` → `rejected`."""

    def decide(self, request: Request, separation: Separation, comment: str) -> Separation:
        return services.separation_reject(
            separation_id=separation.pk,
            approver=request.user,
            comment=comment,
            expected_version=_expected_version(request, separation),
        )


class CustodyTransferView(CapabilityView):
    """`POST /api/v1/custody-transfers/`: close the open custody period and open the next one."""

    method_capabilities = {"POST": ("transfer_custody",)}
    serializer_class = CustodyPeriodSerializer
    queryset = CustodyPeriod.objects.none()

    @extend_schema(request=CustodyTransferSerializer, responses={201: CustodyPeriodSerializer})
    def post(self, request: Request) -> Response:
        data = _data(request)
        errors: dict[str, list[str]] = {}
        started_at = None
        if data.get("started_at") not in (None, ""):
            try:
                started_at = parse_instant(data.get("started_at"), "started_at")
            except ValidationFailed as exc:
                errors.update(exc.errors)
        agency = _text(data, "agency", errors)
        facility = _text(data, "facility", errors)
        change_reason = _text(data, "change_reason", errors)
        person_id = data.get("person")
        person = None
        if not person_id:
            errors["person"] = ["Name the person whose custody changes."]
        else:
            pk = _uuid(person_id)
            person = Person.objects.filter(pk=pk, withdrawn_at__isnull=True).first() if pk else None
            if person is None or not policies.can_read_person(request.user, person):
                errors["person"] = [f"No person with id {str(person_id)[:60]} is on file for you."]
        if errors or person is None:
            raise ValidationFailed(errors)
        if not policies.can_transfer_custody(request.user, person):
            raise PermissionDenied("You may record custody transfers only for persons in your scope.")
        period = services.custody_transfer(
            person_id=person.pk,
            agency=agency,
            facility=facility,
            started_at=started_at,
            by=request.user,
            change_reason=change_reason,
        )
        return Response(CustodyPeriodSerializer(period).data, status=status.HTTP_201_CREATED)


class PersonCustodyView(CapabilityView):
    """`GET /api/v1/persons/{id}/custody/`: the person's custody periods, newest first."""

    method_capabilities = {
        "GET": ("read_persons_station", "read_persons_all", "read_persons_separated", "lookup_persons")
    }
    serializer_class = CustodyPeriodSerializer
    queryset = Person.objects.none()

    @extend_schema(operation_id="v1_persons_custody_list", responses=CustodyPeriodSerializer(many=True))
    def get(self, request: Request, pk: Any) -> Response:
        person = Person.objects.filter(pk=pk, withdrawn_at__isnull=True).first()
        if person is None or not policies.can_read_person(request.user, person):
            raise Http404("No person with this id is visible to you.")
        log_person_views(user=request.user, persons=[person], channel="api", path=request.path)
        page = self.paginate_queryset(custody_periods(person))
        return self.get_paginated_response(CustodyPeriodSerializer(page, many=True).data)


REPORT_PAGE_SIZE = 50


class SeparatedChildrenReportView(CapabilityView):
    """`GET /api/v1/reports/separated-children/?as_of=&known_at=`: children separated at `as_of`."""

    method_capabilities = {"GET": ("report_separated_station", "report_separated_all")}
    serializer_class = SeparatedChildrenReportSerializer

    @extend_schema(
        parameters=[
            OpenApiParameter("as_of", str, description="ISO 8601 with offset; default now."),
            OpenApiParameter("known_at", str, description="Answer as the system knew it then."),
            OpenApiParameter("page", int),
        ],
        responses=SeparatedChildrenReportSerializer,
    )
    def get(self, request: Request) -> Response:
        from django.utils import timezone

        allowed, station = policies.report_station(request.user)
        if not allowed:
            raise PermissionDenied("Your role cannot read the separated-children report.")
        errors: dict[str, list[str]] = {}
        as_of = known_at = None
        try:
            as_of = parse_instant(request.query_params.get("as_of"), "as_of")
        except ValidationFailed as exc:
            errors.update(exc.errors)
        try:
            known_at = parse_instant(request.query_params.get("known_at"), "known_at")
        except ValidationFailed as exc:
            errors.update(exc.errors)
        raw_page = request.query_params.get("page", "1")
        if not raw_page.isdigit() or int(raw_page) < 1:
            errors["page"] = ["Use a page number from 1."]
        if errors:
            raise ValidationFailed(errors)
        as_of = as_of or timezone.now()
        page = int(raw_page)
        answer = separated_children(as_of=as_of, known_at=known_at, station=station)
        count, by_agency, by_category = answer.summary()
        rows = answer.page(offset=(page - 1) * REPORT_PAGE_SIZE, limit=REPORT_PAGE_SIZE)
        log_person_views(
            user=request.user,
            persons=[r.child for r in rows],
            channel="api",
            path=request.path,
            action="report",
        )
        url = request.build_absolute_uri()
        has_next = page * REPORT_PAGE_SIZE < count
        previous = None
        if page > 1:
            previous = (
                replace_query_param(url, "page", page - 1) if page > 2 else remove_query_param(url, "page")
            )
        dt = SeparatedChildrenReportSerializer().fields["as_of"]
        return Response(
            {
                "as_of": dt.to_representation(as_of),
                "known_at": dt.to_representation(known_at) if known_at else None,
                "station": station,
                "count": count,
                "next": replace_query_param(url, "page", page + 1) if has_next else None,
                "previous": previous,
                "by_custody_agency": by_agency,
                "by_reason_category": by_category,
                "results": [separated_child_row(r) for r in rows],
            }
        )
