"""The apprehensions API, against shared/API-CONTRACT.md."""

import pytest

from apprehensions import extensions
from apprehensions.models import Apprehension, Person, Relationship
from audit.models import AccessLog

from .factories import encountered, intake_payload, person_data

pytestmark = pytest.mark.django_db

CONTRACT_EXAMPLE = {
    "occurred_at": "2018-06-01T10:15:00-06:00",
    "station": "EPT",
    "location_description": "Near the Paso del Norte bridge",
    "persons": [
        {
            "ref": "p1",
            "given_names": "María José",
            "first_surname": "Pérez",
            "second_surname": "Núñez",
            "sex": "F",
            "date_of_birth": "1988-04-02",
            "country_of_citizenship": "GT",
            "a_number": "A201234567",
        },
        {
            "ref": "p2",
            "given_names": "Ana",
            "first_surname": "Pérez",
            "sex": "F",
            "date_of_birth": "2013-09-30",
            "country_of_citizenship": "GT",
        },
        {"ref": "p3", "existing_person": "<id of a person already on file>"},
    ],
    "family_units": [{"members": ["p1", "p2"]}],
    "relationships": [{"from": "p1", "to": "p2", "type": "parent", "evidence": "claimed"}],
}


@pytest.fixture
def agent_api(api_client_for, ept):
    return api_client_for("field_agent")


@pytest.fixture
def recorded(agent_api):
    response = agent_api.post("/api/v1/apprehensions/", intake_payload(), format="json")
    assert response.status_code == 201, response.json()
    return {p["ref"]: p["id"] for p in response.json()["persons"]}


def test_post_apprehension_contract_example(agent_api):
    """The contract's example request, with p3 a person on file, gives 201 with id and persons [{ref, id}]."""
    first = agent_api.post(
        "/api/v1/apprehensions/",
        intake_payload(
            persons=[person_data("old", given_names="Rosa", a_number="A111111111")],
            family_units=[],
            relationships=[],
        ),
        format="json",
    ).json()
    body = {
        **CONTRACT_EXAMPLE,
        "persons": [
            *CONTRACT_EXAMPLE["persons"][:2],
            {"ref": "p3", "existing_person": first["persons"][0]["id"]},
        ],
    }

    response = agent_api.post("/api/v1/apprehensions/", body, format="json")

    assert response.status_code == 201, response.json()
    data = response.json()
    assert Apprehension.objects.filter(pk=data["id"]).exists()
    assert [p["ref"] for p in data["persons"]] == ["p1", "p2", "p3"]
    assert data["persons"][2]["id"] == first["persons"][0]["id"]
    assert data["persons"][2]["match"] == "existing"
    assert Person.objects.get(pk=data["persons"][1]["id"]).is_minor
    assert response["ETag"] == f'"{data["id"]}-1"'
    assert data["relationships"][0]["from"] == data["persons"][0]["id"]


def test_post_apprehension_invalid_part_anywhere_is_400_and_saves_nothing(agent_api):
    """A bad A-number on the second person: 400 keyed persons[1].a_number; no row of the request exists."""
    body = intake_payload()
    body["persons"][1]["a_number"] = "12-34"
    before = (Person.objects.count(), Apprehension.objects.count(), Relationship.objects.count())
    response = agent_api.post("/api/v1/apprehensions/", body, format="json")
    assert response.status_code == 400
    assert list(response.json()) == ["persons[1].a_number"]
    assert "8 or 9 digits" in response.json()["persons[1].a_number"][0]
    assert (Person.objects.count(), Apprehension.objects.count(), Relationship.objects.count()) == before
    assert not Person.objects.filter(a_number="A201234567").exists()
    assert Person.history.count() == 0


def test_post_apprehension_unknown_station_is_400(agent_api):
    response = agent_api.post("/api/v1/apprehensions/", intake_payload(station="NOPE"), format="json")
    assert response.status_code == 400
    assert "Unknown station" in response.json()["station"][0]


def test_post_apprehension_existing_a_number_links_the_person(agent_api, recorded):
    """The same A-number in a later encounter, spelled differently, is the same person."""
    body = intake_payload(
        occurred_at="2018-06-20T03:00:00-06:00",
        persons=[person_data("again", a_number="201-234-567")],
        family_units=[],
        relationships=[],
    )
    response = agent_api.post("/api/v1/apprehensions/", body, format="json")
    assert response.status_code == 201
    assert response.json()["persons"][0]["id"] == recorded["p1"]
    assert response.json()["persons"][0]["match"] == "a_number"
    assert Person.objects.filter(a_number="A201234567").count() == 1


