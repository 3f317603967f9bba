"""Domain errors. The API maps them to HTTP statuses in one place (familylink.common.api)."""

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
