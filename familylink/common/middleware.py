from collections.abc import Callable
from typing import Any

from django.contrib.auth.middleware import LoginRequiredMiddleware
from django.http import HttpRequest, HttpResponseBase


class DenyByDefaultMiddleware(LoginRequiredMiddleware):
    """Every page needs a signed-in user unless its view is marked `login_not_required`.

    The API is left to DRF, which answers 401 with `WWW-Authenticate` instead of a redirect.
    """

    def process_view(
        self, request: HttpRequest, view_func: Callable[..., Any], view_args: Any, view_kwargs: Any
    ) -> HttpResponseBase | None:
        if request.path.startswith("/api/"):
            return None
        return super().process_view(request, view_func, view_args, view_kwargs)


def checks_its_own_text(view: Callable[..., Any]) -> Callable[..., Any]:
    """Mark a page view that refuses control characters itself, beside the field at fault."""
    view.checks_its_own_text = True  # type: ignore[attr-defined]
    return view


class WebTextGuardMiddleware:
    """Pages refuse query or form text holding NUL or other control characters, naming each field.

    The API refuses them once, in `familylink.common.guards`; pages read their parameters in many
    places, and a NUL that reaches PostgreSQL is a 500. Nothing has run when this answers, so
    nothing was saved; the browser's Back button returns to the form as it was filled in.
    """

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponseBase]):
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponseBase:
        return self.get_response(request)

    def process_view(
        self, request: HttpRequest, view_func: Callable[..., Any], view_args: Any, view_kwargs: Any
    ) -> HttpResponseBase | None:
        if request.path.startswith("/api/") or getattr(view_func, "checks_its_own_text", False):
            return None
        from django.shortcuts import render

        from .guards import CONTROL

        fields = []
        for data in (request.GET, *([request.POST] if request.method == "POST" else [])):
            for name in data:
                if CONTROL.search(name) or any(CONTROL.search(v) for v in data.getlist(name)):
                    fields.append(CONTROL.sub("", name) or "(a field name)")
        if not fields:
            return None
        return render(
            request,
            "400_control_characters.html",
            {"fields": fields, "saving": request.method == "POST"},
            status=400,
        )