@pytest.mark.parametrize("role", ["hq_analyst", "auditor", "coordinator", "partner_agency"])
def test_post_apprehension_other_roles_are_403(api_client_for, ept, role):
    response = api_client_for(role).post("/api/v1/apprehensions/", intake_payload(), format="json")
    assert response.status_code == 403
    assert Apprehension.objects.count() == 0


def test_api_without_credentials_is_401(client, ept):
    response = client.get("/api/v1/persons/")
    assert response.status_code == 401
    assert "WWW-Authenticate" in response


def test_get_person_detail_with_relationships_family_units_and_etag(agent_api, recorded):
    """Person detail: contract fields, relationships, family units, version and ETag; the view is logged."""
    response = agent_api.get(f"/api/v1/persons/{recorded['p2']}/")
    assert response.status_code == 200
    data = response.json()
    for name in (
        "id",
        "a_number",
        "given_names",
        "first_surname",
        "second_surname",
        "sex",
        "date_of_birth",
        "country_of_citizenship",
        "is_minor",
        "relationships",
        "family_units",
        "version",
    ):
        assert name in data
    assert data["is_minor"] is True
    assert data["relationships"][0]["from"] == recorded["p1"] and data["relationships"][0]["type"] == "parent"
    assert {m["person"] for m in data["family_units"][0]["members"]} == set(recorded.values())
    assert response["ETag"] == f'"{recorded["p2"]}-1"'
    log = AccessLog.objects.get(object_id=recorded["p2"])
    assert (log.channel, log.is_minor_record, log.action) == ("api", True, "view")


def test_person_api_includes_registered_extension_fields_and_filters(agent_api, recorded):
    """Fields and filters registered by higher apps appear in the persons API."""
    saved_fields, saved_filters = dict(extensions._API_FIELDS), dict(extensions._FILTERS)
    try:
        extensions.register_person_api_field("separation_status", lambda person, request: "none")
        extensions.register_person_filter("separated", lambda qs, value: qs.none() if value == "true" else qs)
        detail = agent_api.get(f"/api/v1/persons/{recorded['p1']}/").json()
        assert detail["separation_status"] == "none"
        assert agent_api.get("/api/v1/persons/?separated=true").json()["count"] == 0
        assert agent_api.get("/api/v1/persons/?separated=false").json()["count"] == 2
    finally:
        extensions._API_FIELDS.clear()
        extensions._API_FIELDS.update(saved_fields)
        extensions._FILTERS.clear()
        extensions._FILTERS.update(saved_filters)


def test_persons_list_filters(agent_api, recorded):
    """q, a_number in any spelling, date_of_birth, is_minor, station filter; bad values are 400."""

    def ids(query: str) -> set[str]:
        response = agent_api.get(f"/api/v1/persons/?{query}")
        assert response.status_code == 200, response.json()
        return {p["id"] for p in response.json()["results"]}

    assert ids("q=perez nunez maria") == {recorded["p1"]}
    assert ids("q=PEREZ") == set(recorded.values())
    assert ids("a_number=a-201-234-567") == {recorded["p1"]}
    assert ids("date_of_birth=2013-09-30") == {recorded["p2"]}
    assert ids("is_minor=true") == {recorded["p2"]}
    assert ids("station=EPT") == set(recorded.values())
    response = agent_api.get("/api/v1/persons/?a_number=12")
    assert response.status_code == 400 and "a_number" in response.json()
    assert set(agent_api.get("/api/v1/persons/").json()) == {"count", "next", "previous", "results"}


def test_patch_person_needs_if_match(agent_api, recorded):
    """PATCH without If-Match is 428, with a stale one 412, with the current one 200 and a new ETag."""
    url = f"/api/v1/persons/{recorded['p1']}/"
    etag = agent_api.get(url)["ETag"]
    assert agent_api.patch(url, {"language": "Mam"}, format="json").status_code == 428
    ok = agent_api.patch(
        url, {"language": "Mam", "change_reason": "Interview"}, format="json", HTTP_IF_MATCH=etag
    )
    assert ok.status_code == 200 and ok.json()["language"] == "Mam" and ok.json()["version"] == 2
    assert ok["ETag"] == f'"{recorded["p1"]}-2"'
    stale = agent_api.patch(url, {"language": "K'iche'"}, format="json", HTTP_IF_MATCH=etag)
    assert stale.status_code == 412
    person = Person.objects.get(pk=recorded["p1"])
    assert person.language == "Mam"
    assert person.history.first().history_change_reason == "Interview"


def test_patch_person_invalid_is_400_naming_the_field(agent_api, recorded):
    url = f"/api/v1/persons/{recorded['p1']}/"
    etag = agent_api.get(url)["ETag"]
    response = agent_api.patch(url, {"date_of_birth": "2999-01-01"}, format="json", HTTP_IF_MATCH=etag)
    assert response.status_code == 400
    assert "in the future" in response.json()["date_of_birth"][0]


