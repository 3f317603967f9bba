"""API shapes of link review (contract: kind, person_a, person_b {id, a_number}, suggested_type,
score, reasons, status); the names and extra fields are optional additions for clients."""

from typing import Any

from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from familylink.common.api import ClosedInput

from .carry import superseded_story
from .models import LinkCandidate

STATUS_HELP = (
    "proposed, accepted, rejected, unmerged (an accepted duplicate whose merge was undone) or "
    "superseded (an addition clients may ignore: the candidate named a record merged into another, "
    "or was carried from one by a merge since undone; nobody decides it, see `superseded`)"
)


class CandidatePersonSerializer(serializers.Serializer):
    id = serializers.UUIDField()
    a_number = serializers.CharField(allow_null=True)
    name = serializers.CharField(source="full_name")
    date_of_birth = serializers.DateField(allow_null=True)


class SupersededSerializer(serializers.Serializer):
    merge = serializers.UUIDField(help_text="the merge that superseded the candidate")
    merged = serializers.UUIDField(allow_null=True, help_text="the record merged away")
    survivor = serializers.UUIDField(allow_null=True, help_text="the record it was merged into")
    carried_to = serializers.UUIDField(
        allow_null=True,
        help_text="the candidate asking the same question now: about the survivor, or (merge_undone) "
        "the original candidate, proposed again",
    )
    merge_undone = serializers.BooleanField(
        help_text="true: this candidate was carried by the merge, which was since undone"
    )


class LinkCandidateSerializer(serializers.ModelSerializer):
    person_a = CandidatePersonSerializer()
    person_b = CandidatePersonSerializer(allow_null=True)
    reasons = serializers.ListField(child=serializers.CharField())
    station = serializers.CharField(source="station_code")
    decided_by = serializers.SerializerMethodField()
    merge = serializers.SerializerMethodField()
    carried_from = serializers.UUIDField(
        source="carried_from_id",
        read_only=True,
        allow_null=True,
        help_text="the superseded candidate whose question a merge carried to this one",
    )
    superseded = serializers.SerializerMethodField()

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
            "carried_from",
            "superseded",
        ]
        extra_kwargs = {"status": {"help_text": STATUS_HELP}}

    def get_decided_by(self, obj: LinkCandidate) -> str | None:
        return obj.decided_by.username if obj.decided_by else None

    def get_merge(self, obj: LinkCandidate) -> str | None:
        made = (LinkCandidate.Status.ACCEPTED, LinkCandidate.Status.UNMERGED)
        if obj.kind == LinkCandidate.Kind.DUPLICATE_PERSON and obj.status in made and obj.result_id:
            return str(obj.result_id)
        return None

    @extend_schema_field(SupersededSerializer(allow_null=True))
    def get_superseded(self, obj: LinkCandidate) -> dict[str, Any] | None:
        request = self.context.get("request")
        story = superseded_story(obj, viewer=getattr(request, "user", None))
        if story is None:
            return None
        return {
            "merge": str(story.merge.pk),
            "merged": str(story.merged.pk) if story.merged else None,
            "survivor": str(story.survivor.pk) if story.survivor else None,
            "carried_to": str(story.successor.pk) if story.successor else None,
            "merge_undone": story.origin_undone,
        }


class UnmergeResultSerializer(LinkCandidateSerializer):
    """The duplicate candidate whose merge was undone, and what the unmerge did to the merge's other
    candidates (additions clients may ignore)."""

    candidates_proposed_again = serializers.SerializerMethodField(
        help_text="candidates the merge had superseded, proposed again"
    )
    carried_candidates_withdrawn = serializers.SerializerMethodField(
        help_text="candidates the merge had carried to the survivor, still proposed: now superseded"
    )
    carried_candidates_kept = serializers.SerializerMethodField(
        help_text="candidates the merge had carried to the survivor that an analyst already decided: "
        "their decisions stand"
    )

    class Meta(LinkCandidateSerializer.Meta):
        fields = [
            *LinkCandidateSerializer.Meta.fields,
            "candidates_proposed_again",
            "carried_candidates_withdrawn",
            "carried_candidates_kept",
        ]

    def _ids(self, name: str) -> list[str]:
        return sorted(str(c.pk) for c in getattr(self.context["unmerged"], name))

    def get_candidates_proposed_again(self, obj: LinkCandidate) -> list[str]:
        return self._ids("proposed_again")

    def get_carried_candidates_withdrawn(self, obj: LinkCandidate) -> list[str]:
        return self._ids("withdrawn")

    def get_carried_candidates_kept(self, obj: LinkCandidate) -> list[str]:
        return self._ids("kept")


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
