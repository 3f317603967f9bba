"""Shapes of the apprehensions API (contract: shared/API-CONTRACT.md). Validation lives in the services.

Input serializers here only describe the request bodies for the OpenAPI schema; the API hands the
raw body to the same service the web form calls, so both give the same messages for the same input.
"""

from typing import Any

from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from .extensions import person_api_fields
from .models import (
    Apprehension,
    ApprehensionPerson,
    FamilyMembership,
    FamilyUnit,
    Person,
    PersonIdentifier,
    Relationship,
    Station,
)
from .search import search_reasons

# --- requests (schema only) -------------------------------------------------------------------


class IdentifierInSerializer(serializers.Serializer):
    kind = serializers.ChoiceField(choices=PersonIdentifier.Kind.choices)
    value = serializers.CharField()
    issuer = serializers.CharField(required=False)


class IntakePersonInSerializer(serializers.Serializer):
    ref = serializers.CharField(help_text="Your label for this person in the request, e.g. p1.")
    existing_person = serializers.UUIDField(required=False, help_text="Id of a person already on file.")
    given_names = serializers.CharField(required=False)
    first_surname = serializers.CharField(required=False)
    second_surname = serializers.CharField(required=False)
    aliases = serializers.ListField(child=serializers.CharField(), required=False)
    sex = serializers.ChoiceField(choices=Person.Sex.choices, required=False)
    date_of_birth = serializers.DateField(required=False)
    dob_estimated = serializers.BooleanField(required=False)
    country_of_citizenship = serializers.CharField(required=False, help_text="ISO 3166-1 alpha-2, e.g. GT")
    language = serializers.CharField(required=False)
    a_number = serializers.CharField(
        required=False, help_text="A or a + 8 or 9 digits, or the bare digits; dashes/spaces allowed."
    )
    identifiers = IdentifierInSerializer(many=True, required=False)
    match = serializers.ChoiceField(
        choices=[("same_person", "same_person"), ("new", "new")],
        required=False,
        help_text="Outcome of a likely-duplicate review, when one was made.",
    )
    match_note = serializers.CharField(required=False)


class FamilyUnitInSerializer(serializers.Serializer):
    members = serializers.ListField(
        child=serializers.CharField(), help_text="Refs of persons of this request."
    )
    label: Any = serializers.CharField(required=False)


class RelationshipInSerializer(serializers.Serializer):
    from_ = serializers.CharField(help_text="A ref of this request, or the id of a person on file.")
    to = serializers.CharField(help_text="A ref of this request, or the id of a person on file.")
    type = serializers.ChoiceField(choices=Relationship.Type.choices)
    evidence = serializers.ChoiceField(choices=Relationship.Evidence.choices, required=False)
    note = serializers.CharField(required=False)
    document_kind = serializers.CharField(required=False)
    document_number = serializers.CharField(required=False)

    def get_fields(self) -> dict[str, Any]:
        fields = super().get_fields()
        fields["from"] = fields.pop("from_")
        return fields


class ApprehensionInSerializer(serializers.Serializer):
    occurred_at = serializers.DateTimeField(help_text="ISO 8601 with offset.")
    station = serializers.CharField(help_text="Station code, e.g. EPT.")
    location_description = serializers.CharField(required=False)
    persons = IntakePersonInSerializer(many=True)
    family_units = FamilyUnitInSerializer(many=True, required=False)
    relationships = RelationshipInSerializer(many=True, required=False)
    change_reason = serializers.CharField(required=False)


class PersonPatchSerializer(serializers.Serializer):
    given_names = serializers.CharField(required=False)
    first_surname = serializers.CharField(required=False)
    second_surname = serializers.CharField(required=False)
    aliases = serializers.ListField(child=serializers.CharField(), required=False)
    sex = serializers.ChoiceField(choices=Person.Sex.choices, required=False)
    date_of_birth = serializers.DateField(required=False)
    dob_estimated = serializers.BooleanField(required=False)
    country_of_citizenship = serializers.CharField(required=False)
    language = serializers.CharField(required=False)
    a_number = serializers.CharField(required=False)
    change_reason = serializers.CharField(required=False)


