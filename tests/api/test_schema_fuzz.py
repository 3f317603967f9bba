"""The generated schema tells the truth: schemathesis fuzzes every operation as each of the six roles.

Any 5xx, any response that contradicts the schema (status, content type, body), fails the test.
Runs in-process through the WSGI application against the real PostgreSQL test database, on the
demo scenario (persons, separations, cases, worklists), with a bounded number of examples.
"""

import pytest
import schemathesis
from django.core.management import call_command
from django.core.signals import request_finished, request_started
from django.core.wsgi import get_wsgi_application
from django.db import close_old_connections
from hypothesis import HealthCheck, Phase, given, settings
from rest_framework.authtoken.models import Token
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

pytestmark = pytest.mark.django_db

ROLES = ["field_agent", "supervisor", "hq_analyst", "coordinator", "auditor", "partner_agency"]
CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance, response_schema_conformance]
EXAMPLES_PER_OPERATION = 5


@pytest.fixture
def seeded(users):
    call_command("seed_demo", "--no-users", "--scale", "60", verbosity=0)
    return users


@pytest.fixture
def wsgi_app():
    """The WSGI application, keeping the test's database connection open between requests
    (as Django's test client does: the handler would otherwise close it after each request)."""
    request_started.disconnect(close_old_connections)
    request_finished.disconnect(close_old_connections)
    yield get_wsgi_application()
    request_started.connect(close_old_connections)
    request_finished.connect(close_old_connections)


@pytest.mark.parametrize("role", ROLES)
def test_schema_holds_for_every_operation_as_each_role(seeded, wsgi_app, role):
    """Fuzzed requests of every operation, as `role`: no 5xx, every response as the schema says."""
    token, _ = Token.objects.get_or_create(user=seeded[role])
    headers = {"Authorization": f"Token {token.key}"}
    schema = schemathesis.openapi.from_wsgi("/api/schema/", wsgi_app, headers=headers)
    failures: dict[str, str] = {}
    for result in schema.get_all_operations():
        operation = result.ok()
        try:
            fuzz(operation, headers)()
        except (Exception, BaseExceptionGroup) as exc:  # noqa: BLE001 - all collected, reported together
            failures[operation.label] = _summary(exc)
    assert not failures, "\n\n".join(f"{label}:\n{message}" for label, message in failures.items())


def fuzz(operation, headers):
    """A Hypothesis test of one operation: bounded, reproducible, no shrinking (time)."""

    @settings(
        max_examples=EXAMPLES_PER_OPERATION,
        deadline=None,
        derandomize=True,
        database=None,
        phases=[Phase.explicit, Phase.generate],
        suppress_health_check=list(HealthCheck),
    )
    @given(case=operation.as_strategy())
    def run(case):
        case.call_and_validate(headers=headers, checks=CHECKS)

    return run


def _summary(exc: BaseException) -> str:
    """The failures schemathesis found, one line each (the title and where in the schema)."""
    lines = []
    for part in getattr(exc, "exceptions", None) or [exc]:
        text = str(part)
        where = [line.strip() for line in text.splitlines() if line.strip().startswith(("Schema at", "["))]
        lines.append(f"  - {text.splitlines()[0] if text else type(part).__name__} {' '.join(where[:2])}")
    return "\n".join(lines)
