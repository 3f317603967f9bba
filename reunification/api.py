"""REST API of the reunification layer: cases, worklists by date, claim and complete.

Scoping (contract table): coordinators read and work their own team's cases; supervisors read
their station's; HQ analysts and auditors read all; partner agencies read one case by id.
"""

import uuid
from datetime import date
from typing import Any

from django.db import transaction
from django.db.models import F, QuerySet
from django.utils import timezone
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import mixins, status, viewsets
from rest_framework.exceptions import MethodNotAllowed, NotFound
from rest_framework.pagination import PageNumberPagination
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from audit.services import access_log_record
from familylink.common.api import ETagMixin, check_if_match
from familylink.common.errors import PermissionDenied, ValidationFailed
from familylink.common.permissions import capability_permission
from familylink.common.roles import has_capability

from . import selectors, services
from .models import ReunificationCase, WorklistItem
from .serializers import (
    CasePatchSerializer,
    ReunificationCaseSerializer,
    WorklistItemSerializer,
    WorklistPageSerializer,
)


def flatten_errors(detail: Any, prefix: str = "") -> dict[str, list[str]]:
    """DRF's nested errors as the contract's field paths: `checklist[1].method`."""
    if isinstance(detail, dict):
        out: dict[str, list[str]] = {}
        for key, value in detail.items():
            out.update(flatten_errors(value, f"{prefix}.{key}" if prefix else str(key)))
        return out
    if isinstance(detail, list) and detail and all(isinstance(d, dict | list) for d in detail):
        out = {}
        for index, value in enumerate(detail):
            out.update(flatten_errors(value, f"{prefix}[{index}]"))
        return out
    messages = detail if isinstance(detail, list) else [detail]
    return {prefix or "non_field_errors": [str(m) for m in messages]} if messages else {}


class MethodCheckedFirst:
    """An unsupported method is 405 for every signed-in caller (every DELETE on case data),
    before any permission check that would answer 403 instead."""

    def initial(self, request: Request, *args: Any, **kwargs: Any) -> None:
        method = (request.method or "").lower()
        if not hasattr(self, method) or method not in self.http_method_names:  # type: ignore[attr-defined]
            self.perform_authentication(request)  # type: ignore[attr-defined]
            if request.user and request.user.is_authenticated:
                raise MethodNotAllowed(request.method or "")
        super().initial(request, *args, **kwargs)  # type: ignore[misc]


def _parse_day(value: str) -> date:
    try:
        return date.fromisoformat(value)
    except ValueError as exc:
        raise ValidationFailed(
            {"date": [f"Use a date as YYYY-MM-DD, e.g. 2018-07-10 (got {value!r})."]}
        ) from exc


CASE_FILTERS = [
    OpenApiParameter("status", str, description="open, in_progress, reunified or closed"),
    OpenApiParameter("team", str, description="e.g. EPT-REUNIFY"),
    OpenApiParameter("child", str, description="id of the child"),
    OpenApiParameter("overdue", bool, description="true: open cases whose next clock has passed"),
]


