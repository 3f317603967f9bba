"""In Chromium: an auditor opens a child's page, follows "History" to the record's history, then
reads the access log filtered by the child's name (their own view is there) and exports it as CSV;
0 axe-core violations on every page."""

import csv
import io

import pytest

from audit.models import AccessLog

from ..reunification.factories import approved_separation, years_ago
from .conftest import assert_accessible, sign_in

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def child(users):
    _, (case,) = approved_separation(users, children=[years_ago(6)], surname="Condori")
    child = case.child
    child.given_names = "Rosa"
    child._change_reason = "name corrected from the birth certificate"
    child.save()
    return child


def test_auditor_goes_from_a_childs_page_to_its_history_and_the_access_log(page, users, child):
    sign_in(page, "auditor")
    page.goto(f"/persons/{child.pk}/")
    assert page.get_by_test_id("person-name").inner_text() == "Rosa Condori"
    assert_accessible(page)

    page.get_by_role("link", name="History of person").click()
    page.wait_for_url(f"**/audit/history/apprehensions.person/{child.pk}/")
    assert "name corrected from the birth certificate" in page.locator("main").inner_text()
    assert_accessible(page)

    page.goto("/audit/access-log/?person=Rosa%20Condori")
    table = page.get_by_role("region", name="Access log entries")
    rows = table.locator("tbody tr")
    assert rows.count() >= 2  # the page view and the history view, at least
    for i in range(rows.count()):
        assert "Rosa Condori" in rows.nth(i).inner_text()
    assert "auditor" in table.inner_text()
    assert_accessible(page)

    with page.expect_download() as download_info:
        page.get_by_role("link", name="Export these entries (CSV)").click()
    download = download_info.value
    assert download.suggested_filename.endswith(".csv")
    with open(download.path(), encoding="utf-8-sig") as fh:
        exported = list(csv.DictReader(io.StringIO(fh.read())))
    assert exported and {r["record_id"] for r in exported} == {str(child.pk)}
    assert {r["person"].split(" (")[0] for r in exported} == {"Rosa Condori"}
    assert {"view", "history"} <= {r["action"] for r in exported}
    # The export itself is in the log.
    assert AccessLog.objects.filter(
        user=users["auditor"], action="export", path__startswith="/audit/"
    ).exists()
