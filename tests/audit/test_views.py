"""Audit pages: record history for HQ analysts and auditors; the access log for auditors only."""

import pytest

from apprehensions.models import Person
from audit.models import AccessLog

pytestmark = pytest.mark.django_db


@pytest.fixture
def person(users):
    person = Person(given_names="Ana", first_surname="Pérez", is_minor=True, created_by=users["field_agent"])
    person._history_user = users["field_agent"]
    person._change_reason = "intake"
    person.save()
    person.given_names = "Ana María"
    person._history_user = users["supervisor"]
    person._change_reason = "corrected spelling from birth certificate"
    person.save()
    return person


def test_record_history_shows_who_when_why_what(client, users, person):
    """An auditor sees each version with its author, reason and the changed field's old and new value."""
    client.force_login(users["auditor"])
    response = client.get(f"/audit/history/apprehensions.person/{person.pk}/")
    assert response.status_code == 200
    html = response.content.decode()
    assert "corrected spelling from birth certificate" in html
    assert "supervisor" in html and "field_agent" in html
    assert "Ana María" in html
    entry = AccessLog.objects.get(object_id=str(person.pk), action="history")
    assert entry.user == users["auditor"] and entry.is_minor_record is True


@pytest.mark.parametrize("role", ["field_agent", "supervisor", "coordinator", "partner_agency"])
def test_record_history_is_refused_to_other_roles(client, users, person, role):
    client.force_login(users[role])
    assert client.get(f"/audit/history/apprehensions.person/{person.pk}/").status_code == 403


def test_record_history_of_unknown_type_is_404(client, users, person):
    client.force_login(users["hq_analyst"])
    assert client.get(f"/audit/history/auth.group/{person.pk}/").status_code == 404
    assert client.get(f"/audit/history/apprehensions.nothing/{person.pk}/").status_code == 404


def test_access_log_lists_views_for_auditors_only(client, users, person):
    """The access log shows who viewed which record and can be filtered to one record."""
    client.force_login(users["hq_analyst"])
    client.get(f"/audit/history/apprehensions.person/{person.pk}/")
    assert client.get("/audit/access-log/").status_code == 403
    client.force_login(users["auditor"])
    response = client.get("/audit/access-log/", {"object_id": str(person.pk)})
    assert response.status_code == 200
    assert "hq_analyst" in response.content.decode()
    assert response.context["page"].paginator.count == 1


def test_access_log_finds_a_child_by_name_or_a_number_and_names_the_person(client, users, person):
    """Auditors filter by the person's name (accents optional) or A-number; each row names the person."""
    person.a_number = "A012345678"
    person._change_reason = "A-number added"
    person.save()
    client.force_login(users["hq_analyst"])
    client.get(f"/audit/history/apprehensions.person/{person.pk}/")
    client.force_login(users["auditor"])

    by_name = client.get("/audit/access-log/", {"person": "ana maria perez"})
    by_number = client.get("/audit/access-log/", {"person": "12-345-678"})
    nobody = client.get("/audit/access-log/", {"person": "Someone Else"})

    assert by_name.context["page"].paginator.count == 1
    assert "Ana María Pérez (A012345678)" in by_name.content.decode()
    assert by_number.context["page"].paginator.count == 1
    assert nobody.context["page"].paginator.count == 0


def test_access_log_filters_by_role_action_and_dates_and_explains_a_bad_date(client, users, person):
    client.force_login(users["hq_analyst"])
    client.get(f"/audit/history/apprehensions.person/{person.pk}/")
    client.force_login(users["auditor"])

    assert (
        client.get("/audit/access-log/", {"role": "hq_analyst", "action": "history"})
        .context["page"]
        .paginator.count
        == 1
    )
    assert client.get("/audit/access-log/", {"role": "coordinator"}).context["page"].paginator.count == 0
    assert client.get("/audit/access-log/", {"date_to": "2000-01-01"}).context["page"].paginator.count == 0
    bad = client.get("/audit/access-log/", {"date_from": "20/06/2018"})
    assert bad.status_code == 200
    assert "Enter the date as YYYY-MM-DD" in bad.content.decode()
    assert 'value="20/06/2018"' in bad.content.decode()


