"""Pages: the intake form (rows, errors beside fields, duplicate review), person, apprehension, search."""

import pytest

from apprehensions.models import Apprehension, ApprehensionPerson, Person, Relationship
from audit.models import AccessLog

from .factories import encountered, record

pytestmark = pytest.mark.django_db


def form_data(**overrides):
    data = {
        "occurred_at": "2018-06-01T10:15",
        "station": "EPT",
        "location_description": "Anapra fence line",
        "persons-TOTAL": "2",
        "persons-0-ref": "p1",
        "persons-0-given_names": "Marisol",
        "persons-0-first_surname": "Gómez",
        "persons-0-second_surname": "Tzoc",
        "persons-0-date_of_birth": "1990-03-03",
        "persons-0-sex": "F",
        "persons-0-family": "A",
        "persons-1-ref": "p2",
        "persons-1-given_names": "Kevin",
        "persons-1-first_surname": "Gómez",
        "persons-1-date_of_birth": "2012-07-07",
        "persons-1-sex": "M",
        "persons-1-family": "A",
        "relationships-TOTAL": "1",
        "relationships-0-from_person": "p1",
        "relationships-0-to_person": "p2",
        "relationships-0-type": "parent",
        "relationships-0-evidence": "claimed",
        "_action": "save",
    }
    data.update(overrides)
    return data


@pytest.fixture
def agent_client(client, agent):
    client.force_login(agent)
    return client


def test_intake_page_only_for_roles_that_record(client, users, ept):
    """HQ analysts get 403 on the intake page; field agents get the form with their station."""
    client.force_login(users["hq_analyst"])
    assert client.get("/intake/").status_code == 403
    client.force_login(users["field_agent"])
    page = client.get("/intake/").content.decode()
    assert 'id="id_persons-0-given_names"' in page and 'value="EPT"' in page


def test_intake_saves_and_redirects_to_the_apprehension(agent_client):
    """A valid form saves the encounter (same service as the API) and shows the apprehension."""
    response = agent_client.post("/intake/", form_data())
    apprehension = Apprehension.objects.get()
    assert response.status_code == 302 and response["Location"] == f"/apprehensions/{apprehension.pk}/"
    assert apprehension.occurred_at.isoformat() == "2018-06-01T16:15:00+00:00"  # 10:15 in El Paso (MDT)
    rel = Relationship.objects.get()
    assert rel.source == "intake" and rel.from_person.given_names == "Marisol"
    page = agent_client.get(response["Location"]).content.decode()
    assert "Apprehension recorded: 2 persons, 1 family unit, 1 relationship." in page


def test_intake_error_sits_beside_its_field_and_keeps_every_value(agent_client):
    """A bad A-number: the message is in that field's form group; every value typed is still there."""
    response = agent_client.post("/intake/", form_data(**{"persons-1-a_number": "A-12"}))
    page = response.content.decode()
    assert response.status_code == 200
    assert Person.objects.count() == 0 and Apprehension.objects.count() == 0
    group_start = page.index('id="id_persons-1-a_number-error"')
    assert page.rfind("usa-form-group--error", 0, group_start) > page.rfind('usa-form-group"', 0, group_start)
    assert 'aria-describedby="id_persons-1-a_number-hint id_persons-1-a_number-error"' in page
    for value in (
        "Marisol",
        "Gómez",
        "Tzoc",
        "1990-03-03",
        "Kevin",
        "2012-07-07",
        "A-12",
        "Anapra fence line",
        "2018-06-01T10:15",
    ):
        assert f'value="{value}"' in page, value
    assert 'href="#id_persons-1-a_number"' in page  # the summary links to the field


def test_intake_reports_an_unreadable_date_with_every_other_problem_in_one_round(agent_client):
    """A date of birth that is not a date, a bad A-number on the other person and no surname: all
    three beside their fields at once (the date's message once), and the values typed are kept."""
    data = form_data(
        **{"persons-0-date_of_birth": "3/3/1990", "persons-1-a_number": "A-12", "persons-1-first_surname": ""}
    )
    page = agent_client.post("/intake/", data).content.decode()
    assert Apprehension.objects.count() == 0
    assert page.count("Date of birth &#x27;3/3/1990&#x27; is not a date; write it as YYYY-MM-DD.") == 2
    assert "Date of birth is required" not in page
    for field in ("persons-0-date_of_birth", "persons-1-a_number", "persons-1-first_surname"):
        assert f'id="id_{field}-error"' in page and f'href="#id_{field}"' in page, field
    assert 'value="3/3/1990"' in page and 'value="A-12"' in page


