"""Administrators register partner webhook endpoints and watch every delivery attempt. Nothing is deleted."""

from typing import Any, cast

from django import forms
from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest

from familylink.common.admin import NoDeleteAdmin
from familylink.common.models import User

from .models import Event, EventType, WebhookAttempt, WebhookDelivery, WebhookEndpoint
from .services import webhook_delivery_retry


class WebhookEndpointForm(forms.ModelForm):
    url = forms.URLField(max_length=500, assume_scheme="https", help_text="Where the events are POSTed.")
    event_types = forms.MultipleChoiceField(
        choices=EventType.choices,
        required=False,
        widget=forms.CheckboxSelectMultiple,
        help_text="Leave all unticked to receive every event type.",
    )

    class Meta:
        model = WebhookEndpoint
        fields = ["name", "url", "secret", "event_types", "is_active"]


@admin.register(WebhookEndpoint)
class WebhookEndpointAdmin(NoDeleteAdmin):
    form = WebhookEndpointForm
    list_display = ("name", "url", "is_active", "types", "version")
    list_filter = ("is_active",)
    search_fields = ("name", "url")

    @admin.display(description="event types")
    def types(self, obj: WebhookEndpoint) -> str:
        return ", ".join(obj.event_types) or "all"

    def save_model(self, request: HttpRequest, obj: WebhookEndpoint, form: Any, change: bool) -> None:
        if not change:
            obj.created_by = cast(User, request.user)
        obj._change_reason = "edited in admin" if change else "registered in admin"
        obj._history_user = request.user
        super().save_model(request, obj, form, change)


class ReadOnlyAdmin(NoDeleteAdmin):
    """Records written by FamilyLink itself: administrators read them, never edit them."""

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


class WebhookAttemptInline(admin.TabularInline):
    model = WebhookAttempt
    fields = ("number", "started_at", "latency_ms", "status_code", "succeeded", "error")
    readonly_fields = fields
    extra = 0
    can_delete = False
    ordering = ("number",)

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


@admin.register(WebhookDelivery)
class WebhookDeliveryAdmin(ReadOnlyAdmin):
    list_display = (
        "event_type",
        "endpoint",
        "status",
        "attempts",
        "last_status_code",
        "next_attempt_at",
        "delivered_at",
    )
    list_filter = ("status", "endpoint")
    ordering = ("-created_at",)
    show_full_result_count = False
    list_select_related = ("event", "endpoint")
    search_fields = ("event__id",)
    readonly_fields = (
        "endpoint",
        "event",
        "status",
        "attempts",
        "first_attempt_at",
        "next_attempt_at",
        "delivered_at",
        "last_status_code",
        "last_error",
    )
    fields = readonly_fields
    inlines = [WebhookAttemptInline]
    actions = ["retry_now"]

    @admin.display(description="event")
    def event_type(self, obj: WebhookDelivery) -> str:
        return obj.event.type

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        # The change page shows the attempts; every field on it is read-only.
        return bool(request.user.is_staff and request.user.has_perm("events.view_webhookdelivery"))

    @admin.action(description="Retry selected deliveries now (attempts so far are kept)")
    def retry_now(self, request: HttpRequest, queryset: QuerySet) -> None:
        count = 0
        for delivery in queryset.exclude(status=WebhookDelivery.Status.DELIVERED):
            webhook_delivery_retry(delivery_id=delivery.pk, by=request.user)
            count += 1
        self.message_user(request, f"{count} deliver(y/ies) will be sent again shortly.", messages.SUCCESS)


@admin.register(WebhookAttempt)
class WebhookAttemptAdmin(ReadOnlyAdmin):
    list_display = ("delivery", "number", "started_at", "latency_ms", "status_code", "succeeded")
    list_filter = ("succeeded",)


@admin.register(Event)
class EventAdmin(ReadOnlyAdmin):
    list_display = ("type", "resource_type", "resource_id", "occurred_at", "recorded_at")
    ordering = ("-xid", "-position")
    show_full_result_count = False
    list_filter = ("type", "resource_type")
    search_fields = ("resource_id",)
    readonly_fields = (
        "id",
        "type",
        "occurred_at",
        "recorded_at",
        "resource_type",
        "resource_id",
        "changes",
        "person_ids",
        "xid",
        "position",
    )
