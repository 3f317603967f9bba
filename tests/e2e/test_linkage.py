"""Browser journey: an HQ analyst filters the link review queue, accepts an unrecorded parent link,
rejects a sibling suggestion with a reason (keyboard only), merges a duplicate, sees the merged
record lead to the survivor, and undoes the merge. axe-core checks every page.

The persons come from the intake service (the hand-built set); discovery runs as the nightly
job would. Every step after that is what an analyst does in Chromium.
"""

import pytest
from playwright.sync_api import Page, expect

from apprehensions.linkage.discovery import discover_links
from apprehensions.linkage.models import LinkCandidate, PersonMerge
from apprehensions.models import ApprehensionPerson, Relationship

from ..linkage import handbuilt
from .conftest import assert_accessible, sign_in

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def people(settings, users):
    from django.contrib.auth.models import Group

    from familylink.common.roles import Role
    from tests.apprehensions.factories import station
    from tests.conftest import make_user

    settings.LINKAGE_INCREMENTAL = "off"
    for code in ("EPT", "MCA", "YUM"):
        station(code)
    recorder = make_user("roving_agent", Role.FIELD_AGENT, station="EPT")
    recorder.groups.add(Group.objects.get(name=str(Role.HQ_ANALYST)))
    people = handbuilt.build(recorder)
    discover_links()
    return people


def _accept_here(page: Page, reason: str) -> None:
    """The candidate page passes axe-core; accept it with a reason and stay on it."""
    assert_accessible(page)
    page.locator("label[for=then-next]").click()
    page.get_by_label("Reason").fill(reason)
    page.get_by_role("button", name="Accept").click()
    expect(page.get_by_test_id("candidate-status")).to_contain_text("Accepted by")


def test_analyst_reviews_accepts_rejects_merges_and_unmerges(page: Page, users, people):
    sign_in(page, "hq_analyst")
    page.get_by_role("link", name="Link review").first.click()
    expect(page.get_by_role("heading", name="Link review", level=1)).to_be_visible()
    assert_accessible(page)

    # Filter: relationships only.
    page.get_by_label("Kind").select_option("relationship")
    page.get_by_role("button", name="Filter").click()
    expect(page.get_by_test_id("candidate-row")).to_have_count(3)
    page.get_by_label("Score at least").fill("lots")
    page.get_by_role("button", name="Filter").click()
    # Named twice: in the summary at the top and beside the field.
    expect(page.get_by_test_id("filter-errors")).to_contain_text("is not a score; give a number from 0 to 1")
    expect(page.locator("#min_score-error")).to_contain_text("is not a score; give a number from 0 to 1")
    assert_accessible(page)

    # Accept the father and son: the relationship is recorded.
    page.get_by_label("Score at least").fill("")
    page.get_by_role("button", name="Filter").click()
    page.get_by_role("link", name="Juan Carlos Gómez Ruiz and Luis Gómez Pérez").click()
    expect(page.get_by_test_id("reasons")).to_contain_text("same apprehension 2018-06-01 EPT")
    expect(page.get_by_test_id("reasons")).to_contain_text("born 27 years apart")
    expect(page.get_by_test_id("person-file-a")).to_contain_text("Juan Carlos Gómez Ruiz")
    expect(page.get_by_test_id("person-file-b")).to_contain_text("Luis Gómez Pérez")
    _accept_here(page, "father and son per the agent's notes")
    assert Relationship.objects.filter(
        from_person=people["father"], to_person=people["son"], evidence="claimed", source="link_discovery"
    ).exists()

    # Reject the sibling suggestion with the keyboard only; without a reason it is refused.
    sibling = LinkCandidate.objects.get(person_a=people["sister"], person_b=people["brother"])
    page.goto(f"/link-candidates/{sibling.pk}/")
    page.locator("label[for=then-next]").click()
    page.get_by_role("button", name="Reject").focus()
    page.keyboard.press("Enter")
    expect(page.get_by_text("Say why the candidate is rejected")).to_be_visible()
    assert_accessible(page)
    page.get_by_label("Reason").focus()
    page.keyboard.type("cousins")
    page.get_by_role("button", name="Reject").focus()
    page.keyboard.press("Enter")
    expect(page.get_by_test_id("candidate-status")).to_contain_text("Rejected")

    # Merge the duplicate woman (accents and second surname dropped on the second record).
    dup = LinkCandidate.objects.get(
        person_a__in=[people["dup1_a"], people["dup1_b"]], kind="duplicate_person"
    )
    page.goto(f"/link-candidates/{dup.pk}/")
    assert_accessible(page)
    page.locator("label[for=then-next]").click()
    page.locator("label.usa-radio__label", has_text="(A201234567)").click()
    page.get_by_role("button", name="Accept").click()
    expect(page.get_by_text("the two records are merged")).to_be_visible()
    assert ApprehensionPerson.objects.filter(person=people["dup1_a"]).count() == 2
    assert_accessible(page)

    # The merged record's page leads to the survivor.
    page.goto(f"/persons/{people['dup1_b'].pk}/")
    expect(page.get_by_test_id("merged-into")).to_be_visible()
    assert_accessible(page)
    page.get_by_test_id("merged-into").get_by_role("link", name="María José Pérez Núñez").click()
    expect(page.get_by_test_id("person-name")).to_have_text("María José Pérez Núñez")

    # Undo the merge.
    page.goto(f"/link-candidates/{dup.pk}/")
    page.get_by_role("button", name="Undo the merge").click()
    expect(page.get_by_text("Why undo it")).to_be_visible()
    page.get_by_label("Why undo it").fill("two women, same name and birthday")
    page.get_by_role("button", name="Undo the merge").click()
    expect(page.get_by_text("The merge is undone")).to_be_visible()
    expect(page.get_by_test_id("candidate-status")).to_contain_text("Merge undone")
    assert ApprehensionPerson.objects.filter(person=people["dup1_b"]).count() == 1
    assert PersonMerge.objects.get().undone_at is not None


