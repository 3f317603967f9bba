"""Everything an auditor asks about accounts is recorded: sign-in, sign-out, failed sign-ins, lockouts,
denied requests, role changes and token revocations, each with who did it."""

from datetime import timedelta

import pytest
from django.contrib.auth.models import Group
from django.test import Client
from django.utils import timezone
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from audit.models import AccessLog
from tests.conftest import DEMO_PASSWORD

pytestmark = pytest.mark.django_db


def _events(action: str):
    return AccessLog.objects.filter(action=action)


def test_sign_in_and_sign_out_are_recorded(users):
    client = Client()
    client.post("/accounts/login/", {"username": "auditor", "password": DEMO_PASSWORD})
    client.post("/accounts/logout/")
    assert _events("sign_in").get().user == users["auditor"]
    assert _events("sign_out").get().user == users["auditor"]


def test_failed_sign_in_and_lockout_are_recorded(users, settings):
    settings.AXES_FAILURE_LIMIT = 3
    client = Client()
    for _ in range(3):
        client.post("/accounts/login/", {"username": "coordinator", "password": "wrong-password"})
    failed = _events("sign_in_failed")
    assert failed.count() >= 2 and "coordinator" in failed.first().detail
    assert _events("locked_out").filter(detail__contains="coordinator").exists()


def test_a_denied_request_is_recorded_with_who(users, api_client_for):
    """An auditor's write is refused (403) and the refusal is in the access log, naming the auditor."""
    response = api_client_for("auditor").post("/api/v1/custody-transfers/", {}, format="json")
    assert response.status_code == 403
    denied = _events("denied").get()
    assert denied.user == users["auditor"] and denied.channel == "api"
    assert "POST /api/v1/custody-transfers/" in denied.detail


def test_role_changes_record_who_granted_or_removed_which_role(users, client):
    """Adding or removing a user's role through the admin is in the log with the administrator's name."""
    from familylink.common.models import User

    admin = User.objects.create_superuser("chief-admin", password=DEMO_PASSWORD)
    target = users["field_agent"]
    client.force_login(admin)
    supervisor = Group.objects.get(name="supervisor")
    field_agent = Group.objects.get(name="field_agent")
    form = {
        "username": target.username,
        "first_name": target.first_name,
        "last_name": "",
        "email": "",
        "is_active": "on",
        "groups": [str(supervisor.pk)],
        "station": target.station,
        "team": "",
        "last_login_0": "",
        "last_login_1": "",
        "date_joined_0": target.date_joined.strftime("%Y-%m-%d"),
        "date_joined_1": target.date_joined.strftime("%H:%M:%S"),
    }
    response = client.post(f"/admin/common/user/{target.pk}/change/", form)
    assert response.status_code == 302, response.content[:2000]

    granted = _events("role_granted").filter(object_id=str(target.pk), user=admin).get()
    removed = _events("role_removed").filter(object_id=str(target.pk), user=admin).get()
    assert granted.user == admin and granted.object_id == str(target.pk)
    assert "supervisor granted to field_agent by chief-admin" in granted.detail
    assert removed.user == admin and "field_agent removed from field_agent by chief-admin" in removed.detail
    assert set(target.groups.all()) == {supervisor}
    assert field_agent not in target.groups.all()


def test_expired_token_is_refused_and_a_new_one_issued(users, settings):
    """Tokens expire after API_TOKEN_TTL_DAYS; asking again replaces the old key (recorded)."""
    settings.API_TOKEN_TTL_DAYS = 30
    client = APIClient()
    first = client.post(
        "/api/v1/auth/token/", {"username": "partner_agency", "password": DEMO_PASSWORD}
    ).json()
    assert "expires_at" in first
    client.credentials(HTTP_AUTHORIZATION=f"Token {first['token']}")
    assert client.get("/api/v1/persons/?a_number=A000000001").status_code == 200

    token = Token.objects.get(key=first["token"])
    Token.objects.filter(pk=token.pk).update(
        created=timezone.now() - timedelta(days=31)
    )  # history-safe: test
    expired = client.get("/api/v1/persons/?a_number=A000000001")
    assert expired.status_code == 401 and "expired" in expired.json()["detail"]

    fresh = APIClient().post("/api/v1/auth/token/", {"username": "partner_agency", "password": DEMO_PASSWORD})
    assert fresh.json()["token"] != first["token"]
    assert _events("token_revoked").filter(object_id=str(users["partner_agency"].pk)).exists()


def test_x_forwarded_proto_is_trusted_only_when_configured():
    """A client's own X-Forwarded-Proto header is ignored unless a proxy setting says to trust it."""
    import os
    import subprocess
    import sys
    from pathlib import Path

    code = (
        "import django; django.setup(); from django.conf import settings as s; "
        "print(s.SECURE_PROXY_SSL_HEADER)"
    )
    root = Path(__file__).resolve().parents[2]

    def header(**extra: str) -> str:
        env = {**os.environ, "DJANGO_SETTINGS_MODULE": "familylink.settings.base", **extra}
        env.pop("TRUST_X_FORWARDED_PROTO", None) if not extra else None
        return subprocess.run(
            [sys.executable, "-c", code], cwd=root, env=env, capture_output=True, text=True
        ).stdout

    assert header().strip() == "None"
    assert "HTTP_X_FORWARDED_PROTO" in header(TRUST_X_FORWARDED_PROTO="true")
