from typing import Any

from django.http import HttpRequest

from .navigation import navigation_for
from .roles import ROLE_LABELS, Role, user_roles


def navigation(request: HttpRequest) -> dict[str, Any]:
    user = getattr(request, "user", None)
    roles = user_roles(user) if user is not None else set()
    labels = [ROLE_LABELS[Role(r)] for r in sorted(roles) if r in Role._value2member_map_]
    if user is not None and getattr(user, "is_superuser", False):
        labels.insert(0, "Administrator")
    return {"nav_items": navigation_for(request), "role_labels": labels}
