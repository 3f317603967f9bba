"""Shared fixtures: one user per role, API clients, and the role names."""

import os

import pytest
from django.contrib.auth.models import Group
from rest_framework.test import APIClient

from familylink.common.models import User
from familylink.common.roles import Role

# Playwright's sync API runs an event loop in the test thread; Django's ORM is used beside it.
os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")

DEMO_PASSWORD = "test-password-123"


def make_user(username: str, role: Role | str, *, station: str = "", team: str = "") -> User:
    user = User(username=username, station=station, team=team, first_name=username.title())
    user.set_password(DEMO_PASSWORD)
    user.save()
    user.groups.add(Group.objects.get(name=str(role)))
    return user


@pytest.fixture(scope="session")
def django_db_setup(django_db_setup, django_db_blocker):
    """pytest-django's test database, created and migrated by the owner role; then every test runs as
    the app role, as web, worker and beat do in production (familylink/common/db_roles.py). `flush`
    switches back to the owner between transactional tests; the owner drops the database at the end."""
    from django.conf import settings
    from django.db import connections

    current = settings.DATABASES["default"]
    owner = {k: current.get(k) for k in ("USER", "PASSWORD", "HOST", "PORT")}
    with django_db_blocker.unblock():
        connections["default"].close()
        current.update(settings.DATABASE_ROLES["app"])
    yield
    with django_db_blocker.unblock():
        connections["default"].close()
        current.update(owner)


@pytest.fixture
def users(db) -> dict[str, User]:
    """One user per role; field agent and supervisor at EPT, coordinator on team EPT-REUNIFY."""
    return {
        "field_agent": make_user("field_agent", Role.FIELD_AGENT, station="EPT"),
        "supervisor": make_user("supervisor", Role.SUPERVISOR, station="EPT"),
        "hq_analyst": make_user("hq_analyst", Role.HQ_ANALYST),
        "coordinator": make_user("coordinator", Role.COORDINATOR, team="EPT-REUNIFY"),
        "auditor": make_user("auditor", Role.AUDITOR),
        "partner_agency": make_user("partner_agency", Role.PARTNER_AGENCY),
    }


@pytest.fixture
def api_client_for(users):
    """`api_client_for("supervisor")` → an APIClient authenticated with that user's token."""
    from rest_framework.authtoken.models import Token

    def build(role: str) -> APIClient:
        client = APIClient()
        token, _ = Token.objects.get_or_create(user=users[role])
        client.credentials(HTTP_AUTHORIZATION=f"Token {token.key}")
        return client

    return build


@pytest.fixture(autouse=True)
def _reference_data_after_flush(request):
    """Transactional tests start from an emptied database: put the migrations' reference data back."""
    marker = request.node.get_closest_marker("django_db")
    if marker is not None and marker.kwargs.get("transaction"):
        request.getfixturevalue("transactional_db")
        from familylink.common.reference import ensure_all

        ensure_all()
    yield
