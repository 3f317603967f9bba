"""Audit pages: record history for HQ analysts and auditors; the access log for auditors only."""

import pytest

from apprehensions.models import Person
from audit.models import AccessLog

pytestmark = pytest.mark.django_db


@pytest.fixture
def person(users):
    person = Person(given_names="Ana", first_surname="Pérez", is_minor=True, created_by=users["field_agent"])
    person._history_user = users["field_agent"]
    person._change_reason = "intake"
    person.save()
    person.given_names = "Ana María"
    person._history_user = users["supervisor"]
    person._change_reason = "corrected spelling from birth certificate"
    person.save()
    return person


def test_record_history_shows_who_when_why_what(client, users, person):
    """An auditor sees each version with its author, reason and the changed field's old and new value."""
    client.force_login(users["auditor"])
    response = client.get(f"/audit/history/apprehensions.person/{person.pk}/")
    assert response.status_code == 200
    html = response.content.decode()
    assert "corrected spelling from birth certificate" in html
    assert "supervisor" in html and "field_agent" in html
    assert "Ana María" in html
    entry = AccessLog.objects.get(object_id=str(person.pk), action="history")
    assert entry.user == users["auditor"] and entry.is_minor_record is True


@pytest.mark.parametrize("role", ["field_agent", "supervisor", "coordinator", "partner_agency"])
def test_record_history_is_refused_to_other_roles(client, users, person, role):
    client.force_login(users[role])
    assert client.get(f"/audit/history/apprehensions.person/{person.pk}/").status_code == 403


def test_record_history_of_unknown_type_is_404(client, users, person):
    client.force_login(users["hq_analyst"])
    assert client.get(f"/audit/history/auth.group/{person.pk}/").status_code == 404
    assert client.get(f"/audit/history/apprehensions.nothing/{person.pk}/").status_code == 404


def test_access_log_lists_views_for_auditors_only(client, users, person):
    """The access log shows who viewed which record and can be filtered to one record."""
    client.force_login(users["hq_analyst"])
    client.get(f"/audit/history/apprehensions.person/{person.pk}/")
    assert client.get("/audit/access-log/").status_code == 403
    client.force_login(users["auditor"])
    response = client.get("/audit/access-log/", {"object_id": str(person.pk)})
    assert response.status_code == 200
    assert "hq_analyst" in response.content.decode()
    assert response.context["page"].paginator.count == 1
