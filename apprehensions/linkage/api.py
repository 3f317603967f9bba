"""`/api/v1/link-candidates/`: the queue (analysts and auditors read), accept, reject, unmerge."""

from typing import Any

from django.db import transaction
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework.decorators import action
from rest_framework.exceptions import NotFound
from rest_framework.request import Request
from rest_framework.response import Response

from apprehensions.services.rules import as_uuid
from audit.services import access_log_record_many
from familylink.common.api import ApiViewSet
from familylink.common.errors import BusinessRuleError, ValidationFailed

from . import services
from .models import LinkCandidate, PersonMerge
from .selectors import candidate_queue, parse_queue_filters
from .serializers import (
    LinkCandidateSerializer,
    LinkDecisionSerializer,
    LinkRejectSerializer,
    UnmergeResultSerializer,
    decision_reason,
)

READ = ("read_link_candidates",)


def _log(request: Request, persons: list[Any], *, action: str) -> None:
    access_log_record_many(
        user=request.user,
        records=[p for p in persons if p is not None],
        action=action,
        channel="api",
        path=request.get_full_path(),
    )


DECIDE = ("decide_link_candidates",)


class LinkCandidateViewSet(ApiViewSet):
    serializer_class = LinkCandidateSerializer
    queryset = LinkCandidate.objects.none()
    capabilities_for = {"list": READ, "retrieve": READ, "accept": DECIDE, "reject": DECIDE, "unmerge": DECIDE}

    def _candidate(self, pk: Any) -> LinkCandidate:
        # Ids are opaque (contract): one that is not a UUID names no candidate, a 404 like any unknown id.
        candidate_id = as_uuid(pk)
        candidate = (
            LinkCandidate.objects.select_related("person_a", "person_b").filter(pk=candidate_id).first()
            if candidate_id
            else None
        )
        if candidate is None:
            raise NotFound("No link candidate with this id.")
        return candidate

    @extend_schema(
        parameters=[
            OpenApiParameter("kind", str, enum=LinkCandidate.Kind.values),
            OpenApiParameter(
                "status",
                str,
                enum=[*LinkCandidate.Status.values, "all"],
                description="default: every status. `superseded` (an addition): candidates that named a "
                "record merged into another, whose question is asked about the survivor.",
            ),
            OpenApiParameter("min_score", float),
            OpenApiParameter("station", str),
            OpenApiParameter("date_from", str, description="YYYY-MM-DD"),
            OpenApiParameter("date_to", str, description="YYYY-MM-DD"),
        ]
    )
    @transaction.atomic  # the reads and their access-log rows in one transaction (rule 3)
    def list(self, request: Request) -> Response:
        filters, errors = parse_queue_filters(request.query_params)
        if errors:
            raise ValidationFailed(errors)
        page = self.paginate_queryset(candidate_queue(filters=filters)) or []
        # Each candidate names both persons (children among them), as the review queue page does.
        _log(request, [p for c in page for p in (c.person_a, c.person_b)], action="list")
        data = LinkCandidateSerializer(page, many=True, context={"request": request}).data
        return self.get_paginated_response(data)

    @transaction.atomic
    def retrieve(self, request: Request, pk: Any = None) -> Response:
        candidate = self._candidate(pk)
        _log(request, [candidate.person_a, candidate.person_b], action="view")
        return Response(LinkCandidateSerializer(candidate, context={"request": request}).data)

    @extend_schema(request=LinkDecisionSerializer, responses={200: LinkCandidateSerializer})
    @action(detail=True, methods=["post"])
    def accept(self, request: Request, pk: Any = None) -> Response:
        data = self.validated(LinkDecisionSerializer, request)
        self._candidate(pk)
        candidate = services.candidate_accept(
            candidate_id=pk,
            by=request.user,
            reason=decision_reason(data),
            relationship_type=data["type"],
            survivor_id=data["survivor"],
        )
        return Response(LinkCandidateSerializer(candidate, context={"request": request}).data)

    @extend_schema(request=LinkRejectSerializer, responses={200: LinkCandidateSerializer})
    @action(detail=True, methods=["post"])
    def reject(self, request: Request, pk: Any = None) -> Response:
        data = self.validated(LinkRejectSerializer, request)
        self._candidate(pk)
        candidate = services.candidate_reject(candidate_id=pk, by=request.user, reason=decision_reason(data))
        return Response(LinkCandidateSerializer(candidate, context={"request": request}).data)

    @extend_schema(request=LinkRejectSerializer, responses={200: UnmergeResultSerializer})
    @action(detail=True, methods=["post"])
    def unmerge(self, request: Request, pk: Any = None) -> Response:
        """Undo the merge an accepted duplicate made (an addition to the contract); the candidates that
        merge superseded are proposed again, those it carried and nobody decided are superseded."""
        data = self.validated(LinkRejectSerializer, request)
        candidate = self._candidate(pk)
        merge = PersonMerge.objects.filter(candidate=candidate, undone_at__isnull=True).first()
        if merge is None:
            raise BusinessRuleError("This candidate has no merge in force to undo.")
        unmerged = services.person_unmerge(merge_id=merge.pk, by=request.user, reason=decision_reason(data))
        context = {"request": request, "unmerged": unmerged}
        return Response(UnmergeResultSerializer(self._candidate(pk), context=context).data)
