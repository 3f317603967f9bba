import pytest

pytestmark = pytest.mark.django_db


def test_openapi_schema_and_swagger_are_served_locally(client, users):
    client.force_login(users["hq_analyst"])
    schema = client.get("/api/schema/", HTTP_ACCEPT="application/vnd.oai.openapi+json")
    assert schema.status_code == 200
    assert b"/api/v1/auth/token/" in schema.content
    docs = client.get("/api/docs/")
    assert docs.status_code == 200
    assert b"cdn" not in docs.content.lower()
    assert b"/static/drf_spectacular_sidecar/swagger-ui-dist/" in docs.content


def test_api_without_credentials_is_401(client):
    response = client.get("/api/schema/")
    assert response.status_code == 401
