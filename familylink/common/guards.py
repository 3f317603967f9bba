"""Hostile input stops at the door of the API, once, for every endpoint (rule 3: never a 500).

- `ApiGuardMiddleware` (outermost): gives each request an id (`X-Request-ID`); refuses a body over
  `API_MAX_BODY_BYTES` with a JSON 413 and query parameters holding NUL or control characters or
  impossible dates with a 400 keyed by the parameter; turns every non-JSON error page under
  `/api/` (unknown path, 405, 413, 429, 500 — also Django's debug pages) into JSON with the
  request id and no traceback; a request that failed because PostgreSQL could not be reached
  (`OperationalError`/`InterfaceError`, e.g. during a restart) is a JSON 503 with `Retry-After`.
- `GuardedJSONParser`: JSON nested deeper than `MAX_DEPTH`, text with NUL or control characters
  and dates outside 1900–2100 anywhere in the body are a 400 keyed by the field's path.
"""

import logging
import re
import sys
import uuid
from collections.abc import Callable, Mapping
from typing import Any

from django.conf import settings
from django.core.signals import got_request_exception
from django.db import InterfaceError, OperationalError
from django.http import HttpRequest, HttpResponse, JsonResponse
from rest_framework.exceptions import ParseError
from rest_framework.parsers import FormParser, JSONParser, MultiPartParser

from .dates import MAX_YEAR, MIN_DATE_YEAR, MIN_YEAR
from .errors import ValidationFailed

logger = logging.getLogger("familylink.api")

MAX_DEPTH = 32
# C0 controls and DEL, except tab, line feed and carriage return that text may hold.
CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
DATE_LIKE = re.compile(
    r"^\s*(?P<year>[+-]?\d{4,})-\d{1,2}-\d{1,2}"
    r"([T ]\d{1,2}:\d{2}(:\d{2}(\.\d+)?)?\s*(Z|[+-]\d{2}(:?\d{2})?)?)?\s*$",
    re.IGNORECASE,
)
REQUEST_ID = re.compile(r"^[A-Za-z0-9._-]{8,64}$")

STATUS_DETAIL = {
    400: "The request is malformed.",
    401: "Sign in or send Authorization: Token <token>.",
    403: "Your role does not allow this action.",
    404: "No such API endpoint or record; see /api/docs/ for the endpoints.",
    405: "This method is not allowed on this endpoint.",
    413: "The request body is too large.",
    429: "Too many requests; wait and try again.",
    500: "Something went wrong on our side; the error was logged with this request id.",
    503: "The database is unavailable for a moment; try again in a few seconds.",
}
DATABASE_UNAVAILABLE = (OperationalError, InterfaceError)
RETRY_AFTER_SECONDS = "5"


def _note_database_unavailable(sender: Any, request: HttpRequest | None = None, **kwargs: Any) -> None:
    """Django sends this while it turns an uncaught exception into a 500; mark the request when the
    exception was the database being out of reach, so the guard answers 503 instead."""
    if request is not None and isinstance(sys.exc_info()[1], DATABASE_UNAVAILABLE):
        request.database_unavailable = True  # type: ignore[attr-defined]


got_request_exception.connect(
    _note_database_unavailable, dispatch_uid="familylink.guards.database_unavailable"
)


def text_problem(value: str) -> str | None:
    """What is wrong with a piece of text a client sent, or None."""
    if CONTROL.search(value):
        return "Remove the control characters (such as NUL) from this text."
    match = DATE_LIKE.match(value)
    if match:
        year = int(match.group("year"))
        if year > MAX_YEAR:
            return f"This date is in the future; use a date between {MIN_YEAR} and {MAX_YEAR}."
        floor = MIN_YEAR if match.group(2) else MIN_DATE_YEAR  # a time of day: time zone arithmetic
        if year < floor:
            return f"This date is before {floor}; use a date between {floor} and {MAX_YEAR}."
    return None


