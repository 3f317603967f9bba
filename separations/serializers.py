"""Shapes of the separations API (API contract: Separations, Custody, Reports)."""

from typing import Any

from rest_framework import serializers

from apprehensions.models import Person

from .models import CustodyPeriod, Separation
from .selectors import SeparatedChild, open_custody


class PersonBriefSerializer(serializers.ModelSerializer):
    full_name = serializers.CharField(read_only=True)

    class Meta:
        model = Person
        fields = [
            "id",
            "a_number",
            "given_names",
            "first_surname",
            "second_surname",
            "full_name",
            "date_of_birth",
            "is_minor",
        ]


class CustodyPeriodSerializer(serializers.ModelSerializer):
    person = serializers.UUIDField(source="person_id", read_only=True)
    agency_label = serializers.CharField(source="get_agency_display", read_only=True)
    recorded_by: serializers.SlugRelatedField[Any] = serializers.SlugRelatedField(
        slug_field="username", read_only=True, allow_null=True
    )
    is_open = serializers.SerializerMethodField()

    class Meta:
        model = CustodyPeriod
        fields = [
            "id",
            "person",
            "agency",
            "agency_label",
            "facility",
            "started_at",
            "ended_at",
            "is_open",
            "recorded_by",
            "created_at",
            "version",
        ]

    def get_is_open(self, obj: CustodyPeriod) -> bool:
        return obj.ended_at is None


_INSTANT = serializers.DateTimeField()


def instant(value: Any) -> str | None:
    """An aware datetime as the API writes it (ISO 8601, `Z` for UTC)."""
    return None if value is None else _INSTANT.to_representation(value)


def person_brief(person: Person) -> dict[str, Any]:
    """The fields of PersonBriefSerializer, built directly (report rows carry many persons)."""
    return {
        "id": str(person.pk),
        "a_number": person.a_number,
        "given_names": person.given_names,
        "first_surname": person.first_surname,
        "second_surname": person.second_surname,
        "full_name": person.full_name,
        "date_of_birth": person.date_of_birth.isoformat() if person.date_of_birth else None,
        "is_minor": person.is_minor,
    }


def custody_brief(period: CustodyPeriod | None) -> dict[str, Any] | None:
    if period is None:
        return None
    return {
        "agency": period.agency,
        "agency_label": period.get_agency_display(),
        "facility": period.facility,
        "started_at": instant(period.started_at),
    }


class SeparationSerializer(serializers.ModelSerializer):
    children = serializers.SerializerMethodField()
    adults = serializers.SerializerMethodField()
    members = serializers.SerializerMethodField()
    reason_code: serializers.SlugRelatedField[Any] = serializers.SlugRelatedField(
        slug_field="code", read_only=True
    )
    reason_label = serializers.CharField(source="reason_code.label", read_only=True)
    reason_category = serializers.CharField(source="reason_code.category", read_only=True)
    station: serializers.SlugRelatedField[Any] = serializers.SlugRelatedField(
        slug_field="code", read_only=True
    )
    requested_by: serializers.SlugRelatedField[Any] = serializers.SlugRelatedField(
        slug_field="username", read_only=True
    )
    decided_by: serializers.SlugRelatedField[Any] = serializers.SlugRelatedField(
        slug_field="username", read_only=True, allow_null=True
    )
    ended_by: serializers.SlugRelatedField[Any] = serializers.SlugRelatedField(
        slug_field="username", read_only=True, allow_null=True
    )

    class Meta:
        model = Separation
        fields = [
            "id",
            "status",
            "children",
            "adults",
            "members",
            "reason_code",
            "reason_label",
            "reason_category",
            "narrative",
            "occurred_at",
            "recorded_at",
            "station",
            "place",
            "family_unit",
            "requested_by",
            "decided_by",
            "decided_at",
            "decision_comment",
            "source",
            "ended_at",
            "ended_by",
            "end_outcome",
            "end_comment",
            "withdrawn_at",
            "withdrawn_reason",
            "version",
        ]

    def _members(self, obj: Separation) -> list[Any]:
        members = getattr(obj, "live_members", None)
        if members is None:
            members = list(obj.members.filter(withdrawn_at__isnull=True).select_related("person"))
            obj.live_members = members  # type: ignore[attr-defined]
        return members

    def get_children(self, obj: Separation) -> list[str]:
        return [str(m.person_id) for m in self._members(obj) if m.side == "child"]

    def get_adults(self, obj: Separation) -> list[str]:
        return [str(m.person_id) for m in self._members(obj) if m.side == "adult"]

    def get_members(self, obj: Separation) -> list[dict[str, Any]]:
        return [
            {
                "side": m.side,
                "person": person_brief(m.person),
                "current_custody": custody_brief(open_custody(m.person)),
                # A child's own end, before the siblings' (null while separated).
                "ended_at": instant(m.ended_at),
                "end_outcome": m.end_outcome,
            }
            for m in self._members(obj)
        ]


def separated_child_row(row: SeparatedChild) -> dict[str, Any]:
    """One result of the separated-children report."""
    return {
        "child": person_brief(row.child),
        "child_current_custody": custody_brief(row.child_custody),
        "adults": [
            {"person": person_brief(adult), "current_custody": custody_brief(custody)}
            for adult, custody in row.adults_with_custody
        ],
        "separated_since": instant(row.since),
        "days_separated": row.days_separated,
        "reasons": [{"code": r.code, "label": r.label, "category": r.category} for r in row.reasons],
        "separations": [str(s.pk) for s in row.separations],
        "stations": sorted({s.station.code for s in row.separations}),
        "recorded_as": "imported" if row.imported else "entered",
    }


class SeparatedChildRowSerializer(serializers.Serializer):
    """Documentation of one report row (built by `separated_child_row`)."""

    child = PersonBriefSerializer()
    child_current_custody = serializers.DictField(allow_null=True)
    adults = serializers.ListField(child=serializers.DictField())
    separated_since = serializers.DateTimeField()
    days_separated = serializers.IntegerField()
    reasons = serializers.ListField(child=serializers.DictField())
    separations = serializers.ListField(child=serializers.UUIDField())
    stations = serializers.ListField(child=serializers.CharField())
    recorded_as = serializers.ChoiceField(
        choices=["entered", "imported"],
        help_text="imported: a separation of this child came from a field spreadsheet (legacy import).",
    )


class SeparatedChildrenReportSerializer(serializers.Serializer):
    as_of = serializers.DateTimeField()
    known_at = serializers.DateTimeField(allow_null=True)
    count = serializers.IntegerField()
    next = serializers.CharField(allow_null=True)
    previous = serializers.CharField(allow_null=True)
    by_custody_agency = serializers.DictField(child=serializers.IntegerField())
    by_reason_category = serializers.DictField(child=serializers.IntegerField())
    results = SeparatedChildRowSerializer(many=True)
