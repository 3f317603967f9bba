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