def check_tree(data: Any) -> dict[str, list[str]]:
    """Every text in a parsed body checked, errors keyed by the contract's paths; depth bounded."""
    errors: dict[str, list[str]] = {}
    stack: list[tuple[Any, str, int]] = [(data, "", 0)]
    while stack:
        value, path, depth = stack.pop()
        if depth > MAX_DEPTH:
            errors.setdefault(path or "non_field_errors", []).append(
                f"Nested deeper than {MAX_DEPTH} levels; send a flatter document."
            )
            continue
        if isinstance(value, str):
            problem = text_problem(value)
            if problem:
                errors.setdefault(path or "non_field_errors", []).append(problem)
        elif isinstance(value, Mapping):
            for key, item in value.items():
                name = str(key)
                if CONTROL.search(name):
                    errors.setdefault(path or "non_field_errors", []).append(
                        "A field name holds control characters; use the field names of the API."
                    )
                    continue
                stack.append((item, f"{path}.{name}" if path else name, depth + 1))
        elif isinstance(value, list):
            for index, item in enumerate(value):
                stack.append((item, f"{path}[{index}]", depth + 1))
    return errors


class GuardedJSONParser(JSONParser):
    def parse(self, stream: Any, media_type: Any = None, parser_context: Any = None) -> Any:
        try:
            data = super().parse(stream, media_type, parser_context)
        except RecursionError as exc:
            raise ValidationFailed(
                {"non_field_errors": [f"Nested deeper than {MAX_DEPTH} levels; send a flatter document."]}
            ) from exc
        except ParseError as exc:
            # The decoder's message names a line and column, never a traceback.
            raise ValidationFailed({"non_field_errors": [f"Send valid JSON: {exc.detail}"]}) from exc
        errors = check_tree(data)
        if errors:
            raise ValidationFailed(errors)
        return data


class _QueryDictGuard:
    def parse(self, stream: Any, media_type: Any = None, parser_context: Any = None) -> Any:
        data = super().parse(stream, media_type, parser_context)  # type: ignore[misc]
        fields = data.data if hasattr(data, "data") else data
        errors = check_tree({k: fields.getlist(k) for k in fields})
        if errors:
            raise ValidationFailed({re.sub(r"\[\d+\]$", "", k): v for k, v in errors.items()})
        return data


class GuardedFormParser(_QueryDictGuard, FormParser):
    pass


class GuardedMultiPartParser(_QueryDictGuard, MultiPartParser):
    pass


def error_body(request: HttpRequest, status: int, detail: str | None = None) -> dict[str, Any]:
    return {
        "detail": detail or STATUS_DETAIL.get(status, "The request failed."),
        "request_id": getattr(request, "request_id", ""),
    }


class ApiGuardMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]):
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        sent = request.headers.get("X-Request-ID", "")
        request.request_id = sent if REQUEST_ID.match(sent) else uuid.uuid4().hex  # type: ignore[attr-defined]
        if request.path.startswith("/api/"):
            response = self._refuse(request) or self.get_response(request)
            response = self._as_json(request, response)
        else:
            response = self.get_response(request)
        response["X-Request-ID"] = request.request_id  # type: ignore[attr-defined]
        return response

    def _refuse(self, request: HttpRequest) -> HttpResponse | None:
        limit = getattr(settings, "API_MAX_BODY_BYTES", 1_000_000)
        try:
            length = int(request.META.get("CONTENT_LENGTH") or 0)
        except ValueError:
            length = 0
        if length > limit:
            return JsonResponse(
                error_body(request, 413, f"The request body is {length:,} bytes; send at most {limit:,}."),
                status=413,
            )
        errors = check_tree({k: request.GET.getlist(k) for k in request.GET})
        if errors:
            return JsonResponse({re.sub(r"\[\d+\]$", "", k): v for k, v in errors.items()}, status=400)
        return None

    def _as_json(self, request: HttpRequest, response: HttpResponse) -> HttpResponse:
        if response.status_code < 400 or "json" in response.get("Content-Type", ""):
            return response
        status = response.status_code
        if status == 500 and getattr(request, "database_unavailable", False):
            logger.warning("API %s %s: database unavailable, answered 503", request.method, request.path)
            unavailable = JsonResponse(error_body(request, 503), status=503)
            unavailable["Retry-After"] = RETRY_AFTER_SECONDS
            return unavailable
        if status >= 500:
            logger.error(
                "API %s %s answered %s (request %s)",
                request.method,
                request.path,
                status,
                getattr(request, "request_id", ""),
            )
        replacement = JsonResponse(error_body(request, status), status=status)
        for header in ("Allow", "WWW-Authenticate", "Retry-After"):
            if header in response:
                replacement[header] = response[header]
        return replacement
