"""Hand-written hostile input: each gets a field-keyed 400 or a JSON 404/405/413, never a 500 or HTML."""

import json

import pytest
from django.test import override_settings
from rest_framework.test import APIClient

from tests.separations.factories import family

pytestmark = pytest.mark.django_db

INTAKE = {
    "occurred_at": "2018-06-01T10:15:00-06:00",
    "station": "EPT",
    "persons": [
        {
            "ref": "p1",
            "given_names": "María",
            "first_surname": "Pérez",
            "sex": "F",
            "date_of_birth": "1988-04-02",
        }
    ],
}


@pytest.fixture
def agent(api_client_for, ept_station):
    return api_client_for("field_agent")


@pytest.fixture
def ept_station(db):
    from tests.separations.factories import StationFactory

    return StationFactory(code="EPT")


def post_raw(client: APIClient, path: str, body: str | bytes):
    return client.generic("POST", path, body, content_type="application/json")


def assert_json_error(response, status: int) -> dict:
    assert response.status_code == status, response.content[:500]
    assert response["Content-Type"].startswith("application/json"), response["Content-Type"]
    body = response.json()
    assert b"Traceback" not in response.content
    assert response["X-Request-ID"]
    return body


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"location_description": "bridge\x00"}, "location_description"),
        ({"location_description": "bell\x07"}, "location_description"),
        ({"persons": [{**INTAKE["persons"][0], "given_names": "Ma\x00ría"}]}, "persons[0].given_names"),
        ({"occurred_at": "0001-01-01T00:00:00-06:00"}, "occurred_at"),
        ({"occurred_at": "9999-12-31T23:59:59-06:00"}, "occurred_at"),
        ({"persons": [{**INTAKE["persons"][0], "date_of_birth": "0001-01-01"}]}, "persons[0].date_of_birth"),
    ],
)
def test_intake_hostile_text_and_dates_are_400_by_field(agent, change, field):
    response = agent.post("/api/v1/apprehensions/", {**INTAKE, **change}, format="json")
    body = assert_json_error(response, 400)
    assert field in body, body


def test_json_nested_a_thousand_deep_is_400(agent):
    body = "[" * 1000 + "]" * 1000
    response = post_raw(agent, "/api/v1/apprehensions/", body)
    assert "non_field_errors" in assert_json_error(response, 400)
    deep = json.dumps({**INTAKE, "persons": [{"ref": "p1", "aliases": json.loads("[" * 50 + "]" * 50)}]})
    response = post_raw(agent, "/api/v1/apprehensions/", deep)
    assert any("Nested deeper" in " ".join(m) for m in assert_json_error(response, 400).values())


def test_malformed_json_is_400(agent):
    response = post_raw(agent, "/api/v1/apprehensions/", '{"station": ')
    assert "non_field_errors" in assert_json_error(response, 400)


def test_a_5mb_body_is_a_json_413(agent):
    response = post_raw(agent, "/api/v1/apprehensions/", json.dumps({"x": "a" * (5 * 1024 * 1024)}))
    assert "detail" in assert_json_error(response, 413)


@pytest.mark.parametrize(
    ("path", "field"),
    [
        ("/api/v1/persons/?q=ana%00", "q"),
        ("/api/v1/persons/?a_number=A%01", "a_number"),
        ("/api/v1/separations/?station=EPT%00", "station"),
        ("/api/v1/persons/?page=99999999999999999999", "page"),
        ("/api/v1/persons/?page=-1", "page"),
        ("/api/v1/persons/?date_of_birth=0001-01-01", "date_of_birth"),
        ("/api/v1/separations/?status=lost", "status"),
        ("/api/v1/separations/?person=zzz", "person"),
    ],
)
def test_hostile_query_filters_are_400_by_parameter(api_client_for, ept_station, path, field):
    response = api_client_for("supervisor").get(path)
    assert field in assert_json_error(response, 400)


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ("as_of=0001-01-01T00:00:00Z", "as_of"),
        ("as_of=10000-01-01T00:00:00Z", "as_of"),
        ("as_of=2018-06-20T09:00:00", "as_of"),
        ("known_at=yesterday", "known_at"),
        ("page=99999999999999999999", "page"),
        ("as_of=2018-06-20T09:00:00%00", "as_of"),
    ],
)
def test_report_out_of_range_parameters_are_400_by_field(api_client_for, query, field):
    response = api_client_for("hq_analyst").get(f"/api/v1/reports/separated-children/?{query}")
    assert field in assert_json_error(response, 400)


def test_separation_and_custody_hostile_input_is_400_by_field(api_client_for, ept_station):
    fam = family()
    client = api_client_for("field_agent")
    response = client.post(
        "/api/v1/separations/",
        {
            "children": [str(fam.child.pk)],
            "adults": [str(fam.adult.pk)],
            "reason_code": "OTHER\x00",
            "occurred_at": "0001-01-01T00:00:00Z",
        },
        format="json",
    )
    assert {"reason_code", "occurred_at"} <= set(assert_json_error(response, 400))
    response = client.post(
        "/api/v1/custody-transfers/",
        {"person": str(fam.child.pk), "agency": "CBP", "started_at": "0001-01-01T00:00:00-06:00"},
        format="json",
    )
    assert "started_at" in assert_json_error(response, 400)


@pytest.mark.parametrize("debug", [False, True])
def test_unknown_api_paths_405_and_delete_are_json_even_under_debug(api_client_for, debug):
    with override_settings(DEBUG=debug):
        client = api_client_for("hq_analyst")
        body = assert_json_error(client.get("/api/v1/no-such-thing/"), 404)
        assert "request_id" in body and "urlpatterns" not in json.dumps(body)
        assert_json_error(client.get("/api/nothing-here"), 404)
        assert_json_error(client.delete("/api/v1/separations/"), 405)
        assert_json_error(client.put("/api/v1/persons/00000000-0000-0000-0000-000000000000/", {}), 405)
        assert_json_error(APIClient().get("/api/v1/persons/"), 401)


def test_request_id_is_echoed_and_a_500_is_json_without_traceback(api_client_for, settings):
    """A server error under /api/ is JSON with the request id (the view here fails on purpose)."""
    from django.urls import clear_url_caches, path

    import familylink.urls as root

    def broken(request):
        raise RuntimeError("boom")

    original = list(root.urlpatterns)
    root.urlpatterns.insert(0, path("api/v1/__broken__/", broken))
    clear_url_caches()
    try:
        client = api_client_for("hq_analyst")
        client.raise_request_exception = False
        response = client.get("/api/v1/__broken__/", HTTP_X_REQUEST_ID="req-12345678")
        body = assert_json_error(response, 500)
        assert body["request_id"] == "req-12345678" and "boom" not in json.dumps(body)
    finally:
        root.urlpatterns[:] = original
        clear_url_caches()


def test_token_request_with_an_overlong_username_is_400_by_field(users):
    """A username longer than any account's (the sign-in lockout stores it in 255 characters) is
    a 400 naming the field, never a 500; no failed sign-in is recorded for it."""
    from axes.models import AccessAttempt

    body = {"username": "a" * 10_000, "password": "x"}
    response = APIClient().post("/api/v1/auth/token/", body, format="json")

    assert "150 characters" in " ".join(assert_json_error(response, 400)["username"])
    assert not AccessAttempt.objects.exists()
