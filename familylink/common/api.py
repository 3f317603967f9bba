"""The one dialect of FamilyLink's API: every endpoint of every app is built on `ApiView` or `ApiViewSet`.

In one place: the capability check (`capabilities`, per method or action in `capabilities_for`),
405 for a method the endpoint does not offer (every DELETE on case data) before any role check,
input validation through a serializer (`validated`, a 400 keyed by the contract's field paths),
ETag / If-Match, a bounded paginator, and the mapping of domain errors to HTTP statuses.
Apps write no plumbing of their own.
"""

import difflib
import re
from collections.abc import Mapping, Sequence
from datetime import date, datetime
from typing import Any, TypeVar

from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.core.exceptions import ValidationError as DjangoValidationError
from django.http import Http404
from django.utils import timezone
from drf_spectacular.utils import extend_schema
from rest_framework import exceptions, serializers, status
from rest_framework.authtoken.serializers import AuthTokenSerializer
from rest_framework.fields import SkipField, empty
from rest_framework.generics import GenericAPIView
from rest_framework.permissions import AllowAny, BasePermission, IsAuthenticated
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import exception_handler as drf_exception_handler
from rest_framework.viewsets import GenericViewSet

from . import idempotency
from .dates import MAX_YEAR, MIN_YEAR, check_year
from .errors import BusinessRuleError, HardDeleteError, StaleVersionError, ValidationFailed
from .pagination import MAX_PAGE, BoundedPageNumberPagination, page_number
from .permissions import capability_permission

__all__ = ["MAX_PAGE", "BoundedPageNumberPagination", "check_year", "page_number"]

T = TypeVar("T")

NO_DELETE_DETAIL = (
    "Nothing is deleted in FamilyLink (rule 1). "
    "To correct a record, change it with PATCH and a change_reason."
)


class PreconditionRequired(exceptions.APIException):
    status_code = status.HTTP_428_PRECONDITION_REQUIRED
    default_detail = "Send the record's ETag in an If-Match header; read the record first to get it."
    default_code = "precondition_required"


class PreconditionFailed(exceptions.APIException):
    status_code = status.HTTP_412_PRECONDITION_FAILED
    default_detail = "The record changed since you read it; read it again and reapply your change."
    default_code = "precondition_failed"


# --- errors ------------------------------------------------------------------------------------


def flatten_errors(detail: Any, prefix: str = "") -> dict[str, list[str]]:
    """DRF's nested errors as the contract's field paths: `persons[1].a_number`, `checklist[0].step`."""
    if isinstance(detail, Mapping):
        out: dict[str, list[str]] = {}
        for key, value in detail.items():
            if isinstance(key, int):  # a ListField's errors by position
                out.update(flatten_errors(value, f"{prefix}[{key}]"))
                continue
            name = str(key)
            if name == "non_field_errors" and prefix:
                name = ""
            out.update(flatten_errors(value, f"{prefix}.{name}" if prefix and name else prefix or name))
        return out
    if isinstance(detail, list) and detail and all(isinstance(d, Mapping | list) for d in detail):
        out = {}
        for index, value in enumerate(detail):
            if value:
                out.update(flatten_errors(value, f"{prefix}[{index}]"))
        return out
    messages = detail if isinstance(detail, list) else [detail]
    return {prefix or "non_field_errors": [str(m) for m in messages]} if messages else {}


def _django_validation_errors(exc: DjangoValidationError) -> dict[str, list[str]]:
    if hasattr(exc, "error_dict"):
        return {field: [m for e in errs for m in e.messages] for field, errs in exc.error_dict.items()}
    return {"non_field_errors": list(exc.messages)}


def request_id_of(request: Any) -> str:
    return str(getattr(getattr(request, "_request", request), "request_id", "") or "")


