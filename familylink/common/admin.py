from typing import Any

from django.contrib import admin
from django.contrib.auth.admin import UserAdmin
from django.http import HttpRequest
from simple_history.admin import SimpleHistoryAdmin

from .models import User


class NoDeleteAdmin(SimpleHistoryAdmin):
    """Admin for FamilyLink records: history visible, deletion never offered."""

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def get_actions(self, request: HttpRequest) -> dict[str, Any]:
        actions = super().get_actions(request)
        actions.pop("delete_selected", None)
        return actions


@admin.register(User)
class FamilyLinkUserAdmin(UserAdmin, NoDeleteAdmin):
    fieldsets = (*UserAdmin.fieldsets, ("FamilyLink", {"fields": ("station", "team")}))  # type: ignore[misc]
    list_display = ("username", "first_name", "last_name", "station", "team", "is_active")
    list_filter = ("groups", "station", "team", "is_active")
