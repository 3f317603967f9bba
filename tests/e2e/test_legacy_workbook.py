"""An HQ analyst imports a workbook with a sheet per month in Chromium, a real Celery worker doing the
work: one upload → a page listing the batch of each sheet (their dry runs checked on the worker) →
each sheet's preview, import and result → a totals row set aside with a reason (refused beside the
field without one), then put back. Every page visited has 0 axe-core WCAG 2.1 A/AA violations."""

import re

import pytest
from playwright.sync_api import Page, expect

from legacy.models import ImportBatch, ImportRow
from tests.apprehensions.factories import station
from tests.legacy.sheets import as_workbook
from tests.legacy.test_set_aside import TOTALS
from tests.legacy.test_workbooks import INSTRUCTIONS, JULY, JUNE, LOOKUPS
from tests.reunification.test_tasks import celery_worker_process  # noqa: F401 - the real worker fixture

from .conftest import assert_accessible, sign_in

pytestmark = [pytest.mark.e2e, pytest.mark.slow, pytest.mark.django_db(transaction=True)]

FOCUSED_SUMMARY = "() => document.activeElement && document.activeElement.id === 'error-summary'"


def _workbook() -> bytes:
    return as_workbook(
        ("Instructions", INSTRUCTIONS, "visible"),
        ("June", JUNE, "visible"),
        ("Lookups", LOOKUPS, "hidden"),
        ("July", [*JULY, TOTALS], "visible"),  # a totals row typed under July's table: row 7
    )


def _import_sheet(page: Page, sheet: str, rows: int) -> None:
    page.get_by_role("link", name=f"Preview of sheet '{sheet}'").click()
    page.get_by_role("heading", name=f"Import of sep-2018.xlsx — sheet '{sheet}'").wait_for()
    expect(page.get_by_role("heading", name="Preview (nothing written yet)")).to_be_visible()
    assert_accessible(page)
    page.get_by_role("button", name=f"Import {rows} rows").click()
    expect(page.get_by_role("heading", name="Result")).to_be_visible(timeout=120_000)


def test_hq_analyst_imports_each_sheet_of_a_workbook_and_sets_aside_a_totals_row(
    page: Page,
    users,
    celery_worker_process,  # noqa: F811
):
    station("EPT")
    sign_in(page, "hq_analyst")
    page.goto("/imports/")
    page.locator("#sheet").set_input_files(
        files=[
            {
                "name": "sep-2018.xlsx",
                "mimeType": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
                "buffer": _workbook(),
            }
        ]
    )
    page.get_by_role("button", name="Upload and check").click()

    # One upload, a batch per sheet of rows: the page lists them and reloads when both dry runs are done.
    page.get_by_role("heading", name="Upload of sep-2018.xlsx").wait_for()
    expect(page.get_by_text("The workbook has 2 sheets of rows")).to_be_visible()
    expect(page.get_by_role("link", name="Preview of sheet 'July'")).to_be_visible(timeout=120_000)
    expect(page.get_by_role("link", name="Preview of sheet 'June'")).to_be_visible()
    expect(page.get_by_test_id("upload-left-out")).to_contain_text("Sheet 'Instructions': no header row")
    expect(page.get_by_test_id("upload-left-out")).to_contain_text("Sheet 'Lookups': hidden")
    assert_accessible(page)

    _import_sheet(page, "June", 2)
    expect(page.get_by_test_id("result-counts")).to_have_text("Rows read 2 = imported 2 + quarantined 0.")
    expect(page.get_by_test_id("result-finished")).to_be_visible()
    page.get_by_role("link", name="every sheet of sep-2018.xlsx").click()
    sheets = page.get_by_test_id("upload-sheets")
    expect(sheets.get_by_role("row").filter(has_text="June")).to_contain_text("Imported, finished")
    assert_accessible(page)

    _import_sheet(page, "July", 3)
    expect(page.get_by_test_id("result-counts")).to_have_text("Rows read 5 = imported 3 + quarantined 2.")
    expect(page.get_by_test_id("result-finished")).to_have_count(0)
    assert_accessible(page)

    # The totals row is not a family: set it aside, first without a reason.
    page.get_by_role("link", name="Correct row 7").click()
    page.get_by_role("heading", name="Correct row 7 of sep-2018.xlsx — sheet 'July'").wait_for()
    page.get_by_role("button", name="Set row 7 aside").click()
    expect(page.locator("#reason-error")).to_contain_text("The reason is blank")
    assert page.evaluate(FOCUSED_SUMMARY), "the error summary has the keyboard"
    assert_accessible(page)
    page.get_by_label("Why set it aside").fill("totals row, not a family")
    page.get_by_role("button", name="Set row 7 aside").click()
    expect(page.get_by_text(re.compile(r"^Row 7 set aside"))).to_be_visible()
    expect(page.get_by_test_id("result-counts")).to_have_text("Rows read 5 = imported 3 + quarantined 2.")
    expect(page.get_by_test_id("result-set-aside")).to_have_text(
        "Quarantined 2, of them set aside 1 (not data): 1 row to correct."
    )
    expect(page.get_by_test_id("result-set-aside-rows")).to_contain_text("totals row, not a family")
    expect(page.get_by_test_id("result-quarantined")).not_to_contain_text("Correct row 7")
    assert_accessible(page)

    page.get_by_role("link", name="View row 7").click()
    page.get_by_role("heading", name="Row 7 of sep-2018.xlsx — sheet 'July', set aside").wait_for()
    expect(page.get_by_test_id("row-cells")).to_contain_text("TOTAL 33")
    assert_accessible(page)
    page.get_by_label("Why put it back").fill("asked to check the totals against the rows")
    page.get_by_role("button", name="Put row 7 back").click()
    expect(page.get_by_text(re.compile(r"^Row 7 put back"))).to_be_visible()
    expect(page.get_by_test_id("result-quarantined")).to_contain_text("Correct row 7")
    assert_accessible(page)

    july = ImportBatch.objects.get(sheet="July")
    row = july.rows.get(row_number=7)
    assert row.status == ImportRow.Status.QUARANTINED and not row.is_set_aside
    assert [h.history_change_reason for h in row.history.order_by("history_date")][-2:] == [
        "set aside: totals row, not a family",
        "put back: asked to check the totals against the rows",
    ]
