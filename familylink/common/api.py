"""API plumbing shared by every app: error mapping, ETag concurrency, the token endpoint."""

from typing import Any

from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.core.exceptions import ValidationError as DjangoValidationError
from rest_framework import exceptions, status
from rest_framework.authtoken.views import ObtainAuthToken
from rest_framework.permissions import AllowAny
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import exception_handler as drf_exception_handler

from .errors import BusinessRuleError, HardDeleteError, StaleVersionError, ValidationFailed


class PreconditionRequired(exceptions.APIException):
    status_code = status.HTTP_428_PRECONDITION_REQUIRED
    default_detail = "Send the record's ETag in an If-Match header; read the record first to get it."
    default_code = "precondition_required"


class PreconditionFailed(exceptions.APIException):
    status_code = status.HTTP_412_PRECONDITION_FAILED
    default_detail = "The record changed since you read it; read it again and reapply your change."
    default_code = "precondition_failed"


def _django_validation_errors(exc: DjangoValidationError) -> dict[str, list[str]]:
    if hasattr(exc, "error_dict"):
        return {field: [m for e in errs for m in e.messages] for field, errs in exc.error_dict.items()}
    return {"non_field_errors": list(exc.messages)}


def exception_handler(exc: Exception, context: dict[str, Any]) -> Response | None:
    """Map domain errors to the statuses of the API contract; one place for the whole API."""
    if isinstance(exc, ValidationFailed):
        return Response(exc.errors, status=status.HTTP_400_BAD_REQUEST)
    if isinstance(exc, DjangoValidationError):
        return Response(_django_validation_errors(exc), status=status.HTTP_400_BAD_REQUEST)
    if isinstance(exc, BusinessRuleError):
        return Response({"detail": str(exc)}, status=status.HTTP_409_CONFLICT)
    if isinstance(exc, HardDeleteError):
        return Response({"detail": str(exc)}, status=status.HTTP_405_METHOD_NOT_ALLOWED)
    if isinstance(exc, StaleVersionError):
        exc = PreconditionFailed(str(exc) or None)
    if isinstance(exc, DjangoPermissionDenied) and not isinstance(exc, exceptions.PermissionDenied):
        exc = exceptions.PermissionDenied(str(exc) or None)
    return drf_exception_handler(exc, context)


def check_if_match(request: Request, instance: Any) -> None:
    """Refuse a write without If-Match (428) or with a stale one (412)."""
    sent = request.headers.get("If-Match")
    if not sent:
        raise PreconditionRequired()
    if sent.strip() not in (instance.etag, instance.etag.strip('"'), "W/" + instance.etag):
        raise PreconditionFailed()


class ETagMixin:
    """Adds the record's ETag header to single-record responses."""

    def finalize_response(self, request: Request, response: Response, *args: Any, **kwargs: Any) -> Response:
        response = super().finalize_response(request, response, *args, **kwargs)  # type: ignore[misc]
        instance = getattr(self, "_etag_instance", None)
        if instance is not None and 200 <= response.status_code < 300:
            response["ETag"] = instance.etag
        return response


class TokenView(ObtainAuthToken):
    """`POST /api/v1/auth/token/` with `{"username", "password"}` → `{"token"}`."""

    permission_classes = [AllowAny]
    renderer_classes = ObtainAuthToken.renderer_classes

    def post(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        serializer = self.serializer_class(data=request.data, context={"request": request})
        serializer.is_valid(raise_exception=True)
        user = serializer.validated_data["user"]
        from rest_framework.authtoken.models import Token

        from .auth import token_expires_at, token_is_expired

        token, _ = Token.objects.get_or_create(user=user)
        if token_is_expired(token):
            # An expired token is replaced, never extended: a leaked old key stays useless.
            token.delete()  # history-safe: API tokens are access configuration, not case data
            token = Token.objects.create(user=user)
        return Response({"token": token.key, "expires_at": token_expires_at(token)})
