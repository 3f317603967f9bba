"""The one visibility policy (apprehensions.visibility) and messages that reveal no one out of scope."""

import json
from datetime import UTC, datetime

import pytest
from django.db import connection

from apprehensions.models import Apprehension, ApprehensionPerson, Person
from apprehensions.selectors import likely_duplicates
from apprehensions.signals import a_number_conflict_detected
from apprehensions.visibility import (
    Action,
    can_act_for_person,
    person_visible_or_404,
    persons_visible_q,
    persons_visible_to,
)
from familylink.common.errors import ValidationFailed
from familylink.common.models import User
from familylink.common.roles import has_capability
from tests.conftest import make_user

from .factories import intake_payload, person_data, record, station

pytestmark = pytest.mark.django_db

HIDDEN_A_NUMBER = "A987654321"
HIDDEN_WORDS = ("Oculta", "Escondida", "1979-11-23")


@pytest.fixture
def hidden(users, ept, mca):
    """A mother and child encountered only at MCA: out of the EPT field agent's scope."""
    mca_agent = make_user("mca_agent", "field_agent", station="MCA")
    result = record(
        mca_agent,
        data=intake_payload(
            station="MCA",
            persons=[
                person_data(
                    "m",
                    given_names="Oculta",
                    first_surname="Escondida",
                    second_surname="Reservada",
                    date_of_birth="1979-11-23",
                    a_number=HIDDEN_A_NUMBER,
                ),
                person_data("c", given_names="Nina", first_surname="Escondida", date_of_birth="2012-02-02"),
            ],
            family_units=[{"members": ["m", "c"]}],
            relationships=[{"from": "m", "to": "c", "type": "parent"}],
        ),
    )
    return {"mother": result.persons[0].person, "child": result.persons[1].person, "agent": mca_agent}


@pytest.fixture
def conflicts():
    """Every a_number_conflict_detected sent during the test, with whether a transaction was open."""
    sent: list[dict] = []

    def receiver(sender, **kwargs):
        sent.append({**kwargs, "in_atomic_block": connection.in_atomic_block})

    a_number_conflict_detected.connect(receiver, dispatch_uid="test-visibility-conflicts")
    yield sent
    a_number_conflict_detected.disconnect(dispatch_uid="test-visibility-conflicts")


def _written() -> tuple[int, int, int]:
    """Apprehensions, persons and encounters on file: unchanged when an intake is refused."""
    return (Apprehension.objects.count(), Person.objects.count(), ApprehensionPerson.objects.count())


def _reveals(text: str) -> list[str]:
    return [w for w in HIDDEN_WORDS if w in text]


# --- the policy ----------------------------------------------------------------------------------


def test_persons_visible_to_follows_the_contract_table(users, hidden):
    """Station staff see their station only; HQ and auditors everyone; coordinators persons in a
    separation; partner agencies list no one but read anyone by id."""
    ept_person = record(users["field_agent"]).persons[0].person
    mother = hidden["mother"]
    agent_sees = set(persons_visible_to(users["field_agent"]).values_list("pk", flat=True))
    assert ept_person.pk in agent_sees and mother.pk not in agent_sees
    assert set(persons_visible_to(users["hq_analyst"])) >= {ept_person, mother}
    assert set(persons_visible_to(users["auditor"])) >= {ept_person, mother}
    assert not persons_visible_to(users["coordinator"]).exists()  # no one is in a separation yet
    assert not persons_visible_to(users["partner_agency"]).exists()
    assert person_visible_or_404(viewer=users["partner_agency"], person_id=mother.pk) == mother
    from django.http import Http404

    with pytest.raises(Http404):
        person_visible_or_404(viewer=users["field_agent"], person_id=mother.pk)
    with pytest.raises(Http404):
        person_visible_or_404(viewer=users["field_agent"], person_id="not-an-id")