def test_intake_add_and_remove_rows_keep_typed_values(agent_client):
    """Adding a person row keeps the others; removing one drops only that row and its relationship ends."""
    added = agent_client.post("/intake/", form_data(_action="add_person")).content.decode()
    assert 'name="persons-TOTAL" value="3"' in added
    assert (
        'value="Marisol"' in added and 'value="Kevin"' in added and 'id="id_persons-2-given_names"' in added
    )
    assert 'name="persons-2-ref" value="p3"' in added
    removed = agent_client.post("/intake/", form_data(_action="remove_person:0")).content.decode()
    assert 'name="persons-TOTAL" value="1"' in removed
    assert 'value="Marisol"' not in removed and 'value="Kevin"' in removed
    assert 'name="persons-0-ref" value="p2"' in removed
    more = agent_client.post("/intake/", form_data(_action="add_relationship")).content.decode()
    assert 'name="relationships-TOTAL" value="2"' in more
    assert Person.objects.count() == 0


def test_intake_lone_family_member_is_explained(agent_client):
    """A family letter chosen for one person only is explained next to that person's family choice."""
    page = agent_client.post("/intake/", form_data(**{"persons-1-family": "B"})).content.decode()
    assert "Family A has only this person" in page and "Family B has only this person" in page
    assert Apprehension.objects.count() == 0


def test_intake_likely_duplicate_review_records_same_person(agent_client, agent):
    """A close name with the same date of birth is shown before saving; "same person" links the record."""
    existing = record(agent).persons[0].person  # María José Pérez Núñez, 1988-04-02
    data = form_data(
        **{
            "persons-0-given_names": "Maria Jose",
            "persons-0-first_surname": "Perez",
            "persons-0-second_surname": "Nunez",
            "persons-0-date_of_birth": "1988-04-02",
        }
    )
    review = agent_client.post("/intake/", data).content.decode()
    assert "Check likely duplicates before saving" in review
    assert f'value="same:{existing.pk}"' in review
    assert Apprehension.objects.count() == 1  # only the first one
    data["persons-0-reviewed"] = str(existing.pk)
    data["persons-0-match"] = f"same:{existing.pk}"
    response = agent_client.post("/intake/", data)
    assert response.status_code == 302
    encounter = ApprehensionPerson.objects.get(
        apprehension=Apprehension.objects.latest("created_at"), person=existing
    )
    assert encounter.match == "same_person" and "Maria Jose Perez Nunez" in encounter.match_note
    assert Person.objects.filter(date_of_birth="1988-04-02").count() == 1


def test_intake_likely_duplicate_review_records_new_person(agent_client, agent):
    """Choosing "new person" creates a person and records that the duplicates were reviewed."""
    existing = record(agent).persons[0].person
    data = form_data(
        **{
            "persons-0-given_names": "María José",
            "persons-0-first_surname": "Pérez",
            "persons-0-second_surname": "Núñez",
            "persons-0-date_of_birth": "1988-04-02",
        }
    )
    data.update({"persons-0-reviewed": str(existing.pk)})
    page = agent_client.post("/intake/", data).content.decode()
    assert "Choose whether this is the person on file or a new person." in page
    data["persons-0-match"] = "new"
    assert agent_client.post("/intake/", data).status_code == 302
    encounter = ApprehensionPerson.objects.get(
        person__given_names="María José", match="new", apprehension=Apprehension.objects.latest("created_at")
    )
    assert str(existing.pk) in encounter.match_note
    assert Person.objects.filter(date_of_birth="1988-04-02").count() == 2


def test_person_page_shows_family_and_logs_the_view(agent_client, agent):
    """The person page lists family unit members and relationships with evidence; the view is logged."""
    result = record(agent)
    mother, child = (p.person for p in result.persons)
    page = agent_client.get(f"/persons/{mother.pk}/").content.decode()
    assert "Ana Pérez" in page and "Child" in page and "Claimed" in page and "A201234567" in page
    log = AccessLog.objects.get(object_id=str(mother.pk))
    assert (log.user, log.channel, log.is_minor_record) == (agent, "web", False)
    agent_client.get(f"/persons/{child.pk}/")
    assert AccessLog.objects.get(object_id=str(child.pk)).is_minor_record


def test_person_page_out_of_scope_is_404(client, users, agent):
    mother = record(agent).persons[0].person
    client.force_login(users["coordinator"])
    assert client.get(f"/persons/{mother.pk}/").status_code == 404
    client.force_login(users["partner_agency"])
    assert client.get("/persons/").status_code == 403


def test_persons_search_page(agent_client, agent):
    record(agent)
    page = agent_client.get("/persons/?q=perez+nunez").content.decode()
    assert "María José Pérez Núñez" in page and "1 person found" in page
    bad = agent_client.get("/persons/?a_number=A1").content.decode()
    assert "usa-error-message" in bad and "8 or 9 digits" in bad


