"""REST API of the apprehensions layer, exactly per shared/API-CONTRACT.md. Thin: scope, service, shape."""

from typing import Any

from django.db.models import Prefetch, QuerySet
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema, extend_schema_view
from rest_framework import exceptions, mixins, status, viewsets
from rest_framework.decorators import action
from rest_framework.permissions import IsAuthenticated
from rest_framework.request import Request
from rest_framework.response import Response

from audit.history import history_versions
from audit.services import access_log_record
from familylink.common.api import ETagMixin, check_if_match
from familylink.common.permissions import capability_permission

from .extensions import person_filters, prefetch_person_api_fields
from .models import Apprehension, FamilyMembership, Person, Relationship, Station
from .search import RANK_PARAMS
from .selectors import (
    apprehensions_visible_to,
    person_get_for_viewer,
    person_search,
    persons_visible_to,
)
from .serializers import (
    ApprehensionInSerializer,
    ApprehensionSerializer,
    HistoryVersionSerializer,
    PersonPatchSerializer,
    PersonSerializer,
    RelationshipInSerializer,
    RelationshipPatchSerializer,
    RelationshipSerializer,
    StationSerializer,
    intake_response,
)
from .services import apprehension_record, person_update, relationship_create, relationship_update

READ_PERSONS = ("read_persons_station", "read_persons_all", "read_persons_separated", "lookup_persons")
NO_DELETE_DETAIL = (
    "Nothing is deleted in FamilyLink (rule 1). "
    "To correct a record, change it with PATCH and a change_reason."
)


class NoDeleteMixin:
    """DELETE on case data is 405 for every signed-in caller, whatever their role (401 when anonymous)."""

    def initial(self, request: Request, *args: Any, **kwargs: Any) -> None:
        if request.method == "DELETE":
            self.perform_authentication(request)  # type: ignore[attr-defined]
            if not request.user or not request.user.is_authenticated:
                raise exceptions.NotAuthenticated()
            raise exceptions.MethodNotAllowed("DELETE", detail=NO_DELETE_DETAIL)
        super().initial(request, *args, **kwargs)  # type: ignore[misc]


def _log_view(request: Request, person: Person, action: str = "view") -> None:
    access_log_record(
        user=request.user,
        obj=person,
        action=action,
        channel="api",
        path=request.get_full_path(),
        is_minor_record=person.is_minor,
    )


def person_prefetch(queryset: QuerySet[Person]) -> QuerySet[Person]:
    """What the person serializer reads, loaded in a fixed number of queries for a whole page."""
    queryset = queryset.select_related("first_station").prefetch_related(
        Prefetch(
            "relationships_from", queryset=Relationship.objects.select_related("from_person", "to_person")
        ),
        Prefetch(
            "relationships_to", queryset=Relationship.objects.select_related("from_person", "to_person")
        ),
        Prefetch(
            "memberships",
            queryset=FamilyMembership.objects.select_related("family_unit").prefetch_related(
                Prefetch(
                    "family_unit__memberships", queryset=FamilyMembership.objects.select_related("person")
                )
            ),
        ),
        "identifiers",
    )
    return prefetch_person_api_fields(queryset)


PERSON_FILTER_PARAMETERS = [
    OpenApiParameter(
        "q",
        OpenApiTypes.STR,
        description="Name (accent-, case- and typo-tolerant, any word order, second surname optional) "
        "and/or an A-number in any spelling. Results come best first, each with `match` (score, reasons).",
    ),
    OpenApiParameter("born", OpenApiTypes.STR, description="With q, ranks: date of birth or year."),
    OpenApiParameter("age", OpenApiTypes.INT, description="With q, ranks: age when first seen."),
    OpenApiParameter("country", OpenApiTypes.STR, description="With q, ranks: country (name or code)."),
    OpenApiParameter("sex", OpenApiTypes.STR, description="With q, ranks: F, M, X or U."),
    OpenApiParameter("seen_at", OpenApiTypes.STR, description="With q, ranks: first seen at (code)."),
    OpenApiParameter("seen_from", OpenApiTypes.DATE, description="With q, ranks: first seen on or after."),
    OpenApiParameter("seen_to", OpenApiTypes.DATE, description="With q, ranks: first seen on or before."),
    OpenApiParameter(
        "a_number", OpenApiTypes.STR, description="Any accepted spelling (A12345678, 012-345-678…)."
    ),
    OpenApiParameter("date_of_birth", OpenApiTypes.DATE),
    OpenApiParameter("is_minor", OpenApiTypes.BOOL),
    OpenApiParameter("is_unaccompanied", OpenApiTypes.BOOL),
    OpenApiParameter("station", OpenApiTypes.STR, description="Encountered at this station (code)."),
    OpenApiParameter("separated", OpenApiTypes.BOOL, description="true = in an in-effect separation now."),
    OpenApiParameter("custody_agency", OpenApiTypes.STR, description="Agency of the open custody period."),
]