def test_coordinator_scope_ignores_withdrawn_separations(users, ept):
    """One meaning for "in any separation": a withdrawn separation (or membership) does not count."""
    from django.utils import timezone

    from separations.services import separation_request

    result = record(users["field_agent"])
    mother, child = (p.person for p in result.persons)
    separation = separation_request(
        requester=users["field_agent"],
        children=[child.pk],
        adults=[mother.pk],
        reason_code="ZERO_TOLERANCE_PROSECUTION",
        occurred_at=datetime(2018, 6, 2, 12, tzinfo=UTC),
    )
    coordinator = users["coordinator"]
    assert set(persons_visible_to(coordinator)) == {mother, child}
    separation.withdrawn_at = timezone.now()
    separation._change_reason = "test: withdrawn"
    separation.save()
    assert not persons_visible_to(coordinator).exists()


def test_scopes_mean_everyone_or_no_one_never_none(users):
    """ALL is Q() and NONE is Q(pk__in=[]) for every role; there is no None meaning either."""
    from django.db.models import Q

    assert persons_visible_q(users["hq_analyst"]) == Q()
    assert persons_visible_q(users["partner_agency"]) == Q(pk__in=[])
    assert persons_visible_q(users["partner_agency"], by_identifier=True) == Q()
    signed_out = type("SignedOut", (), {"is_authenticated": False})()
    assert persons_visible_q(signed_out) == Q(pk__in=[])


def test_superuser_does_case_work_only_through_a_role(users, hidden, api_client_for):
    """A superuser without a role has no capability (API 403); with the field agent role, only the
    field agent's scope, not everyone."""
    from rest_framework.test import APIClient

    root = User.objects.create_superuser("root", "root@example.org", "root-password-123")
    assert not has_capability(root, "read_persons_all")
    client = APIClient()
    client.force_authenticate(root)
    assert client.get("/api/v1/persons/").status_code == 403
    assert client.get(f"/api/v1/persons/{hidden['mother'].pk}/").status_code == 403
    root.groups.add(*users["field_agent"].groups.all())
    root.station = "EPT"
    root.save()
    root = User.objects.get(pk=root.pk)
    assert has_capability(root, "record_intake") and not has_capability(root, "read_persons_all")
    client.force_authenticate(root)
    assert client.get(f"/api/v1/persons/{hidden['mother'].pk}/").status_code == 404
    assert client.get("/admin/").status_code in (200, 302)


def test_partner_reads_persons_by_id_not_separations(users, api_client_for, hidden):
    """The contract grants partners persons by id or A-number; separations not at all."""
    partner = api_client_for("partner_agency")
    assert partner.get(f"/api/v1/persons/{hidden['mother'].pk}/").status_code == 200
    assert partner.get(f"/api/v1/persons/?a_number={HIDDEN_A_NUMBER}").json()["count"] == 1
    assert partner.get("/api/v1/separations/").status_code == 403


def test_coordinator_acts_only_for_their_team_cases(users, ept, mca, hidden):
    """Custody and relationship evidence: persons in the coordinator's team's cases, not another team's."""
    from tests.reunification.factories import approved_separation, years_ago

    _, (ept_case,) = approved_separation(users, children=[years_ago(7)], at="EPT")
    mca_staff = {
        "field_agent": hidden["agent"],
        "supervisor": make_user("mca_sup", "supervisor", station="MCA"),
    }
    _, (mca_case,) = approved_separation(mca_staff, children=[years_ago(7)], at="MCA")
    coordinator = users["coordinator"]
    for action in (Action.TRANSFER_CUSTODY, Action.EDIT_RELATIONSHIP_EVIDENCE):
        assert can_act_for_person(coordinator, ept_case.child, action)
        assert not can_act_for_person(coordinator, mca_case.child, action)
    assert not can_act_for_person(users["auditor"], ept_case.child, Action.TRANSFER_CUSTODY)
    assert can_act_for_person(users["partner_agency"], mca_case.child, Action.TRANSFER_CUSTODY)


def test_likely_duplicates_offers_only_persons_the_viewer_may_see(users, hidden):
    """The intake form's "possibly already on file" never shows a person of another station."""
    found = likely_duplicates(
        given_names="Oculta",
        first_surname="Escondida",
        second_surname="Reservada",
        date_of_birth=hidden["mother"].date_of_birth,
    )
    assert hidden["mother"] in [c.person for c in found]
    scoped = likely_duplicates(
        given_names="Oculta",
        first_surname="Escondida",
        second_surname="Reservada",
        date_of_birth=hidden["mother"].date_of_birth,
        viewer=users["field_agent"],
    )
    assert scoped == []


