"""Reads: who sees which person (one test per role), name search, likely duplicates."""

from datetime import UTC, date, datetime

import pytest

from apprehensions.selectors import likely_duplicates, person_get_for_viewer, person_search
from familylink.common.errors import ValidationFailed

from .factories import PersonFactory, intake_payload, person_data, record

pytestmark = pytest.mark.django_db


@pytest.fixture
def scene(users, agent, mca):
    """A family at EPT, a single adult at MCA, a person on file never encountered."""
    from familylink.common.models import User

    ept = {p.ref: p.person for p in record(agent).persons}
    mca_agent = User.objects.create(username="mca_agent", station="MCA")
    mca_agent.groups.add(*users["field_agent"].groups.all())
    mca_person = (
        record(
            mca_agent,
            data=intake_payload(
                station="MCA",
                persons=[
                    person_data(
                        "x",
                        given_names="Wilmer",
                        first_surname="Cruz",
                        second_surname="Paz",
                        a_number="A300000001",
                        sex="M",
                    )
                ],
                family_units=[],
                relationships=[],
            ),
        )
        .persons[0]
        .person
    )
    orphan = PersonFactory(given_names="Sin", first_surname="Encuentro", a_number="A400000001")
    return {"mother": ept["p1"], "child": ept["p2"], "mca": mca_person, "orphan": orphan}


def names(queryset) -> set[str]:
    return {p.given_names for p in queryset}


def test_person_search_field_agent_sees_own_station(users, scene):
    """A field agent sees persons encountered at their station, not elsewhere."""
    assert names(person_search(viewer=users["field_agent"])) == {"María José", "Ana"}


def test_person_search_supervisor_sees_own_station(users, scene):
    """A supervisor sees persons encountered at their station, not elsewhere."""
    assert names(person_search(viewer=users["supervisor"])) == {"María José", "Ana"}


@pytest.mark.parametrize("role", ["hq_analyst", "auditor"])
def test_person_search_hq_and_auditor_see_everyone(users, scene, role):
    """HQ analysts and auditors see every person on file."""
    assert names(person_search(viewer=users[role])) == {"María José", "Ana", "Wilmer", "Sin"}


def test_person_search_coordinator_sees_persons_in_a_separation(users, agent, scene):
    """A coordinator sees persons named in any separation, and no one else."""
    from separations.services import separation_request

    assert names(person_search(viewer=users["coordinator"])) == set()
    separation_request(
        requester=agent,
        children=[scene["child"].pk],
        adults=[scene["mother"].pk],
        reason_code="ZERO_TOLERANCE_PROSECUTION",
        occurred_at=datetime(2018, 6, 2, 12, tzinfo=UTC),
    )
    assert names(person_search(viewer=users["coordinator"])) == {"María José", "Ana"}


def test_person_search_partner_agency_only_by_a_number(users, scene):
    """A partner agency looks up by A-number (any spelling) or id; listing without one is refused."""
    partner = users["partner_agency"]
    with pytest.raises(ValidationFailed) as excinfo:
        person_search(viewer=partner)
    assert "by A-number" in excinfo.value.errors["a_number"][0]
    assert names(person_search(viewer=partner, filters={"a_number": "300-000-001"})) == {"Wilmer"}
    assert person_get_for_viewer(viewer=partner, person_id=scene["orphan"].pk) == scene["orphan"]


def test_person_get_for_viewer_hides_persons_out_of_scope(users, scene):
    """A field agent asking for a person of another station gets DoesNotExist (a 404, not a 403)."""
    from apprehensions.models import Person

    with pytest.raises(Person.DoesNotExist):
        person_get_for_viewer(viewer=users["field_agent"], person_id=scene["mca"].pk)
    assert person_get_for_viewer(viewer=users["field_agent"], person_id=scene["child"].pk) == scene["child"]


@pytest.mark.parametrize("q", ["perez nunez", "PÉREZ", "Nunez Perez maria", "Peres Nuñes", "maria jose"])
def test_person_search_q_is_accent_case_typo_and_order_tolerant(users, scene, q):
    """The mother is found whatever the accents, case, surname order or a small typo."""
    assert "María José" in names(person_search(viewer=users["hq_analyst"], q=q))


def test_person_search_filters(users, scene):
    """a_number (any spelling), date_of_birth, is_minor, is_unaccompanied and station filter the list."""
    hq = users["hq_analyst"]
    assert names(person_search(viewer=hq, filters={"a_number": "a201234567"})) == {"María José"}
    assert names(person_search(viewer=hq, filters={"date_of_birth": "2013-09-30"})) == {"Ana"}
    assert names(person_search(viewer=hq, filters={"is_minor": "true"})) == {"Ana"}
    assert names(person_search(viewer=hq, filters={"is_unaccompanied": "true"})) == set()
    assert names(person_search(viewer=hq, filters={"station": "mca"})) == {"Wilmer"}
    for bad in (
        {"a_number": "X1"},
        {"date_of_birth": "30/09/2013"},
        {"is_minor": "maybe"},
        {"station": "ZZZ"},
    ):
        with pytest.raises(ValidationFailed) as excinfo:
            person_search(viewer=hq, filters=bad)
        assert list(excinfo.value.errors) == list(bad)


def test_likely_duplicates_close_name_and_near_date_of_birth(scene):
    """A close name with the same or a near date of birth is a likely duplicate; a far date is not."""
    found = likely_duplicates(
        given_names="Maria Jose",
        first_surname="Perez",
        second_surname="Nunez",
        date_of_birth=date(1988, 4, 2),
    )
    assert [c.person for c in found] == [scene["mother"]]
    assert "Same date of birth" in found[0].reasons[1]
    near = likely_duplicates(
        given_names="María", first_surname="Núñez", second_surname="Pérez", date_of_birth=date(1989, 4, 2)
    )
    assert [c.person for c in near] == [scene["mother"]]
    assert (
        likely_duplicates(given_names="María José", first_surname="Pérez", date_of_birth=date(1960, 1, 1))
        == []
    )
    assert (
        likely_duplicates(given_names="Carlos", first_surname="Hernández", date_of_birth=date(1988, 4, 2))
        == []
    )


def test_likely_duplicates_same_a_number(scene):
    """The person with the same A-number is always a likely duplicate."""
    found = likely_duplicates(given_names="X", a_number="A300000001")
    assert found[0].person == scene["mca"] and found[0].same_a_number
