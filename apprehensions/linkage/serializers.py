"""API shapes of link review (contract: kind, person_a, person_b {id, a_number}, suggested_type,
score, reasons, status); the names and extra fields are optional additions for clients."""

from rest_framework import serializers

from familylink.common.api import ClosedInput

from .models import LinkCandidate


class CandidatePersonSerializer(serializers.Serializer):
    id = serializers.UUIDField()
    a_number = serializers.CharField(allow_null=True)
    name = serializers.CharField(source="full_name")
    date_of_birth = serializers.DateField(allow_null=True)


class LinkCandidateSerializer(serializers.ModelSerializer):
    person_a = CandidatePersonSerializer()
    person_b = CandidatePersonSerializer(allow_null=True)
    reasons = serializers.ListField(child=serializers.CharField())
    station = serializers.CharField(source="station_code")
    decided_by = serializers.SerializerMethodField()
    merge = serializers.SerializerMethodField()

    class Meta:
        model = LinkCandidate
        fields = [
            "id",
            "kind",
            "person_a",
            "person_b",
            "suggested_type",
            "score",
            "reasons",
            "status",
            "station",
            "encountered_on",
            "details",
            "created_at",
            "decided_at",
            "decided_by",
            "decision_reason",
            "merge",
        ]

    def get_decided_by(self, obj: LinkCandidate) -> str | None:
        return obj.decided_by.username if obj.decided_by else None

    def get_merge(self, obj: LinkCandidate) -> str | None:
        if obj.kind == LinkCandidate.Kind.DUPLICATE_PERSON and obj.result_id:
            return str(obj.result_id)
        return None


# A decision is a write: it takes the contract's optional `change_reason`, read as its reason when
# `reason` is not given, and refuses any other field by name (`ClosedInput`).
class LinkDecisionSerializer(ClosedInput):
    closed_as = "a link decision"

    reason = serializers.CharField(required=False, allow_blank=True, default="", max_length=2000)
    type = serializers.CharField(
        required=False,
        allow_blank=True,
        default="",
        max_length=32,
        help_text="relationship candidates: the type to record, one of parent, legal_guardian, sibling, "
        "grandparent, other_relative (default: suggested_type)",
    )
    survivor = serializers.UUIDField(required=False, allow_null=True, default=None)
    change_reason = serializers.CharField(required=False, allow_blank=True, default="", max_length=2000)


class LinkRejectSerializer(ClosedInput):
    closed_as = "a rejection"

    # Required, in the service's words: "Say why the candidate is rejected".
    reason = serializers.CharField(required=False, allow_blank=True, default="", max_length=2000)
    change_reason = serializers.CharField(required=False, allow_blank=True, default="", max_length=2000)


def decision_reason(data: dict[str, str]) -> str:
    """The reason of a decision: `reason`, else the contract's `change_reason`."""
    return data["reason"].strip() or data["change_reason"].strip()
