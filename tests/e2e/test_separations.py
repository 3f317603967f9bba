"""Browser journey: a field agent requests a Zero Tolerance separation, cannot approve it, a
supervisor approves it from the queue, both sides see each other, and an HHS ORR placement shows.

The persons come from the ORM (mother and daughter apprehended together at EPT, one family
unit); every step after that is what a person does in Chromium. axe-core checks every page.
"""

import re
from datetime import UTC, datetime

import pytest
from playwright.sync_api import Page, expect

from separations import services
from separations.models import Separation

from ..separations.factories import StationFactory, family
from .conftest import assert_accessible, sign_in

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]


def sign_out(page: Page) -> None:
    page.get_by_role("button", name="Sign out").click()
    page.wait_for_url("**/accounts/login/")


def test_separation_request_approve_and_custody_journey(page: Page, users):
    StationFactory(code="EPT", name="El Paso Station", timezone="America/Denver")
    fam = family(surname="Pérez")
    mother, child = fam.adult, fam.child
    for person in (mother, child):
        services.custody_transfer(
            person_id=person.pk,
            agency="CBP",
            facility="El Paso Station",
            started_at=datetime(2018, 5, 10, 17, 0, tzinfo=UTC),
            by=users["field_agent"],
        )

    # The field agent requests the separation from the child's page.
    sign_in(page, "field_agent")
    page.goto(f"/persons/{child.pk}/")
    expect(page.get_by_role("heading", level=1)).to_have_text(child.full_name)
    assert_accessible(page)
    page.get_by_role("link", name="Request a separation").click()
    expect(page.get_by_role("heading", name="Request a separation")).to_be_visible()
    assert_accessible(page)
    expect(page.get_by_role("checkbox", name=re.compile(child.full_name))).to_be_checked()
    # USWDS draws the box on the label (the input itself sits off-screen), so click the label.
    page.locator("label.usa-checkbox__label", has_text=mother.full_name).click()
    expect(page.get_by_role("checkbox", name=re.compile(mother.full_name))).to_be_checked()
    page.get_by_label("Reason").select_option("ZERO_TOLERANCE_PROSECUTION")
    page.get_by_label("Narrative").fill("Adult referred for prosecution under 8 USC 1325")
    page.get_by_label("When the separation happened").fill("2018-06-01T14:00")
    page.get_by_label("Time zone").select_option("America/Denver")
    page.get_by_label("Place").fill("El Paso Station")
    page.get_by_role("button", name="Request separation").click()

    expect(page.get_by_test_id("separation-status")).to_have_text("Requested")
    expect(page.get_by_text("must approve it before it takes effect")).to_be_visible()
    separation = Separation.objects.get()
    assert separation.requested_by == users["field_agent"]
    assert separation.reason_code.code == "ZERO_TOLERANCE_PROSECUTION"

    # The same agent cannot approve it: no decision form, and the queue is not theirs.
    expect(page.get_by_test_id("decision-refusal")).to_have_text(
        "Only a supervisor can approve or reject a separation."
    )
    expect(page.get_by_role("button", name=re.compile("^Approve"))).to_have_count(0)
    assert_accessible(page)
    response = page.goto("/approvals/separations/")
    assert response.status == 403
    expect(page.get_by_role("heading", name="Not allowed")).to_be_visible()
    assert_accessible(page)
    sign_out(page)

    # A supervisor of the station approves it from the queue.
    sign_in(page, "supervisor")
    page.get_by_role("navigation", name="Primary navigation").get_by_role(
        "link", name="Approval queue"
    ).click()
    item = page.get_by_test_id("queue-item")
    expect(item).to_have_count(1)
    expect(item).to_contain_text("Zero Tolerance prosecution")
    assert_accessible(page)
    item.get_by_label("Comment").fill("Prosecution referral confirmed")
    item.get_by_role("button", name=re.compile("^Approve")).click()
    expect(page.get_by_text("Separation approved")).to_be_visible()
    expect(page.get_by_test_id("queue-item")).to_have_count(0)
    assert_accessible(page)
    separation.refresh_from_db()
    assert separation.status == "in_effect" and separation.decided_by == users["supervisor"]

    # Both sides see each other, and where the other side is.
    page.goto(f"/persons/{child.pk}/")
    panel = page.get_by_test_id("separation-in-effect")
    expect(panel).to_contain_text(f"Separated from {mother.full_name} since 2018-06-01 14:00 MDT")
    expect(panel).to_contain_text("reason: Zero Tolerance prosecution")
    expect(panel).to_contain_text("approved by Supervisor")
    expect(panel).to_contain_text(f"{mother.full_name} is now at CBP (Border Patrol), El Paso Station.")
    assert_accessible(page)
    page.goto(f"/persons/{mother.pk}/")
    row = page.get_by_test_id("other-side-custody")
    expect(row).to_contain_text(child.full_name)
    expect(row).to_contain_text("CBP (Border Patrol), El Paso Station")
    assert_accessible(page)

    # The child is placed with HHS ORR: both pages show it.
    page.goto(f"/persons/{child.pk}/")
    page.get_by_role("link", name="Record a custody transfer").click()
    assert_accessible(page)
    page.get_by_label("New custody").select_option("HHS_ORR")
    page.get_by_label("Facility").fill("Casa Padre, Brownsville TX")
    page.get_by_label("Transferred at").fill("2018-06-02T09:00")
    page.get_by_label("Time zone").select_option("America/Chicago")
    page.get_by_role("button", name="Record transfer").click()
    expect(page.get_by_test_id("current-custody")).to_have_text(
        "Now at HHS Office of Refugee Resettlement, Casa Padre, Brownsville TX since 2018-06-02 08:00 MDT."
    )
    assert_accessible(page)
    page.goto(f"/persons/{mother.pk}/")
    expect(page.get_by_test_id("other-side-custody")).to_contain_text(
        "HHS Office of Refugee Resettlement, Casa Padre, Brownsville TX"
    )
    assert_accessible(page)
    sign_out(page)


def test_separated_children_report_page_is_accessible(page: Page, users):
    """The HQ report: count, list, counts and CSV link, on an accessible page."""
    StationFactory(code="EPT", name="El Paso Station", timezone="America/Denver")
    fam = family(surname="Ramos")
    separation = services.separation_request(
        requester=users["field_agent"],
        children=[fam.child.pk],
        adults=[fam.adult.pk],
        reason_code="ZERO_TOLERANCE_PROSECUTION",
        occurred_at=datetime(2018, 6, 1, 20, 0, tzinfo=UTC),
    )
    services.separation_approve(separation_id=separation.pk, approver=users["supervisor"])
    sign_in(page, "hq_analyst")
    page.get_by_role("navigation", name="Primary navigation").get_by_role(
        "link", name="Separated children"
    ).click()
    assert_accessible(page)
    page.get_by_label("Separated at", exact=True).fill("2018-06-20T09:00")
    page.get_by_label("Separated at: time zone").select_option("America/Denver")
    page.get_by_role("button", name="Show").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Separated children at 2018-06-20 09:00 MDT")
    expect(page.get_by_test_id("report-count")).to_have_text("1 child separated")
    expect(page.get_by_test_id("report-rows")).to_contain_text(fam.child.full_name)
    expect(page.get_by_role("link", name="Download CSV")).to_be_visible()
    assert_accessible(page)