def exception_handler(exc: Exception, context: dict[str, Any]) -> Response | None:
    """Map domain errors to the statuses of the API contract; one place for the whole API."""
    if isinstance(exc, ValidationFailed):
        return Response(exc.errors, status=status.HTTP_400_BAD_REQUEST)
    if isinstance(exc, DjangoValidationError):
        return Response(_django_validation_errors(exc), status=status.HTTP_400_BAD_REQUEST)
    if isinstance(exc, exceptions.ValidationError):
        return Response(flatten_errors(exc.detail), status=status.HTTP_400_BAD_REQUEST)
    if isinstance(exc, BusinessRuleError):
        exc = exceptions.APIException(str(exc))
        exc.status_code = status.HTTP_409_CONFLICT
    elif isinstance(exc, HardDeleteError):
        exc = exceptions.MethodNotAllowed("DELETE", detail=str(exc))
    elif isinstance(exc, StaleVersionError):
        exc = PreconditionFailed(str(exc) or None)
    elif isinstance(exc, DjangoPermissionDenied) and not isinstance(exc, exceptions.PermissionDenied):
        exc = exceptions.PermissionDenied(str(exc) or None)
    elif isinstance(exc, Http404):
        exc = exceptions.NotFound(str(exc) or None)
    response = drf_exception_handler(exc, context)
    if response is not None and isinstance(response.data, dict) and "detail" in response.data:
        response.data["request_id"] = request_id_of(context.get("request"))
    return response


# --- fields ------------------------------------------------------------------------------------


class AwareDateTimeField(serializers.DateTimeField):
    """ISO 8601 with its offset, between 1900 and 2100; a time without offset is refused."""

    default_error_messages = {
        "invalid": "Enter a date and time with its offset, e.g. 2018-06-01T14:00:00-06:00.",
        "naive": "Include the time zone offset, e.g. 2018-06-01T14:00:00-06:00.",
        "year": f"Use a date between {MIN_YEAR} and {MAX_YEAR}.",
    }

    def to_internal_value(self, value: Any) -> datetime:
        if isinstance(value, str):
            # A `+` left unescaped in a query string arrives as a space.
            value = re.sub(r" (\d{2}:?\d{2})$", r"+\1", value.strip())
            try:
                parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
            except ValueError:
                self.fail("invalid")
            if timezone.is_naive(parsed):
                self.fail("naive")
        result = super().to_internal_value(value)
        if not MIN_YEAR <= result.year <= MAX_YEAR:
            self.fail("year")
        return result


class BoundedDateField(serializers.DateField):
    default_error_messages = {"year": f"Use a date between {MIN_YEAR} and {MAX_YEAR}."}

    def to_internal_value(self, value: Any) -> date:
        result = super().to_internal_value(value)
        if not MIN_YEAR <= result.year <= MAX_YEAR:
            self.fail("year")
        return result