# --- A-number conflicts --------------------------------------------------------------------------


def test_intake_new_person_with_an_out_of_scope_a_number_reveals_no_one(
    users, api_client_for, hidden, conflicts
):
    """`match: new` with another station's A-number: 400 on the field, no name or birth date, the fix,
    nothing saved, and one a_number_conflict_detected for HQ."""
    before = _written()
    payload = intake_payload(
        persons=[
            person_data("p1", a_number="987-654-321", match="new"),
            person_data("p2", given_names="Ana", date_of_birth="2013-09-30"),
        ]
    )
    response = api_client_for("field_agent").post("/api/v1/apprehensions/", payload, format="json")
    assert response.status_code == 400
    body = response.json()
    message = body["persons[0].a_number"][0]
    assert "already on file for a person you cannot see" in message
    assert "correct the A-number or leave it blank" in message
    assert _reveals(json.dumps(body, ensure_ascii=False)) == []
    assert _written() == before
    assert len(conflicts) == 1
    sent = conflicts[0]
    assert sent["a_number"] == HIDDEN_A_NUMBER
    assert sent["existing_person"] == hidden["mother"]
    assert sent["attempted_by"] == users["field_agent"]
    assert sent["context"] == "intake"
    assert sent["other_person"] is None


def test_intake_conflict_message_names_a_person_the_agent_may_see(users, conflicts):
    """Within scope the agent may read the holder anyway: the message names them, no report is filed."""
    agent = users["field_agent"]
    station("EPT")
    record(agent)  # María José Pérez Núñez, A201234567
    payload = intake_payload(
        persons=[person_data("p1", given_names="Otra", a_number="A201234567", match="new")]
    )
    with pytest.raises(ValidationFailed) as excinfo:
        record(agent, data={**payload, "family_units": [], "relationships": []})
    assert "María José Pérez Núñez" in excinfo.value.errors["persons[0].a_number"][0]
    assert conflicts == []


@pytest.mark.django_db(transaction=True)
def test_conflict_is_reported_outside_the_rolled_back_transaction(users, hidden, conflicts):
    """The receiver runs after the intake's atomic block rolled back, so what it writes is kept."""
    payload = intake_payload(persons=[person_data("p1", a_number=HIDDEN_A_NUMBER, match="new")])
    with pytest.raises(ValidationFailed):
        record(users["field_agent"], data={**payload, "family_units": [], "relationships": []})
    assert len(conflicts) == 1 and conflicts[0]["in_atomic_block"] is False


@pytest.mark.django_db(transaction=True)
def test_conflict_beside_an_unreadable_value_is_reported_outside_every_transaction(users, hidden, conflicts):
    """With a value the serializer could not read too (the service then runs in a savepoint that is
    rolled back), the conflict is still sent after it: both messages come back, HQ's record is kept."""
    payload = intake_payload(
        persons=[
            person_data("p1", a_number=HIDDEN_A_NUMBER, match="new"),
            person_data("p2", given_names="Ana", date_of_birth="30/09/2013"),
        ]
    )
    with pytest.raises(ValidationFailed) as excinfo:
        record(users["field_agent"], data={**payload, "family_units": [], "relationships": []})
    assert set(excinfo.value.errors) == {"persons[0].a_number", "persons[1].date_of_birth"}
    assert len(conflicts) == 1 and conflicts[0]["in_atomic_block"] is False


def test_web_intake_conflict_reveals_no_one_and_reports_once(users, client, hidden, conflicts):
    """The intake form (validate, then record) reports one conflict and shows no name or birth date."""
    from .test_views import form_data

    client.force_login(users["field_agent"])
    data = form_data(**{"persons-0-a_number": HIDDEN_A_NUMBER, "persons-0-match": "new"})
    page = client.post("/intake/", data).content.decode()
    assert "already on file for a person you cannot see" in page
    assert _reveals(page) == []
    assert len(conflicts) == 1 and conflicts[0]["context"] == "intake"
    assert not Apprehension.objects.filter(station__code="EPT").exists()


