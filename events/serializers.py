"""The event object of the change feed and of webhook bodies (API contract: Change feed)."""

from typing import Any

from django.conf import settings
from django.urls import reverse
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from .models import Event, EventType

# resource_type → the API route that reads it.
RESOURCE_ROUTES = {
    "person": "person-detail",
    "separation": "api-separation-detail",
    "reunification_case": "reunification-case-detail",
}

RESOURCE_TYPE_CHOICES = [(name, name) for name in sorted(RESOURCE_ROUTES)]


def resource_path(resource_type: str, resource_id: Any) -> str:
    return reverse(RESOURCE_ROUTES[resource_type], kwargs={"pk": resource_id})


class ResourceSerializer(serializers.Serializer):
    type = serializers.ChoiceField(choices=RESOURCE_TYPE_CHOICES)
    id = serializers.UUIDField()
    url = serializers.URLField()


class EventSerializer(serializers.ModelSerializer):
    """One event; `changes` maps each field to `[old, new]`; `persons` are the persons it concerns."""

    type = serializers.ChoiceField(choices=EventType.choices)
    resource = serializers.SerializerMethodField()
    changes = serializers.DictField(
        child=serializers.ListField(child=serializers.JSONField(allow_null=True), min_length=2, max_length=2),
        help_text="Each changed field: [old value, new value] (old is null for a new record).",
    )
    persons = serializers.ListField(
        source="person_ids",
        child=serializers.UUIDField(),
        help_text="Ids of the persons the change concerns.",
    )

    class Meta:
        model = Event
        fields = ["id", "type", "occurred_at", "recorded_at", "resource", "changes", "persons"]
        read_only_fields = fields

    @extend_schema_field(ResourceSerializer)
    def get_resource(self, event: Event) -> dict[str, Any]:
        path = resource_path(event.resource_type, event.resource_id)
        request = self.context.get("request")
        url = (
            request.build_absolute_uri(path) if request is not None else settings.FAMILYLINK_PUBLIC_URL + path
        )
        return {"type": event.resource_type, "id": str(event.resource_id), "url": url}


class EventPageSerializer(serializers.Serializer):
    next = serializers.URLField(help_text="Where to read on: always given; poll it for newer events.")
    results = EventSerializer(many=True)
