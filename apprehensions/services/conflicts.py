"""A-number conflicts with persons the user may not see: a message that reveals no one, and a
report for HQ sent after the refused write is rolled back.

A service that finds such a conflict calls `a_number_conflict_noted(...)` (it adds the field error
with `out_of_scope_a_number_message` and remembers the conflict). The service is wrapped in
`@reports_a_number_conflicts`, outermost, outside its `@transaction.atomic`: when the call ends,
whatever way, the remembered conflicts are sent as `a_number_conflict_detected` (one signal per
conflict), after the atomic block has rolled back, so the receiver's record is kept. Nested wrapped
calls (the intake form validates, then records) report once, from the outermost call. A view that
runs such a service beside its own input errors uses `with_every_error_reported`, so the savepoint
that undoes the refused write does not undo HQ's record of the conflict.

A person the user may not see but who takes part in the write anyway (intake links a person by the
A-number the agent typed) is `person_withheld(...)`: the wrapper takes their name and birth date
out of every error message of the call, whichever rule wrote it.
"""

import functools
import logging
from collections.abc import Callable
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import Any, ParamSpec, TypeVar

from familylink.common.errors import ValidationFailed, with_every_error

from ..models import Person
from ..signals import a_number_conflict_detected

logger = logging.getLogger(__name__)
P = ParamSpec("P")
R = TypeVar("R")


@dataclass(frozen=True)
class ANumberConflict:
    a_number: str
    existing_person: Person
    attempted_by: Any
    context: str
    other_person: Person | None = None


@dataclass
class _Scope:
    """What the outermost reporting call collects: conflicts to send, persons not to reveal."""

    conflicts: list[ANumberConflict] = field(default_factory=list)
    withheld: dict[Any, Person] = field(default_factory=dict)


_scope: ContextVar[_Scope | None] = ContextVar("a_number_conflicts", default=None)


INTAKE_FIX = (
    "If the person in front of you holds this A-number, record them as the person on file instead of "
    "as new; otherwise correct the A-number or leave it blank."
)
EDIT_FIX = "Check the number against the person's documents and correct it, or keep the A-number as it was."


def out_of_scope_a_number_message(a_number: str, *, fix: str) -> str:
    """The words for a conflict with a person the user cannot see: no name, no birth date, no station."""
    return (
        f"A-number {a_number} is already on file for a person you cannot see (not encountered at your "
        f"station), and one A-number never belongs to two people. {fix} Nothing was saved; HQ has been "
        "told of the conflict and will resolve it."
    )


def out_of_scope_relative_message(a_number: str) -> str:
    """A relationship asked for with a person the user cannot see: say so, reveal no one."""
    return (
        f"A-number {a_number} is on file for a person you cannot see (not encountered at your station); "
        "you record relationships between persons of your station. Ask HQ to record this one."
    )


def a_number_conflict_noted(
    *,
    a_number: str,
    existing_person: Person,
    attempted_by: Any,
    context: str,
    other_person: Person | None = None,
) -> None:
    """Remember a conflict for HQ; it is sent when the outermost reporting call ends."""
    scope = _scope.get()
    conflict = ANumberConflict(a_number, existing_person, attempted_by, context, other_person)
    if scope is None:
        _send([conflict])
    elif conflict not in scope.conflicts:
        scope.conflicts.append(conflict)


def person_withheld(person: Person) -> None:
    """`person` takes part in this write but the user may not see them (matched by an A-number the
    user typed): any error message of the call says "the person on file with A-number …" instead of
    their name, and "withheld" instead of their date of birth."""
    scope = _scope.get()
    if scope is not None and person.pk is not None:
        scope.withheld[person.pk] = person


def _redact(text: str, persons: list[Person]) -> str:
    for person in persons:
        label = (
            f"the person on file with A-number {person.a_number}" if person.a_number else "a person on file"
        )
        for name in {person.full_name, " ".join(person.full_name.split())}:
            if name.strip():
                text = text.replace(name, label)
        if person.date_of_birth is not None:
            text = text.replace(person.date_of_birth.isoformat(), "withheld")
    return text


def _redact_errors(exc: ValidationFailed, persons: list[Person]) -> None:
    exc.errors = {path: [_redact(m, persons) for m in msgs] for path, msgs in exc.errors.items()}
    exc.args = ("; ".join(f"{k}: {' '.join(v)}" for k, v in exc.errors.items()),)


def _send(conflicts: list[ANumberConflict]) -> None:
    """send_robust: a failing receiver is logged, and never turns the user's 400 into a 500."""
    for c in conflicts:
        results = a_number_conflict_detected.send_robust(
            sender=Person,
            a_number=c.a_number,
            existing_person=c.existing_person,
            attempted_by=c.attempted_by,
            context=c.context,
            other_person=c.other_person,
        )
        for receiver, result in results:
            if isinstance(result, Exception):
                logger.error(
                    "a_number_conflict_detected receiver %r failed for %s",
                    receiver,
                    c.a_number,
                    exc_info=result,
                )


def with_every_error_reported(errors: dict[str, list[str]], service: Any, /, **kwargs: Any) -> Any:
    """`with_every_error` for a service that notes A-number conflicts: the conflicts are sent after
    the savepoint that undoes the refused write is rolled back, so HQ's record of them is kept."""
    return reports_a_number_conflicts(with_every_error)(errors, service, **kwargs)


def reports_a_number_conflicts(fn: Callable[P, R]) -> Callable[P, R]:
    """Send the conflicts `fn` noted once it has returned or raised (outside its transaction)."""

    @functools.wraps(fn)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        if _scope.get() is not None:
            return fn(*args, **kwargs)
        scope = _Scope()
        token = _scope.set(scope)
        try:
            return fn(*args, **kwargs)
        except ValidationFailed as exc:
            if scope.withheld:
                _redact_errors(exc, list(scope.withheld.values()))
            raise
        finally:
            _scope.reset(token)
            _send(scope.conflicts)

    return wrapper
