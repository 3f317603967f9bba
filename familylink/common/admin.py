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


# API tokens: listed per user with their age and expiry; an administrator revokes one by deleting it
# (tokens are access configuration, not case data; each revocation is a security event in the log).
from rest_framework.authtoken.admin import TokenAdmin  # noqa: E402
from rest_framework.authtoken.models import TokenProxy  # noqa: E402

from .auth import token_expires_at, token_is_expired  # noqa: E402


class ExpiringTokenAdmin(TokenAdmin):
    list_display = ("user", "created", "expires", "expired")
    list_filter = ("user__groups",)
    search_fields = ("user__username",)

    @admin.display(description="Expires")
    def expires(self, obj: Any) -> Any:
        return token_expires_at(obj)

    @admin.display(description="Expired", boolean=True)
    def expired(self, obj: Any) -> bool:
        return token_is_expired(obj)


if admin.site.is_registered(TokenProxy):
    admin.site.unregister(TokenProxy)
admin.site.register(TokenProxy, ExpiringTokenAdmin)