def test_auditor_reads_the_queue_but_cannot_decide(page: Page, users, people):
    sign_in(page, "auditor")
    page.goto("/link-candidates/")
    expect(page.get_by_test_id("candidate-row").first).to_be_visible()
    page.get_by_test_id("candidate-row").first.get_by_role("link").click()
    expect(page.get_by_test_id("candidate-heading")).to_be_visible()
    expect(page.get_by_test_id("decision-form")).to_have_count(0)
    assert_accessible(page)


@pytest.fixture
def father_again(people):
    """The father entered a second time, with an A-number: a duplicate of him is proposed."""
    from apprehensions.models import Person
    from familylink.common.models import User

    handbuilt._encounter(
        User.objects.get(username="roving_agent"),
        "2018-07-01T10:00:00-06:00",
        "MCA",
        [handbuilt._p("father_again", "Juan Carlos", "Gómez", "", "M", "1985-03-10", a_number="A123123123")],
    )
    discover_links()
    return Person.objects.get(a_number="A123123123")


def test_analyst_follows_a_question_carried_past_a_merge(page: Page, users, people, father_again):
    """Merging the father's two records supersedes the question asked about the record merged away:
    its page says so, leads to the survivor and to the same question about the survivor, decided there."""
    dup = LinkCandidate.objects.get(kind="duplicate_person", person_a__in=[father_again, people["father"]])
    sign_in(page, "hq_analyst")
    page.goto(f"/link-candidates/{dup.pk}/")
    page.locator("label[for=then-next]").click()
    page.get_by_role("button", name="Accept").click()
    expect(page.get_by_text("the two records are merged")).to_be_visible()

    page.goto("/link-candidates/")
    page.get_by_label("Status").select_option("superseded")
    page.get_by_role("button", name="Filter").click()
    row = page.get_by_test_id("candidate-row")
    expect(row).to_have_count(1)
    expect(row).to_contain_text("Merged away")
    assert_accessible(page)
    row.get_by_role("link", name="Juan Carlos Gómez Ruiz and Luis Gómez Pérez").click()
    story = page.get_by_test_id("superseded")
    expect(story).to_contain_text("Juan Carlos Gómez Ruiz was merged into Juan Carlos Gómez")
    expect(page.get_by_test_id("decision-form")).to_have_count(0)
    assert_accessible(page)

    story.get_by_role("link", name="relationship candidate").click()
    expect(page.get_by_test_id("carried-from")).to_be_visible()
    expect(page.get_by_test_id("reasons")).to_contain_text("carried from candidate")
    expect(page.get_by_test_id("person-file-a")).to_contain_text("Juan Carlos Gómez")
    _accept_here(page, "the agent's notes name him as the father")
    assert Relationship.objects.filter(from_person=father_again, to_person=people["son"]).exists()
