from typing import Any

from django.contrib.auth.decorators import login_not_required
from django.db import connection
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import redirect, render
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET

from .roles import has_capability


def home(request: HttpRequest) -> HttpResponse:
    """The signed-in landing page: what this role can do, as cards linking to its pages."""
    from .context_processors import navigation
    from .navigation import home_url_for

    if (url := home_url_for(request.user)) is not None:
        return redirect(url)
    return render(
        request,
        "common/home.html",
        {"cards": navigation(request)["nav_items"][1:], "admin_links": _admin_links(request)},
    )


# The administrator's home: where users, roles, tokens, partner webhooks and the audit checkpoints
# are managed (in the Django admin, where every change is recorded: history, role-change events).
ADMIN_LINKS = [
    ("Users", "admin:common_user_changelist", "Accounts, their station or team, and their roles."),
    ("Roles", "admin:auth_group_changelist", "The six roles and their capabilities (set by FamilyLink)."),
    (
        "API tokens",
        "admin:authtoken_tokenproxy_changelist",
        "Every user's API token, its age and expiry; revoke.",
    ),
    ("Partner webhooks", "admin:events_webhookendpoint_changelist", "Partner endpoints and every delivery."),
    (
        "Reason codes",
        "admin:separations_reasoncode_changelist",
        "Separation reason codes (retire, never delete).",
    ),
    ("Deadline policies", "admin:reunification_deadlinepolicy_changelist", "Court-ordered clocks."),
    ("Audit checkpoints", "admin:audit_chaincheckpoint_changelist", "Signed heads of the audit chains."),
]


def _admin_links(request: HttpRequest) -> list[dict[str, str]]:
    from django.urls import NoReverseMatch, reverse

    if not getattr(request.user, "is_staff", False):
        return []
    links = []
    for label, url_name, help_text in ADMIN_LINKS:
        try:
            links.append(
                {
                    "label": label,
                    "url": reverse(url_name),
                    "help": help_text,
                    "button": "Manage " + (label if label[:2].isupper() else label[0].lower() + label[1:]),
                }
            )
        except NoReverseMatch:
            continue
    return links


def _check_database() -> dict[str, Any]:
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
        return {"ok": True}
    except Exception as exc:  # noqa: BLE001 - health reports any failure as text
        return {"ok": False, "error": str(exc)}


def _check_redis() -> dict[str, Any]:
    from django.conf import settings
    from redis import Redis

    try:
        Redis.from_url(settings.REDIS_URL, socket_timeout=2).ping()
        return {"ok": True}
    except Exception as exc:  # noqa: BLE001
        return {"ok": False, "error": str(exc)}


def _check_celery() -> dict[str, Any]:
    from familylink.celery import app

    try:
        replies = app.control.ping(timeout=1.0)
    except Exception as exc:  # noqa: BLE001
        return {"ok": False, "error": str(exc)}
    workers = sorted(name for reply in replies for name in reply)
    if not workers:
        return {"ok": False, "error": "No Celery worker answered within 1 second.", "workers": []}
    return {"ok": True, "workers": workers}


@login_not_required
@never_cache
@require_GET
def health(request: HttpRequest) -> JsonResponse:
    """Database, Redis and Celery worker status; 503 when any is down.

    Without sign-in (a load balancer, a monitor) the answer is only "ok" or "not ok": the details
    (error texts, worker names) are for signed-in administrators.
    """
    checks = {"database": _check_database(), "redis": _check_redis(), "celery": _check_celery()}
    ok = all(c["ok"] for c in checks.values())
    status = 200 if ok else 503
    if not (request.user.is_authenticated and request.user.is_staff):
        return JsonResponse({"status": "ok" if ok else "not ok"}, status=status)
    return JsonResponse({"status": "ok" if ok else "degraded", "checks": checks}, status=status)


__all__ = ["home", "health", "has_capability"]
