"""Web pages refuse text holding NUL or other control characters by name, as the API does, never
with a 500 (PostgreSQL cannot store a NUL: every filter or form that reached a query crashed)."""

import uuid

import pytest
from django.test import Client

pytestmark = pytest.mark.django_db


def _client(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


@pytest.mark.parametrize(
    ("role", "path", "param"),
    [
        ("auditor", "/audit/access-log/", "user"),
        ("auditor", "/audit/access-log/", "object_id"),
        ("hq_analyst", "/link-candidates/", "station"),
        ("hq_analyst", "/reports/separated-children/", "station"),
    ],
)
def test_page_filter_with_nul_is_refused_by_name(users, role, path, param):
    """A filter holding a NUL is a 400 naming the filter, not a 500."""
    response = _client(users[role]).get(path, {param: "EP\x00T"})
    html = response.content.decode()
    assert response.status_code == 400
    assert f"“{param}”" in html and "control character" in html


def test_form_text_with_nul_is_refused_by_name_and_nothing_is_saved(users):
    """A posted text field holding a NUL is refused before any service runs (it was a 500)."""
    client = _client(users["hq_analyst"])
    response = client.post(
        f"/link-candidates/{uuid.uuid4()}/decide/", {"decision": "reject", "reason": "why\x00not"}
    )
    html = response.content.decode()
    assert response.status_code == 400
    assert "“reason”" in html and "Nothing was saved" in html


def test_persons_search_still_answers_beside_the_box(users):
    """The persons page checks its own search box, beside the box (its message stays)."""
    response = _client(users["field_agent"]).get("/persons/", {"q": "Ana\x00 Perez"})
    html = response.content.decode()
    assert response.status_code == 200
    assert 'id="q-error"' in html and "Remove the control characters" in html


def test_persons_filter_with_nul_is_refused_in_the_summary(users):
    """The persons page's other filters are checked by the page too (a NUL station was a 500)."""
    response = _client(users["hq_analyst"]).get("/persons/", {"station": "EP\x00T"})
    html = response.content.decode()
    assert response.status_code == 200
    assert 'data-testid="search-errors"' in html and "control characters (such as NUL) from station" in html


def test_ordinary_text_passes(users):
    """Tabs and line breaks (which text may hold) and accents pass the guard."""
    response = _client(users["auditor"]).get("/audit/access-log/", {"person": "María\tJosé"})
    assert response.status_code == 200
