"""An HQ analyst imports a field spreadsheet in Chromium, with a real Celery worker doing the work:
upload → dry-run preview (progress bar updating without reload) → confirm → progress → result →
correct a quarantined row and import it → the child appears in the separated-children report.
Every page visited has 0 axe-core WCAG 2.1 A/AA violations."""

import re
from datetime import date

import pytest
from django.core.cache import cache
from playwright.sync_api import Page, expect

from apprehensions.models import Person
from bench.legacy_import import generate_rows
from legacy.models import ImportBatch, ImportRow
from legacy.services import batch_create, batch_run, progress_key
from tests.apprehensions.factories import station
from tests.legacy.sheets import EXPECTED_QUARANTINED, HEADERS, ROWS, as_csv
from tests.reunification.test_tasks import celery_worker_process  # noqa: F401 - the real worker fixture

from .conftest import assert_accessible, sign_in

pytestmark = [pytest.mark.e2e, pytest.mark.slow, pytest.mark.django_db(transaction=True)]


def _sheet() -> tuple[bytes, int]:
    """The variation sheet plus 120 generated rows (from July 2018, no broken rows), so progress shows."""
    extra = [[*cells[:17], ""] for cells in generate_rows(120, seed=5, start=date(2018, 7, 1), broken=0.0)]
    rows = [cells for _, cells in ROWS] + extra
    return as_csv(HEADERS, rows), len(rows)


def test_hq_analyst_imports_a_sheet_and_fixes_a_quarantined_row(page: Page, users, celery_worker_process):  # noqa: F811
    station("EPT")
    content, total = _sheet()
    progress_polls: list[str] = []
    page.on("response", lambda r: progress_polls.append(r.url) if "/progress/" in r.url else None)

    sign_in(page, "hq_analyst")
    page.get_by_role("navigation", name="Primary navigation").get_by_role(
        "link", name="Import spreadsheets"
    ).click()
    page.get_by_role("heading", name="Import field spreadsheets").wait_for()
    assert_accessible(page)

    page.locator("#sheet").set_input_files(
        files=[{"name": "el-paso-2018.csv", "mimeType": "text/csv", "buffer": content}]
    )
    page.get_by_role("button", name="Upload and check").click()
    page.get_by_role("heading", name="Import of el-paso-2018.csv").wait_for()
    # The dry run runs on the worker; the page polls the progress bar and shows the preview when done.
    expect(page.get_by_role("heading", name="Preview (nothing written yet)")).to_be_visible(timeout=120_000)
    assert progress_polls, "the progress bar never polled"
    counts = page.get_by_test_id("preview-counts")
    expect(counts).to_contain_text(f"{EXPECTED_QUARANTINED} rows would be quarantined")
    expect(page.get_by_test_id("preview-quarantined")).to_contain_text(
        "UAC A# (child's A-number): A300000001 is also the adult's A-number"
    )
    expect(page.get_by_test_id("preview-quarantined")).to_contain_text(
        "'02/30/2012' is not a date that exists"
    )
    assert not Person.objects.exists()  # a preview writes nothing
    assert_accessible(page)

    imported_expected = total - EXPECTED_QUARANTINED
    progress_polls.clear()
    page.get_by_role("button", name=f"Import {imported_expected} rows").click()
    expect(page.get_by_role("heading", name="Result")).to_be_visible(timeout=240_000)
    assert progress_polls, "the import's progress bar never polled"
    expect(page.get_by_test_id("result-counts")).to_have_text(
        f"Rows read {total} = imported {imported_expected} + quarantined {EXPECTED_QUARANTINED}."
    )
    assert_accessible(page)
    batch = ImportBatch.objects.get()
    assert batch.status == ImportBatch.Status.DONE and batch.rows_imported == imported_expected

    # Row 10 has an impossible date of birth: correct that cell and import the row.
    page.get_by_role("link", name="Correct row 10").click()
    page.get_by_role("heading", name="Correct row 10 of el-paso-2018.csv").wait_for()
    cell = page.get_by_label(re.compile(r"^Date of Birth \(child's date of birth\)"))
    expect(cell).to_have_value("02/30/2012")
    expect(page.get_by_text("As typed in the sheet: “02/30/2012”")).to_be_visible()
    expect(page.locator("#cell-child_dob-error")).to_contain_text("is not a date that exists")
    assert_accessible(page)
    cell.fill("02/20/2012")
    page.get_by_role("button", name="Import this row").click()
    expect(page.get_by_text(re.compile(r"^Row 10 imported"))).to_be_visible()
    expect(page.get_by_test_id("result-counts")).to_have_text(
        f"Rows read {total} = imported {imported_expected + 1} + quarantined {EXPECTED_QUARANTINED - 1}."
    )
    assert_accessible(page)
    row = batch.rows.get(row_number=10)
    assert row.status == ImportRow.Status.IMPORTED and dict(row.cells)["Date of Birth"] == "02/30/2012"

    # The child now appears in the separated-children report, marked as imported.
    page.get_by_role("navigation", name="Primary navigation").get_by_role(
        "link", name="Separated children"
    ).click()
    report = page.get_by_test_id("report-rows")
    elena = report.get_by_role("row").filter(has_text="Elena Morales")
    expect(elena).to_have_count(1)
    expect(elena).to_contain_text("Imported from a spreadsheet")
    expect(elena).to_contain_text("Zero Tolerance prosecution")
    assert_accessible(page)


def test_progress_count_is_announced_from_a_live_region_that_stays(page: Page, users):
    """The count's aria-live region sat inside the element htmx replaced every second: a region
    replaced wholesale is a new node, not a live region that changed, so screen readers may say
    nothing. The region now stays (the same node) while its text and the bar follow the run."""
    station("EPT")
    batch = batch_create(content=as_csv(), filename="slow.csv", by=users["hq_analyst"])
    batch.status = ImportBatch.Status.PREVIEWING  # as the upload leaves it; no worker runs here
    batch.save(update_fields=["status"])

    sign_in(page, "hq_analyst")
    page.goto(f"/imports/{batch.pk}/")
    live = page.get_by_test_id("progress-text")
    expect(live).to_have_text(f"0 of {batch.rows_total} rows done")
    expect(live).to_have_attribute("aria-live", "polite")
    live.evaluate("node => { window.liveRegion = node; }")
    assert_accessible(page)

    cache.set(progress_key(batch.pk), 4)  # what a running batch reports
    expect(page.locator("#import-progress-bar")).to_have_attribute("value", "4")
    expect(live).to_have_text(f"4 of {batch.rows_total} rows done")
    assert live.evaluate("node => node === window.liveRegion && node.isConnected"), (
        "the live region was replaced, not updated"
    )
    expect(page.locator("#import-progress [aria-live]")).to_have_count(1)
    assert_accessible(page)

    batch_run(batch_id=batch.pk, by=users["hq_analyst"], dry_run=True)  # the run ends: the page reloads
    expect(page.get_by_role("heading", name="Preview (nothing written yet)")).to_be_visible()
