"""API permissions. The default is DenyAll: a view that names no capability serves no one."""

from typing import Any

from rest_framework.permissions import BasePermission, IsAuthenticated
from rest_framework.request import Request

from .roles import has_capability, user_roles


class DenyAll(BasePermission):
    """Access denied by default: signed-in users get 403, anonymous ones 401."""

    def has_permission(self, request: Request, view: Any) -> bool:
        return False


def capability_permission(*capabilities: str) -> type[BasePermission]:
    """A permission class granting access to users who hold any of `capabilities`.

    An auditor changes nothing anywhere: unsafe methods are refused to auditors whatever
    capabilities they hold.
    """

    class HasCapability(IsAuthenticated):
        message = "Your role does not allow this action."

        def has_permission(self, request: Request, view: Any) -> bool:
            if not super().has_permission(request, view):
                return False
            if request.method not in ("GET", "HEAD", "OPTIONS") and "auditor" in user_roles(request.user):
                return False
            return any(has_capability(request.user, c) for c in capabilities)

    HasCapability.__name__ = "HasCapability_" + "_".join(capabilities)
    return HasCapability
