"""Import pages: upload → preview → confirm → progress → result → correct a row; templates; report tag."""

import csv
import io

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from openpyxl import load_workbook

from legacy.models import ImportBatch, ImportRow
from legacy.parsing import CANONICAL_COLUMNS
from legacy.services import batch_run, import_file

from .sheets import EXPECTED_IMPORTED, EXPECTED_QUARANTINED, as_csv

pytestmark = pytest.mark.django_db


def _upload(client, content=None, name="el-paso.csv"):
    return client.post(
        "/imports/", {"sheet": SimpleUploadedFile(name, as_csv() if content is None else content, "text/csv")}
    )


def test_upload_preview_confirm_result_and_correct_a_row(client, users, stations):
    client.force_login(users["hq_analyst"])
    page = client.get("/imports/")
    assert page.status_code == 200 and "template (XLSX)" in page.content.decode()

    response = _upload(client)
    batch = ImportBatch.objects.get()
    assert response.status_code == 302 and response["Location"] == f"/imports/{batch.pk}/"
    assert batch.status == ImportBatch.Status.PREVIEWING
    detail = client.get(f"/imports/{batch.pk}/").content.decode()
    assert (
        f'hx-get="/imports/{batch.pk}/progress/"' in detail and f"0 of {batch.rows_total} rows done" in detail
    )
    partial = client.get(f"/imports/{batch.pk}/progress/")
    assert "HX-Refresh" not in partial

    batch_run(batch_id=batch.pk, by=users["hq_analyst"], dry_run=True)  # what the worker does
    partial = client.get(f"/imports/{batch.pk}/progress/")
    assert partial["HX-Refresh"] == "true"
    preview = client.get(f"/imports/{batch.pk}/").content.decode()
    assert f"<strong>{EXPECTED_IMPORTED}</strong> rows would be imported" in preview
    assert f"<strong>{EXPECTED_QUARANTINED}</strong> rows would be quarantined" in preview
    assert "UAC A# (child&#x27;s A-number): A300000001 is also the adult&#x27;s A-number" in preview

    response = client.post(f"/imports/{batch.pk}/confirm/")
    assert response.status_code == 302
    batch.refresh_from_db()
    assert batch.status == ImportBatch.Status.QUEUED
    batch_run(batch_id=batch.pk, by=users["hq_analyst"])
    result = client.get(f"/imports/{batch.pk}/").content.decode()
    assert (
        f"Rows read {batch.rows_total} = imported {EXPECTED_IMPORTED} + quarantined {EXPECTED_QUARANTINED}."
        in result
    )

    row = batch.rows.get(row_number=10)
    assert f"/imports/rows/{row.pk}/" in result
    form = client.get(f"/imports/rows/{row.pk}/").content.decode()
    assert "As typed in the sheet: “02/30/2012”" in form
    assert "&#x27;02/30/2012&#x27; is not a date that exists" in form
    assert "Agent Initials" in form  # the extra column is shown with the row

    still_wrong = client.post(f"/imports/rows/{row.pk}/", {"cell-child_dob": "13/45/2012"})
    assert still_wrong.status_code == 400
    assert "13/45/2012" in still_wrong.content.decode()  # what the user typed is kept
    done = client.post(f"/imports/rows/{row.pk}/", {"cell-child_dob": "02/20/2012"})
    assert done.status_code == 302
    row.refresh_from_db()
    assert row.status == ImportRow.Status.IMPORTED


def test_upload_of_an_unreadable_file_says_why(client, users, stations):
    client.force_login(users["hq_analyst"])
    response = _upload(client, b"PK\x03\x04 broken", "sheet.xlsx")
    assert response.status_code == 400
    assert "sheet.xlsx: The XLSX file cannot be opened" in response.content.decode()
    assert not ImportBatch.objects.exists()
    assert _upload(client, b"", "empty.csv").status_code == 400
    headers_only = _upload(client, b"adult_name,child_name\n", "headers.csv")
    assert headers_only.status_code == 400 and "no rows of data" in headers_only.content.decode()


