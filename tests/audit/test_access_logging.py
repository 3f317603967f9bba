"""Rule 3: every view of a child's record writes exactly one access-log row per record shown, in the
transaction that read it: the person page and API detail, search results (page and API `q`),
exports, the separated-children report (page, API, CSV) and the court drill-down. Refusals are
logged too (`denied`)."""

import csv
import io
from datetime import UTC

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from apprehensions.models import Person
from audit.models import AccessLog
from audit.services import access_log_record_many
from tests.reunification.factories import approved_separation

pytestmark = pytest.mark.django_db


@pytest.fixture
def world(users):
    """One separation at EPT of two children (surname Quispe) from one adult; a case per child."""
    separation, cases = approved_separation(users, children=[None, None], surname="Quispe")
    children = [c.child for c in cases]
    return {"separation": separation, "cases": cases, "children": children}


def _mark() -> set:
    """The access-log rows so far (ids are UUIDs: no order); rows written later are the others."""
    return set(AccessLog.objects.values_list("pk", flat=True))


def _rows_since(mark: set):
    return AccessLog.objects.exclude(pk__in=mark)


def _per_record(mark: set, **filters) -> dict[str, int]:
    counts: dict[str, int] = {}
    for object_id in _rows_since(mark).filter(**filters).values_list("object_id", flat=True):
        counts[object_id] = counts.get(object_id, 0) + 1
    return counts


def _body(response) -> bytes:
    return b"".join(response.streaming_content) if response.streaming else response.content


def _exactly_once_each(counts: dict[str, int], persons) -> None:
    for person in persons:
        assert counts.get(str(person.pk)) == 1, (person, counts)
    assert set(counts.values()) == {1}, counts


def test_person_page_and_api_detail_log_one_row_marked_minor(client, api_client_for, users, world):
    child = world["children"][0]
    client.force_login(users["hq_analyst"])
    mark = _mark()
    assert client.get(f"/persons/{child.pk}/").status_code == 200
    rows = list(_rows_since(mark))
    assert len(rows) == 1
    assert (rows[0].object_id, rows[0].action, rows[0].channel) == (str(child.pk), "view", "web")
    assert rows[0].is_minor_record is True and rows[0].user == users["hq_analyst"]

    mark = _mark()
    assert api_client_for("hq_analyst").get(f"/api/v1/persons/{child.pk}/").status_code == 200
    rows = list(_rows_since(mark))
    assert [(r.object_id, r.channel, r.is_minor_record) for r in rows] == [(str(child.pk), "api", True)]


def test_search_result_page_and_api_q_log_each_person_shown_once(client, api_client_for, users, world):
    client.force_login(users["hq_analyst"])
    mark = _mark()
    response = client.get("/persons/", {"q": "Quispe"})
    assert response.status_code == 200
    shown = list(response.context["page"])
    assert {c.pk for c in world["children"]} <= {p.pk for p in shown}
    counts = _per_record(mark, action="list", channel="web")
    _exactly_once_each(counts, shown)
    assert len(counts) == len(shown)
    minors = set(_rows_since(mark).filter(is_minor_record=True).values_list("object_id", flat=True))
    assert minors == {str(p.pk) for p in shown if p.is_minor}

    mark = _mark()
    body = api_client_for("hq_analyst").get("/api/v1/persons/", {"q": "Quispe"}).json()
    listed = [r["id"] for r in body["results"]]
    assert {str(c.pk) for c in world["children"]} <= set(listed)
    counts = _per_record(mark, action="list", channel="api")
    assert counts == dict.fromkeys(listed, 1)


def test_persons_export_logs_one_row_per_record_in_the_file(client, users, world):
    client.force_login(users["hq_analyst"])
    mark = _mark()
    response = client.get("/persons/", {"q": "Quispe", "format": "csv"})
    assert response.status_code == 200
    rows = list(csv.DictReader(io.StringIO(_body(response).decode("utf-8-sig"))))
    in_file = {r["person_id"] for r in rows}
    assert {str(c.pk) for c in world["children"]} <= in_file
    assert _per_record(mark, action="export") == dict.fromkeys(in_file, 1)


def test_separations_export_logs_a_person_on_it_once(client, users, world):
    """A separation export names each child and adult; each is logged once, however many rows name them."""
    client.force_login(users["hq_analyst"])
    mark = _mark()
    response = client.get("/separations/", {"format": "csv"})
    assert response.status_code == 200
    _body(response)
    counts = _per_record(mark, action="export")
    assert counts and set(counts.values()) == {1}
    for child in world["children"]:
        assert counts[str(child.pk)] == 1


