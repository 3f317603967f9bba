from typing import Any

from django.contrib import admin
from django.http import HttpRequest, HttpResponse

from .models import ChainCheckpoint


@admin.register(ChainCheckpoint)
class ChainCheckpointAdmin(admin.ModelAdmin):
    """Signed heads of the audit chains; read-only, exportable to keep outside the system."""

    list_display = ("created_at", "verified", "chains")
    actions = ["export_json"]
    readonly_fields = ("created_at", "verified", "heads", "signature", "problems")

    @admin.display(description="Chains")
    def chains(self, obj: ChainCheckpoint) -> int:
        return len(obj.heads)

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    @admin.action(description="Export as JSON (for `verify_audit_chain --checkpoint FILE`)")
    def export_json(self, request: HttpRequest, queryset: Any) -> HttpResponse:
        from .views import checkpoint_json_response

        return checkpoint_json_response(queryset.order_by("-created_at").first())
