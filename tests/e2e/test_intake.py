"""A field agent records a family and an unrelated adult in one encounter, then finds the family on the
mother's page; a bad A-number is explained beside its field, with everything typed kept and nothing saved."""

import pytest
from playwright.sync_api import expect

from apprehensions.models import Apprehension, FamilyUnit, Person, Relationship, Station

from .conftest import assert_accessible, sign_in

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

MOTHER = {
    "given_names": "María José",
    "first_surname": "Pérez",
    "second_surname": "Núñez",
    "date_of_birth": "1988-04-02",
    "a_number": "A201234567",
    "sex": "F",
    "country_of_citizenship": "GT",
    "family": "A",
}
CHILD_1 = {
    "given_names": "Ana Lucía",
    "first_surname": "Pérez",
    "second_surname": "Núñez",
    "date_of_birth": "2013-09-30",
    "sex": "F",
    "country_of_citizenship": "GT",
    "family": "A",
}
CHILD_2 = {
    "given_names": "José Ángel",
    "first_surname": "Pérez",
    "second_surname": "Núñez",
    "date_of_birth": "2015-02-11",
    "sex": "M",
    "country_of_citizenship": "GT",
    "family": "A",
}
STRANGER = {
    "given_names": "Carlos Enrique",
    "first_surname": "Hernández",
    "second_surname": "López",
    "date_of_birth": "1979-11-23",
    "a_number": "209-876-543",
    "sex": "M",
    "country_of_citizenship": "HN",
    "family": "",
}
SELECTS = ("sex", "country_of_citizenship", "family")


@pytest.fixture
def ept(db):
    station = Station(code="EPT", name="El Paso Station", sector="El Paso Sector", timezone="America/Denver")
    station.save()
    return station


def fill_person(page, index: int, values: dict[str, str]) -> None:
    for name, value in values.items():
        field = page.locator(f"#id_persons-{index}-{name}")
        if name in SELECTS:
            field.select_option(value)
        else:
            field.fill(value)


def fill_relationship(page, index: int, from_label: str, to_label: str) -> None:
    page.locator(f"#id_relationships-{index}-from_person").select_option(label=from_label)
    page.locator(f"#id_relationships-{index}-type").select_option("parent")
    page.locator(f"#id_relationships-{index}-to_person").select_option(label=to_label)
    page.locator(f"#id_relationships-{index}-evidence").select_option("claimed")


def start_intake(page, persons: list[dict[str, str]]) -> None:
    page.get_by_role("navigation", name="Primary navigation").get_by_role(
        "link", name="Record apprehension"
    ).click()
    page.wait_for_url("**/intake/")
    page.locator("#id_occurred_at").fill("2018-06-01T10:15")
    page.locator("#id_location_description").fill("Near the Paso del Norte bridge")
    for index, values in enumerate(persons):
        if index > 0:
            page.get_by_role("button", name="Add person").click()
            page.wait_for_selector(f"#id_persons-{index}-given_names")
            page.wait_for_load_state()
        fill_person(page, index, values)


def test_field_agent_records_a_family_and_sees_it_on_the_mothers_page(page, users, ept):
    """Mother, two children and an unrelated adult in one encounter, with mother→child relationships."""
    sign_in(page, "field_agent")
    start_intake(page, [MOTHER, CHILD_1, CHILD_2, STRANGER])
    assert_accessible(page)
    # Adding rows posted the form back: what was typed in the first rows is still there.
    assert page.locator("#id_persons-0-given_names").input_value() == "María José"
    assert page.locator("#id_persons-1-date_of_birth").input_value() == "2013-09-30"

    page.get_by_role("button", name="Add relationship").click()
    page.wait_for_selector("#id_relationships-0-from_person")
    fill_relationship(page, 0, "Person 1: María José Pérez Núñez", "Person 2: Ana Lucía Pérez Núñez")
    page.get_by_role("button", name="Add relationship").click()
    page.wait_for_selector("#id_relationships-1-from_person")
    fill_relationship(page, 1, "Person 1: María José Pérez Núñez", "Person 3: José Ángel Pérez Núñez")
    assert page.locator("#id_persons-3-given_names").input_value() == "Carlos Enrique"
    page.get_by_role("button", name="Review and save apprehension").click()

    page.wait_for_url("**/apprehensions/*/")
    assert page.get_by_text("Apprehension recorded: 4 persons, 1 family unit, 2 relationships.").is_visible()
    assert_accessible(page)

    page.get_by_role("link", name="María José Pérez Núñez").first.click()
    page.wait_for_url("**/persons/*/")
    assert page.get_by_test_id("person-name").inner_text() == "María José Pérez Núñez"
    family = page.get_by_test_id("family")
    unit = family.get_by_test_id("family-unit")
    assert unit.count() == 1
    unit_text = unit.inner_text()
    assert "Ana Lucía Pérez Núñez" in unit_text and "José Ángel Pérez Núñez" in unit_text
    assert "Carlos Enrique" not in unit_text
    rows = family.get_by_test_id("relationships").locator("tbody tr")
    assert rows.count() == 2
    assert all(text.startswith("Child") for text in rows.all_inner_texts())
    assert "claimed" in rows.first.inner_text().lower()
    assert_accessible(page)

    mother = Person.objects.get(a_number="A201234567")
    assert Relationship.objects.filter(from_person=mother, type="parent").count() == 2
    assert Person.objects.get(a_number="A209876543").family_units.count() == 0
    assert FamilyUnit.objects.count() == 1


