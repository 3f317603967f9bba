"""Shapes of the reunification API (API-CONTRACT.md: Reunification). Validation of shape only;
the rules live in the services."""

from __future__ import annotations

from typing import Any

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from familylink.common.api import AwareDateTimeField, ClosedInput, CodeChoiceField
from separations.models import CustodyPeriod

from .clocks import CLOCK_STATES, case_clocks, case_priority
from .models import NEXT_STEP_LABELS, STEP_ORDER, CaseStep, ReunificationCase, WorklistItem


class CasePersonSerializer(serializers.Serializer):
    id = serializers.UUIDField(read_only=True)
    a_number = serializers.CharField(read_only=True, allow_null=True)
    full_name = serializers.CharField(read_only=True)
    date_of_birth = serializers.DateField(read_only=True, allow_null=True)


class CaseStepSerializer(serializers.ModelSerializer):
    label = serializers.CharField(source="get_step_display", read_only=True)  # type: ignore[assignment]
    done = serializers.BooleanField(source="is_done", read_only=True)
    done_by: serializers.SlugRelatedField[Any] = serializers.SlugRelatedField(
        slug_field="username", read_only=True, allow_null=True
    )

    class Meta:
        model = CaseStep
        fields = ["step", "label", "done", "done_at", "done_by", "method", "note", "version"]


class ClockSerializer(serializers.Serializer):
    clock = serializers.CharField(source="key")
    label = serializers.CharField()  # type: ignore[assignment]
    due_at = serializers.DateTimeField(allow_null=True)
    met_at = serializers.DateTimeField(allow_null=True)
    state = serializers.ChoiceField(
        choices=list(CLOCK_STATES),
        help_text="met_on_time, met_late, missed (past due and not met), pending, not_running",
    )
    late_by_seconds = serializers.SerializerMethodField(
        help_text="How late a clock was met, or how long past due a missed clock is (null otherwise)."
    )
    due_soon = serializers.BooleanField(help_text="Pending and due within 48 hours.")
    state_label = serializers.CharField(source="badge")

    def get_late_by_seconds(self, clock: Any) -> int | None:
        return int(clock.late_by.total_seconds()) if clock.late_by is not None else None


class PolicyBriefSerializer(serializers.Serializer):
    id = serializers.UUIDField()
    name = serializers.CharField()


class ReunificationCaseSerializer(serializers.ModelSerializer):
    """A case: the child, the adult(s), the separation, status/outcome, clocks and checklist.

    `due_at` is the next clock not yet met; `priority` is `overdue`, `due_soon` (within 48
    hours) or `on_track` for an open case, null once it is closed.
    """

    child = CasePersonSerializer(read_only=True)
    adults = serializers.SerializerMethodField()
    separation: serializers.PrimaryKeyRelatedField[Any] = serializers.PrimaryKeyRelatedField(read_only=True)
    assigned_to: serializers.SlugRelatedField[Any] = serializers.SlugRelatedField(
        slug_field="username", read_only=True, allow_null=True
    )
    outcome = serializers.ChoiceField(
        choices=[("", "Not closed"), *ReunificationCase.Outcome.choices],
        read_only=True,
        help_text="Empty until the case is closed.",
    )
    closed_by: serializers.SlugRelatedField[Any] = serializers.SlugRelatedField(
        slug_field="username", read_only=True, allow_null=True
    )
    priority = serializers.SerializerMethodField()
    clocks = serializers.SerializerMethodField()
    checklist = serializers.SerializerMethodField()
    policy = serializers.SerializerMethodField()

    class Meta:
        model = ReunificationCase
        fields = [
            "id",
            "child",
            "adults",
            "separation",
            "status",
            "outcome",
            "team",
            "assigned_to",
            "due_at",
            "priority",
            "next_step",
            "clock_start",
            "contact_due_at",
            "reunify_due_at",
            "clocks",
            "checklist",
            "policy",
            "closed_at",
            "closed_by",
            "close_note",
            "created_at",
            "updated_at",
            "version",
        ]
        read_only_fields = fields

    @extend_schema_field(CasePersonSerializer(many=True))
    def get_adults(self, case: ReunificationCase) -> list[dict[str, Any]]:
        adults = [link.person for link in case.case_adults.all() if link.withdrawn_at is None]
        return list(CasePersonSerializer(adults, many=True).data)

    @extend_schema_field(
        serializers.ChoiceField(choices=["overdue", "due_soon", "on_track"], allow_null=True)
    )
    def get_priority(self, case: ReunificationCase) -> str | None:
        return case_priority(case)

    @extend_schema_field(ClockSerializer(many=True))
    def get_clocks(self, case: ReunificationCase) -> list[dict[str, Any]]:
        return list(ClockSerializer(case_clocks(case), many=True).data)

    @extend_schema_field(CaseStepSerializer(many=True))
    def get_checklist(self, case: ReunificationCase) -> list[dict[str, Any]]:
        steps = sorted(case.steps.all(), key=lambda s: STEP_ORDER.index(s.step))
        return list(CaseStepSerializer(steps, many=True).data)

    @extend_schema_field(PolicyBriefSerializer(allow_null=True))
    def get_policy(self, case: ReunificationCase) -> dict[str, Any] | None:
        if case.policy is None:
            return None
        return {"id": str(case.policy.pk), "name": case.policy.name}


