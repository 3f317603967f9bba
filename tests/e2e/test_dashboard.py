"""Browser journeys for HQ: the analyst signs in and lands on the dashboard, reads it, follows a
number to the list behind it and exports that list; the court status report downloads as PDF and
XLSX and every figure opens its children. axe-core finds 0 WCAG 2.1 A/AA violations on each page."""

import io
from datetime import UTC, datetime, timedelta

import pytest
from django.utils import timezone
from openpyxl import load_workbook
from playwright.sync_api import Page, expect

from audit.models import AccessLog
from separations.services import separation_end_for_child

from ..reunification.factories import approved_separation
from .conftest import assert_accessible, sign_in

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]


def xlsx_bytes(download) -> io.BytesIO:
    """A downloaded file is saved without its extension; openpyxl reads it from memory."""
    with open(download.path(), "rb") as f:
        return io.BytesIO(f.read())


@pytest.fixture
def separated(users):
    """Three children separated at EPT: two 3 days ago, one on 1 July 2018 (its case reunified late)."""
    _, now_cases = approved_separation(
        users, children=[None, None], occurred_at=timezone.now() - timedelta(days=3)
    )
    _, (old,) = approved_separation(users, children=[None], occurred_at=datetime(2018, 7, 1, 15, tzinfo=UTC))
    old.status, old.outcome, old.closed_at = "reunified", "reunified", old.reunify_due_at + timedelta(days=30)
    old._change_reason = "test: reunified late"
    old.save()
    separation_end_for_child(
        separation_id=old.separation_id, child_id=old.child_id, by=users["supervisor"], outcome="reunified",
        ended_at=old.closed_at,
    )  # fmt: skip
    return now_cases, old


def test_hq_analyst_reads_the_dashboard_follows_a_number_and_exports_the_list(page: Page, users, separated):
    now_cases, _ = separated
    sign_in(page, "hq_analyst")
    page.wait_for_url("**/dashboard/")
    expect(page.get_by_role("heading", name="Dashboard", level=1)).to_be_visible()
    expect(page.get_by_test_id("tile-separated")).to_have_text("2")
    expect(page.get_by_role("img", name="Separated children per day")).to_be_visible()
    assert_accessible(page)

    # The data table behind the chart opens from the keyboard; its last day reads 2.
    summary = page.get_by_text("Data table: separated children per day")
    summary.focus()
    page.keyboard.press("Enter")
    table = page.get_by_test_id("table-chart-total")
    expect(table).to_be_visible()
    expect(table.locator("tbody tr").last.locator("td")).to_have_text("2")
    assert_accessible(page)

    # Follow the "separated now" number to its list: the two children, by name.
    page.get_by_test_id("tile-separated").click()
    page.wait_for_url("**/reports/separated-children/**")
    expect(page.get_by_test_id("report-count")).to_have_text("2 children separated")
    for case in now_cases:
        expect(page.get_by_test_id("report-rows")).to_contain_text(case.child.full_name)
    assert_accessible(page)

    with page.expect_download() as download_info:
        page.get_by_role("link", name="Download XLSX").click()
    download = download_info.value
    assert download.suggested_filename.startswith("separated-children-")
    sheet = load_workbook(xlsx_bytes(download)).active
    names = {row[1] for row in sheet.iter_rows(min_row=2, values_only=True)}
    assert names == {c.child.full_name for c in now_cases}
    assert (
        AccessLog.objects.filter(
            action="export", user=users["hq_analyst"], object_id__in=[str(c.child_id) for c in now_cases]
        ).count()
        == 2
    )


def test_court_status_report_drills_down_and_downloads_pdf_and_xlsx(page: Page, users, separated):
    _, old = separated
    sign_in(page, "hq_analyst")
    page.goto("/reports/court-status/")
    expect(page.get_by_role("heading", name="Court status report", level=1)).to_be_visible()
    expect(page.get_by_test_id("court-check")).to_contain_text("Check: separated = reunified")
    assert_accessible(page)

    # "Reunified ... late", all stations: the one child reunified a month after the deadline.
    late_row = page.locator('tr[data-key="reunified:late"]')
    expect(late_row.locator("td").first).to_have_text("1")
    late_row.locator("td").first.get_by_role("link").click()
    page.wait_for_url("**/reports/court-status/children/**")
    expect(page.get_by_test_id("children-count")).to_contain_text("1 child")
    expect(page.get_by_test_id("children-rows")).to_contain_text(old.child.full_name)
    assert_accessible(page)
    page.get_by_role("link", name="Back to the court status report").click()
    page.wait_for_url("**/reports/court-status/?**")

    with page.expect_download() as pdf_info:
        page.get_by_test_id("court-pdf").click()
    pdf = pdf_info.value
    assert pdf.suggested_filename.endswith(".pdf")
    with open(pdf.path(), "rb") as f:
        content = f.read()
    assert content.startswith(b"%PDF") and len(content) > 5000

    with page.expect_download() as xlsx_info:
        page.get_by_test_id("court-xlsx").click()
    book = load_workbook(xlsx_bytes(xlsx_info.value))
    values = {str(r[0]).strip(): r[1] for r in book["Court status"].iter_rows(values_only=True) if r and r[0]}
    assert values["Children separated"] == 3 and values["Still separated"] == 2