def test_patch_person_out_of_scope(api_client_for, recorded):
    """Read-only roles get 403 on PATCH; a person out of scope is 404."""
    url = f"/api/v1/persons/{recorded['p1']}/"
    assert (
        api_client_for("hq_analyst")
        .patch(url, {"language": "x"}, format="json", HTTP_IF_MATCH="x")
        .status_code
        == 403
    )
    assert api_client_for("coordinator").get(url).status_code == 404


def test_relationships_post_and_patch(agent_api, recorded):
    """POST a relationship (201, history); PATCH its evidence with If-Match; self-relationship is 400."""
    from apprehensions.models import Person as P

    father = P(given_names="Pedro", first_surname="Pérez", date_of_birth="1980-01-01", sex="M")
    father.save()
    encountered(father)  # the agent's station has met him: he is in the agent's scope
    response = agent_api.post(
        "/api/v1/relationships/",
        {
            "from": str(father.pk),
            "to": recorded["p2"],
            "type": "parent",
            "evidence": "claimed",
            "change_reason": "Mother's statement",
        },
        format="json",
    )
    assert response.status_code == 201, response.json()
    rel_id = response.json()["id"]
    url = f"/api/v1/relationships/{rel_id}/"
    etag = response["ETag"]
    assert agent_api.patch(url, {"evidence": "dna_verified"}, format="json").status_code == 428
    patched = agent_api.patch(url, {"evidence": "dna_verified"}, format="json", HTTP_IF_MATCH=etag)
    assert patched.status_code == 200 and patched.json()["evidence"] == "dna_verified"
    assert (
        agent_api.patch(url, {"evidence": "disputed"}, format="json", HTTP_IF_MATCH=etag).status_code == 412
    )
    self_rel = agent_api.post(
        "/api/v1/relationships/",
        {"from": recorded["p1"], "to": recorded["p1"], "type": "sibling"},
        format="json",
    )
    assert self_rel.status_code == 400 and "themself" in self_rel.json()["to"][0]
    cycle = agent_api.post(
        "/api/v1/relationships/",
        {"from": recorded["p2"], "to": recorded["p1"], "type": "parent"},
        format="json",
    )
    assert cycle.status_code == 400 and "cycle of parent links" in " ".join(cycle.json()["non_field_errors"])
    assert Relationship.objects.get(pk=rel_id).history.count() == 2


def test_stations_list(api_client_for, ept, mca):
    response = api_client_for("partner_agency").get("/api/v1/stations/")
    assert response.status_code == 200
    assert [s["code"] for s in response.json()["results"]] == ["EPT", "MCA"]


@pytest.mark.parametrize("role", ["field_agent", "hq_analyst", "auditor"])
def test_delete_is_405_everywhere(api_client_for, recorded, role):
    """DELETE on every resource is 405 whatever the role; nothing is deleted."""
    client = api_client_for(role)
    apprehension = Apprehension.objects.get()
    rel = Relationship.objects.get()
    for url in (
        f"/api/v1/persons/{recorded['p1']}/",
        f"/api/v1/apprehensions/{apprehension.pk}/",
        f"/api/v1/relationships/{rel.pk}/",
        "/api/v1/stations/EPT/",
        "/api/v1/persons/",
        "/api/v1/apprehensions/",
    ):
        assert client.delete(url).status_code == 405, url
    assert Person.objects.count() == 2 and Relationship.objects.count() == 1


def test_person_history_endpoint(api_client_for, agent_api, recorded):
    """HQ analysts and auditors read every version with who, when, why and what changed; others 403."""
    url = f"/api/v1/persons/{recorded['p1']}/"
    etag = agent_api.get(url)["ETag"]
    agent_api.patch(
        url, {"a_number": "A201234568", "change_reason": "Digit misread"}, format="json", HTTP_IF_MATCH=etag
    )
    for role in ("hq_analyst", "auditor"):
        response = api_client_for(role).get(f"{url}history/")
        assert response.status_code == 200
        versions = response.json()["results"]
        assert len(versions) == 2
        first, second = versions
        assert first["changes"]["a_number"] == [None, "A201234567"]
        assert first["changed_by"] == "field_agent" and first["change_reason"] == "intake (API)"
        assert second["changes"] == {"a_number": ["A201234567", "A201234568"]}
        assert second["change_reason"] == "Digit misread" and second["changed_at"]
    for role in ("field_agent", "supervisor", "coordinator", "partner_agency"):
        assert api_client_for(role).get(f"{url}history/").status_code == 403