class ChecklistChangeSerializer(ClosedInput):
    closed_as = "a checklist change"

    step = CodeChoiceField(choices=[s for s in STEP_ORDER if s != CaseStep.Step.REUNIFIED])
    done = serializers.BooleanField()
    method = serializers.CharField(required=False, allow_blank=True, default="", max_length=200)
    note = serializers.CharField(required=False, allow_blank=True, default="", max_length=2000)


CLOSING_OUTCOMES = [
    o for o in ReunificationCase.Outcome.values if o != ReunificationCase.Outcome.SEPARATION_ENDED
]


class CasePatchSerializer(serializers.Serializer):
    """PATCH body: tick/untick checklist steps, and/or close the case (`status` reunified or closed).

    Closing as reunified moves the child and the adult(s) to `custody_agency`/`custody_facility`
    and ends the separation once every child of it is reunified. Send `If-Match: <ETag>`.
    """

    checklist = ChecklistChangeSerializer(many=True, required=False)
    status = CodeChoiceField(
        choices=[ReunificationCase.Status.REUNIFIED, ReunificationCase.Status.CLOSED], required=False
    )
    outcome = CodeChoiceField(choices=CLOSING_OUTCOMES, required=False)
    note = serializers.CharField(required=False, allow_blank=True, default="")
    custody_agency = CodeChoiceField(
        choices=CustodyPeriod.Agency.values, required=False, default=CustodyPeriod.Agency.RELEASED
    )
    custody_facility = serializers.CharField(required=False, allow_blank=True, default="")
    reunified_at = AwareDateTimeField(required=False)
    change_reason = serializers.CharField(required=False, allow_blank=True, default="")

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        unknown = sorted(set(self.initial_data) - set(self.fields))
        if unknown:
            raise serializers.ValidationError(
                {
                    name: [
                        "This field cannot be changed here; send checklist, status, outcome, note, "
                        "custody_agency, custody_facility, reunified_at or change_reason."
                    ]
                    for name in unknown
                }
            )
        status, outcome = attrs.get("status"), attrs.get("outcome")
        if status == ReunificationCase.Status.REUNIFIED and outcome not in (None, "reunified"):
            raise serializers.ValidationError({"outcome": ["A reunified case has the outcome 'reunified'."]})
        if status == ReunificationCase.Status.CLOSED and outcome in (None, "reunified"):
            raise serializers.ValidationError(
                {"outcome": ["A closed case needs its outcome (an ineligibility reason or 'other')."]}
            )
        if outcome and not status:
            raise serializers.ValidationError({"status": ["Send the status with the outcome."]})
        if not status and not attrs.get("checklist"):
            raise serializers.ValidationError(
                {"non_field_errors": ["Nothing to change: send checklist or status."]}
            )
        return attrs


class WorklistItemSerializer(serializers.ModelSerializer):
    child = CasePersonSerializer(source="case.child", read_only=True)
    case_status = serializers.CharField(source="case.status", read_only=True)
    next_step_label = serializers.SerializerMethodField()
    claimed_by: serializers.SlugRelatedField[Any] = serializers.SlugRelatedField(
        slug_field="username", read_only=True, allow_null=True
    )
    completed_by: serializers.SlugRelatedField[Any] = serializers.SlugRelatedField(
        slug_field="username", read_only=True, allow_null=True
    )

    class Meta:
        model = WorklistItem
        fields = [
            "id",
            "position",
            "case",
            "child",
            "case_status",
            "next_step",
            "next_step_label",
            "due_at",
            "is_overdue",
            "claimed_by",
            "claimed_at",
            "completed_by",
            "completed_at",
            "version",
        ]
        read_only_fields = fields

    @extend_schema_field(OpenApiTypes.STR)
    def get_next_step_label(self, item: WorklistItem) -> str:
        return NEXT_STEP_LABELS.get(item.next_step, item.next_step)


class WorklistPageSerializer(serializers.Serializer):
    """`GET /worklists/<date>/`: the day's items of the caller's team, in order, paginated."""

    date = serializers.DateField()
    team = serializers.CharField()
    built_at = serializers.DateTimeField(allow_null=True)
    count = serializers.IntegerField()
    next = serializers.URLField(allow_null=True)
    previous = serializers.URLField(allow_null=True)
    results = WorklistItemSerializer(many=True)