def test_web_intake_review_of_an_out_of_scope_a_number_hides_the_holder(users, client, hidden, conflicts):
    """Typing another station's A-number asks "same person?" without their name; choosing it links."""
    from .test_views import form_data

    client.force_login(users["field_agent"])
    data = form_data(**{"persons-0-a_number": HIDDEN_A_NUMBER})
    review = client.post("/intake/", data).content.decode()
    assert f"the person on file with A-number {HIDDEN_A_NUMBER}" in review
    assert _reveals(review) == []
    data["persons-0-match"] = "same_a_number"
    assert client.post("/intake/", data).status_code == 302
    link = ApprehensionPerson.objects.get(person=hidden["mother"], apprehension__station__code="EPT")
    # The agent's choice at review is a confirmation: recorded as such, with what was typed.
    assert link.match == "same_person" and "confirmed" in link.match_note
    assert conflicts == []


def test_api_intake_with_a_hidden_a_number_and_other_details_links_no_one(
    users, api_client_for, hidden, conflicts
):
    """A new person (another name, another birth date) typed with the A-number of someone the agent
    cannot see: not linked to them silently (DOMAIN.md), 400 on the A-number naming the fix, the
    holder not revealed, nothing saved, HQ told once. Before: 201, linked, and the response named them."""
    before = _written()
    payload = intake_payload(
        persons=[
            person_data("p1", given_names="Pedro", first_surname="Lemus", sex="M", a_number="987-654-321")
        ],
        family_units=[],
        relationships=[],
    )
    response = api_client_for("field_agent").post("/api/v1/apprehensions/", payload, format="json")

    assert response.status_code == 400, response.content
    body = response.json()
    message = body["persons[0].a_number"][0]
    assert "on file for a person you cannot see" in message and '"same_person"' in message
    assert _reveals(json.dumps(body, ensure_ascii=False)) == []
    assert _written() == before
    assert [(c["a_number"], c["existing_person"], c["context"]) for c in conflicts] == [
        (HIDDEN_A_NUMBER, hidden["mother"], "intake")
    ]


def test_api_intake_with_a_hidden_a_number_and_the_same_details_links_the_holder(
    users, api_client_for, hidden, conflicts
):
    """The same human met again (accents dropped, second surname left out): linked by the A-number,
    as before; an explicit `match: same_person` links even where the details differ."""
    agent_api = api_client_for("field_agent")
    again = person_data(
        "p1",
        given_names="Oculta",
        first_surname="Escondida",
        second_surname="",
        date_of_birth="1979-11-23",
        a_number=HIDDEN_A_NUMBER,
    )
    response = agent_api.post(
        "/api/v1/apprehensions/",
        intake_payload(persons=[again], family_units=[], relationships=[]),
        format="json",
    )
    assert response.status_code == 201, response.content
    assert response.json()["persons"][0]["id"] == str(hidden["mother"].pk)
    other = person_data("p1", given_names="Pedro", first_surname="Lemus", a_number=HIDDEN_A_NUMBER)
    response = agent_api.post(
        "/api/v1/apprehensions/",
        intake_payload(
            occurred_at="2018-06-03T10:00:00-06:00",
            persons=[{**other, "match": "same_person"}],
            family_units=[],
            relationships=[],
        ),
        format="json",
    )
    assert response.status_code == 201, response.content
    assert ApprehensionPerson.objects.filter(person=hidden["mother"], match="same_person").count() == 1
    assert conflicts == []


