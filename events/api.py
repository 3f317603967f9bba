"""`GET /api/v1/events/?after=<cursor>`: the change feed (API contract: Change feed)."""

from drf_spectacular.utils import OpenApiCallback, OpenApiParameter, extend_schema
from rest_framework import serializers
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.utils.urls import replace_query_param

from familylink.common.api import ApiView
from familylink.common.errors import ValidationFailed

from .selectors import BadCursor, decode_cursor, encode_cursor, event_page, events_visible_to
from .serializers import EventPageSerializer, EventSerializer

MAX_LIMIT = 500

FEED_DESCRIPTION = """Every change partners follow, oldest first, scoped to what the caller may see.

Start without `after`; then always follow `next` (it is given even when there is nothing new:
poll it later). A transaction that commits late is delivered on a later page, never skipped.

Webhooks POST the same event object as JSON to each registered endpoint, with the header
`FamilyLink-Signature: t=<unix time>,v1=<hex HMAC-SHA256 of "<t>.<body>" with the endpoint's
secret>`, plus `FamilyLink-Event-Id`. A receiver answers 2xx to acknowledge; FamilyLink retries
other answers with exponential backoff for at least 24 hours and never re-sends an event that
was acknowledged."""


class EventFeedApi(ApiView):
    """The change feed; only GET is offered (every other method: 405)."""

    capabilities = ("read_events",)

    class InputSerializer(serializers.Serializer):
        after = serializers.CharField(required=False, max_length=4000, help_text="The cursor from `next`.")
        limit = serializers.IntegerField(required=False, min_value=1, max_value=MAX_LIMIT, default=100)

    @extend_schema(
        operation_id="events_list",
        description=FEED_DESCRIPTION,
        parameters=[
            OpenApiParameter("after", str, description="Cursor: the `next` link's value. Omit to start."),
            OpenApiParameter("limit", int, description=f"Events per page, 1–{MAX_LIMIT} (default 100)."),
        ],
        responses={200: EventPageSerializer},
        callbacks=[
            OpenApiCallback(
                "webhookDelivery",
                "https://partner.example/registered-webhook-url",
                extend_schema(
                    summary="A webhook delivery: one event POSTed to a registered partner endpoint",
                    description=(
                        "Body: one event, the same object as in the feed. Headers: "
                        '`FamilyLink-Signature: t=<unix time>,v1=<hex HMAC-SHA256 of "<t>.<body>" '
                        "with the endpoint's secret>`, `FamilyLink-Event-Id`, `FamilyLink-Event-Type`. "
                        "Answer 2xx to acknowledge; anything else is retried with exponential backoff "
                        "for at least 24 hours. An acknowledged event is not sent again."
                    ),
                    request=EventSerializer,
                    responses={200: None},
                ),
            )
        ],
    )
    def get(self, request: Request) -> Response:
        data = self.validated_query(self.InputSerializer, request)
        cursor = None
        if data.get("after"):
            try:
                cursor = decode_cursor(data["after"])
            except BadCursor as exc:
                raise ValidationFailed({"after": [str(exc)]}) from exc
        page = event_page(queryset=events_visible_to(request.user), cursor=cursor, limit=data["limit"])
        next_url = replace_query_param(request.build_absolute_uri(), "after", encode_cursor(page.next_cursor))
        results = EventSerializer(page.events, many=True, context={"request": request}).data
        return Response({"next": next_url, "results": results})
