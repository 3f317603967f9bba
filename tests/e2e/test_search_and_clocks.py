"""In Chromium at 1280 px: an HQ analyst finds a child by a misspelled name and reads why; a case
page says "met late"; the team page shows "Reassign" whole; all with 0 axe-core violations."""

from datetime import timedelta

import pytest
from django.utils import timezone

from reunification.services import case_step_update, clocks_flag, worklists_build
from reunification.teams import team_today

from ..reunification.factories import approved_separation, years_ago
from .conftest import assert_accessible, sign_in

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def late_case(users):
    _, (case,) = approved_separation(
        users, children=[years_ago(7)], occurred_at=timezone.now() - timedelta(days=40), surname="Xicará"
    )
    case_step_update(case_id=case.pk, step="contact_made", done=True, by=users["coordinator"])
    worklists_build(day=team_today("EPT-REUNIFY"))
    clocks_flag()
    return case


def test_analyst_finds_the_child_by_a_misspelled_name_and_reads_why(page, users, late_case):
    page.set_viewport_size({"width": 1280, "height": 900})
    sign_in(page, "hq_analyst")
    page.goto("/persons/")
    page.get_by_label("Name or A-number").fill("nino0 xicra")
    page.get_by_role("button", name="Search").click()
    results = page.get_by_test_id("person-results")
    first = results.locator("tbody tr").first
    assert late_case.child.full_name in first.inner_text()
    assert "“xicra” ≈ xicara" in first.inner_text()
    assert_accessible(page)


def test_case_page_says_met_late_and_team_page_fits_at_1280(page, users, late_case):
    page.set_viewport_size({"width": 1280, "height": 900})
    sign_in(page, "supervisor")
    page.goto(f"/reunification/cases/{late_case.pk}/")
    contact = page.locator("tr[data-clock='contact']").inner_text()
    assert "Met late by 30 days" in contact
    assert "MST" in contact or "MDT" in contact
    assert_accessible(page)
    page.goto("/reunification/notifications/")
    assert "Overdue" in page.locator("main").inner_text()
    assert_accessible(page)
    page.goto("/reunification/team/")
    button = page.get_by_role("button", name="Reassign").first
    # The label is whole (nothing clipped), and the table fits or scrolls inside its own box.
    assert button.evaluate("b => b.scrollWidth <= b.clientWidth")
    assert page.evaluate("document.documentElement.scrollWidth <= document.documentElement.clientWidth")
    assert_accessible(page)