def test_person_edit_page_saves_and_refuses_stale_versions(agent_client, agent):
    mother = record(agent).persons[0].person
    data = {
        "given_names": "María José",
        "first_surname": "Pérez",
        "second_surname": "Núñez",
        "sex": "F",
        "date_of_birth": "1988-04-02",
        "country_of_citizenship": "GT",
        "language": "Spanish",
        "a_number": "A201234567",
        "change_reason": "Interview",
        "version": "1",
    }
    assert agent_client.post(f"/persons/{mother.pk}/edit/", data).status_code == 302
    mother.refresh_from_db()
    assert mother.language == "Spanish" and mother.version == 2
    stale = agent_client.post(f"/persons/{mother.pk}/edit/", {**data, "language": "Mam"})
    assert stale.status_code == 200 and "version 2" in stale.content.decode()
    mother.refresh_from_db()
    assert mother.language == "Spanish"


def test_person_edit_page_reports_an_unreadable_date_with_the_other_problems(agent_client, agent):
    """A date of birth that is not a date and a blank given name: both in one round, nothing saved."""
    mother = record(agent).persons[0].person
    data = {"given_names": "", "date_of_birth": "tomorrow", "version": "1"}
    page = agent_client.post(f"/persons/{mother.pk}/edit/", data).content.decode()
    assert "Date of birth &#x27;tomorrow&#x27; is not a date; write it as YYYY-MM-DD." in page
    assert "Given names is required" in page and "Date of birth is required" not in page
    mother.refresh_from_db()
    assert mother.version == 1 and mother.given_names == "María José"


def _child_and_father_on_file(agent):
    """A child of a recorded apprehension, and Pedro Pérez (A555000111) encountered elsewhere."""
    child = record(agent).persons[1].person
    father = Person(
        given_names="Pedro", first_surname="Pérez", date_of_birth="1980-01-01", sex="M", a_number="A555000111"
    )
    father.save()
    encountered(father)
    return child, father


def test_relationship_add_page(agent_client, agent):
    child, father = _child_and_father_on_file(agent)
    response = agent_client.post(
        f"/persons/{child.pk}/relationships/new/",
        {"other_a_number": "555-000-111", "direction": "to", "type": "parent", "evidence": "claimed"},
    )
    assert response.status_code == 302
    assert Relationship.objects.filter(from_person=father, to_person=child, type="parent").exists()
    again = agent_client.post(
        f"/persons/{child.pk}/relationships/new/",
        {"other_a_number": "A555000111", "direction": "to", "type": "parent", "evidence": "claimed"},
    )
    assert "already recorded as parent" in again.content.decode()


def test_intake_page_explains_a_missing_station(client, users):
    """An agent whose station is not in the reference data is told why they cannot record, not shown a 403."""
    client.force_login(users["field_agent"])
    response = client.get("/intake/")
    assert response.status_code == 200
    assert "Your station EPT is not in FamilyLink" in response.content.decode()


def test_apprehension_list_shows_the_stations_apprehensions_with_person_counts(client, users, agent, mca):
    """Field agents list their station's apprehensions; each row counts the persons encountered."""
    result = record(agent)
    client.force_login(agent)
    page = client.get("/apprehensions/").content.decode()
    assert f'href="/apprehensions/{result.apprehension.pk}/"' in page
    assert "<td>2</td>" in page
    assert "2018-06-01 10:15 MDT" in page  # station time, not UTC
    users["supervisor"].station = "MCA"
    users["supervisor"].save()
    client.force_login(users["supervisor"])
    assert f"/apprehensions/{result.apprehension.pk}/" not in client.get("/apprehensions/").content.decode()
    assert client.get(f"/apprehensions/{result.apprehension.pk}/").status_code == 404


def test_documented_evidence_without_document_is_a_follow_up_hq_can_list(client, api_client_for, users, ept):
    """The contract's relationship (`evidence: documented`, nothing else) succeeds; the person page
    shows "documented: document not named" and HQ's follow-up list names the relationship."""
    from .factories import intake_payload

    body = intake_payload(
        relationships=[{"from": "p1", "to": "p2", "type": "parent", "evidence": "documented"}]
    )
    response = api_client_for("field_agent").post("/api/v1/apprehensions/", body, format="json")
    assert response.status_code == 201, response.content
    rel = Relationship.objects.get()
    assert (rel.evidence, rel.document_kind) == ("documented", "")
    client.force_login(users["field_agent"])
    page = client.get(f"/persons/{rel.from_person_id}/").content.decode()
    assert "documented: document not named" in page
    assert client.get("/follow-ups/documents-not-named/").status_code == 403
    client.force_login(users["hq_analyst"])
    listing = client.get("/follow-ups/documents-not-named/").content.decode()
    assert rel.from_person.full_name in listing and rel.to_person.full_name in listing
    assert f"/persons/{rel.to_person_id}/" in listing
    detail = api_client_for("hq_analyst").get(f"/api/v1/relationships/{rel.pk}/").json()
    assert detail["document_not_named"] is True


