from typing import Any

from django.contrib import admin, messages
from django.http import HttpRequest

from familylink.common.admin import NoDeleteAdmin

from .models import DeadlinePolicy
from .services import deadline_policy_save


@admin.register(DeadlinePolicy)
class DeadlinePolicyAdmin(NoDeleteAdmin):
    """Administrators edit deadline policies; saving recomputes the clocks of open cases."""

    list_display = (
        "name",
        "order_date",
        "contact_days",
        "young_child_age",
        "young_child_days",
        "other_days",
        "is_active",
        "version",
    )
    list_filter = ("is_active",)
    readonly_fields = ("version", "created_at", "updated_at", "created_by")

    def save_model(self, request: HttpRequest, obj: Any, form: Any, change: bool) -> None:
        recomputed = deadline_policy_save(
            policy=obj, by=request.user, change_reason="edited in admin" if change else "created in admin"
        )
        messages.info(request, f"Clocks recomputed for {recomputed} open case(s).")
