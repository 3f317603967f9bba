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
    return render(request, "common/home.html", {"cards": navigation(request)["nav_items"][1:]})


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
    """Database, Redis and Celery worker status; 503 when any is down."""
    checks = {"database": _check_database(), "redis": _check_redis(), "celery": _check_celery()}
    ok = all(c["ok"] for c in checks.values())
    return JsonResponse({"status": "ok" if ok else "degraded", "checks": checks}, status=200 if ok else 503)


__all__ = ["home", "health", "has_capability"]