def test_upload_of_a_sheet_with_no_known_column_is_refused_with_the_template(client, users, stations):
    """`foo,bar` was accepted and previewed as "Import 0 rows"; now the form is shown again with a
    message naming what was found and what is needed, and links to the template; nothing is kept."""
    client.force_login(users["hq_analyst"])
    response = _upload(client, b"foo,bar\nsome,thing\n", "odd.csv")
    assert response.status_code == 400
    html = response.content.decode()
    error = html[html.index('id="sheet-error"') : html.index("</span>", html.index('id="sheet-error"'))]
    assert "odd.csv: FamilyLink recognises none of the columns a row is imported from" in error
    assert "headers are &#x27;foo&#x27;, &#x27;bar&#x27;." in error
    assert "adult&#x27;s name (adult_name)" in error and "child&#x27;s date of birth (child_dob)" in error
    assert 'href="/imports/template.csv"' in error and 'href="/imports/template.xlsx"' in error
    assert 'aria-describedby="sheet-error"' in html and "Upload and check" in html
    assert not ImportBatch.objects.exists() and not ImportRow.objects.exists()


def test_progress_live_region_stays_in_the_page_and_only_its_text_is_swapped(client, users, stations):
    """The count's aria-live region sat inside the element htmx replaced every second (so screen
    readers announced nothing); the poll now swaps the meter and the live region's text only."""
    client.force_login(users["hq_analyst"])
    _upload(client)
    batch = ImportBatch.objects.get()
    page = client.get(f"/imports/{batch.pk}/").content.decode()
    poller = page[page.index('<div id="import-progress"') :]
    poller = poller[: poller.index(">")]
    assert 'hx-target="#import-progress-meter"' in poller and 'hx-swap="outerHTML"' in poller
    meter = page[page.index('<div id="import-progress-meter"') :]
    meter = meter[: meter.index("</div>")]
    assert "aria-live" not in meter  # the live region is not inside what is replaced
    assert (
        f'<p id="import-progress-text" data-testid="progress-text" aria-live="polite" aria-atomic="true">'
        f"0 of {batch.rows_total} rows done</p>"
    ) in page
    partial = client.get(f"/imports/{batch.pk}/progress/").content.decode()
    assert "aria-live" not in partial
    assert '<div id="import-progress-meter">' in partial
    assert (
        f'<p id="import-progress-text" hx-swap-oob="innerHTML">0 of {batch.rows_total} rows done</p>'
        in partial
    )


@pytest.mark.parametrize("role", ["field_agent", "coordinator", "auditor", "partner_agency"])
def test_import_pages_are_denied_to_other_roles(client, users, stations, role):
    client.force_login(users[role])
    assert client.get("/imports/").status_code == 403
    assert client.get("/imports/template.csv").status_code == 403


def test_supervisor_sees_only_their_station_batches(client, users, stations):
    batch = import_file(content=as_csv(), filename="hq.csv", by=users["hq_analyst"])
    client.force_login(users["supervisor"])
    assert client.get(f"/imports/{batch.pk}/").status_code == 404
    assert "hq.csv" not in client.get("/imports/").content.decode()


def test_templates_have_the_canonical_columns(client, users):
    client.force_login(users["hq_analyst"])
    response = client.get("/imports/template.csv")
    rows = list(csv.reader(io.StringIO(response.content.decode())))
    assert rows[0] == CANONICAL_COLUMNS
    response = client.get("/imports/template.xlsx")
    sheet = load_workbook(io.BytesIO(response.content)).active
    assert [c.value for c in sheet[1]] == CANONICAL_COLUMNS
    assert client.get("/imports/template.pdf").status_code == 404


def test_report_tells_imported_separations_from_entered_ones(client, users, stations):
    import_file(content=as_csv(), filename="a.csv", by=users["hq_analyst"])
    client.force_login(users["hq_analyst"])
    html = client.get("/reports/separated-children/").content.decode()
    assert html.count("Imported from a spreadsheet") == 7
    response = client.get("/reports/separated-children/?format=csv")
    rows = list(csv.DictReader(io.StringIO(response.content.decode())))
    assert {r["recorded_as"] for r in rows} == {"imported"} and len(rows) == 7


