"""REST API of the reunification layer: cases, worklists by date, claim and complete.

Scoping (contract table): coordinators read and work their own team's cases; supervisors read
their station's; HQ analysts and auditors read all; partner agencies read one case by id.
"""

from datetime import date
from typing import Any
from uuid import UUID

from django.db import transaction
from django.db.models import F, QuerySet
from django.utils import timezone
from django_filters import rest_framework as django_filters
from drf_spectacular.utils import extend_schema
from rest_framework import mixins, serializers, status
from rest_framework.exceptions import NotFound
from rest_framework.request import Request
from rest_framework.response import Response

from audit.services import access_log_record
from familylink.common.api import ApiView, ApiViewSet, ClosedInput, check_year, filter_choice_messages
from familylink.common.errors import PermissionDenied, ValidationFailed
from separations.models import CustodyPeriod

from . import selectors, services
from .models import ReunificationCase, WorklistItem
from .serializers import (
    CasePatchSerializer,
    ReunificationCaseSerializer,
    WorklistItemSerializer,
    WorklistPageSerializer,
)


def _parse_day(value: str) -> date:
    try:
        day = date.fromisoformat(value)
    except ValueError as exc:
        raise ValidationFailed(
            {"date": [f"Use a date as YYYY-MM-DD, e.g. 2018-07-10 (got {value[:20]!r})."]}
        ) from exc
    check_year(day, "date")
    return day


class CaseFilter(django_filters.FilterSet):
    """`GET /api/v1/reunification-cases/` filters."""

    status = django_filters.ChoiceFilter(
        choices=ReunificationCase.Status.choices,
        error_messages=filter_choice_messages(ReunificationCase.Status.choices),
    )
    team = django_filters.CharFilter(max_length=64, help_text="e.g. EPT-REUNIFY")
    child = django_filters.UUIDFilter(field_name="child_id", help_text="id of the child")
    overdue = django_filters.BooleanFilter(
        method="filter_overdue", help_text="true: open cases whose next clock has passed"
    )

    class Meta:
        model = ReunificationCase
        fields = ["status", "team", "child", "overdue"]

    def filter_overdue(self, queryset: QuerySet[Any], name: str, value: bool) -> QuerySet[Any]:
        if not value:
            return queryset
        return queryset.filter(status__in=selectors.OPEN_STATUSES, due_at__lt=timezone.now())


