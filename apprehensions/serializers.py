"""Shapes of the apprehensions API (contract: shared/API-CONTRACT.md).

Input serializers read a request body into the typed keyword arguments of the write services
(`services/inputs.py`): dates as dates, person ids as UUIDs, lists item by item. The views run them
with `validated_partly`, so a value that cannot be read is named by its contract path and the service
still reports everything else in the same answer. The rules — what is required, codes, A-number
spelling, lengths, who is who — are the services', so the web form and the API give the same words.
"""

from collections.abc import Sequence
from typing import Any

from django.utils.dateparse import parse_datetime
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers
from rest_framework.fields import SkipField, empty

from familylink.common.api import ClosedInput

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
from .services.inputs import (
    NO_MEMBERS,
    NO_PERSONS,
    not_a_person_on_file,
    not_editable_message,
    read_date_of_birth,
    read_person_id,
)
from .services.persons import RELATIONSHIP_FIELDS, relationship_editable_fields
from .services.rules import as_uuid

# --- request fields: read the value, leave the rules to the service -----------------------------


class _AsSent:
    """JSON null passes as None (the services read it as "not given"), and a blank string is read
    like any other: whether a field may be blank is the service's rule, not the serializer's."""

    def validate_empty_values(self, data: Any) -> tuple[bool, Any]:
        if data is None:
            return True, None
        return super().validate_empty_values(data)  # type: ignore[misc]

    def run_validation(self, data: Any = empty) -> Any:
        return serializers.Field.run_validation(self, data)  # type: ignore[arg-type]


class TextField(_AsSent, serializers.CharField):
    """Free text as sent (the service collapses its spaces and checks its length)."""

    default_error_messages = {"text": "{label} must be text."}

    def to_internal_value(self, data: Any) -> str:
        if not isinstance(data, str):
            self.fail("text", label=self.label)
        return data


class TokenField(_AsSent, serializers.CharField):
    """A code, ref or A-number, as text (a number is read as written); the service checks it."""

    def to_internal_value(self, data: Any) -> str:
        return data if isinstance(data, str) else str(data)


class RefField(TokenField):
    """A person's ref: the client's text label (a number is read as written). An object, a list or
    a boolean is refused: read as its Python spelling ("{'x': 1}"), it would be a label unseen."""

    default_error_messages = {"ref": "Give the ref as text, e.g. p1."}

    def to_internal_value(self, data: Any) -> str:
        if isinstance(data, bool | dict | list):
            self.fail("ref")
        return super().to_internal_value(data)


class CodeField(_AsSent, serializers.ChoiceField):
    """One of `choices` (so the schema lists them); the service checks it, naming every accepted one."""

    def to_internal_value(self, data: Any) -> str:
        return data if isinstance(data, str) else str(data)


class EncounterTimeField(_AsSent, serializers.DateTimeField):
    """ISO 8601; blank reads as not given. Offset, range and "not in the future" are the service's."""

    def to_internal_value(self, value: Any) -> Any:
        text = str(value).strip()
        if not text:
            return None
        try:
            when = parse_datetime(text)
        except ValueError:
            when = None
        if when is None:
            raise serializers.ValidationError(
                f"{value!r} is not a date and time; write it as 2018-06-01T10:15:00-06:00 "
                "(ISO 8601 with offset)."
            )
        return when


class DateOfBirthField(_AsSent, serializers.DateField):
    def to_internal_value(self, value: Any) -> Any:
        try:
            return read_date_of_birth(value)
        except ValueError as exc:
            raise serializers.ValidationError(str(exc)) from exc


class FlagField(serializers.BooleanField):
    """true or false (also "yes"/"no", "on"/"off", 1/0, or blank for false)."""

    default_error_messages = {"invalid": "{label} must be true or false."}
    TRUE = ("true", "1", "yes", "on")
    FALSE = ("false", "0", "no", "off", "")

    def validate_empty_values(self, data: Any) -> tuple[bool, Any]:
        if data is None:
            self.fail("invalid", label=self.label)
        return super().validate_empty_values(data)

    def to_internal_value(self, data: Any) -> bool:
        if isinstance(data, bool):
            return data
        text = str(data).strip().lower()
        if text not in (*self.TRUE, *self.FALSE):
            self.fail("invalid", label=self.label)
        return text in self.TRUE


