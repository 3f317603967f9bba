"""REST API of the apprehensions layer, exactly per shared/API-CONTRACT.md. Thin: scope, service, shape."""

from typing import Any

from django.db import transaction
from django.db.models import Prefetch, QuerySet
from django_filters import rest_framework as django_filters
from drf_spectacular.utils import extend_schema, extend_schema_view
from rest_framework import exceptions, mixins, status
from rest_framework.decorators import action
from rest_framework.request import Request
from rest_framework.response import Response

from audit.history import history_versions
from audit.services import access_log_record, access_log_record_many
from familylink.common.api import FILTER_DATE_MESSAGES, ApiViewSet
from familylink.common.errors import with_every_error

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
    edit_arguments,
    intake_response,
)
from .services import apprehension_record, person_update, relationship_create, relationship_update
from .services.conflicts import with_every_error_reported
from .services.rules import as_uuid

READ_PERSONS = ("read_persons_station", "read_persons_all", "read_persons_separated", "lookup_persons")


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


class PersonFilter(django_filters.FilterSet):
    """The contract's persons list filters; `person_search` reads each one (any A-number spelling…)."""

    q = django_filters.CharFilter(
        method="keep",
        max_length=200,
        help_text="Name: accent-, case- and typo-tolerant, either surname order.",
    )
    a_number = django_filters.CharFilter(
        method="keep", max_length=32, help_text="Any accepted spelling (A12345678, 012-345-678…)."
    )
    date_of_birth = django_filters.DateFilter(method="keep", error_messages=FILTER_DATE_MESSAGES)
    is_minor = django_filters.BooleanFilter(method="keep")
    is_unaccompanied = django_filters.BooleanFilter(method="keep")
    station = django_filters.CharFilter(
        method="keep", max_length=16, help_text="Encountered at this station."
    )
    separated = django_filters.BooleanFilter(
        method="keep", help_text="true = in an in-effect separation now."
    )
    custody_agency = django_filters.CharFilter(
        method="keep", max_length=16, help_text="Agency of the open custody period."
    )
    # With q, these rank (never hide): what an analyst often knows besides the name.
    born = django_filters.CharFilter(
        method="keep", max_length=10, help_text="With q, ranks: date of birth or year."
    )
    age = django_filters.NumberFilter(method="keep", help_text="With q, ranks: age when first seen.")
    country = django_filters.CharFilter(
        method="keep", max_length=60, help_text="With q, ranks: country (name or code)."
    )
    sex = django_filters.CharFilter(method="keep", max_length=1, help_text="With q, ranks: F, M, X or U.")
    seen_at = django_filters.CharFilter(
        method="keep", max_length=16, help_text="With q, ranks: first seen at (code)."
    )
    seen_from = django_filters.DateFilter(
        method="keep", help_text="With q, ranks: first seen on or after.", error_messages=FILTER_DATE_MESSAGES
    )
    seen_to = django_filters.DateFilter(
        method="keep",
        help_text="With q, ranks: first seen on or before.",
        error_messages=FILTER_DATE_MESSAGES,
    )

    class Meta:
        model = Person
        fields: list[str] = []

    def keep(self, queryset: QuerySet[Person], name: str, value: Any) -> QuerySet[Person]:
        return queryset

    def filter_queryset(self, queryset: QuerySet[Person]) -> QuerySet[Person]:
        params = self.data
        names = {"a_number", "date_of_birth", "is_minor", "is_unaccompanied", "station", *person_filters()}
        filters = {name: params.get(name, "") for name in names}
        rank = {name: params.get(name, "") for name in RANK_PARAMS}
        return person_prefetch(
            person_search(viewer=self.request.user, q=params.get("q", ""), filters=filters, rank=rank)
        )


