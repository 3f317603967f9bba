"""Every record page links to its history for readers with `read_history`; edit forms ask why."""

from datetime import UTC, datetime

import pytest

from apprehensions.models import Relationship
from separations.models import CustodyPeriod
from separations.services import custody_transfer
from tests.reunification.factories import approved_separation

pytestmark = pytest.mark.django_db


@pytest.fixture
def world(users):
    separation, cases = approved_separation(users, children=[None], surname="Huanca")
    child = cases[0].child
    adult = separation.members.get(side="adult").person
    relationship = Relationship(from_person=adult, to_person=child, type=Relationship.Type.PARENT)
    relationship.save()
    custody_transfer(person_id=child.pk, agency="HHS_ORR", facility="Casa Padre", by=users["field_agent"])
    return {"separation": separation, "case": cases[0], "child": child, "relationship": relationship}


def _history(obj) -> str:
    return f'href="/audit/history/{obj._meta.label_lower}/{obj.pk}/"'


@pytest.mark.parametrize("role", ["auditor", "hq_analyst"])
def test_record_pages_link_to_each_records_history(client, users, world, role):
    client.force_login(users[role])
    child, separation, case = world["child"], world["separation"], world["case"]
    person_page = client.get(f"/persons/{child.pk}/").content.decode()
    unit = child.memberships.get().family_unit
    custody = CustodyPeriod.objects.filter(person=child).first()
    assert custody is not None
    for obj in (child, world["relationship"], unit, custody):
        assert _history(obj) in person_page, obj
    apprehension = unit.apprehension
    assert _history(apprehension) in client.get(f"/apprehensions/{apprehension.pk}/").content.decode()
    assert _history(separation) in client.get(f"/separations/{separation.pk}/").content.decode()
    assert _history(case) in client.get(f"/reunification/cases/{case.pk}/").content.decode()
    for obj in (child, world["relationship"], unit, custody, apprehension, separation, case):
        assert client.get(f"/audit/history/{obj._meta.label_lower}/{obj.pk}/").status_code == 200, obj


@pytest.mark.parametrize("role", ["field_agent", "supervisor"])
def test_no_history_link_without_read_history(client, users, world, role):
    client.force_login(users[role])
    html = client.get(f"/persons/{world['child'].pk}/").content.decode()
    assert "/audit/history/" not in html


def test_edit_forms_ask_for_the_reason_and_say_why(client, users, world):
    client.force_login(users["field_agent"])
    for url in (f"/persons/{world['child'].pk}/edit/", f"/persons/{world['child'].pk}/relationships/new/"):
        html = client.get(url).content.decode()
        assert "Reason for the change" in html, url
        assert "Kept in the record's history: who, when and why." in html, url


def test_edit_without_a_reason_is_marked_in_history(client, users, world):
    child = world["child"]
    client.force_login(users["field_agent"])
    form = client.get(f"/persons/{child.pk}/edit/").context["form"]
    data = {name: form[name].value() or "" for name in form.fields}
    data.update(given_names="Nina", change_reason="", country_of_citizenship="GT", date_of_birth="2015-05-01")
    data.pop("dob_estimated")
    response = client.post(f"/persons/{child.pk}/edit/", data)
    assert response.status_code == 302, response.context["form"].errors
    client.force_login(users["auditor"])
    html = client.get(f"/audit/history/apprehensions.person/{child.pk}/").content.decode()
    assert "no reason given" in html


def test_case_reassign_form_asks_why_and_history_keeps_it(client, users, world):
    from tests.conftest import make_user

    colleague = make_user("colleague", "coordinator", team="EPT-REUNIFY")
    case = world["case"]
    client.force_login(users["supervisor"])
    html = client.get(f"/reunification/cases/{case.pk}/").content.decode()
    assert 'name="change_reason"' in html and "Reason for the change" in html
    reason = "coordinator on leave until Monday"
    client.post(
        f"/reunification/cases/{case.pk}/reassign/", {"assigned_to": colleague.pk, "change_reason": reason}
    )
    case.refresh_from_db()
    assert case.assigned_to == colleague
    assert case.history.first().history_change_reason == reason
    client.force_login(users["auditor"])
    history = client.get(f"/audit/history/reunification.reunificationcase/{case.pk}/").content.decode()
    assert reason in history


def test_link_candidate_page_links_to_its_history(users, client):
    """The link candidate page (linkage app) has its History link, and the history page opens."""
    from apprehensions.linkage.services import a_number_conflict_file
    from apprehensions.models import Person

    person = Person(given_names="Rosa", first_surname="Condori", is_minor=True)
    person._change_reason = "test"
    person.save()
    candidate = a_number_conflict_file(a_number="A012345670", existing_person=person, context="intake")
    client.force_login(users["hq_analyst"])
    html = client.get(f"/link-candidates/{candidate.pk}/").content.decode()
    url = f"/audit/history/linkage.linkcandidate/{candidate.pk}/"
    assert url in html
    assert client.get(url).status_code == 200


def test_apprehension_history_names_its_time_in_the_stations_zone(client, users, world):
    """The history page's title names the apprehension by station and time: that time is the
    station's wall clock with its zone, as on every other page (never a bare UTC time)."""
    from familylink.common.clock import wallclock_text

    apprehension = world["child"].memberships.get().family_unit.apprehension
    apprehension.station.timezone = "America/Denver"
    apprehension.station.save()
    apprehension.occurred_at = datetime(2018, 6, 20, 15, 0, tzinfo=UTC)  # 09:00 MDT
    apprehension.save()
    client.force_login(users["auditor"])
    html = client.get(f"/audit/history/apprehensions.apprehension/{apprehension.pk}/").content.decode()
    assert f"{apprehension.station.code} 2018-06-20 09:00 MDT" in html
    assert f"{apprehension.station.code} 2018-06-20 15:00" not in html
    assert str(apprehension).endswith(wallclock_text(apprehension.occurred_at, apprehension.station))