def test_bad_a_number_is_shown_beside_its_field_and_nothing_is_saved(page, users, ept):
    """A second submission with a bad A-number: message beside that field, every value kept, nothing saved."""
    sign_in(page, "field_agent")
    start_intake(page, [MOTHER, {**CHILD_1, "a_number": "A12-34X"}, CHILD_2])
    page.get_by_role("button", name="Add relationship").click()
    page.wait_for_selector("#id_relationships-0-from_person")
    fill_relationship(page, 0, "Person 1: María José Pérez Núñez", "Person 2: Ana Lucía Pérez Núñez")
    before = (Person.objects.count(), Apprehension.objects.count(), Relationship.objects.count())

    page.get_by_role("button", name="Review and save apprehension").click()

    expect(page.locator("#id_persons-1-a_number-error")).to_be_visible()
    group = page.locator(".usa-form-group--error", has=page.locator("#id_persons-1-a_number"))
    assert group.count() == 1
    message = group.locator(".usa-error-message")
    assert "A-number" in message.inner_text() and "8 or 9 digits" in message.inner_text()
    assert (
        page.locator("#id_persons-1-a_number")
        .get_attribute("aria-describedby")
        .endswith("id_persons-1-a_number-error")
    )
    assert page.locator(".usa-error-message").count() == 1
    for index, values in enumerate([MOTHER, {**CHILD_1, "a_number": "A12-34X"}, CHILD_2]):
        for name, value in values.items():
            assert page.locator(f"#id_persons-{index}-{name}").input_value() == value, (index, name)
    assert page.locator("#id_occurred_at").input_value() == "2018-06-01T10:15"
    assert page.locator("#id_location_description").input_value() == "Near the Paso del Norte bridge"
    assert page.locator("#id_relationships-0-to_person").input_value() == "p2"
    assert page.get_by_role("alert").first.is_visible()
    assert_accessible(page)
    assert (Person.objects.count(), Apprehension.objects.count(), Relationship.objects.count()) == before


def test_likely_duplicate_is_reviewed_before_saving(page, users, ept):
    """A person typed with a close name and the same birth date is offered as "same person" before saving;
    the agent's choice links the record on file. Edit and add-relationship pages are accessible too."""
    sign_in(page, "field_agent")
    start_intake(page, [MOTHER, CHILD_1])
    page.get_by_role("button", name="Review and save apprehension").click()
    page.wait_for_url("**/apprehensions/*/")

    retyped = {**MOTHER, "given_names": "Maria Jose", "first_surname": "Perez", "a_number": "", "family": ""}
    start_intake(page, [retyped])
    page.get_by_role("button", name="Review and save apprehension").click()
    review = page.get_by_test_id("duplicate-review")
    expect(review).to_be_visible()
    assert page.get_by_role("heading", name="Check likely duplicates before saving").is_visible()
    assert_accessible(page)
    review.get_by_text("Same person: María José Pérez Núñez").click()
    page.get_by_role("button", name="Save apprehension").click()
    page.wait_for_url("**/apprehensions/*/")
    assert page.get_by_text("Agent chose an existing person").is_visible()
    assert Person.objects.filter(date_of_birth="1988-04-02").count() == 1
    assert Person.objects.get(a_number="A201234567").apprehensions.count() == 2

    page.get_by_role("link", name="María José Pérez Núñez").click()
    page.wait_for_url("**/persons/*/")
    page.get_by_role("link", name="Edit identity").click()
    page.wait_for_url("**/edit/")
    assert_accessible(page)
    page.get_by_label("First surname").fill("")
    page.get_by_role("button", name="Save changes").click()
    expect(page.locator("#id_first_surname-error")).to_be_visible()
    assert_accessible(page)
    page.goto(page.url.replace("/edit/", "/relationships/new/"))
    assert_accessible(page)
