"""Denied requests are security events: every 403 answered to a signed-in user is in the access log."""

from collections.abc import Callable

from django.http import HttpRequest, HttpResponse


class DeniedAccessLogMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]):
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        response = self.get_response(request)
        if response.status_code == 403:
            from .security import security_event_record

            user = getattr(request, "user", None)
            # DRF authenticates inside the view: its user is on the response's renderer context.
            drf_request = (
                getattr(response, "renderer_context", {}).get("request")
                if hasattr(response, "renderer_context")
                else None
            )
            user = getattr(drf_request, "user", user)
            security_event_record(
                action="denied",
                user=user,
                subject=user if getattr(user, "is_authenticated", False) else None,
                detail=f"{request.method} {request.path} refused (403)",
                path=request.path,
                channel="api" if request.path.startswith("/api/") else "web",
            )
        return response