def test_intake_errors_about_a_person_linked_by_a_hidden_a_number_withhold_them(users, hidden, conflicts):
    """A person linked by an out-of-scope A-number appears in rule messages as "the person on file
    with A-number …", never by name or birth date. The details typed differ from the holder's, so
    the same answer refuses the A-number and HQ is told, whatever else was wrong."""
    payload = intake_payload(
        persons=[
            person_data("p1", a_number=HIDDEN_A_NUMBER),
            person_data("p2", given_names="Ana", date_of_birth="1980-09-30"),
        ],
        relationships=[{"from": "p1", "to": "p2", "type": "parent"}],
    )
    with pytest.raises(ValidationFailed) as excinfo:
        record(users["field_agent"], data=payload)
    text = json.dumps(excinfo.value.errors, ensure_ascii=False)
    assert "at least 12 years older" in text
    assert f"the person on file with A-number {HIDDEN_A_NUMBER}" in text
    assert "on file for a person you cannot see" in excinfo.value.errors["persons[0].a_number"][0]
    assert _reveals(text) == []
    assert [(c["a_number"], c["existing_person"]) for c in conflicts] == [(HIDDEN_A_NUMBER, hidden["mother"])]


def test_existing_person_out_of_scope_is_answered_as_an_unknown_id(users, api_client_for, hidden):
    """`existing_person` of another station: the unknown-id answer; the person is not pulled in."""
    agent_api = api_client_for("field_agent")
    unknown = "5b0e5e3e-1f2a-4c55-9d1e-2d1f6b0c8a11"

    def post(pid):
        return agent_api.post(
            "/api/v1/apprehensions/",
            intake_payload(persons=[{"ref": "x", "existing_person": pid}], family_units=[], relationships=[]),
            format="json",
        )

    out_of_scope = post(str(hidden["mother"].pk))
    not_on_file = post(unknown)
    assert out_of_scope.status_code == not_on_file.status_code == 400
    assert out_of_scope.json()["persons[0].existing_person"][0].replace(str(hidden["mother"].pk), "ID") == (
        not_on_file.json()["persons[0].existing_person"][0].replace(unknown, "ID")
    )
    assert _reveals(out_of_scope.content.decode()) == []
    assert not ApprehensionPerson.objects.filter(
        person=hidden["mother"], apprehension__station__code="EPT"
    ).exists()
    assert agent_api.get(f"/api/v1/persons/{hidden['mother'].pk}/").status_code == 404


def test_patch_a_number_of_an_out_of_scope_person_reveals_no_one(users, api_client_for, hidden, conflicts):
    """PATCH a_number to another station's A-number: 400 on a_number without name or birth date, the
    person unchanged (no history row), one conflict for HQ naming both persons."""
    agent_api = api_client_for("field_agent")
    mine = record(users["field_agent"]).persons[1].person
    etag = agent_api.get(f"/api/v1/persons/{mine.pk}/")["ETag"]
    response = agent_api.patch(
        f"/api/v1/persons/{mine.pk}/", {"a_number": "A98765-4321"}, format="json", HTTP_IF_MATCH=etag
    )
    assert response.status_code == 400
    message = response.json()["a_number"][0]
    assert "already on file for a person you cannot see" in message and "Check the number" in message
    assert _reveals(response.content.decode()) == []
    mine.refresh_from_db()
    assert mine.a_number is None or mine.a_number != HIDDEN_A_NUMBER
    assert mine.history.count() == 1
    assert len(conflicts) == 1
    assert conflicts[0]["context"] == "person_edit"
    assert conflicts[0]["existing_person"] == hidden["mother"]
    assert conflicts[0]["other_person"] == mine
    assert conflicts[0]["attempted_by"] == users["field_agent"]


def test_web_forms_never_show_an_out_of_scope_person(users, client, hidden):
    """A forged "reviewed" id on the intake form, or another station's A-number on the relationship
    form, shows no name or birth date; the relationship form says why and saves nothing."""
    from apprehensions.models import Relationship

    from .test_views import form_data

    client.force_login(users["field_agent"])
    forged = client.post("/intake/", form_data(**{"persons-0-reviewed": str(hidden["mother"].pk)}))
    assert _reveals(forged.content.decode()) == []
    child = record(users["field_agent"]).persons[1].person
    page = client.post(
        f"/persons/{child.pk}/relationships/new/",
        {"other_a_number": HIDDEN_A_NUMBER, "direction": "to", "type": "parent", "evidence": "claimed"},
    )
    text = page.content.decode()
    assert page.status_code == 200
    assert "is on file for a person you cannot see" in text
    assert _reveals(text) == []
    assert not Relationship.objects.filter(from_person=hidden["mother"], to_person=child).exists()