class ReunificationCaseViewSet(
    MethodCheckedFirst,
    ETagMixin,
    mixins.ListModelMixin,
    mixins.RetrieveModelMixin,
    viewsets.GenericViewSet,
):
    """Reunification cases. `PATCH` needs `If-Match` (428 without, 412 when stale)."""

    serializer_class = ReunificationCaseSerializer
    permission_classes = [
        capability_permission("work_cases", "read_cases_station", "read_cases_all", "read_case_by_id")
    ]
    lookup_value_regex = "[0-9a-fA-F-]{36}"

    def get_queryset(self) -> QuerySet[ReunificationCase]:
        if getattr(self, "swagger_fake_view", False):
            return ReunificationCase.objects.none()
        user = self.request.user
        if self.action == "list":
            if not selectors.can_list_cases(user):
                raise PermissionDenied("Partner agencies read a reunification case by its id only.")
            return selectors.cases_visible_to(user)
        return selectors.cases_visible_to(user, by_id=self.action == "retrieve")

    def filter_queryset(self, queryset: QuerySet[Any]) -> QuerySet[Any]:
        if self.action != "list":
            return queryset
        params = self.request.query_params
        if params.get("status"):
            if params["status"] not in ReunificationCase.Status.values:
                raise ValidationFailed(
                    {"status": [f"Use one of {', '.join(ReunificationCase.Status.values)}."]}
                )
            queryset = queryset.filter(status=params["status"])
        if params.get("team"):
            queryset = queryset.filter(team=params["team"])
        if params.get("child"):
            queryset = (
                queryset.filter(child_id=params["child"]) if _is_uuid(params["child"]) else queryset.none()
            )
        if params.get("overdue") == "true":
            queryset = queryset.filter(status__in=selectors.OPEN_STATUSES, due_at__lt=timezone.now())
        return queryset.order_by(F("due_at").asc(nulls_last=True), "created_at", "id")

    @extend_schema(parameters=CASE_FILTERS)
    def list(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        return super().list(request, *args, **kwargs)

    def retrieve(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        case = self.get_object()
        access_log_record(user=request.user, obj=case, channel="api", path=request.path, is_minor_record=True)
        self._etag_instance = case
        return Response(self.get_serializer(case).data)

    @extend_schema(request=CasePatchSerializer, responses=ReunificationCaseSerializer)
    def partial_update(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        if not has_capability(request.user, "work_cases"):
            raise PermissionDenied("Your role may read reunification cases but not work them.")
        case = self.get_object()
        check_if_match(request, case)
        body = CasePatchSerializer(data=request.data)
        if not body.is_valid():
            raise ValidationFailed(flatten_errors(body.errors))
        data = body.validated_data
        reason = data.get("change_reason", "")
        with transaction.atomic():
            for index, change in enumerate(data.get("checklist", [])):
                try:
                    services.case_step_update(
                        case_id=case.pk,
                        step=change["step"],
                        done=change["done"],
                        method=change.get("method", ""),
                        note=change.get("note", ""),
                        by=request.user,
                        change_reason=reason,
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
                    custody_agency=data.get("custody_agency"),
                    custody_facility=data.get("custody_facility", ""),
                    reunified_at=data.get("reunified_at"),
                    change_reason=reason,
                )
        case = self.get_queryset().get(pk=case.pk)
        self._etag_instance = case
        return Response(self.get_serializer(case).data)


def _is_uuid(value: str) -> bool:
    try:
        uuid.UUID(value)
    except ValueError:
        return False
    return True


class WorklistView(MethodCheckedFirst, APIView):
    """`GET /worklists/<YYYY-MM-DD>/`: that day's items of the caller's team, in order."""

    permission_classes = [capability_permission("work_worklist")]

    @extend_schema(responses=WorklistPageSerializer)
    def get(self, request: Request, day: str) -> Response:
        the_day = _parse_day(day)
        team = getattr(request.user, "team", "")
        worklist = selectors.worklist_for(team, the_day)
        items = selectors.worklist_items(worklist) if worklist else WorklistItem.objects.none()
        paginator = PageNumberPagination()
        page = paginator.paginate_queryset(items, request, view=self)
        response = paginator.get_paginated_response(WorklistItemSerializer(page, many=True).data)
        response.data = {
            "date": the_day.isoformat(),
            "team": team,
            "built_at": worklist.built_at if worklist else None,
            **response.data,
        }
        return response


class WorklistClaimNextView(MethodCheckedFirst, ETagMixin, APIView):
    """`POST /worklists/<YYYY-MM-DD>/claim-next/`: claim the top unclaimed item (204 when none)."""

    permission_classes = [capability_permission("work_worklist")]

    @extend_schema(request=None, responses={200: WorklistItemSerializer, 204: None})
    def post(self, request: Request, day: str) -> Response:
        item = services.worklist_claim_next(user=request.user, day=_parse_day(day))
        if item is None:
            return Response(status=status.HTTP_204_NO_CONTENT)
        self._etag_instance = item
        return Response(WorklistItemSerializer(_item(item.pk, request.user)).data)


def _item(item_id: Any, user: Any) -> WorklistItem:
    """An item of the caller's team's worklists, else 404."""
    if not _is_uuid(str(item_id)):
        raise NotFound()
    item = (
        WorklistItem.objects.select_related("case", "case__child", "claimed_by", "completed_by")
        .filter(pk=item_id, worklist__team=user.team, withdrawn_at__isnull=True)
        .first()
    )
    if item is None or not user.team:
        raise NotFound("No item of your team's worklists has this id.")
    return item


class WorklistItemClaimView(MethodCheckedFirst, ETagMixin, APIView):
    """`POST /worklist-items/{id}/claim/`: 409 when someone already claimed it."""

    permission_classes = [capability_permission("work_worklist")]

    @extend_schema(request=None, responses=WorklistItemSerializer)
    def post(self, request: Request, item_id: Any) -> Response:
        item = _item(item_id, request.user)
        services.worklist_item_claim(item_id=item.pk, user=request.user)
        item = _item(item.pk, request.user)
        self._etag_instance = item
        return Response(WorklistItemSerializer(item).data)


class WorklistItemCompleteView(MethodCheckedFirst, ETagMixin, APIView):
    """`POST /worklist-items/{id}/complete/`: the claimer marks the day's work on it done."""

    permission_classes = [capability_permission("work_worklist")]

    @extend_schema(request=None, responses=WorklistItemSerializer)
    def post(self, request: Request, item_id: Any) -> Response:
        item = _item(item_id, request.user)
        services.worklist_item_complete(item_id=item.pk, user=request.user)
        item = _item(item.pk, request.user)
        self._etag_instance = item
        return Response(WorklistItemSerializer(item).data)