@extend_schema_view(
    list=extend_schema(summary="List persons visible to you", parameters=PERSON_FILTER_PARAMETERS),
    retrieve=extend_schema(summary="A person, with relationships and family units"),
    partial_update=extend_schema(
        summary="Edit a person's identity fields (If-Match required)", request=PersonPatchSerializer
    ),
)
class PersonViewSet(NoDeleteMixin, ETagMixin, viewsets.GenericViewSet, mixins.ListModelMixin):
    serializer_class = PersonSerializer
    queryset = Person.objects.none()
    http_method_names = ["get", "patch", "head", "options", "delete", "put"]

    def get_permissions(self) -> list[Any]:
        if self.action == "partial_update":
            return [capability_permission("record_intake")()]
        if self.action == "history":
            return [capability_permission("read_history")()]
        return [capability_permission(*READ_PERSONS)()]

    def get_queryset(self) -> QuerySet[Person]:
        params = self.request.query_params
        filter_names = {
            "a_number",
            "date_of_birth",
            "is_minor",
            "is_unaccompanied",
            "station",
            *person_filters(),
        }
        filters = {name: params.get(name, "") for name in filter_names}
        rank = {name: params.get(name, "") for name in RANK_PARAMS}
        return person_prefetch(
            person_search(viewer=self.request.user, q=params.get("q", ""), filters=filters, rank=rank)
        )

    def list(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        response = super().list(request, *args, **kwargs)
        for person in getattr(self, "_page", []):
            if person.is_minor:
                _log_view(request, person, action="list")
        return response

    def paginate_queryset(self, queryset: Any) -> Any:
        page = super().paginate_queryset(queryset)
        self._page = page or []
        return page

    def _get_person(self, pk: Any) -> Person:
        try:
            person = person_get_for_viewer(viewer=self.request.user, person_id=pk)
        except Person.DoesNotExist as exc:
            raise exceptions.NotFound("No person with this id, or not one you may see.") from exc
        return person

    def retrieve(self, request: Request, pk: Any = None) -> Response:
        person = self._get_person(pk)
        person = person_prefetch(Person.objects.filter(pk=person.pk)).get()
        _log_view(request, person)
        self._etag_instance = person
        return Response(PersonSerializer(person, context={"request": request}).data)

    def update(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        raise exceptions.MethodNotAllowed("PUT", detail="Use PATCH with If-Match to change a person.")

    def partial_update(self, request: Request, pk: Any = None) -> Response:
        person = self._get_person(pk)
        check_if_match(request, person)
        person = person_update(
            person_id=person.pk, user=request.user, data=request.data, expected_version=person.version
        )
        person = person_prefetch(Person.objects.filter(pk=person.pk)).get()
        self._etag_instance = person
        return Response(PersonSerializer(person, context={"request": request}).data)

    @extend_schema(
        summary="Every version of a person's record", responses=HistoryVersionSerializer(many=True)
    )
    @action(detail=True, methods=["get"])
    def history(self, request: Request, pk: Any = None) -> Response:
        person = self._get_person(pk)
        _log_view(request, person, action="history")
        versions = history_versions(person)
        page = self.paginate_queryset(versions)
        return self.get_paginated_response(page)


@extend_schema_view(
    list=extend_schema(summary="Apprehensions visible to you"),
    retrieve=extend_schema(summary="An apprehension: everyone in it and how they are linked"),
    create=extend_schema(
        summary="Record an encounter with everyone in it, atomically",
        request=ApprehensionInSerializer,
        responses={201: ApprehensionSerializer},
    ),
)
class ApprehensionViewSet(
    NoDeleteMixin,
    ETagMixin,
    viewsets.GenericViewSet,
    mixins.ListModelMixin,
    mixins.RetrieveModelMixin,
):
    serializer_class = ApprehensionSerializer
    queryset = Apprehension.objects.none()
    http_method_names = ["get", "post", "head", "options", "delete"]

    def get_permissions(self) -> list[Any]:
        if self.action == "create":
            return [capability_permission("record_intake")()]
        return [capability_permission("read_persons_station", "read_persons_all")()]

    def get_queryset(self) -> QuerySet[Apprehension]:
        return (
            apprehensions_visible_to(self.request.user)
            .prefetch_related(
                "encounters__person",
                Prefetch(
                    "family_units__memberships", queryset=FamilyMembership.objects.select_related("person")
                ),
                Prefetch(
                    "relationships", queryset=Relationship.objects.select_related("from_person", "to_person")
                ),
            )
            .order_by("-occurred_at", "id")
        )

    def retrieve(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        instance = self.get_object()
        self._etag_instance = instance
        return Response(self.get_serializer(instance).data)

    def create(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        result = apprehension_record(user=request.user, data=request.data, source=Relationship.Source.API)
        self._etag_instance = result.apprehension
        return Response(
            intake_response(result),
            status=status.HTTP_201_CREATED,
            headers={"Location": f"{request.path}{result.apprehension.pk}/"},
        )


@extend_schema_view(
    retrieve=extend_schema(summary="A relationship"),
    create=extend_schema(
        summary="Record a relationship between two persons on file",
        request=RelationshipInSerializer,
        responses={201: RelationshipSerializer},
    ),
    partial_update=extend_schema(
        summary="Change a relationship's type or evidence (If-Match required)",
        request=RelationshipPatchSerializer,
        responses=RelationshipSerializer,
    ),
)
class RelationshipViewSet(NoDeleteMixin, ETagMixin, viewsets.GenericViewSet):
    serializer_class = RelationshipSerializer
    queryset = Relationship.objects.none()
    http_method_names = ["get", "post", "patch", "head", "options", "delete", "put"]

    def get_permissions(self) -> list[Any]:
        if self.action == "create":
            return [capability_permission("record_intake")()]
        if self.action == "partial_update":
            return [capability_permission("record_intake", "edit_relationship_evidence")()]
        return [capability_permission(*READ_PERSONS)()]

    def _get_relationship(self, pk: Any) -> Relationship:
        visible = persons_visible_to(self.request.user)
        rel = (
            Relationship.objects.select_related("from_person", "to_person")
            .filter(pk=pk)
            .filter(from_person__in=visible.values("pk"))
            .first()
        ) or (
            Relationship.objects.select_related("from_person", "to_person")
            .filter(pk=pk, to_person__in=visible.values("pk"))
            .first()
        )
        if rel is None:
            raise exceptions.NotFound("No relationship with this id, or not one you may see.")
        return rel

    def retrieve(self, request: Request, pk: Any = None) -> Response:
        rel = self._get_relationship(pk)
        self._etag_instance = rel
        return Response(RelationshipSerializer(rel).data)

    def create(self, request: Request) -> Response:
        rel = relationship_create(user=request.user, data=request.data, source=Relationship.Source.API)
        rel = Relationship.objects.select_related("from_person", "to_person").get(pk=rel.pk)
        self._etag_instance = rel
        return Response(RelationshipSerializer(rel).data, status=status.HTTP_201_CREATED)

    def update(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        raise exceptions.MethodNotAllowed("PUT", detail="Use PATCH with If-Match to change a relationship.")

    def partial_update(self, request: Request, pk: Any = None) -> Response:
        rel = self._get_relationship(pk)
        check_if_match(request, rel)
        rel = relationship_update(
            relationship_id=rel.pk, user=request.user, data=request.data, expected_version=rel.version
        )
        rel = Relationship.objects.select_related("from_person", "to_person").get(pk=rel.pk)
        self._etag_instance = rel
        return Response(RelationshipSerializer(rel).data)


@extend_schema_view(list=extend_schema(summary="Stations (reference data)"))
class StationViewSet(NoDeleteMixin, viewsets.ReadOnlyModelViewSet):
    """Stations are reference data every signed-in user may read."""

    serializer_class = StationSerializer
    permission_classes = [IsAuthenticated]
    lookup_field = "code"
    pagination_class = None
    http_method_names = ["get", "head", "options", "delete"]

    def get_queryset(self) -> QuerySet[Station]:
        return Station.objects.filter(withdrawn_at__isnull=True).order_by("code")