def test_api_report_and_separation_say_imported(api_client_for, users, stations):
    import_file(content=as_csv(), filename="a.csv", by=users["hq_analyst"])
    client = api_client_for("hq_analyst")
    report = client.get("/api/v1/reports/separated-children/").json()
    assert report["count"] == 7
    assert {r["recorded_as"] for r in report["results"]} == {"imported"}
    separation_id = report["results"][0]["separations"][0]
    detail = client.get(f"/api/v1/separations/{separation_id}/").json()
    assert detail["source"] == "legacy_import" and detail["status"] == "in_effect"
    assert detail["decided_by"] is None and detail["requested_by"] == "hq_analyst"


def test_preview_names_a_column_once_when_the_sheet_uses_the_template_name(client, users, stations):
    """A sheet headed with the template's names read "station (station): ..." and, for a column it
    lacks, "adult's name (adult's name): ..."; each column is named once."""
    client.force_login(users["hq_analyst"])
    _upload(client, content=b"station,notes\nXXX,hello\n", name="short.csv")
    batch = ImportBatch.objects.get()
    batch_run(batch_id=batch.pk, by=users["hq_analyst"], dry_run=True)
    preview = client.get(f"/imports/{batch.pk}/").content.decode()
    assert "station: &#x27;XXX&#x27; is not a station on file" in preview
    assert "station (station)" not in preview
    assert "adult&#x27;s name: " in preview and "(adult&#x27;s name)" not in preview


def test_a_check_that_stopped_cannot_be_confirmed_only_checked_again(client, users, stations, monkeypatch):
    """The dry run stopped on an error, so no preview was seen: the page says the check stopped and
    offers to check again, not to import; a confirm sent anyway is refused and imports nothing. The
    check run again gives the preview, which can then be confirmed."""
    from legacy.services import runs

    client.force_login(users["hq_analyst"])
    _upload(client)
    batch = ImportBatch.objects.get()

    def stop(rows, ctx):
        raise RuntimeError("worker lost its database connection")

    real_chunk = runs._run_chunk
    monkeypatch.setattr(runs, "_run_chunk", stop)
    with pytest.raises(RuntimeError):
        batch_run(batch_id=batch.pk, by=users["hq_analyst"], dry_run=True)
    batch.refresh_from_db()
    assert batch.status == ImportBatch.Status.FAILED and batch.check_failed

    page = client.get(f"/imports/{batch.pk}/").content.decode()
    assert "The check of the rows stopped" in page and "lost its database connection" in page
    assert f'action="/imports/{batch.pk}/check/"' in page
    assert f'action="/imports/{batch.pk}/confirm/"' not in page and "Import the remaining rows" not in page

    refused = client.post(f"/imports/{batch.pk}/confirm/", follow=True).content.decode()
    batch.refresh_from_db()
    assert "stopped before it finished, so nothing is ready to import" in refused
    assert batch.status == ImportBatch.Status.FAILED
    assert set(batch.rows.values_list("status", flat=True)) == {"pending"}

    assert client.post(f"/imports/{batch.pk}/check/").status_code == 302
    batch.refresh_from_db()
    assert batch.status == ImportBatch.Status.PREVIEWING and batch.error == ""
    assert batch.history.first().history_change_reason == "dry run queued again after it stopped"
    monkeypatch.setattr(runs, "_run_chunk", real_chunk)
    batch = batch_run(batch_id=batch.pk, by=users["hq_analyst"], dry_run=True)
    assert batch.status == ImportBatch.Status.PREVIEWED and not batch.check_failed
    assert client.post(f"/imports/{batch.pk}/confirm/").status_code == 302
    batch.refresh_from_db()
    assert batch.status == ImportBatch.Status.QUEUED
    # Checking again is for a check that stopped, nothing else.
    said = client.post(f"/imports/{batch.pk}/check/", follow=True).content.decode()
    assert "Only a batch whose check stopped on an error is checked again" in said