class AliasesField(_AsSent, serializers.ListField):
    """Other names: a list, or one text with the names separated by semicolons."""

    default_error_messages = {"names": "Aliases must be a list of names."}

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(child=serializers.CharField(), **kwargs)

    def to_internal_value(self, data: Any) -> list[str]:
        if isinstance(data, str):
            return [name for name in (part.strip() for part in data.split(";")) if name]
        if not isinstance(data, list) or not all(isinstance(name, str) for name in data):
            self.fail("names")
        return data


class ExistingPersonField(serializers.UUIDField):
    """The id of a person on file; blank or null reads as not given (the person's details follow)."""

    def validate_empty_values(self, data: Any) -> tuple[bool, Any]:
        if data is None or data == "":
            raise SkipField()
        return super().validate_empty_values(data)

    def to_internal_value(self, data: Any) -> Any:
        try:
            return read_person_id(data)
        except ValueError as exc:
            raise serializers.ValidationError(str(exc)) from exc


class PersonOnFileField(_AsSent, serializers.CharField):
    """`from` / `to` of a relationship between persons on file: a person id."""

    def to_internal_value(self, data: Any) -> Any:
        pid = as_uuid(data)
        if pid is None:
            raise serializers.ValidationError(not_a_person_on_file(data))
        return pid


# Class docstrings of request serializers would be the schema's descriptions: notes for readers of
# this code are comments.


# A body of the named fields only: any other field is refused by name (`validated_partly`).
# `version` and `id` are let through unread, so a client may send back what it read.
class ClosedSerializer(serializers.Serializer):
    IGNORED = ("version", "id")

    def editable(self) -> Sequence[str]:
        return [name for name, _ in self.fields.items() if name != "change_reason"]

    def unknown_field_message(self, name: str) -> str | None:
        return None if name in self.IGNORED else not_editable_message(name, self.editable())


# --- requests ---------------------------------------------------------------------------------


# A person's identity fields (`PersonFields`).
class PersonFieldsSerializer(serializers.Serializer):
    given_names = TextField(required=False, label="Given names")
    first_surname = TextField(required=False, label="First surname")
    second_surname = TextField(required=False, label="Second surname")
    aliases = AliasesField(required=False)
    sex = CodeField(choices=Person.Sex.choices, required=False)
    date_of_birth = DateOfBirthField(required=False)
    dob_estimated = FlagField(required=False, label="Date of birth estimated")
    country_of_citizenship = TokenField(required=False, help_text="ISO 3166-1 alpha-2, e.g. GT")
    language = TextField(required=False, label="Language")
    a_number = TokenField(
        required=False, help_text="A or a + 8 or 9 digits, or the bare digits; dashes/spaces allowed."
    )


class IdentifierInSerializer(ClosedInput):
    closed_as = "an identifier"

    kind = CodeField(choices=PersonIdentifier.Kind.choices)
    value = TextField(label="Identifier value")
    issuer = TextField(required=False, label="Issuer")


# One of `persons` (`PersonInput`): a person on file by `existing_person`, or the details.
class IntakePersonInSerializer(ClosedInput, PersonFieldsSerializer):
    closed_as = "a person"

    ref = RefField(help_text="Your label for this person in the request, e.g. p1.")
    existing_person = ExistingPersonField(required=False, help_text="Id of a person already on file.")
    identifiers = IdentifierInSerializer(
        many=True,
        required=False,
        error_messages={
            "not_a_list": "Identifiers must be a list of {{kind, value}}.",
            "invalid": "Each identifier is an object with kind and value.",
        },
    )
    match = CodeField(
        choices=[("same_person", "same_person"), ("new", "new")],
        required=False,
        help_text="Outcome of a likely-duplicate review, when one was made.",
    )
    match_note = TextField(required=False, label="Match note")

    def get_fields(self) -> dict[str, Any]:
        fields = super().get_fields()
        return {"ref": fields.pop("ref"), "existing_person": fields.pop("existing_person"), **fields}


