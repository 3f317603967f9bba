"""REST API of the separations layer (API contract: Separations, Custody, Reports).

Thin views: capability check per method, scoping (separations.policies), then a service or a
selector. A method a view does not offer answers 405 to any signed-in user (e.g. every DELETE).
"""

from typing import Any

from django.db import transaction
from django.db.models import Prefetch, QuerySet
from django.http import Http404
from django.utils import timezone
from django_filters import rest_framework as django_filters
from drf_spectacular.utils import extend_schema
from rest_framework import serializers, status
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.utils.urls import remove_query_param, replace_query_param

from apprehensions.models import Person
from familylink.common.api import (
    ApiView,
    AwareDateTimeField,
    ClosedInput,
    CodeChoiceField,
    filter_choice_messages,
    page_number,
    without,
)
from familylink.common.errors import PermissionDenied, ValidationFailed, with_every_error

from . import policies, services
from .access import log_person_views, log_separation_view, log_separations_viewed
from .models import CustodyPeriod, ReasonCode, Separation, SeparationMember
from .selectors import REPORT_AGENCIES, custody_periods, separated_children
from .serializers import (
    CustodyPeriodSerializer,
    SeparatedChildrenReportSerializer,
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


class SeparationFilter(django_filters.FilterSet):
    """`GET /api/v1/separations/` filters."""

    status = django_filters.ChoiceFilter(
        choices=Separation.Status.choices, error_messages=filter_choice_messages(Separation.Status.choices)
    )
    station = django_filters.CharFilter(field_name="station__code", lookup_expr="iexact", max_length=16)
    reason_code = django_filters.CharFilter(
        field_name="reason_code__code", lookup_expr="iexact", max_length=64
    )
    person = django_filters.UUIDFilter(method="filter_person", help_text="A person id on either side.")

    class Meta:
        model = Separation
        fields = ["status", "station", "reason_code", "person"]

    def filter_person(self, queryset: QuerySet[Separation], name: str, value: Any) -> QuerySet[Separation]:
        return queryset.filter(members__person_id=value, members__withdrawn_at__isnull=True).distinct()


class SeparationListCreateView(ApiView):
    """`GET /api/v1/separations/` (scoped list) and `POST` (request a separation: status `requested`)."""

    capabilities_for = {"GET": READ_SEPARATIONS, "POST": ("request_separation",)}
    serializer_class = SeparationSerializer
    filterset_class = SeparationFilter
    queryset = Separation.objects.none()

    class SeparationRequestInput(ClosedInput):
        closed_as = "a separation request"

        # Presence and the rules are the service's (it names every missing part in one round).
        children = serializers.ListField(child=serializers.UUIDField(), required=False, default=list)
        adults = serializers.ListField(child=serializers.UUIDField(), required=False, default=list)
        reason_code = serializers.CharField(required=False, allow_blank=True, default="", max_length=64)
        narrative = serializers.CharField(required=False, allow_blank=True, default="", max_length=10_000)
        occurred_at = AwareDateTimeField(required=False, allow_null=True, default=None)
        place = serializers.CharField(required=False, allow_blank=True, default="", max_length=255)
        family_unit = serializers.UUIDField(required=False, allow_null=True, default=None)
        change_reason = serializers.CharField(required=False, allow_blank=True, default="", max_length=500)

    @extend_schema(operation_id="v1_separations_list", responses=SeparationSerializer(many=True))
    def get(self, request: Request) -> Response:
        if not policies.can_list_separations(request.user):
            raise PermissionDenied("Your role reads separations by id only.")
        qs = policies.visible_separations(request.user).filter(withdrawn_at__isnull=True)
        qs = self.filter_queryset(_separations_queryset().filter(pk__in=qs.values("pk")))
        page = self.paginate_queryset(qs.order_by("-occurred_at", "id"))
        log_separations_viewed(user=request.user, separations=page or [], channel="api", path=request.path)
        return self.get_paginated_response(SeparationSerializer(page, many=True).data)

    @extend_schema(request=SeparationRequestInput, responses={201: SeparationSerializer})
    def post(self, request: Request) -> Response:
        data, errors = self.validated_partly(self.SeparationRequestInput, request)
        separation = with_every_error(errors, services.separation_request, requester=request.user, **data)
        separation = self.with_etag(_visible_separation(request, separation.pk))
        return Response(SeparationSerializer(separation).data, status=status.HTTP_201_CREATED)


class SeparationDetailView(ApiView):
    """`GET /api/v1/separations/{id}/`; `PATCH` corrects when/where/why with If-Match and a reason."""

    capabilities_for = {"GET": READ_SEPARATIONS, "PATCH": STATION_STAFF}
    serializer_class = SeparationSerializer
    queryset = Separation.objects.none()

    class SeparationCorrectionInput(ClosedInput):
        closed_as = "a separation correction"

        occurred_at = AwareDateTimeField(required=False)
        place = serializers.CharField(required=False, allow_blank=True, max_length=255)
        narrative = serializers.CharField(required=False, allow_blank=True, max_length=10_000)
        reason_code = serializers.CharField(required=False, allow_blank=True, max_length=64)
        change_reason = serializers.CharField(required=False, allow_blank=True, default="", max_length=500)

    def get(self, request: Request, pk: Any) -> Response:
        separation = self.with_etag(_visible_separation(request, pk))
        log_separation_view(user=request.user, separation=separation, channel="api", path=request.path)
        return Response(SeparationSerializer(separation).data)

    @extend_schema(request=SeparationCorrectionInput, responses=SeparationSerializer)
    def patch(self, request: Request, pk: Any) -> Response:
        separation = _visible_separation(request, pk)
        version = self.check_if_match(request, separation)
        data = self.validated(self.SeparationCorrectionInput, request)
        services.separation_correct(
            separation_id=separation.pk, by=request.user, expected_version=version, **data
        )
        separation = self.with_etag(_visible_separation(request, pk))
        return Response(SeparationSerializer(separation).data)


class DecisionInputSerializer(ClosedInput):
    closed_as = "a decision"

    comment = serializers.CharField(
        required=False, allow_blank=True, default="", max_length=2000, help_text="Required to reject."
    )
    # Every write accepts the contract's optional change_reason; a decision reads it as its comment.
    change_reason = serializers.CharField(required=False, allow_blank=True, default="", max_length=2000)


class _DecisionView(ApiView):
    capabilities = ("decide_separation",)
    serializer_class = SeparationSerializer
    queryset = Separation.objects.none()
    decide: Any = staticmethod(services.separation_approve)

    @extend_schema(request=DecisionInputSerializer, responses=SeparationSerializer)
    def post(self, request: Request, pk: Any) -> Response:
        separation = _visible_separation(request, pk)
        data = self.validated(DecisionInputSerializer, request)
        self.decide(
            separation_id=separation.pk,
            approver=request.user,
            # If-Match is optional on these POST actions; a stale one is 412.
            expected_version=self.check_if_match(request, separation, required=False),
            **data,
        )
        separation = self.with_etag(_visible_separation(request, pk))
        return Response(SeparationSerializer(separation).data)


class SeparationApproveView(_DecisionView):
    """`POST /api/v1/separations/{id}/approve/` → `in_effect` (station supervisor, not the requester)."""

    decide = staticmethod(services.separation_approve)


class SeparationRejectView(_DecisionView):
    """`POST /api/v1/separations/{id}/reject/` with a `comment` → `rejected`."""

    decide = staticmethod(services.separation_reject)


class CustodyTransferView(ApiView):
    """`POST /api/v1/custody-transfers/`: close the open custody period and open the next one."""

    capabilities = ("transfer_custody",)
    serializer_class = CustodyPeriodSerializer
    queryset = CustodyPeriod.objects.none()

    class CustodyTransferInput(ClosedInput):
        closed_as = "a custody transfer"

        person = serializers.UUIDField(
            error_messages={
                "required": "Name the person whose custody changes.",
                "null": "Name the person whose custody changes.",
            }
        )
        agency = CodeChoiceField(choices=CustodyPeriod.Agency.choices)
        facility = serializers.CharField(max_length=200, allow_blank=True, required=False, default="")
        started_at = AwareDateTimeField(required=False, allow_null=True, default=None)
        change_reason = serializers.CharField(required=False, allow_blank=True, default="", max_length=500)

    @extend_schema(request=CustodyTransferInput, responses={201: CustodyPeriodSerializer})
    def post(self, request: Request) -> Response:
        data = self.validated(self.CustodyTransferInput, request)
        person = Person.objects.filter(pk=data["person"], withdrawn_at__isnull=True).first()
        if person is None or not policies.can_read_person(request.user, person):
            raise ValidationFailed({"person": [f"No person with id {data['person']} is on file for you."]})
        if not policies.can_transfer_custody(request.user, person):
            raise PermissionDenied("You may record custody transfers only for persons in your scope.")
        period = services.custody_transfer(person_id=person.pk, by=request.user, **without(data, "person"))
        return Response(CustodyPeriodSerializer(period).data, status=status.HTTP_201_CREATED)


class PersonCustodyView(ApiView):
    """`GET /api/v1/persons/{id}/custody/`: the person's custody periods, newest first."""

    capabilities = ("read_persons_station", "read_persons_all", "read_persons_separated", "lookup_persons")
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


class SeparatedChildrenReportView(ApiView):
    """`GET /api/v1/reports/separated-children/?as_of=&known_at=`: children separated at `as_of`."""

    capabilities = ("report_separated_station", "report_separated_all")
    serializer_class = SeparatedChildrenReportSerializer

    class QuerySerializer(serializers.Serializer):
        as_of = AwareDateTimeField(required=False, help_text="ISO 8601 with offset; default now.")
        known_at = AwareDateTimeField(required=False, help_text="Answer as the system knew it then.")
        page = serializers.CharField(required=False, default="1", help_text="From 1.")
        category = CodeChoiceField(
            choices=ReasonCode.Category.values,
            required=False,
            help_text="Optional: only separations for a reason of this category.",
        )
        agency = CodeChoiceField(
            choices=REPORT_AGENCIES,
            required=False,
            help_text="Optional: only children held by this agency at as_of (NONE: no custody recorded).",
        )

        def validate_page(self, value: str) -> int:
            return page_number(value)

    @extend_schema(parameters=[QuerySerializer], responses=SeparatedChildrenReportSerializer)
    @transaction.atomic  # the report's reads and its access-log rows in one transaction (rule 3)
    def get(self, request: Request) -> Response:
        allowed, station = policies.report_station(request.user)
        if not allowed:
            raise PermissionDenied("Your role cannot read the separated-children report.")
        query = self.validated_query(self.QuerySerializer, request)
        as_of, known_at, page = query.get("as_of") or timezone.now(), query.get("known_at"), query["page"]
        answer = separated_children(
            as_of=as_of,
            known_at=known_at,
            station=station,
            category=query.get("category"),
            agency=query.get("agency"),
        )
        # The summary and the page in one pass (issue 12: not the summary first, then the page).
        report = answer.report(offset=(page - 1) * REPORT_PAGE_SIZE, limit=REPORT_PAGE_SIZE)
        count, by_agency, by_category, rows = report.count, report.by_agency, report.by_category, report.rows
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
