"""Access denied by default; sign-in lockout that does not reveal whether a username exists."""

import uuid

import pytest
from django.urls import URLPattern, URLResolver, get_resolver
from django.urls.resolvers import RoutePattern

from familylink.common.models import User

pytestmark = pytest.mark.django_db

OPEN_PATHS = {"/accounts/login/", "/health/", "/admin/login/"}

SAMPLE = {"uuid": str(uuid.uuid4()), "int": "1", "str": "x", "slug": "x", "path": "x", "date": "2018-06-20"}


def _sample_paths(patterns, prefix=""):
    for entry in patterns:
        if not isinstance(entry.pattern, RoutePattern):
            continue
        route = str(entry.pattern)
        for name, value in SAMPLE.items():
            while f"<{name}:" in route:
                start = route.index(f"<{name}:")
                route = route[:start] + value + route[route.index(">", start) + 1 :]
        while "<" in route:
            start = route.index("<")
            route = route[:start] + "x" + route[route.index(">", start) + 1 :]
        if isinstance(entry, URLResolver):
            yield from _sample_paths(entry.url_patterns, prefix + route)
        elif isinstance(entry, URLPattern):
            yield "/" + prefix + route


def all_paths():
    return sorted(set(_sample_paths(get_resolver().url_patterns)))


def test_there_are_many_urls_to_check():
    paths = all_paths()
    assert "/" in paths and "/api/v1/auth/token/" in paths and len(paths) > 10


def test_anonymous_is_refused_everywhere_but_sign_in_and_health(client):
    """Pages redirect to sign-in (302), API answers 401 with WWW-Authenticate."""
    failures = []
    for path in all_paths():
        if path in OPEN_PATHS or path == "/api/v1/auth/token/":
            continue
        response = client.get(path)
        if path.startswith("/api/"):
            ok = response.status_code == 401 and "WWW-Authenticate" in response
        else:
            ok = response.status_code == 302 and "login" in response["Location"]
        if not ok:
            failures.append((path, response.status_code))
    assert failures == []


def test_health_and_sign_in_are_open(client):
    """Anyone may ask whether the service is up, and learns only "ok" or "not ok"."""
    assert client.get("/accounts/login/").status_code == 200
    response = client.get("/health/")
    assert response.status_code in (200, 503)
    assert response.json() == {"status": "ok" if response.status_code == 200 else "not ok"}


def test_health_details_are_for_administrators(client):
    """A signed-in administrator sees which part is down (database, Redis, worker)."""
    admin = User.objects.create_superuser("root-admin", password="test-password-123")
    client.force_login(admin)
    response = client.get("/health/")
    assert set(response.json()["checks"]) == {"database", "redis", "celery"}
    assert response.json()["checks"]["database"]["ok"] is True
    assert response.json()["checks"]["redis"]["ok"] is True


def test_token_endpoint_requires_valid_credentials(client, users):
    bad = client.post("/api/v1/auth/token/", {"username": "field_agent", "password": "nope"})
    assert bad.status_code == 400
    good = client.post("/api/v1/auth/token/", {"username": "field_agent", "password": "test-password-123"})
    assert good.status_code == 200 and len(good.json()["token"]) == 40


def _fail(client, username, times):
    for _ in range(times):
        client.post("/accounts/login/", {"username": username, "password": "wrong-password"})


def test_lockout_after_repeated_failures(client, users, settings):
    """After AXES_FAILURE_LIMIT failures even the right password is refused for that account."""
    _fail(client, "field_agent", settings.AXES_FAILURE_LIMIT)
    response = client.post("/accounts/login/", {"username": "field_agent", "password": "test-password-123"})
    assert response.status_code == 429
    assert b"Too many failed sign-in attempts" in response.content
    assert "_auth_user_id" not in client.session
    # Another account is not affected.
    other = client.post("/accounts/login/", {"username": "supervisor", "password": "test-password-123"})
    assert other.status_code == 302


def test_lockout_does_not_reveal_whether_the_username_exists(client, users, settings):
    """An unknown username gets the same failure and the same lockout page as a real one."""
    real = client.post("/accounts/login/", {"username": "field_agent", "password": "wrong"})
    ghost = client.post("/accounts/login/", {"username": "no_such_user", "password": "wrong"})
    assert real.status_code == ghost.status_code == 200
    assert real.context["form"].non_field_errors() == ghost.context["form"].non_field_errors()
    _fail(client, "field_agent", settings.AXES_FAILURE_LIMIT)
    _fail(client, "no_such_user", settings.AXES_FAILURE_LIMIT)
    locked_real = client.post("/accounts/login/", {"username": "field_agent", "password": "x"})
    locked_ghost = client.post("/accounts/login/", {"username": "no_such_user", "password": "x"})
    assert locked_real.status_code == locked_ghost.status_code == 429
    assert locked_real.content == locked_ghost.content


def test_idle_session_expires(settings):
    """Sessions are refreshed on each request and expire after the idle timeout."""
    assert settings.SESSION_SAVE_EVERY_REQUEST is True
    assert 0 < settings.SESSION_COOKIE_AGE <= 60 * 60


def test_forms_carry_csrf_and_pages_security_headers(client, users):
    client.force_login(users["supervisor"])
    response = client.get("/", follow=True)  # a supervisor's home is the dashboard
    assert response.status_code == 200
    assert "Content-Security-Policy" in response
    assert response["X-Frame-Options"] == "DENY"
    assert response["X-Content-Type-Options"] == "nosniff"
    assert b"csrfmiddlewaretoken" in response.content  # the sign-out form
