"""Deviations found by a client written from the contract alone (../shared/API-CONTRACT.md):
"Lists are paginated DRF-style" and "404 unknown or not visible" hold on every endpoint."""

import pytest

pytestmark = pytest.mark.django_db


@pytest.fixture
def stations(db):
    from apprehensions.demo import ensure_stations

    ensure_stations()


def test_stations_list_is_paginated_like_every_list(stations, api_client_for):
    """`GET /api/v1/stations/` answers `{count, next, previous, results}`, as the contract says of lists."""
    response = api_client_for("partner_agency").get("/api/v1/stations/")

    assert response.status_code == 200
    page = response.json()
    assert set(page) >= {"count", "next", "previous", "results"}
    codes = [s["code"] for s in page["results"]]
    assert {"EPT", "MCA", "YUM", "SDC", "RGV"} <= set(codes)
    assert page["count"] == len(codes) and page["next"] is None


@pytest.mark.parametrize("bad_id", ["not-a-uuid", "-" * 36, "12345"])
@pytest.mark.parametrize(
    ("role", "method", "path", "data"),
    [
        ("hq_analyst", "get", "/api/v1/link-candidates/{id}/", None),
        ("hq_analyst", "post", "/api/v1/link-candidates/{id}/accept/", {}),
        ("hq_analyst", "post", "/api/v1/link-candidates/{id}/reject/", {"reason": "not the same family"}),
        ("hq_analyst", "post", "/api/v1/link-candidates/{id}/unmerge/", {"reason": "undo"}),
        ("field_agent", "get", "/api/v1/relationships/{id}/", None),
        ("field_agent", "patch", "/api/v1/relationships/{id}/", {"evidence": "documented"}),
    ],
)
def test_an_id_that_is_not_a_uuid_is_404_not_400(api_client_for, role, method, path, data, bad_id):
    """Ids are opaque: a malformed one is an unknown record (404 with a `detail`), never a 400
    `non_field_errors` about UUID syntax the client never chose to send."""
    client = api_client_for(role)
    kwargs = {"format": "json", "HTTP_IF_MATCH": '"1"'} if data is not None else {}
    response = getattr(client, method)(path.format(id=bad_id), data, **kwargs)

    assert response.status_code == 404, response.content
    assert "detail" in response.json()


def _accepted_codes_named(messages: list[str], codes: list[str]) -> bool:
    return any(all(code in message for code in codes) for message in messages)


def test_a_refused_code_names_every_accepted_code(stations, users, api_client_for):
    """Rule 3 for codes: "FBI" for a custody agency, or an unknown status in a filter, is refused
    naming the field and the codes that are accepted, not only "is not a valid choice"."""
    from apprehensions.models import Person

    from ..reunification.factories import approved_separation, years_ago

    _, (case,) = approved_separation(users, children=[years_ago(4)])
    child = Person.objects.get(pk=case.child_id)
    agent = api_client_for("field_agent")
    coordinator = api_client_for("coordinator")
    agencies = ["CBP", "ICE", "USMS", "HHS_ORR", "RELEASED", "REMOVED"]

    response = agent.post(
        "/api/v1/custody-transfers/", {"person": str(child.pk), "agency": "FBI"}, format="json"
    )
    assert response.status_code == 400
    assert _accepted_codes_named(response.json()["agency"], agencies), response.json()
    assert "FBI" in response.json()["agency"][0]

    url = f"/api/v1/reunification-cases/{case.pk}/"
    etag = coordinator.get(url)["ETag"]
    for body, field, codes in [
        ({"status": "done"}, "status", ["reunified", "closed"]),
        ({"status": "closed", "outcome": "lost"}, "outcome", []),
        ({"custody_agency": "FBI"}, "custody_agency", agencies),
        ({"checklist": [{"step": "no_such_step", "done": True}]}, "checklist[0].step", ["contact_made"]),
    ]:
        response = coordinator.patch(url, body, format="json", HTTP_IF_MATCH=etag)
        assert response.status_code == 400, response.content
        messages = response.json()[field]
        assert "use one of" in " ".join(messages) and _accepted_codes_named(messages, codes), messages

    for path, codes in [
        ("/api/v1/separations/", ["requested", "in_effect", "rejected", "ended"]),
        ("/api/v1/reunification-cases/", ["open", "in_progress", "reunified", "closed"]),
    ]:
        response = api_client_for("hq_analyst").get(path, {"status": "bogus"})
        assert response.status_code == 400
        assert _accepted_codes_named(response.json()["status"], codes), response.json()


def test_a_malformed_date_filter_says_how_to_write_it(stations, api_client_for):
    """`?date_of_birth=13/13/2000` is refused with the format to use, not only "Enter a valid date"."""
    response = api_client_for("hq_analyst").get("/api/v1/persons/", {"date_of_birth": "13/13/2000"})

    assert response.status_code == 400
    assert "YYYY-MM-DD" in " ".join(response.json()["date_of_birth"]), response.json()


def test_page_last_is_the_last_page_and_a_page_past_it_says_which_pages_exist(api_client_for, monkeypatch):
    """DRF-style page numbers: `page=last` answers the last page; a page past the end is a 404
    that names the pages there are, so the client can correct its request."""
    from familylink.common.pagination import BoundedPageNumberPagination
    from tests.separations.factories import StationFactory

    monkeypatch.setattr(BoundedPageNumberPagination, "page_size", 2)
    for code in ("EPT", "MCA", "YUM", "SDC", "RGV"):
        StationFactory(code=code)
    client = api_client_for("hq_analyst")

    last = client.get("/api/v1/stations/?page=last")

    assert last.status_code == 200, last.content
    assert [s["code"] for s in last.json()["results"]] == ["YUM"]
    assert last.json()["next"] is None and last.json()["count"] == 5
    past = client.get("/api/v1/stations/?page=4")
    assert past.status_code == 404
    assert "1 to 3" in past.json()["detail"]


@pytest.mark.parametrize(
    ("path", "detail"),
    [
        ("/api/v1/stations/ZZZ/", "No station has this code; see GET /api/v1/stations/ for the codes."),
        (
            "/api/v1/apprehensions/00000000-0000-0000-0000-000000000000/",
            "No apprehension with this id, or not one you may see.",
        ),
        ("/api/v1/apprehensions/not-an-id/", "No apprehension with this id, or not one you may see."),
    ],
)
def test_an_unknown_id_is_a_404_in_words(stations, api_client_for, path, detail):
    """A 404 says what is missing and where to look, never DRF's "No Station matches the given
    query." (a model class) or a bare "Not found."."""
    response = api_client_for("hq_analyst").get(path)

    assert response.status_code == 404
    assert response.json()["detail"] == detail
