"""In Chromium at 320 px wide (WCAG 1.4.10 reflow): a wide table scrolls inside its own box, the page
itself never scrolls sideways; the boxes pass axe-core (focusable, named regions)."""

import pytest

from apprehensions.linkage.discovery import discover_links
from reunification.services import worklist_claim_next, worklists_build
from reunification.teams import team_today

from ..reunification.factories import approved_separation, years_ago
from .conftest import assert_accessible, sign_in

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

PAGE_WIDER_THAN_WINDOW = "() => document.documentElement.scrollWidth - document.documentElement.clientWidth"


def test_pages_with_tables_reflow_at_320_px(page, users, settings):
    settings.LINKAGE_INCREMENTAL = "off"
    separation, (case,) = approved_separation(users, children=[years_ago(6)], surname="Quispe")
    approved_separation(users, children=[years_ago(7)], surname="Quispe")  # a likely link to review
    discover_links()
    worklists_build(day=team_today("EPT-REUNIFY"))
    worklist_claim_next(user=users["coordinator"], day=team_today("EPT-REUNIFY"))  # the team table
    child = case.child
    apprehension = child.apprehensions.first()
    page.set_viewport_size({"width": 320, "height": 800})

    sign_in(page, "supervisor")
    for path in (
        "/apprehensions/",
        f"/apprehensions/{apprehension.pk}/",
        f"/persons/{child.pk}/",
        f"/separations/{separation.pk}/",
        f"/reunification/cases/{case.pk}/",
        "/reunification/team/",
    ):
        page.goto(path)
        assert page.evaluate(PAGE_WIDER_THAN_WINDOW) <= 0, f"{path} scrolls sideways at 320 px"
        assert_accessible(page)

    page.context.clear_cookies()
    sign_in(page, "hq_analyst")
    for path in ("/link-candidates/?status=", f"/audit/history/apprehensions.person/{child.pk}/"):
        page.goto(path)
        assert page.locator("main table tbody tr").count() >= 1
        assert page.evaluate(PAGE_WIDER_THAN_WINDOW) <= 0, f"{path} scrolls sideways at 320 px"
        assert_accessible(page)
