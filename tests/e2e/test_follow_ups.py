"""HQ opens the follow-up list of documents not named and goes on to the person page."""

import pytest

from .conftest import assert_accessible, sign_in

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]


def test_hq_follows_up_a_documented_relationship_without_its_document(page, users):
    from tests.apprehensions.factories import intake_payload, record

    body = intake_payload(
        relationships=[{"from": "p1", "to": "p2", "type": "parent", "evidence": "documented"}]
    )
    result = record(users["field_agent"], data=body)
    parent = result.persons[0].person

    sign_in(page, "hq_analyst")
    page.get_by_role("navigation", name="Primary navigation").get_by_role("link", name="Follow-ups").click()
    table = page.get_by_test_id("documents-not-named")
    assert "documented, document not named" in table.inner_text()
    assert_accessible(page)
    table.get_by_role("link", name=parent.full_name).click()
    assert page.get_by_test_id("document-not-named").first.inner_text() == "documented: document not named"
    assert_accessible(page)