def test_apprehensions_list_and_detail_scoped(api_client_for, agent_api, recorded):
    """Field agents list their station's apprehensions; coordinators and partners cannot list them."""
    listed = agent_api.get("/api/v1/apprehensions/").json()
    assert listed["count"] == 1
    detail = agent_api.get(f"/api/v1/apprehensions/{listed['results'][0]['id']}/")
    assert detail.status_code == 200 and len(detail.json()["persons"]) == 2
    assert api_client_for("hq_analyst").get("/api/v1/apprehensions/").json()["count"] == 1
    assert api_client_for("partner_agency").get("/api/v1/apprehensions/").status_code == 403


def test_partner_agency_reads_by_id_or_a_number_only(api_client_for, recorded):
    partner = api_client_for("partner_agency")
    assert partner.get("/api/v1/persons/").status_code == 400
    assert partner.get("/api/v1/persons/?a_number=A201234567").json()["count"] == 1
    assert partner.get(f"/api/v1/persons/{recorded['p2']}/").status_code == 200


def test_openapi_schema_lists_the_apprehensions_api(client, users, ept):
    client.force_login(users["hq_analyst"])
    schema = client.get("/api/schema/", HTTP_ACCEPT="application/vnd.oai.openapi+json")
    assert schema.status_code == 200
    paths = schema.json()["paths"]
    for path in (
        "/api/v1/apprehensions/",
        "/api/v1/persons/{id}/",
        "/api/v1/persons/{id}/history/",
        "/api/v1/relationships/",
        "/api/v1/stations/",
    ):
        assert path in paths


def test_bodies_that_are_not_objects_are_400_not_500(agent_api, recorded):
    """Never a 500 for bad input: a JSON list or string body is a 400 with a readable message."""
    url = f"/api/v1/persons/{recorded['p1']}/"
    etag = agent_api.get(url)["ETag"]
    for response in (
        agent_api.post("/api/v1/apprehensions/", [1, 2], format="json"),
        agent_api.patch(url, ["given_names"], format="json", HTTP_IF_MATCH=etag),
        agent_api.post("/api/v1/relationships/", "parent", format="json"),
        agent_api.post("/api/v1/apprehensions/", {**intake_payload(), "persons": "p1"}, format="json"),
        agent_api.post(
            "/api/v1/apprehensions/", {**intake_payload(), "family_units": [{"members": 3}]}, format="json"
        ),
    ):
        assert response.status_code == 400, response.content
        assert all(isinstance(v, list) and v for v in response.json().values())


@pytest.mark.parametrize(
    "change",
    [
        {"occurred_at": 5},
        {"station": 5},
        {"location_description": ["x"]},
        {"persons": [{"ref": "p1", "given_names": 5, "first_surname": None, "date_of_birth": 19880402}]},
        {
            "persons": [
                {
                    "ref": "p1",
                    "given_names": "A",
                    "first_surname": "B",
                    "date_of_birth": "1988-04-02",
                    "a_number": 201234567,
                    "sex": None,
                    "dob_estimated": "perhaps",
                }
            ]
        },
        {"persons": [{"ref": {"x": 1}, "existing_person": 12}]},
        {
            "persons": [
                {
                    "ref": "p1",
                    "given_names": "A",
                    "first_surname": "B",
                    "date_of_birth": "1988-04-02",
                    "identifiers": [{"kind": "passport"}],
                    "aliases": 7,
                }
            ]
        },
        {"family_units": [{"members": [None, {"a": 1}]}]},
        {"relationships": [{"from": 1, "to": {}, "type": None, "evidence": 3}]},
        {"relationships": "p1->p2"},
        {"change_reason": "x" * 101},
    ],
)
def test_malformed_intake_parts_are_400_naming_a_field(agent_api, change):
    """Wrong types anywhere in the body give a 400 keyed by field path, never a 500; nothing is saved."""
    response = agent_api.post("/api/v1/apprehensions/", {**intake_payload(), **change}, format="json")
    assert response.status_code == 400, response.content
    assert Apprehension.objects.count() == 0


@pytest.mark.parametrize("ref", [{"x": 1}, ["p2"], True])
def test_a_ref_that_is_not_text_is_400_at_its_path(agent_api, ref):
    """A person's ref is the client's text label (a number is read as written); an object, a list
    or a boolean is refused at `persons[1].ref`, never turned into a label of its Python spelling."""
    payload = intake_payload(family_units=[], relationships=[])
    payload["persons"][1]["ref"] = ref

    response = agent_api.post("/api/v1/apprehensions/", payload, format="json")

    assert response.status_code == 400, response.content
    assert "text" in response.json()["persons[1].ref"][0]
    assert Apprehension.objects.count() == 0
