"""A coordinator works today's queue in Chromium: claim the top case, tick the checklist, close it
as reunified. Every page visited has 0 axe-core WCAG 2.1 A/AA violations."""

from datetime import timedelta

import pytest
from django.utils import timezone

from reunification.models import ReunificationCase, WorklistItem
from reunification.services import clocks_flag, worklists_build
from reunification.teams import team_today
from separations.models import CustodyPeriod, Separation
from separations.selectors import separated_children

from ..reunification.factories import approved_separation, years_ago
from .conftest import assert_accessible, sign_in

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

CHECKLIST = [
    ("Contact between child and parent made", None),
    ("Parentage verified", ("How was parentage verified?", "DNA test")),
    ("Parent located", None),
    ("Background check", None),
    ("Eligibility decision", ("Eligibility decision", "Eligible for reunification")),
    ("Travel arranged", None),
]


@pytest.fixture
def queue_of_two(users):
    """Two open EPT cases on today's list; the overdue one (a 3-year-old separated 20 days ago) on top."""
    now = timezone.now()
    _, (top,) = approved_separation(users, children=[years_ago(3)], occurred_at=now - timedelta(days=20))
    _, (later,) = approved_separation(users, children=[years_ago(11)], occurred_at=now - timedelta(days=2))
    worklists_build(day=team_today("EPT-REUNIFY"))
    return top, later


def test_coordinator_claims_ticks_and_closes_the_top_case_as_reunified(page, users, queue_of_two):
    """Sign in, open today's queue, claim the top case, tick its checklist in place, close it as
    reunified: the case page shows it reunified, the separation is ended (the separated-children
    count no longer includes the child) and both sides are released together."""
    top, later = queue_of_two
    child = top.child.full_name
    parent = top.case_adults.get().person

    assert top.child_id in separated_children(as_of=timezone.now()).child_ids()
    sign_in(page, "coordinator")
    page.get_by_role("navigation", name="Primary navigation").get_by_role(
        "link", name="My queue today"
    ).click()
    page.get_by_role("heading", name="My queue today").wait_for()
    assert "2 cases on today's list: 2 waiting" in page.get_by_test_id("queue-progress").inner_text()
    assert_accessible(page)

    page.get_by_role("button", name="Claim next case").click()
    page.get_by_text(f"You claimed {child}").wait_for()
    card = page.locator(f"#item-{WorklistItem.objects.get(case=top).pk}")
    assert "Overdue" in card.inner_text()
    assert_accessible(page)

    for label, choice in CHECKLIST:
        if choice is not None:
            card.get_by_label(choice[0], exact=True).select_option(label=choice[1])
        card.get_by_role("button", name=f"Mark done for {label}").click()
        card.get_by_role("button", name=f"Undo for {label}").wait_for()
    assert card.get_by_test_id("next-step").inner_text() == "Reunified"
    assert_accessible(page)

    card.get_by_role("link", name=f"Open the case of {child}").click()
    page.get_by_role("heading", name=f"Reunification case: {child}").wait_for()
    assert parent.full_name in page.locator("main").inner_text()
    assert_accessible(page)
    page.get_by_label("Place or facility").fill("Released together to sponsor in Denver, CO")
    page.get_by_role("button", name="Close as reunified").click()
    page.get_by_text(f"The case of {child} is reunified.").wait_for()
    assert page.get_by_test_id("case-status").text_content().split()[:3] == [
        "Reunified",
        "Outcome:",
        "Reunified.",
    ]
    assert "Met" in page.locator("table.fl-clocks").inner_text()
    assert_accessible(page)

    top.refresh_from_db()
    assert top.status == ReunificationCase.Status.REUNIFIED and top.closed_by == users["coordinator"]
    separation = Separation.objects.get(pk=top.separation_id)
    assert top.child_id not in separated_children(as_of=timezone.now()).child_ids()
    assert later.child_id in separated_children(as_of=timezone.now()).child_ids()
    assert separation.status == Separation.Status.ENDED and separation.end_outcome == "reunified"
    assert separation.ended_at is not None and separation.ended_at <= timezone.now()
    assert not Separation.objects.filter(
        status=Separation.Status.IN_EFFECT, members__person=top.child
    ).exists()
    for person in (top.child, parent):
        period = CustodyPeriod.objects.get(person=person, ended_at__isnull=True)
        assert period.agency == "RELEASED" and "Denver" in period.facility
    later.refresh_from_db()
    assert later.status == ReunificationCase.Status.OPEN

    page.goto("/reunification/queue/")
    assert "1 waiting" in page.get_by_test_id("queue-progress").inner_text()
    assert_accessible(page)

    # The child's and the parent's person pages show the reunified case.
    for person in (top.child, parent):
        page.goto(f"/persons/{person.pk}/")
        panel = page.get_by_test_id("reunification-panel")
        assert "Reunified" in panel.inner_text(), person.full_name
        assert_accessible(page)

    # The separated-children report (HQ analyst) no longer counts the child.
    page.get_by_role("button", name="Sign out").click()
    sign_in(page, "hq_analyst")
    page.goto("/reports/separated-children/")
    main = page.locator("main").inner_text()
    assert later.child.full_name in main and child not in main
    assert_accessible(page)