class RelationshipPatchSerializer(serializers.Serializer):
    type = serializers.ChoiceField(choices=Relationship.Type.choices, required=False)
    evidence = serializers.ChoiceField(choices=Relationship.Evidence.choices, required=False)
    note = serializers.CharField(required=False)
    document_kind = serializers.CharField(required=False)
    document_number = serializers.CharField(required=False)
    change_reason = serializers.CharField(required=False)


# --- responses --------------------------------------------------------------------------------


class StationSerializer(serializers.ModelSerializer):
    class Meta:
        model = Station
        fields = ["id", "code", "name", "sector", "timezone"]


class PersonRefSerializer(serializers.ModelSerializer):
    """A person in brief, where another record points at them."""

    name = serializers.CharField(source="full_name")

    class Meta:
        model = Person
        fields = ["id", "a_number", "name", "date_of_birth", "is_minor"]


class RelationshipSerializer(serializers.ModelSerializer):
    from_ = serializers.UUIDField(source="from_person_id")
    to = serializers.UUIDField(source="to_person_id")
    from_name = serializers.CharField(source="from_person.full_name")
    to_name = serializers.CharField(source="to_person.full_name")
    document_not_named = serializers.BooleanField(
        read_only=True,
        help_text="Evidence is documented but the document seen was not named (HQ follows up).",
    )

    class Meta:
        model = Relationship
        fields = [
            "id",
            "from_",
            "to",
            "from_name",
            "to_name",
            "type",
            "evidence",
            "source",
            "note",
            "document_kind",
            "document_number",
            "document_not_named",
            "apprehension",
            "created_at",
            "version",
        ]

    def get_fields(self) -> dict[str, Any]:
        fields = super().get_fields()
        renamed = {}
        for name, value in fields.items():
            renamed["from" if name == "from_" else name] = value
        return renamed


class MembershipSerializer(serializers.ModelSerializer):
    person = serializers.UUIDField(source="person_id")
    name = serializers.CharField(source="person.full_name")
    is_minor = serializers.BooleanField(source="person.is_minor")

    class Meta:
        model = FamilyMembership
        fields = ["person", "name", "role", "is_minor"]


class FamilyUnitSerializer(serializers.ModelSerializer):
    members = MembershipSerializer(source="memberships", many=True)

    class Meta:
        model = FamilyUnit
        fields = ["id", "label", "apprehension", "members", "created_at"]


class PersonSerializer(serializers.ModelSerializer):
    """A person with their relationships, family units and the fields registered by higher apps."""

    first_station: Any = serializers.SlugRelatedField(slug_field="code", read_only=True, allow_null=True)
    relationships = serializers.SerializerMethodField()
    family_units = serializers.SerializerMethodField()
    identifiers = serializers.SerializerMethodField()
    match = serializers.SerializerMethodField(
        help_text="Only on search results (q): the score and why this person matched."
    )

    class Meta:
        model = Person
        fields = [
            "id",
            "a_number",
            "given_names",
            "first_surname",
            "second_surname",
            "aliases",
            "sex",
            "date_of_birth",
            "dob_estimated",
            "country_of_citizenship",
            "language",
            "is_minor",
            "is_unaccompanied",
            "first_encountered_at",
            "first_station",
            "identifiers",
            "relationships",
            "family_units",
            "created_at",
            "updated_at",
            "version",
            "match",
        ]

    @extend_schema_field(
        {
            "type": "object",
            "nullable": True,
            "properties": {
                "score": {"type": "number"},
                "reasons": {"type": "array", "items": {"type": "string"}},
            },
        }
    )
    def get_match(self, person: Person) -> dict[str, Any] | None:
        reasons = search_reasons(person)
        if reasons is None:
            return None
        return {"score": round(float(getattr(person, "search_score", 0.0)), 3), "reasons": reasons}

    def get_relationships(self, person: Person) -> Any:
        rels = [
            r
            for r in [*person.relationships_from.all(), *person.relationships_to.all()]
            if r.withdrawn_at is None
        ]
        return RelationshipSerializer(rels, many=True).data

    def get_family_units(self, person: Person) -> Any:
        units = [m.family_unit for m in person.memberships.all()]
        return FamilyUnitSerializer(units, many=True).data

    def get_identifiers(self, person: Person) -> list[dict[str, Any]]:
        return [
            {"kind": i.kind, "value": i.value, "issuer": i.issuer}
            for i in person.identifiers.all()
            if i.withdrawn_at is None
        ]

    def to_representation(self, instance: Person) -> dict[str, Any]:
        data = super().to_representation(instance)
        request = self.context.get("request")
        for extension in person_api_fields():
            data[extension.name] = extension.fn(instance, request)
        return data


