"""The one dialect, route by route: methods not offered are 405 for anyone signed in (401 anonymous),
before any role check; only the methods that work appear in the schema."""

import uuid

import pytest
from rest_framework.test import APIClient

pytestmark = pytest.mark.django_db

SAMPLE = {"id": str(uuid.uuid4()), "code": "EPT", "item_id": str(uuid.uuid4()), "day": "2018-07-10"}


@pytest.fixture
def schema_paths(api_client_for):
    schema = api_client_for("hq_analyst").get("/api/schema/", HTTP_ACCEPT="application/vnd.oai.openapi+json")
    assert schema.status_code == 200
    return schema.json()["paths"]


def concrete(path: str) -> str:
    for name, value in SAMPLE.items():
        path = path.replace("{" + name + "}", value)
    return path


def test_every_route_refuses_delete_and_put_the_same_way_for_every_role(schema_paths, api_client_for):
    """DELETE (rule 1) and PUT are 405 JSON on every route, for every role; anonymous callers get 401."""
    assert len(schema_paths) >= 20
    clients = {
        role: api_client_for(role)
        for role in ["field_agent", "supervisor", "hq_analyst", "coordinator", "auditor", "partner_agency"]
    }
    for path, operations in schema_paths.items():
        assert "delete" not in operations and "put" not in operations, path
        url = concrete(path)
        for role, client in clients.items():
            for method in ("delete", "put"):
                response = getattr(client, method)(url)
                assert response.status_code == 405, (role, method, url, response.status_code)
                assert "detail" in response.json() and response.json()["request_id"]
        if path != "/api/v1/auth/token/":
            assert APIClient().delete(url).status_code == 401, url


def test_schema_lists_only_the_methods_each_route_answers(schema_paths, api_client_for):
    """For each listed method the route exists (never 405): a signed-in HQ analyst gets no 405."""
    client = api_client_for("hq_analyst")
    for path, operations in schema_paths.items():
        for method in operations:
            if method not in ("get", "post", "patch"):
                continue
            response = getattr(client, method)(concrete(path), {}, format="json")
            assert response.status_code != 405, (method, path)
            assert response.status_code < 500, (method, path)
