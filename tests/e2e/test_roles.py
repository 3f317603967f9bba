"""Each demo role signs in, sees its own navigation, and every page it can open is accessible."""

import pytest

from .conftest import assert_accessible, sign_in

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]


def test_sign_in_page_is_accessible(page):
    page.goto("/accounts/login/")
    assert page.get_by_role("heading", name="Sign in to FamilyLink").is_visible()
    assert_accessible(page)


def test_wrong_password_keeps_username_and_explains(page, users):
    page.goto("/accounts/login/")
    page.get_by_label("Username").fill("field_agent")
    page.get_by_label("Password").fill("not-the-password")
    page.get_by_role("button", name="Sign in").click()
    assert page.get_by_label("Username").input_value() == "field_agent"
    assert page.get_by_role("alert").is_visible()
    assert_accessible(page)


@pytest.mark.parametrize(
    "role", ["field_agent", "supervisor", "hq_analyst", "coordinator", "auditor", "partner_agency"]
)
def test_each_role_sees_its_navigation_and_accessible_pages(page, users, role):
    from apprehensions.demo import ensure_stations
    from familylink.common.navigation import _REGISTRY
    from familylink.common.roles import ROLE_CAPABILITIES, Role

    ensure_stations()
    sign_in(page, role)
    assert "station" in page.get_by_test_id("signed-in-as").inner_text() or role not in (
        "field_agent",
        "supervisor",
    )
    nav = page.get_by_role("navigation", name="Primary navigation")
    labels = [t.strip() for t in nav.locator(".usa-nav__primary a").all_inner_texts()]
    capabilities = set(ROLE_CAPABILITIES[Role(role)])
    expected = [
        i.label
        for i in sorted(_REGISTRY.values(), key=lambda i: (i.order, i.label))
        if not i.capabilities or capabilities & set(i.capabilities)
    ]
    assert labels == expected
    assert_accessible(page)
    hrefs = nav.locator(".usa-nav__primary a").evaluate_all("els => els.map(e => e.getAttribute('href'))")
    for href in hrefs:
        response = page.goto(href)
        assert response.status < 400, href
        assert_accessible(page)
    page.get_by_role("button", name="Sign out").click()
    page.wait_for_url("**/accounts/login/")


def test_the_api_documentation_page_is_accessible(page, users):
    """/api/docs/ (drf-spectacular's Swagger UI, served by the app) once the UI has drawn the
    operations: partner agencies' developers read it."""
    sign_in(page, "partner_agency")
    page.goto("/api/docs/")
    page.locator(".opblock").first.wait_for()
    assert page.locator("html").get_attribute("lang") == "en"
    assert_accessible(page)
    page.locator(".opblock-post .opblock-summary-control").first.click()  # an operation opened
    page.locator(".opblock-post .opblock-body").first.wait_for()
    assert_accessible(page)
    page.get_by_role("button", name="Try it out").first.click()  # its request form
    page.get_by_role("button", name="Execute").first.wait_for()
    assert_accessible(page)