class CodeChoiceField(serializers.ChoiceField):
    """One of `choices`; a refused value is answered naming every accepted code (rule 3)."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.error_messages["invalid_choice"] = (
            f'"{{input}}" is not accepted; use one of {", ".join(str(c) for c in self.choices)}.'
        )


def filter_choice_messages(choices: Any) -> dict[str, str]:
    """`error_messages` of a django-filter `ChoiceFilter`: a refused value names every accepted code."""
    accepted = ", ".join(str(value) for value, _ in choices)
    return {"invalid_choice": f"%(value)s is not accepted; use one of {accepted}."}


FILTER_DATE_MESSAGES = {"invalid": "Write the date as YYYY-MM-DD, e.g. 2018-06-01."}


def not_a_field_message(name: str, accepted: Sequence[str], of: str) -> str:
    """A field a request body may not carry, refused by name with the accepted ones (rule 3)."""
    close = difflib.get_close_matches(name, accepted, n=1)
    fix = f"did you mean {close[0]}? Correct its name" if close else "correct its name"
    shown = name[:40] or '""'
    return f"{shown} is not a field of {of}; {fix} or remove it. Accepted fields: {', '.join(accepted)}."


# A request body of its named fields only: `validated` and `validated_partly` refuse any other field
# by its path (`persons[1].secnd_surname`), so a misspelt optional field is never dropped unseen.
class ClosedInput(serializers.Serializer):
    closed_as = "this request"  # what the body is, in the message: "a person", "a custody transfer"

    def accepted_fields(self) -> list[str]:
        return [name for name, field in self.fields.items() if not field.read_only]

    def unknown_field_message(self, name: str) -> str | None:
        return not_a_field_message(name, self.accepted_fields(), self.closed_as)


def without(data: Mapping[str, T], *keys: str) -> dict[str, T]:
    """`data` less `keys`: the rest goes to a service as keyword arguments."""
    return {k: v for k, v in data.items() if k not in keys}


# --- the base views ----------------------------------------------------------------------------


class ApiDialect:
    """What every endpoint shares; mixed into `ApiView` and `ApiViewSet`.

    `capabilities`: who may call any offered method; `capabilities_for` refines it per action
    (viewsets: `list`, `retrieve`, `partial_update`, an `@action`'s name) or per HTTP method.
    Empty capabilities with `public = True` serve anyone (the token endpoint); otherwise nobody.
    """

    capabilities: tuple[str, ...] = ()
    capabilities_for: dict[str, tuple[str, ...]] = {}
    authenticated_only = False  # reference data: any signed-in user
    public = False
    # The 404 of `get_object`, the same for an unknown id, a malformed one and one out of scope.
    not_found = "No record with this id, or not one you may see."

    def get_permissions(self) -> list[BasePermission]:
        if self.public:
            return [AllowAny()]
        if self.authenticated_only:
            return [IsAuthenticated()]
        request: Request = self.request  # type: ignore[attr-defined]
        method = "GET" if request.method in ("HEAD", "OPTIONS") else (request.method or "")
        action = getattr(self, "action", None)
        wanted = self.capabilities_for.get(action or "", self.capabilities_for.get(method, self.capabilities))
        if not wanted:
            return [IsAuthenticated(), _Nobody()]
        return [capability_permission(*wanted)()]

    def get_object(self) -> Any:
        try:
            return super().get_object()  # type: ignore[misc]
        except Http404 as exc:  # DRF's words name a model class ("No Station matches…") or nothing
            raise exceptions.NotFound(self.not_found) from exc

    def offers(self, method: str) -> bool:
        name = method.lower()
        return name in self.http_method_names and hasattr(self, name)  # type: ignore[attr-defined]

    def dispatch(self, request: Any, *args: Any, **kwargs: Any) -> Any:
        # A POST with an Idempotency-Key runs in one transaction with its kept answer (idempotency.py).
        with idempotency.atomic_if_asked(request):
            return super().dispatch(request, *args, **kwargs)  # type: ignore[misc]

    def initial(self, request: Request, *args: Any, **kwargs: Any) -> None:
        # A method the endpoint does not offer is 405 for any signed-in caller, before the role
        # check could answer 403: every DELETE on case data is refused the same way (rule 1).
        if not self.offers(request.method or ""):
            self.perform_authentication(request)  # type: ignore[attr-defined]
            if not self.public and not (request.user and request.user.is_authenticated):
                raise exceptions.NotAuthenticated()
            detail = NO_DELETE_DETAIL if request.method == "DELETE" else None
            raise exceptions.MethodNotAllowed(request.method or "", detail=detail)
        super().initial(request, *args, **kwargs)  # type: ignore[misc]
        # Signed in and allowed: a keyed POST done before is answered from what was kept.
        self._idempotency = (
            idempotency.claim(request) if idempotency.asked(request) and not self.public else None
        )

    def handle_exception(self, exc: Exception) -> Response:
        if isinstance(exc, idempotency.Replay):
            return exc.response()
        return super().handle_exception(exc)  # type: ignore[misc]

    def validated(
        self, serializer_class: type[serializers.Serializer], request: Request, **context: Any
    ) -> dict[str, Any]:
        """The request body, validated and shaped by `serializer_class`; else a 400 keyed by field."""
        return validated(serializer_class, request.data, context={"request": request, **context})

    def validated_partly(
        self, serializer_class: type[serializers.Serializer], request: Request, **context: Any
    ) -> tuple[dict[str, Any], dict[str, list[str]]]:
        """The valid fields of the body and the errors of the others (see `validated_partly`)."""
        return validated_partly(serializer_class, request.data, context={"request": request, **context})

    def validated_query(
        self, serializer_class: type[serializers.Serializer], request: Request
    ) -> dict[str, Any]:
        """The query parameters, validated by `serializer_class`; else a 400 keyed by parameter."""
        return validated(serializer_class, request.query_params, context={"request": request})

    def with_etag(self, instance: Any) -> Any:
        """Mark `instance` as the record this response shows: its ETag goes in the header."""
        self._etag_instance = instance
        return instance

    def check_if_match(self, request: Request, instance: Any, *, required: bool = True) -> int | None:
        """Refuse a stale If-Match (412) or, when `required`, a missing one (428); the version checked."""
        return check_if_match(request, instance, required=required)

    def finalize_response(self, request: Request, response: Response, *args: Any, **kwargs: Any) -> Response:
        response = super().finalize_response(request, response, *args, **kwargs)  # type: ignore[misc]
        instance = getattr(self, "_etag_instance", None)
        if instance is not None and 200 <= response.status_code < 300:
            response["ETag"] = instance.etag
        claim = getattr(self, "_idempotency", None)
        if claim is not None:
            idempotency.keep(claim, response)
        return response


def check_if_match(request: Request, instance: Any, *, required: bool = True) -> int | None:
    """Refuse a stale If-Match (412) or, when `required`, a missing one (428); the version checked."""
    sent = request.headers.get("If-Match")
    if not sent:
        if required:
            raise PreconditionRequired()
        return None
    if sent.strip() not in (instance.etag, instance.etag.strip('"'), "W/" + instance.etag):
        raise PreconditionFailed()
    return int(instance.version)


class _Nobody(BasePermission):
    message = "Your role does not allow this action."

    def has_permission(self, request: Request, view: Any) -> bool:
        return False


def validated(
    serializer_class: type[serializers.Serializer], data: Any, *, context: dict[str, Any] | None = None
) -> dict[str, Any]:
    """Run `serializer_class` over `data`; a 400 keyed by the contract's field paths when invalid."""
    if not isinstance(data, Mapping):
        raise ValidationFailed({"non_field_errors": ["Send a JSON object."]})
    serializer = serializer_class(data=data, context=context or {})
    errors = {} if serializer.is_valid() else flatten_errors(serializer.errors)
    _refuse_unknown_within(serializer, data, "", errors)
    if errors:
        raise ValidationFailed(errors)
    return dict(serializer.validated_data)


def _refuse_unknown_within(
    serializer: serializers.Serializer, data: Mapping[str, Any], path: str, errors: dict[str, list[str]]
) -> None:
    """`_refuse_unknown` for `serializer` and every nested object and list item in `data`."""
    _refuse_unknown(serializer, data, path, errors)
    for name, field in serializer.fields.items():
        sent = data.get(name) if not field.read_only else None
        if isinstance(field, serializers.ListSerializer) and isinstance(sent, list):
            for index, item in enumerate(sent):
                if isinstance(item, Mapping) and isinstance(field.child, serializers.Serializer):
                    _refuse_unknown_within(field.child, item, f"{_join(path, name)}[{index}]", errors)
        elif isinstance(field, serializers.Serializer) and isinstance(sent, Mapping):
            _refuse_unknown_within(field, sent, _join(path, name), errors)


def _refuse_unknown(
    serializer: serializers.Serializer, data: Mapping[str, Any], path: str, errors: dict[str, list[str]]
) -> None:
    """Each field of `data` that `serializer` does not name and refuses (`unknown_field_message`),
    as an error at its path."""
    refuse = getattr(serializer, "unknown_field_message", None)
    if refuse is None:
        return
    for name in data:
        message = None if name in serializer.fields else refuse(name)
        if message:
            errors.setdefault(_join(path, str(name)), []).append(message)


def validated_partly(
    serializer_class: type[serializers.Serializer], data: Any, *, context: dict[str, Any] | None = None
) -> tuple[dict[str, Any], dict[str, list[str]]]:
    """Each field of `serializer_class` checked on its own, nested objects and lists item by item:
    the values and the errors by the contract's field paths (`persons[1].date_of_birth`).

    For input a service checks further: the view passes the values on with `with_every_error`,
    so one response names every problem (never one per round). A value refused here arrives as
    None, and the service reports only what else is wrong. Presence is the service's to check, in
    its words: a required field that is absent arrives as None too (the schema still says required).
    A serializer, nested or not, may name fields it refuses (`unknown_field_message`, `ClosedInput`).
    """
    if not isinstance(data, Mapping):
        raise ValidationFailed({"non_field_errors": ["Send a JSON object."]})
    errors: dict[str, list[str]] = {}
    values = _object_partly(serializer_class(context=context or {}), data, "", errors)
    return values, errors


def _object_partly(
    serializer: serializers.Serializer, data: Mapping[str, Any], path: str, errors: dict[str, list[str]]
) -> dict[str, Any]:
    values: dict[str, Any] = {}
    for name, field in serializer.fields.items():
        if field.read_only:
            continue
        source = field.source or name
        sent = field.get_value(data)
        if sent is empty and field.required:
            values[source] = None
            continue
        try:
            values[source] = _value_partly(field, sent, _join(path, name), errors)
        except SkipField:
            continue
    _refuse_unknown(serializer, data, path, errors)
    return values


def _value_partly(field: Any, sent: Any, path: str, errors: dict[str, list[str]]) -> Any:
    try:
        if isinstance(field, serializers.ListSerializer) and sent is not empty:
            if sent is None or sent == "":  # a list not given
                return None
            if isinstance(sent, str | Mapping) or not hasattr(sent, "__iter__"):
                field.fail("not_a_list", input_type=type(sent).__name__)
            return [_value_partly(field.child, item, f"{path}[{i}]", errors) for i, item in enumerate(sent)]
        if isinstance(field, serializers.Serializer) and sent is not empty:
            if not isinstance(sent, Mapping):
                field.fail("invalid", datatype=type(sent).__name__)
            return _object_partly(field, sent, path, errors)
        return field.run_validation(sent)
    except exceptions.ValidationError as exc:
        errors.update(flatten_errors(exc.detail, path))
        return None


def _join(path: str, name: str) -> str:
    return f"{path}.{name}" if path else name


class ApiView(ApiDialect, GenericAPIView):  # type: ignore[misc]
    """An endpoint with its handlers written as `get`, `post`, `patch`."""


class ApiViewSet(ApiDialect, GenericViewSet):  # type: ignore[misc]
    """A router-registered resource; only the actions it defines are offered (and in the schema)."""


class TokenRequestSerializer(AuthTokenSerializer):
    # No account has a longer username; a longer one would overflow the sign-in lockout's record
    # of the failed attempt (a 500), so it is refused before anyone tries to sign in with it.
    username = serializers.CharField(
        label="Username",
        write_only=True,
        max_length=150,
        error_messages={"max_length": "A username has at most {max_length} characters; check it."},
    )


class TokenView(ApiView):
    """`POST /api/v1/auth/token/` with `{"username", "password"}` → `{"token"}`."""

    public = True
    serializer_class = TokenRequestSerializer

    class OutputSerializer(serializers.Serializer):
        token = serializers.CharField()
        expires_at = serializers.DateTimeField(help_text="The token is refused after this; ask again.")

    @extend_schema(request=TokenRequestSerializer, responses=OutputSerializer, summary="Get an API token")
    def post(self, request: Request) -> Response:
        from rest_framework.authtoken.models import Token

        from .auth import token_expires_at, token_is_expired

        data = self.validated(TokenRequestSerializer, request)
        user = data["user"]
        token, _ = Token.objects.get_or_create(user=user)
        if token_is_expired(token):
            # An expired token is replaced, never extended: a leaked old key stays useless.
            token.delete()  # history-safe: API tokens are access configuration, not case data
            token = Token.objects.create(user=user)
        return Response({"token": token.key, "expires_at": token_expires_at(token)})