class FamilyUnitInSerializer(ClosedInput):
    closed_as = "a family unit"

    members = serializers.ListField(
        child=TokenField(),
        help_text="Refs of persons of this request.",
        error_messages={"not_a_list": NO_MEMBERS, "null": NO_MEMBERS},
    )
    label: Any = TextField(required=False, label="Family unit label")


# What a relationship says besides who it links (`RelationshipFields`).
class RelationshipFieldsSerializer(serializers.Serializer):
    type = CodeField(choices=Relationship.Type.choices, required=False)
    evidence = CodeField(choices=Relationship.Evidence.choices, required=False)
    note = TextField(required=False, label="Note")
    document_kind = TextField(required=False, label="Document kind")
    document_number = TextField(required=False, label="Document number")


# `from` (declared as `from_`: a Python keyword), `to` and `type` first, as the contract lists them.
class _Ends(serializers.Serializer):
    def get_fields(self) -> dict[str, Any]:
        fields = super().get_fields()
        return {"from": fields.pop("from_"), "to": fields.pop("to"), "type": fields.pop("type"), **fields}


# One of `relationships` (`RelationshipInput`): each end a ref of this request or a person's id.
class IntakeRelationshipInSerializer(ClosedInput, _Ends, RelationshipFieldsSerializer):
    closed_as = "a relationship"

    from_ = TokenField(help_text="A ref of this request, or the id of a person on file.")
    to = TokenField(help_text="A ref of this request, or the id of a person on file.")
    type = CodeField(choices=Relationship.Type.choices)


# `POST /apprehensions/`: the keyword arguments of `apprehension_record` (`IntakeInput`).
class ApprehensionInSerializer(ClosedInput):
    closed_as = "an apprehension"

    occurred_at = EncounterTimeField(help_text="ISO 8601 with offset.")
    station = TokenField(help_text="Station code, e.g. EPT.")
    location_description = TextField(required=False, label="Location description")
    persons = IntakePersonInSerializer(
        many=True,
        error_messages={
            "not_a_list": NO_PERSONS,
            "invalid": "Each person is an object with a ref and either existing_person or details.",
        },
    )
    family_units = FamilyUnitInSerializer(
        many=True,
        required=False,
        error_messages={
            "not_a_list": "Family units must be a list of {{members: [refs]}}.",
            "invalid": NO_MEMBERS,
        },
    )
    relationships = IntakeRelationshipInSerializer(
        many=True,
        required=False,
        error_messages={
            "not_a_list": "Relationships must be a list of {{from, to, type, evidence}}.",
            "invalid": "Each relationship is an object with from, to, type and evidence.",
        },
    )
    change_reason = TextField(required=False, label="Change reason")


# `PATCH /persons/{id}/`: the fields to change (`person_update`'s `changes`), and why.
class PersonPatchSerializer(ClosedSerializer, PersonFieldsSerializer):
    change_reason = TextField(required=False, label="Change reason")


# `POST /relationships/`: the keyword arguments of `relationship_create`.
class RelationshipInSerializer(ClosedSerializer, _Ends, RelationshipFieldsSerializer):
    from_ = PersonOnFileField(source="from_person", help_text="The id of a person on file.")
    to = PersonOnFileField(source="to_person", help_text="The id of a person on file.")
    type = CodeField(choices=Relationship.Type.choices)
    change_reason = TextField(required=False, label="Change reason")

    def editable(self) -> Sequence[str]:
        return ("from", "to", *RELATIONSHIP_FIELDS)


# `PATCH /relationships/{id}/`: the fields to change (`relationship_update`'s `changes`), and why.
# A field it does not name is refused listing what this user may change of the `relationship` the
# view gives (coordinators: the evidence).
class RelationshipPatchSerializer(ClosedSerializer, RelationshipFieldsSerializer):
    change_reason = TextField(required=False, label="Change reason")

    def editable(self) -> Sequence[str]:
        return relationship_editable_fields(self.context["request"].user, self.context["relationship"])


def edit_arguments(values: dict[str, Any]) -> dict[str, Any]:
    """A PATCH body read by `PersonPatchSerializer` or `RelationshipPatchSerializer`, as the edit
    service's keyword arguments: `changes` (the fields given) and `change_reason`."""
    change_reason = values.pop("change_reason", None) or ""
    return {"changes": values, "change_reason": change_reason}


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
