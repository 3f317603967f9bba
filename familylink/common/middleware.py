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
