"""In Chromium: a form sent back with errors puts the keyboard on what to fix (the error summary),
as the intake form does, on the other forms that save: identity edit, relationship, separation
request, custody transfer. Focus was left on the page itself, at the top."""

import pytest

from ..reunification.factories import approved_separation, years_ago
from .conftest import assert_accessible, sign_in

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

FOCUSED_SUMMARY = "() => document.activeElement && document.activeElement.id === 'error-summary'"


def test_forms_sent_back_with_errors_focus_their_error_summary(page, users):
    _, (case,) = approved_separation(users, children=[years_ago(8)], surname="Ajú")
    child = case.child
    sign_in(page, "field_agent")

    page.goto(f"/persons/{child.pk}/edit/")
    page.get_by_label("A-number").fill("A12")
    page.get_by_role("button", name="Save changes").click()
    page.get_by_text("has 2 digits").first.wait_for()
    assert page.evaluate(FOCUSED_SUMMARY), "identity edit"

    page.goto(f"/persons/{child.pk}/relationships/new/")
    page.get_by_label("A-number of the other person").fill("A999999999")
    page.locator("main form button[type=submit]").last.click()
    page.get_by_text("is on file; check the number").first.wait_for()
    assert page.evaluate(FOCUSED_SUMMARY), "relationship"

    for path in (f"/separations/new/?person={child.pk}", f"/custody-transfers/new/?person={child.pk}"):
        page.goto(path)
        page.locator("main form button[type=submit]").last.click()
        page.locator(".usa-error-message").first.wait_for()
        assert page.evaluate(FOCUSED_SUMMARY), path
        assert_accessible(page)