@extend_schema_view(
    list=extend_schema(summary="List persons visible to you"),
    retrieve=extend_schema(summary="A person, with relationships and family units"),
    partial_update=extend_schema(
        summary="Edit a person's identity fields (If-Match required)", request=PersonPatchSerializer
    ),
)
class PersonViewSet(ApiViewSet, mixins.ListModelMixin):
    serializer_class = PersonSerializer
    filterset_class = PersonFilter
    queryset = Person.objects.none()
    capabilities = READ_PERSONS
    capabilities_for = {"partial_update": ("record_intake",), "history": ("read_history",)}

    def get_queryset(self) -> QuerySet[Person]:
        # PersonFilter applies the viewer's scope through person_search.
        return Person.objects.all()

    @transaction.atomic  # the page's reads and its access-log rows in one transaction (rule 3)
    def list(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        response = super().list(request, *args, **kwargs)
        access_log_record_many(
            user=request.user,
            records=getattr(self, "_page", []),
            action="list",
            channel="api",
            path=request.get_full_path(),
        )
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

    @transaction.atomic
    def retrieve(self, request: Request, pk: Any = None) -> Response:
        person = self._get_person(pk)
        person = self.with_etag(person_prefetch(Person.objects.filter(pk=person.pk)).get())
        _log_view(request, person)
        return Response(PersonSerializer(person, context={"request": request}).data)

    def partial_update(self, request: Request, pk: Any = None) -> Response:
        person = self._get_person(pk)
        version = self.check_if_match(request, person)
        data, errors = self.validated_partly(PersonPatchSerializer, request)
        person = with_every_error_reported(
            errors,
            person_update,
            person_id=person.pk,
            user=request.user,
            expected_version=version,
            **edit_arguments(data),
        )
        person = self.with_etag(person_prefetch(Person.objects.filter(pk=person.pk)).get())
        return Response(PersonSerializer(person, context={"request": request}).data)

    @extend_schema(
        summary="Every version of a person's record", responses=HistoryVersionSerializer(many=True)
    )
    @action(detail=True, methods=["get"], filterset_class=None)
    def history(self, request: Request, pk: Any = None) -> Response:
        person = self._get_person(pk)
        _log_view(request, person, action="history")
        page = self.paginate_queryset(history_versions(person))
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
class ApprehensionViewSet(ApiViewSet, mixins.ListModelMixin, mixins.RetrieveModelMixin):
    serializer_class = ApprehensionSerializer
    queryset = Apprehension.objects.none()
    not_found = "No apprehension with this id, or not one you may see."
    capabilities = ("read_persons_station", "read_persons_all")
    capabilities_for = {"create": ("record_intake",)}

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
        return Response(self.get_serializer(self.with_etag(self.get_object())).data)

    def create(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        intake, errors = self.validated_partly(ApprehensionInSerializer, request)
        result = with_every_error_reported(
            errors, apprehension_record, user=request.user, source=Relationship.Source.API, **intake
        )
        self.with_etag(result.apprehension)
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
class RelationshipViewSet(ApiViewSet):
    serializer_class = RelationshipSerializer
    queryset = Relationship.objects.none()
    capabilities = READ_PERSONS
    capabilities_for = {
        "create": ("record_intake",),
        "partial_update": ("record_intake", "edit_relationship_evidence"),
    }

    def _get_relationship(self, pk: Any) -> Relationship:
        if as_uuid(pk) is None:  # ids are opaque: a malformed one is unknown (404), not a 400
            raise exceptions.NotFound("No relationship with this id, or not one you may see.")
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

    def _respond(self, rel: Relationship, **kwargs: Any) -> Response:
        rel = self.with_etag(Relationship.objects.select_related("from_person", "to_person").get(pk=rel.pk))
        return Response(RelationshipSerializer(rel).data, **kwargs)

    def retrieve(self, request: Request, pk: Any = None) -> Response:
        return self._respond(self._get_relationship(pk))

    def create(self, request: Request) -> Response:
        data, errors = self.validated_partly(RelationshipInSerializer, request)
        rel = with_every_error(
            errors, relationship_create, user=request.user, source=Relationship.Source.API, **data
        )
        return self._respond(rel, status=status.HTTP_201_CREATED)

    def partial_update(self, request: Request, pk: Any = None) -> Response:
        rel = self._get_relationship(pk)
        version = self.check_if_match(request, rel)
        data, errors = self.validated_partly(RelationshipPatchSerializer, request, relationship=rel)
        rel = with_every_error(
            errors,
            relationship_update,
            relationship_id=rel.pk,
            user=request.user,
            expected_version=version,
            **edit_arguments(data),
        )
        return self._respond(rel)


@extend_schema_view(list=extend_schema(summary="Stations (reference data)"))
class StationViewSet(ApiViewSet, mixins.ListModelMixin, mixins.RetrieveModelMixin):
    """Stations are reference data every signed-in user may read."""

    serializer_class = StationSerializer
    authenticated_only = True
    lookup_field = "code"
    not_found = "No station has this code; see GET /api/v1/stations/ for the codes."

    def get_queryset(self) -> QuerySet[Station]:
        return Station.objects.filter(withdrawn_at__isnull=True).order_by("code")