class ReunificationCaseViewSet(ApiViewSet, mixins.ListModelMixin, mixins.RetrieveModelMixin):
    """Reunification cases. `PATCH` needs `If-Match` (428 without, 412 when stale)."""

    serializer_class = ReunificationCaseSerializer
    filterset_class = CaseFilter
    capabilities = ("work_cases", "read_cases_station", "read_cases_all", "read_case_by_id")
    capabilities_for = {"partial_update": ("work_cases",)}
    lookup_value_regex = "[0-9a-fA-F-]{36}"
    not_found = "No reunification case with this id, or not one you may see."

    def get_queryset(self) -> QuerySet[ReunificationCase]:
        if getattr(self, "swagger_fake_view", False):
            return ReunificationCase.objects.none()
        user = self.request.user
        if self.action == "list":
            if not selectors.can_list_cases(user):
                raise PermissionDenied("Partner agencies read a reunification case by its id only.")
            return selectors.cases_visible_to(user).order_by(
                F("due_at").asc(nulls_last=True), "created_at", "id"
            )
        return selectors.cases_visible_to(user, by_id=self.action == "retrieve")

    def retrieve(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        case = self.with_etag(self.get_object())
        access_log_record(user=request.user, obj=case, channel="api", path=request.path, is_minor_record=True)
        return Response(self.get_serializer(case).data)

    @extend_schema(request=CasePatchSerializer, responses=ReunificationCaseSerializer)
    def partial_update(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        case = self.get_object()
        self.check_if_match(request, case)
        data = self.validated(CasePatchSerializer, request)
        reason = data.get("change_reason", "")
        with transaction.atomic():
            for index, change in enumerate(data.get("checklist", [])):
                try:
                    services.case_step_update(
                        case_id=case.pk, by=request.user, change_reason=reason, **change
                    )
                except ValidationFailed as exc:
                    raise ValidationFailed(
                        {f"checklist[{index}].{key}": value for key, value in exc.errors.items()}
                    ) from exc
            if data.get("status"):
                services.case_close(
                    case_id=case.pk,
                    by=request.user,
                    outcome=data.get("outcome") or ReunificationCase.Outcome.REUNIFIED,
                    note=data.get("note", ""),
                    custody_agency=data.get("custody_agency") or CustodyPeriod.Agency.RELEASED,
                    custody_facility=data.get("custody_facility", ""),
                    reunified_at=data.get("reunified_at"),
                    change_reason=reason,
                )
        case = self.with_etag(self.get_queryset().get(pk=case.pk))
        return Response(self.get_serializer(case).data)


class WorklistView(ApiView):
    """`GET /worklists/<YYYY-MM-DD>/`: that day's items of the caller's team, in order."""

    capabilities = ("work_worklist",)
    serializer_class = WorklistItemSerializer

    @extend_schema(responses=WorklistPageSerializer)
    def get(self, request: Request, day: str) -> Response:
        the_day = _parse_day(day)
        team = getattr(request.user, "team", "")
        worklist = selectors.worklist_for(team, the_day)
        items = selectors.worklist_items(worklist) if worklist else WorklistItem.objects.none()
        page = self.paginate_queryset(items)
        response = self.get_paginated_response(WorklistItemSerializer(page, many=True).data)
        response.data = {
            "date": the_day.isoformat(),
            "team": team,
            "built_at": worklist.built_at if worklist else None,
            **response.data,
        }
        return response


class WorklistStepInput(ClosedInput):
    closed_as = "a worklist step"

    change_reason = serializers.CharField(required=False, allow_blank=True, default="", max_length=2000)


def _item(item_id: Any, user: Any) -> WorklistItem:
    """An item of the caller's team's worklists, else 404."""
    try:
        pk = UUID(str(item_id))
    except ValueError as exc:
        raise NotFound("No item of your team's worklists has this id.") from exc
    item = (
        WorklistItem.objects.select_related("case", "case__child", "claimed_by", "completed_by")
        .filter(pk=pk, worklist__team=user.team, withdrawn_at__isnull=True)
        .first()
    )
    if item is None or not user.team:
        raise NotFound("No item of your team's worklists has this id.")
    return item


class WorklistClaimNextView(ApiView):
    """`POST /worklists/<YYYY-MM-DD>/claim-next/`: claim the top unclaimed item (204 when none)."""

    capabilities = ("work_worklist",)
    serializer_class = WorklistItemSerializer

    @extend_schema(request=WorklistStepInput, responses={200: WorklistItemSerializer, 204: None})
    def post(self, request: Request, day: str) -> Response:
        the_day = _parse_day(day)
        data = self.validated(WorklistStepInput, request)
        item = services.worklist_claim_next(user=request.user, day=the_day, **data)
        if item is None:
            return Response(status=status.HTTP_204_NO_CONTENT)
        return Response(WorklistItemSerializer(self.with_etag(_item(item.pk, request.user))).data)


class _WorklistItemStep(ApiView):
    capabilities = ("work_worklist",)
    serializer_class = WorklistItemSerializer
    step = staticmethod(services.worklist_item_claim)

    @extend_schema(request=WorklistStepInput, responses=WorklistItemSerializer)
    def post(self, request: Request, item_id: Any) -> Response:
        item = _item(item_id, request.user)
        data = self.validated(WorklistStepInput, request)
        self.step(item_id=item.pk, user=request.user, **data)
        return Response(WorklistItemSerializer(self.with_etag(_item(item.pk, request.user))).data)


class WorklistItemClaimView(_WorklistItemStep):
    """`POST /worklist-items/{id}/claim/`: 409 when someone already claimed it."""

    step = staticmethod(services.worklist_item_claim)


class WorklistItemCompleteView(_WorklistItemStep):
    """`POST /worklist-items/{id}/complete/`: the claimer marks the day's work on it done."""

    step = staticmethod(services.worklist_item_complete)