def test_access_log_export_is_csv_and_is_itself_logged(client, users, person):
    client.force_login(users["hq_analyst"])
    client.get(f"/audit/history/apprehensions.person/{person.pk}/")
    client.force_login(users["auditor"])

    response = client.get("/audit/access-log/", {"person": "Ana", "format": "csv"})

    body = b"".join(response.streaming_content).decode()
    assert response["Content-Type"] == "text/csv"
    assert body.splitlines()[0].startswith("\ufeffwhen_utc,user,action")
    assert "hq_analyst,history" in body and "Ana María Pérez" in body
    export = AccessLog.objects.get(action="export", user=users["auditor"])
    assert "1 rows" in export.detail


def test_auditor_downloads_a_signed_checkpoint(client, users):
    from audit.services import audit_checkpoint_record

    checkpoint = audit_checkpoint_record()
    client.force_login(users["auditor"])
    data = client.get(f"/audit/checkpoints/{checkpoint.pk}.json").json()
    assert data["signature"] == checkpoint.signature and data["heads"] == checkpoint.heads
    client.force_login(users["hq_analyst"])
    assert client.get(f"/audit/checkpoints/{checkpoint.pk}.json").status_code == 403


def test_record_history_reads_as_labels_names_and_local_times(client, users, person):
    """Field labels instead of column names, the reason (or that none was given), and the record
    as it was at an earlier time."""
    from datetime import timedelta

    first = person.history.order_by("history_date").first()
    person.sex = "F"
    person._change_reason = ""
    person.save()
    client.force_login(users["auditor"])

    html = client.get(f"/audit/history/apprehensions.person/{person.pk}/").content.decode()
    assert "Given names" in html and "given_names" not in html
    assert "no reason given" in html
    assert "Female" in html  # the choice's label, not its code

    moment = (first.history_date + timedelta(seconds=0)).strftime("%Y-%m-%d %H:%M:%S.%f")
    as_of = client.get(f"/audit/history/apprehensions.person/{person.pk}/", {"as_of": moment})
    state = {row["label"]: row["value"] for row in as_of.context["as_of_state"]}
    assert state["Given names"] == "Ana"
    bad = client.get(f"/audit/history/apprehensions.person/{person.pk}/", {"as_of": "yesterday"})
    assert "Enter a date and time as YYYY-MM-DD HH:MM" in bad.content.decode()


def test_access_log_csv_has_a_bom_and_neutralises_formulas(client, users, person):
    """Like every other CSV export: a BOM (Excel reads María, not MarÃ­a) and a cell starting with
    = + - @ prefixed with ' so a typed name never runs as a formula on the auditor's machine."""
    person.given_names = "=HYPERLINK(1)"
    person._change_reason = "test"
    person.save()
    AccessLog(user=users["hq_analyst"], object_type="apprehensions.person", object_id=str(person.pk)).save()
    client.force_login(users["auditor"])

    response = client.get("/audit/access-log/", {"object_id": str(person.pk), "format": "csv"})

    body = b"".join(response.streaming_content).decode("utf-8")
    assert body.startswith("\ufeffwhen_utc,")
    assert "'=HYPERLINK(1) Pérez" in body and ",=HYPERLINK" not in body


def test_access_log_action_filter_offers_every_action_the_log_holds(client, users, person):
    """Listing, report, history, claim and apprehension views are most of the log: each has a label in
    the table and a choice in the Action filter (they showed raw codes and could not be chosen)."""
    for action in ("list", "report", "history", "claim", "view_apprehension"):
        AccessLog(
            user=users["hq_analyst"],
            object_type="apprehensions.person",
            object_id=str(person.pk),
            action=action,
        ).save()
    client.force_login(users["auditor"])

    html = client.get("/audit/access-log/").content.decode()

    for action in ("list", "report", "history", "claim", "view_apprehension"):
        assert f'<option value="{action}"' in html
        assert f"<td>{action}</td>" not in html