def test_apprehension_page_without_a_recording_agent_renders(client, agent):
    """An apprehension no agent recorded (scenario data, an earlier encounter) shows "(scenario data)"
    as its recorder instead of a 500 (the recorder's name was a filter argument on a None user)."""
    person = record(agent).persons[0].person
    encountered(person)
    earlier = Apprehension.objects.get(persons=person, apprehending_agent__isnull=True)
    client.force_login(agent)
    response = client.get(f"/apprehensions/{earlier.pk}/")
    assert response.status_code == 200
    assert "(scenario data)" in response.content.decode()


def test_persons_search_too_long_names_the_field_and_keeps_the_text(agent_client, agent):
    """A search longer than the API's 200 characters is refused beside the search box, with the
    text kept; it was a 500 (levenshtein() refuses words over 255 characters)."""
    record(agent)
    typed = "x" * 300
    response = agent_client.get("/persons/", {"q": typed})
    html = response.content.decode()
    assert response.status_code == 200
    assert 'id="q-error"' in html and "at most 200 characters" in html
    assert f'value="{typed}"' in html


def test_persons_search_with_control_characters_is_refused_beside_the_box(agent_client, agent):
    """A NUL in the search is refused by name as the API refuses it, not answered "0 persons found"."""
    record(agent)
    response = agent_client.get("/persons/", {"q": "Ana\x00 Perez"})
    html = response.content.decode()
    assert response.status_code == 200
    assert 'id="q-error"' in html and "Remove the control characters" in html
    assert "0 persons found" not in html


@pytest.mark.parametrize("direction", ["sideways", ""])
def test_relationship_add_unknown_direction_is_refused_not_read_as_to(agent_client, agent, direction):
    """A direction that is neither choice (a tampered or missing radio) recorded the relationship one
    way silently ('to': the other person the parent); it is refused beside the field, nothing saved."""
    child, father = _child_and_father_on_file(agent)
    response = agent_client.post(
        f"/persons/{child.pk}/relationships/new/",
        {"other_a_number": "A555000111", "direction": direction, "type": "parent", "evidence": "claimed"},
    )
    assert response.status_code == 200
    assert "Choose which of the two is the parent" in response.content.decode()
    assert 'value="A555000111"' in response.content.decode()
    assert not Relationship.objects.filter(from_person=father, to_person=child).exists()


def test_intake_unknown_match_value_is_refused_not_a_skipped_duplicate_review(agent_client, agent):
    """A decision that is none of 'same:<id>', 'same_a_number' or 'new' (a tampered or stale field)
    skipped the likely-duplicate review and saved a new person beside the one on file; it is
    refused by name and nothing is saved."""
    record(agent)  # María José Pérez Núñez, 1988-04-02
    data = form_data(
        **{
            "persons-0-given_names": "María José",
            "persons-0-first_surname": "Pérez",
            "persons-0-second_surname": "Núñez",
            "persons-0-date_of_birth": "1988-04-02",
            "persons-0-match": "maybe",
        }
    )
    response = agent_client.post("/intake/", data)
    html = response.content.decode().replace("&#x27;", "'")
    assert response.status_code == 200
    assert "'maybe' is not a decision this form offers" in html
    assert Apprehension.objects.count() == 1
    assert Person.objects.filter(date_of_birth="1988-04-02").count() == 1


@pytest.mark.parametrize("version", ["abc", ""])
def test_person_edit_without_a_readable_version_says_why_nothing_was_saved(agent_client, agent, version):
    """A form whose hidden version is missing or unreadable (an old page, a tampered field) said
    only "Nothing was saved ... each message is beside its field" with no message anywhere."""
    person = record(agent).persons[0].person
    response = agent_client.post(
        f"/persons/{person.pk}/edit/",
        {
            "given_names": "Ana",
            "first_surname": "Pérez",
            "sex": "F",
            "date_of_birth": "1988-04-02",
            "version": version,
        },
    )
    html = response.content.decode()
    assert response.status_code == 200
    assert "does not say which version of the record it edits" in html
    assert "Reload the current record" in html
    person.refresh_from_db()
    assert person.given_names != "Ana"
