"""Domain errors. The API maps them to HTTP statuses in one place (familylink.common.api)."""

from typing import Any

from django.core.exceptions import PermissionDenied as DjangoPermissionDenied


class DomainError(Exception):
    """Base of the errors services raise for the user to read."""


class BusinessRuleError(DomainError):
    """The request is well formed but conflicts with the state of the records (HTTP 409)."""


class PermissionDenied(DjangoPermissionDenied):
    """The user's role or scope does not allow this action (HTTP 403)."""


class ValidationFailed(DomainError):
    """Input is invalid; `errors` maps field paths to readable messages (HTTP 400).

    Field paths follow the API contract: `persons[1].a_number`, `relationships[0].to`.
    """

    def __init__(self, errors: dict[str, list[str]]):
        self.errors = errors
        super().__init__("; ".join(f"{k}: {' '.join(v)}" for k, v in errors.items()))


class HardDeleteError(DomainError):
    """FamilyLink never hard-deletes case data; withdraw a record with a status change instead."""


class StaleVersionError(DomainError):
    """The record changed since the client read it (HTTP 412)."""


def merge_errors(*sources: dict[str, list[str]]) -> dict[str, list[str]]:
    """Field errors of several checks as one dict; the first source's message for a field stands."""
    merged: dict[str, list[str]] = {}
    for source in sources:
        for field, messages in source.items():
            merged.setdefault(field, list(messages))
    return merged


def with_every_error(errors: dict[str, list[str]], service: Any, /, **kwargs: Any) -> Any:
    """Call `service` even though the input already has `errors`, so one round reports them all.

    The shape checks (form or serializer) found `errors`; the service names what else is wrong
    (an unknown reason, persons not linked). Both come back at once. When the service would have
    succeeded despite `errors`, its writes are rolled back: the request saves nothing.
    """
    from django.db import transaction

    if not errors:
        # Nothing to roll back for: no savepoint, and what the service sends after its own
        # rollback (an A-number conflict for HQ) is not undone by one.
        return service(**kwargs)
    try:
        with transaction.atomic():
            service(**kwargs)
            raise ValidationFailed(errors)
    except ValidationFailed as exc:
        raise ValidationFailed(merge_errors(errors, exc.errors)) from exc
