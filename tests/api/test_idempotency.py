"""`Idempotency-Key` on POST: a retry is answered as the first request was, and nothing is done twice.

Beyond the contract (clients that send no key are served as before): familylink/common/idempotency.py.
"""

import threading

import pytest
from django.db import connection
from rest_framework.test import APIClient

from apprehensions.models import Apprehension, Person
from familylink.common.models import IdempotentRequest
from separations.models import CustodyPeriod
from tests.apprehensions.factories import intake_payload
from tests.separations.factories import StationFactory, family

KEY = "9f1c2e4a-6b7d-4c1e-8a2f-3d5e6f708192"


@pytest.fixture
def ept(db):
    return StationFactory(code="EPT", name="El Paso Station", timezone="America/Denver")


def post(client, path, body, key=KEY):
    headers = {} if key is None else {"HTTP_IDEMPOTENCY_KEY": key}
    return client.post(path, body, format="json", **headers)


def transfer(fam, agency="HHS_ORR"):
    return {
        "person": str(fam.child.pk),
        "agency": agency,
        "facility": "Casa Padre",
        "started_at": "2018-06-03T10:00:00-05:00",
    }


@pytest.mark.django_db
def test_intake_sent_twice_with_one_key_is_recorded_once(ept, api_client_for):
    """The retry gets the first answer (201, same body and Location), marked replayed; one intake."""
    client = api_client_for("field_agent")
    first = post(client, "/api/v1/apprehensions/", intake_payload())
    assert first.status_code == 201, first.content
    assert not first.has_header("Idempotent-Replayed")
    history = Apprehension.history.count()

    again = post(client, "/api/v1/apprehensions/", intake_payload())

    assert again.status_code == 201
    assert again.json() == first.json()
    assert again["Idempotent-Replayed"] == "true"
    assert again.get("Location") == first.get("Location")
    assert Apprehension.objects.count() == 1
    assert Person.objects.count() == 2
    assert Apprehension.history.count() == history
    kept = IdempotentRequest.objects.get()
    assert (kept.key, kept.status_code, kept.method) == (KEY, 201, "POST")
    assert kept.history.get().history_type == "+"


@pytest.mark.django_db
def test_without_a_key_nothing_changes(ept, api_client_for):
    """The contract's clients send no key: two posts are two intakes, and no answer is kept."""
    client = api_client_for("field_agent")
    for a_number in ("A201234567", "A201234568"):
        body = intake_payload()
        body["persons"][0]["a_number"] = a_number
        assert post(client, "/api/v1/apprehensions/", body, key=None).status_code == 201
    assert Apprehension.objects.count() == 2
    assert not IdempotentRequest.objects.exists()


@pytest.mark.django_db
def test_the_same_key_for_another_request_is_a_422_naming_the_header(ept, api_client_for):
    client = api_client_for("field_agent")
    assert post(client, "/api/v1/apprehensions/", intake_payload()).status_code == 201

    other = post(client, "/api/v1/apprehensions/", intake_payload(location_description="Fabens"))

    assert other.status_code == 422
    message = other.json()["Idempotency-Key"][0]
    assert "already used" in message and "POST /api/v1/apprehensions/" in message and "new key" in message
    assert Apprehension.objects.count() == 1
    assert IdempotentRequest.objects.count() == 1


@pytest.mark.django_db
def test_a_refused_request_is_not_kept_so_its_correction_runs(ept, api_client_for):
    """A 400 did nothing; the corrected request with the same key is recorded, and then kept."""
    client = api_client_for("field_agent")
    refused = post(client, "/api/v1/apprehensions/", intake_payload(station="NOPE"))
    assert refused.status_code == 400 and "station" in refused.json()
    assert not IdempotentRequest.objects.exists()

    corrected = post(client, "/api/v1/apprehensions/", intake_payload())

    assert corrected.status_code == 201, corrected.content
    assert not corrected.has_header("Idempotent-Replayed")
    assert Apprehension.objects.count() == 1
    assert IdempotentRequest.objects.get().status_code == 201


@pytest.mark.django_db
def test_keys_are_each_callers_own(ept, api_client_for):
    """Another user's key of the same spelling is another key: their request runs, and the first
    caller's answer never reaches them."""
    fam = family()
    agent = post(api_client_for("field_agent"), "/api/v1/custody-transfers/", transfer(fam, "CBP"))
    partner = post(api_client_for("partner_agency"), "/api/v1/custody-transfers/", transfer(fam))
    assert agent.status_code == partner.status_code == 201, (agent.content, partner.content)
    assert not partner.has_header("Idempotent-Replayed")
    assert partner.json()["id"] != agent.json()["id"]
    assert IdempotentRequest.objects.count() == 2


@pytest.mark.django_db
@pytest.mark.parametrize("key", ["", "two words", "x" * 256, "clé"])
def test_a_key_that_is_not_one_is_a_400_naming_the_header(ept, api_client_for, key):
    response = post(api_client_for("field_agent"), "/api/v1/apprehensions/", intake_payload(), key=key)
    assert response.status_code == 400
    assert "visible ASCII" in response.json()["Idempotency-Key"][0]
    assert not Apprehension.objects.exists()


@pytest.mark.django_db
def test_the_key_is_checked_after_the_role(ept, api_client_for):
    """A caller who may not post gets the 403, not an answer kept for someone else."""
    assert post(api_client_for("field_agent"), "/api/v1/apprehensions/", intake_payload()).status_code == 201
    response = post(api_client_for("auditor"), "/api/v1/apprehensions/", intake_payload())
    assert response.status_code == 403
    assert IdempotentRequest.objects.count() == 1


@pytest.mark.django_db
def test_the_schema_offers_the_header_on_posts(api_client_for):
    schema = api_client_for("hq_analyst").get("/api/schema/", HTTP_ACCEPT="application/vnd.oai.openapi+json")
    paths = schema.json()["paths"]
    transfer_op = paths["/api/v1/custody-transfers/"]["post"]
    assert any(p["name"] == "Idempotency-Key" and p["in"] == "header" for p in transfer_op["parameters"])
    assert "422" in transfer_op["responses"]
    token_op = paths["/api/v1/auth/token/"]["post"]
    assert not any(p["name"] == "Idempotency-Key" for p in token_op.get("parameters", []))


@pytest.mark.django_db(transaction=True)
def test_retries_sent_at_once_transfer_custody_once(ept, users):
    """Six copies of one custody transfer, one key, released together (own connections): one new
    period; every caller gets the same answer, five of them replayed."""
    fam = family()
    before = CustodyPeriod.objects.filter(person=fam.child).count()
    barrier = threading.Barrier(6)
    answers: list = [None] * 6

    def run(index: int) -> None:
        client = APIClient()
        client.force_authenticate(users["partner_agency"])
        try:
            barrier.wait(timeout=10)
            answers[index] = post(client, "/api/v1/custody-transfers/", transfer(fam))
        finally:
            connection.close()

    threads = [threading.Thread(target=run, args=(i,)) for i in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)

    assert [a.status_code for a in answers] == [201] * 6, [a.content for a in answers]
    assert len({a.json()["id"] for a in answers}) == 1
    assert sum(a.has_header("Idempotent-Replayed") for a in answers) == 5
    assert CustodyPeriod.objects.filter(person=fam.child).count() == before + 1
    assert IdempotentRequest.objects.count() == 1