def test_separated_children_report_page_api_and_csv_log_each_child_once(client, api_client_for, users, world):
    children = world["children"]
    now = timezone.now().astimezone(UTC).strftime("%Y-%m-%dT%H:%M")
    client.force_login(users["auditor"])
    mark = _mark()
    page = client.get("/reports/separated-children/", {"as_of": now, "as_of_tz": "UTC"})
    assert page.status_code == 200
    _exactly_once_each(_per_record(mark, action="report", channel="web"), children)
    assert not _rows_since(mark).filter(is_minor_record=False).exists()

    mark = _mark()
    assert api_client_for("auditor").get("/api/v1/reports/separated-children/").status_code == 200
    _exactly_once_each(_per_record(mark, action="report", channel="api"), children)

    mark = _mark()
    csv_response = client.get(
        "/reports/separated-children/", {"as_of": now, "as_of_tz": "UTC", "format": "csv"}
    )
    assert csv_response.status_code == 200
    _exactly_once_each(_per_record(mark, action="export"), children)


def test_court_drill_down_logs_each_child_shown_once(client, users, world):
    client.force_login(users["hq_analyst"])
    mark = _mark()
    response = client.get(
        "/reports/court-status/children/", {"as_of": timezone.now().isoformat(), "key": "separated"}
    )
    assert response.status_code == 200
    _exactly_once_each(_per_record(mark, action="report"), world["children"])


def test_denied_page_and_api_call_write_a_denied_row(client, api_client_for, users, world):
    client.force_login(users["partner_agency"])
    mark = _mark()
    assert client.get("/reports/separated-children/").status_code == 403
    web = _rows_since(mark).get()
    assert (web.action, web.channel, web.user) == ("denied", "web", users["partner_agency"])

    mark = _mark()
    response = api_client_for("partner_agency").get("/api/v1/reports/separated-children/")
    assert response.status_code == 403
    api = _rows_since(mark).get()
    assert (api.action, api.channel, api.user) == ("denied", "api", users["partner_agency"])


def test_access_log_record_many_is_one_insert_with_history_and_chain(users, world):
    """A page of rows is one INSERT into the log and one into its history, deduplicated; the chain
    trigger links every row."""
    persons = list(Person.objects.all())
    assert len(persons) >= 3
    with CaptureQueriesContext(connection) as queries:
        written = access_log_record_many(
            user=users["auditor"], records=persons + persons[:1], action="list", path="/persons/"
        )
    assert written == len(persons)
    inserts = [q["sql"] for q in queries.captured_queries if q["sql"].startswith("INSERT")]
    assert len(inserts) == 2, inserts
    assert 'INSERT INTO "audit_accesslog"' in inserts[0]
    assert 'INSERT INTO "audit_historicalaccesslog"' in inserts[1]
    entries = AccessLog.objects.filter(action="list", path="/persons/")
    assert entries.count() == len(persons)
    assert {e.is_minor_record for e in entries if e.object_id in {str(c.pk) for c in world["children"]}} == {
        True
    }
    assert AccessLog.history.filter(action="list", path="/persons/").count() == len(persons)


@pytest.mark.django_db(transaction=True)
def test_streamed_export_logs_every_batch_in_one_transaction(client, users, monkeypatch):
    """An export streamed in several batches writes its log rows in one transaction (one xmin)."""
    from tests.conftest import make_user

    analyst = make_user("hq_analyst_tx", "hq_analyst")
    agents = {
        "field_agent": make_user("agent_tx", "field_agent", station="EPT"),
        "supervisor": make_user("supervisor_tx", "supervisor", station="EPT"),
    }
    approved_separation(agents, children=[None, None, None], adults=2, surname="Mamani")
    monkeypatch.setattr("audit.exports.BATCH", 2)
    client.force_login(analyst)
    mark = _mark()
    response = client.get("/persons/", {"q": "Mamani", "format": "csv"})
    rows = list(csv.DictReader(io.StringIO(_body(response).decode("utf-8-sig"))))
    assert len(rows) >= 5
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT count(*), count(DISTINCT xmin::text) FROM audit_accesslog"
            " WHERE NOT (id = ANY(%s)) AND action = 'export'",
            [list(mark)],
        )
        count, transactions = cursor.fetchone()
    assert (count, transactions) == (len(rows), 1)
