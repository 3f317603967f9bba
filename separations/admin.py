"""Administrators add and retire reason codes here, without a code change. Nothing is deleted."""

from typing import Any, cast

from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest
from django.utils import timezone

from familylink.common.admin import NoDeleteAdmin
from familylink.common.models import User

from .models import ReasonCode


class RetiredFilter(admin.SimpleListFilter):
    title = "in use"
    parameter_name = "retired"

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, str]]:
        return [("no", "Active"), ("yes", "Retired")]

    def queryset(self, request: HttpRequest, queryset: QuerySet) -> QuerySet:
        if self.value() == "no":
            return queryset.filter(retired_at__isnull=True)
        if self.value() == "yes":
            return queryset.filter(retired_at__isnull=False)
        return queryset


@admin.register(ReasonCode)
class ReasonCodeAdmin(NoDeleteAdmin):
    list_display = ("code", "label", "category", "narrative_required", "retired_at", "version")
    list_filter = ("category", RetiredFilter)
    search_fields = ("code", "label", "description")
    fields = ("code", "label", "category", "description", "narrative_required", "retired_at")
    readonly_fields = ("retired_at",)
    actions = ["retire", "reinstate"]

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> tuple[str, ...]:
        # A code is what the API and old records carry: it cannot change once it exists.
        return ("code", "retired_at") if obj is not None else ("retired_at",)

    def save_model(self, request: HttpRequest, obj: ReasonCode, form: Any, change: bool) -> None:
        obj.code = obj.code.strip().upper()
        if not change:
            obj.created_by = cast(User, request.user)
        obj._change_reason = "edited in admin" if change else "added in admin"
        obj._history_user = request.user
        super().save_model(request, obj, form, change)

    @admin.action(description="Retire selected reason codes (kept with their history; no new use)")
    def retire(self, request: HttpRequest, queryset: QuerySet) -> None:
        count = 0
        for code in queryset.filter(retired_at__isnull=True):
            code.retired_at = timezone.now()
            code._change_reason = "retired in admin"
            code._history_user = request.user
            code.save(update_fields=["retired_at"])
            count += 1
        self.message_user(request, f"{count} reason code(s) retired.", messages.SUCCESS)

    @admin.action(description="Reinstate selected retired reason codes")
    def reinstate(self, request: HttpRequest, queryset: QuerySet) -> None:
        count = 0
        for code in queryset.filter(retired_at__isnull=False):
            code.retired_at = None
            code._change_reason = "reinstated in admin"
            code._history_user = request.user
            code.save(update_fields=["retired_at"])
            count += 1
        self.message_user(request, f"{count} reason code(s) reinstated.", messages.SUCCESS)
