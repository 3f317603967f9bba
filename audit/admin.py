import json
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
        checkpoint = queryset.order_by("-created_at").first()
        body = json.dumps(
            {
                "created_at": checkpoint.created_at.isoformat(),
                "heads": checkpoint.heads,
                "signature": checkpoint.signature,
                "verified": checkpoint.verified,
            },
            indent=2,
            sort_keys=True,
        )
        response = HttpResponse(body, content_type="application/json")
        response["Content-Disposition"] = (
            f'attachment; filename="audit-checkpoint-{checkpoint.created_at:%Y%m%dT%H%M%S}.json"'
        )
        return response