class EncounterSerializer(serializers.ModelSerializer):
    id = serializers.UUIDField(source="person_id")
    name = serializers.CharField(source="person.full_name")
    a_number = serializers.CharField(source="person.a_number", allow_null=True)
    is_minor = serializers.BooleanField(source="person.is_minor")
    is_unaccompanied = serializers.BooleanField(source="person.is_unaccompanied")

    class Meta:
        model = ApprehensionPerson
        fields = ["id", "name", "a_number", "is_minor", "is_unaccompanied", "match", "match_note"]


class ApprehensionSerializer(serializers.ModelSerializer):
    station: Any = serializers.SlugRelatedField(slug_field="code", read_only=True)
    apprehending_agent: Any = serializers.SlugRelatedField(
        slug_field="username", read_only=True, allow_null=True
    )
    persons = EncounterSerializer(source="encounters", many=True)
    family_units = FamilyUnitSerializer(many=True)
    relationships = serializers.SerializerMethodField()

    class Meta:
        model = Apprehension
        fields = [
            "id",
            "occurred_at",
            "station",
            "location_description",
            "apprehending_agent",
            "persons",
            "family_units",
            "relationships",
            "created_at",
            "version",
        ]

    def get_relationships(self, apprehension: Apprehension) -> Any:
        return RelationshipSerializer(
            [r for r in apprehension.relationships.all() if r.withdrawn_at is None], many=True
        ).data


class HistoryVersionSerializer(serializers.Serializer):
    history_id = serializers.IntegerField()
    version = serializers.IntegerField(allow_null=True)
    changed_at = serializers.DateTimeField()
    changed_by = serializers.CharField(allow_null=True)
    change_reason = serializers.CharField()
    type = serializers.CharField()
    changes = serializers.DictField(child=serializers.ListField())


def intake_response(result: Any) -> dict[str, Any]:
    """The 201 body of POST /apprehensions/, built from the objects just written (no re-read):
    the apprehension with `persons: [{ref, id, ...}]`, its family units and relationships."""
    apprehension = result.apprehension
    datetime_field = serializers.DateTimeField()
    return {
        "id": str(apprehension.pk),
        "occurred_at": datetime_field.to_representation(apprehension.occurred_at),
        "station": apprehension.station.code,
        "location_description": apprehension.location_description,
        "apprehending_agent": apprehension.apprehending_agent.username
        if apprehension.apprehending_agent
        else None,
        "persons": [
            {
                "ref": p.ref,
                "id": str(p.person.pk),
                "name": p.person.full_name,
                "a_number": p.person.a_number,
                "is_minor": p.person.is_minor,
                "is_unaccompanied": p.person.is_unaccompanied,
                "match": p.match,
                "match_note": p.match_note,
            }
            for p in result.persons
        ],
        "family_units": [
            {
                "id": str(unit.pk),
                "label": unit.label,
                "apprehension": str(apprehension.pk),
                "members": MembershipSerializer(members, many=True).data,
                "created_at": datetime_field.to_representation(unit.created_at),
            }
            for unit, members in result.family_units
        ],
        "relationships": RelationshipSerializer(result.relationships, many=True).data,
        "created_at": datetime_field.to_representation(apprehension.created_at),
        "version": apprehension.version,
    }