def test_supervisor_pages_with_data_are_accessible(page, users, queue_of_two):
    """The supervisor's team progress, case list, case page and notifications, filled with data."""
    top, _ = queue_of_two
    clocks_flag()
    sign_in(page, "supervisor")
    for path, heading in [
        ("/reunification/team/", "Team progress"),
        ("/reunification/cases/", "Reunification cases"),
        (f"/reunification/cases/{top.pk}/", f"Reunification case: {top.child.full_name}"),
        ("/reunification/notifications/", "Notifications"),
    ]:
        page.goto(path)
        page.get_by_role("heading", name=heading, exact=True).wait_for()
        assert_accessible(page)
    assert "Overdue" in page.locator("main").inner_text()
    page.goto("/reunification/team/")
    assert "2 cases on today's list" in page.get_by_test_id("team-progress").inner_text()


def test_ticking_a_step_by_keyboard_keeps_focus_and_updates_the_clocks_in_place(page, users, queue_of_two):
    """A keyboard user marks contact made on the case page: focus stays on that step (its Undo
    button), not thrown back to the top of the page, and the contact clock beside the checklist
    reads "Met late", as the page shows after a reload and as the API says. A step refused (no
    method given) puts focus on the field at fault, with its message."""
    top, _ = queue_of_two
    sign_in(page, "coordinator")
    page.goto(f"/reunification/cases/{top.pk}/")
    contact = page.locator("tr[data-clock='contact']")
    assert "Missed" in contact.inner_text()

    page.get_by_role("button", name="Mark done for Contact between child and parent made").focus()
    page.keyboard.press("Enter")
    page.get_by_role("button", name="Undo for Contact between child and parent made").wait_for()
    page.wait_for_function("document.activeElement && document.activeElement.tagName !== 'BODY'")
    focused = page.evaluate("document.activeElement.innerText")
    assert "Undo" in focused and "Contact between child and parent made" in focused
    assert "Met late by" in contact.inner_text()
    assert_accessible(page)

    page.get_by_role("button", name="Mark done for Parentage verified").focus()
    page.keyboard.press("Enter")
    page.get_by_text("Say how parentage was verified").wait_for()
    page.wait_for_function("document.activeElement && document.activeElement.tagName === 'SELECT'")
    assert page.evaluate("document.activeElement.id") == f"method-{top.pk}-parentage_verified"

    page.reload()
    assert "Met late by" in page.locator("tr[data-clock='contact']").inner_text()


def test_claim_next_clicked_twice_quickly_claims_one_case(page, users, queue_of_two):
    """A double click on "Claim next case" posted the form twice: two cases claimed, the message
    naming only the second. A posted form is sent once; the page that answers shows one claim."""
    top, later = queue_of_two
    sign_in(page, "coordinator")
    page.goto("/reunification/queue/")
    # Two clicks on the one page, the second while the first request is on its way (as a double
    # click does); two Playwright clicks in a row would land the second on the next page.
    page.get_by_role("button", name="Claim next case").evaluate(
        "button => { button.click(); setTimeout(() => button.click(), 5); }"
    )
    page.get_by_text(f"You claimed {top.child.full_name}").wait_for()
    page.wait_for_load_state("networkidle")
    assert WorklistItem.objects.filter(claimed_by=users["coordinator"]).count() == 1
    assert "1 being worked" in page.get_by_test_id("queue-progress").inner_text()
