"""Quarantined rows that are not data (a totals row, a note typed under the table) can be set aside
with a reason, and put back: still quarantined, as typed, no longer to correct; history kept."""

import pytest
from django.core.exceptions import PermissionDenied as DjangoPermissionDenied

from familylink.common.errors import BusinessRuleError, PermissionDenied, ValidationFailed
from familylink.common.roles import Role
from legacy.models import ImportBatch, ImportRow
from legacy.parsing import CANONICAL_COLUMNS
from legacy.services import import_file, row_correct, row_put_back, row_set_aside

from ..conftest import make_user
from .sheets import HEADERS, ROWS, as_csv

pytestmark = pytest.mark.django_db

TOTALS = ["TOTAL 33", *[""] * 17]
NOTE = ["", "", "Note: two families were released before this sheet was sent", *[""] * 15]
TOTALS_REASON = "totals row, not a family"


def _sheet() -> bytes:
    """Two families, then a totals row and a note under the table (rows 4 and 5)."""
    return as_csv(HEADERS, [ROWS[0][1], ROWS[4][1], TOTALS, NOTE])


def _import(by) -> ImportBatch:
    batch = import_file(content=_sheet(), filename="el-paso.csv", by=by)
    assert (batch.rows_total, batch.rows_imported, batch.rows_quarantined) == (4, 2, 2)
    return batch


def _counts(batch: ImportBatch) -> tuple[int, int, int, int]:
    batch.refresh_from_db()
    return batch.rows_total, batch.rows_imported, batch.rows_quarantined, batch.rows_set_aside


def test_row_set_aside_keeps_the_row_quarantined_as_typed_and_off_the_rows_to_correct(users, stations):
    """A totals row stayed quarantined for ever and the batch never read as finished. Set aside, it
    still counts as quarantined (rows read = imported + quarantined), its cells as typed, with who,
    when and why on the row and in its history; with the note set aside too, the batch is finished."""
    batch = _import(users["hq_analyst"])
    totals = batch.rows.get(row_number=4)
    history_before = totals.history.count()

    row = row_set_aside(row_id=totals.pk, by=users["hq_analyst"], reason=f"  {TOTALS_REASON} ")

    assert row.status == ImportRow.Status.QUARANTINED and row.is_set_aside
    row.refresh_from_db()
    assert (row.set_aside_by, row.set_aside_reason) == (users["hq_analyst"], TOTALS_REASON)
    assert row.set_aside_at is not None
    assert row.cells == [[h, c] for h, c in zip(HEADERS, TOTALS, strict=True)] and row.corrections == {}
    assert row.messages == totals.messages  # what is wrong with it still says so
    assert row.history.count() == history_before + 1
    latest = row.history.latest()
    assert (latest.history_user, latest.history_change_reason) == (
        users["hq_analyst"],
        f"set aside: {TOTALS_REASON}",
    )
    assert _counts(batch) == (4, 2, 2, 1)
    assert (batch.rows_to_correct, batch.is_finished) == (1, False)
    assert batch.history.latest().history_change_reason == "row 4 set aside"

    row_set_aside(row_id=batch.rows.get(row_number=5).pk, by=users["hq_analyst"], reason="a note, not a row")

    assert _counts(batch) == (4, 2, 2, 2)
    assert (batch.rows_to_correct, batch.is_finished) == (0, True)
    assert batch.rows_total == batch.rows_imported + batch.rows_quarantined


def test_row_put_back_returns_it_to_the_rows_to_correct_with_history(users, stations):
    """The station's supervisor set the row aside; an HQ analyst (all stations) puts it back."""
    batch = _import(users["supervisor"])
    totals = batch.rows.get(row_number=4)
    row_set_aside(row_id=totals.pk, by=users["supervisor"], reason=TOTALS_REASON)

    row = row_put_back(row_id=totals.pk, by=users["hq_analyst"], reason="the family is in the notes")

    row.refresh_from_db()
    assert row.status == ImportRow.Status.QUARANTINED and not row.is_set_aside
    assert (row.set_aside_at, row.set_aside_by, row.set_aside_reason) == (None, None, "")
    assert [(h.history_user, h.history_change_reason) for h in row.history.order_by("history_date")][-2:] == [
        (users["supervisor"], f"set aside: {TOTALS_REASON}"),
        (users["hq_analyst"], "put back: the family is in the notes"),
    ]
    assert _counts(batch) == (4, 2, 2, 0)
    # Back among the rows to correct: a correction imports it.
    corrected = row_correct(
        row_id=row.pk,
        by=users["hq_analyst"],
        corrections=dict(zip(CANONICAL_COLUMNS, ROWS[2][1], strict=False)),
    )
    assert corrected.status == ImportRow.Status.IMPORTED
    assert _counts(batch) == (4, 3, 1, 0)


@pytest.mark.parametrize("service", [row_set_aside, row_put_back])
@pytest.mark.parametrize("reason", ["", "   \n "])
def test_a_reason_is_required_and_nothing_changes_without_one(users, stations, service, reason):
    batch = _import(users["hq_analyst"])
    totals = batch.rows.get(row_number=4)
    if service is row_put_back:
        row_set_aside(row_id=totals.pk, by=users["hq_analyst"], reason=TOTALS_REASON)
    history = totals.history.count()

    with pytest.raises(ValidationFailed) as refused:
        service(row_id=totals.pk, by=users["hq_analyst"], reason=reason)

    assert list(refused.value.errors) == ["reason"]
    assert refused.value.errors["reason"][0].startswith("The reason is blank. Say why")
    assert totals.history.count() == history


def test_a_reason_too_long_is_refused_saying_how_long(users, stations):
    batch = _import(users["hq_analyst"])

    with pytest.raises(ValidationFailed, match=r"has 1,001 characters; keep it under 1,000"):
        row_set_aside(row_id=batch.rows.get(row_number=4).pk, by=users["hq_analyst"], reason="x" * 1001)


def test_another_stations_supervisor_cannot_set_aside_or_put_back(users, stations):
    """McAllen's supervisor imported the sheet: El Paso's supervisor and a field agent may not touch
    its rows; McAllen's may."""
    mca = make_user("supervisor_mca", Role.SUPERVISOR, station="MCA")
    rows = [[*cells[:1], "MCA", *cells[2:]] for cells in (ROWS[0][1], ROWS[4][1])] + [TOTALS, NOTE]
    batch = import_file(content=as_csv(HEADERS, rows), filename="mcallen.csv", by=mca)
    totals = batch.rows.get(row_number=4)

    for other in (users["supervisor"], users["field_agent"]):
        with pytest.raises(DjangoPermissionDenied):
            row_set_aside(row_id=totals.pk, by=other, reason=TOTALS_REASON)
    row_set_aside(row_id=totals.pk, by=mca, reason=TOTALS_REASON)
    with pytest.raises(PermissionDenied, match="No such import row for you"):
        row_put_back(row_id=totals.pk, by=users["supervisor"], reason="mine now")

    totals.refresh_from_db()
    assert totals.set_aside_by == mca


def test_only_a_quarantined_row_is_set_aside_once_and_put_back_once(users, stations):
    batch = _import(users["hq_analyst"])
    imported = batch.rows.get(row_number=2)
    totals = batch.rows.get(row_number=4)

    with pytest.raises(BusinessRuleError, match=r"Only a quarantined row .* \(row 2 is imported\)"):
        row_set_aside(row_id=imported.pk, by=users["hq_analyst"], reason=TOTALS_REASON)
    with pytest.raises(BusinessRuleError, match="Row 4 is not set aside"):
        row_put_back(row_id=totals.pk, by=users["hq_analyst"], reason="why not")
    row_set_aside(row_id=totals.pk, by=users["hq_analyst"], reason=TOTALS_REASON)
    with pytest.raises(BusinessRuleError, match=r"Row 4 is already set aside \(by Hq_Analyst: totals row"):
        row_set_aside(row_id=totals.pk, by=users["hq_analyst"], reason="again")
    with pytest.raises(BusinessRuleError, match="Row 4 is set aside .*; put it back before correcting it"):
        row_correct(row_id=totals.pk, by=users["hq_analyst"], corrections={"station": "EPT"})


# --- the pages -----------------------------------------------------------------------------------------


def test_result_page_shows_rows_set_aside_apart_and_reads_finished(client, users, stations):
    batch = _import(users["hq_analyst"])
    totals, note = batch.rows.get(row_number=4), batch.rows.get(row_number=5)
    client.force_login(users["hq_analyst"])

    page = client.get(f"/imports/{batch.pk}/").content.decode()
    assert f"/imports/rows/{totals.pk}/" in page and "result-set-aside" not in page
    assert "Finished" not in page

    response = client.post(f"/imports/rows/{totals.pk}/set-aside/", {"reason": TOTALS_REASON})
    assert response.status_code == 302 and response["Location"] == f"/imports/{batch.pk}/"
    page = client.get(f"/imports/{batch.pk}/").content.decode()
    assert "Row 4 set aside: it is no longer to correct." in page
    assert "Rows read 4 = imported 2 + quarantined 2." in page
    assert "Quarantined 2, of them set aside 1 (not data): 1 row to correct." in page
    to_correct = page[
        page.index('data-testid="result-quarantined"') : page.index(
            "</table>", page.index('data-testid="result-quarantined"')
        )
    ]
    assert "Correct row 5" in to_correct and "Correct row 4" not in to_correct
    aside = page[page.index('data-testid="result-set-aside-rows"') :]
    aside = aside[: aside.index("</table>")]
    assert TOTALS_REASON in aside and "Hq_Analyst" in aside and "View row 4" in aside
    listing = client.get("/imports/").content.decode()
    assert "Imported, 1 row to correct" in listing and "2 (set aside 1)" in listing

    client.post(f"/imports/rows/{note.pk}/set-aside/", {"reason": "a note under the table"})
    page = client.get(f"/imports/{batch.pk}/").content.decode()
    assert "Finished: every row is imported or set aside as not data; none is left to correct." in page
    assert 'data-testid="result-quarantined"' not in page
    assert "Imported, finished" in client.get("/imports/").content.decode()


def test_row_page_refuses_a_blank_reason_beside_the_field_and_keeps_what_was_typed(client, users, stations):
    batch = _import(users["hq_analyst"])
    totals = batch.rows.get(row_number=4)
    client.force_login(users["hq_analyst"])

    blank = client.post(f"/imports/rows/{totals.pk}/set-aside/", {"reason": "  "})

    assert blank.status_code == 400
    html = blank.content.decode()
    assert '<span class="usa-error-message" id="reason-error">The reason is blank. Say why this row' in html
    assert 'aria-describedby="reason-hint reason-error" aria-invalid="true"' in html
    assert 'id="error-summary"' in html and "The row was not set aside" in html
    too_long = "totals row " * 100
    response = client.post(f"/imports/rows/{totals.pk}/set-aside/", {"reason": too_long})
    assert response.status_code == 400 and f">{too_long}</textarea>" in response.content.decode()
    totals.refresh_from_db()
    assert not totals.is_set_aside


def test_row_page_of_a_row_set_aside_shows_why_and_puts_it_back(client, users, stations):
    batch = _import(users["supervisor"])
    totals = batch.rows.get(row_number=4)
    row_set_aside(row_id=totals.pk, by=users["supervisor"], reason=TOTALS_REASON)
    client.force_login(users["hq_analyst"])

    page = client.get(f"/imports/rows/{totals.pk}/").content.decode()
    assert "Row 4 of el-paso.csv, set aside" in page
    assert "Set aside as not data by Supervisor on" in page and f"“{TOTALS_REASON}”" in page
    assert '<th scope="row">Apprehension Date</th><td>TOTAL 33</td>' in page  # as typed
    assert 'name="cell-station"' not in page  # no correction form while it is set aside
    assert client.post(f"/imports/rows/{totals.pk}/", {"cell-station": "EPT"}).status_code == 302

    blank = client.post(f"/imports/rows/{totals.pk}/put-back/", {"reason": ""})
    assert blank.status_code == 400 and "The row was not put back" in blank.content.decode()
    response = client.post(f"/imports/rows/{totals.pk}/put-back/", {"reason": "the family is in the notes"})
    assert response.status_code == 302
    page = client.get(f"/imports/rows/{totals.pk}/").content.decode()
    assert "Correct row 4 of el-paso.csv" in page and 'name="cell-station"' in page
    decisions = page[page.index('data-testid="row-decisions"') :]
    assert f"Set aside: {TOTALS_REASON}" in decisions and "Put back: the family is in the notes" in decisions


def test_another_stations_supervisor_gets_404_on_the_set_aside_pages(client, users, stations):
    batch = _import(users["hq_analyst"])
    totals = batch.rows.get(row_number=4)
    client.force_login(users["supervisor"])  # HQ's batch: not this supervisor's station

    assert client.post(f"/imports/rows/{totals.pk}/set-aside/", {"reason": TOTALS_REASON}).status_code == 404
    assert client.post(f"/imports/rows/{totals.pk}/put-back/", {"reason": "x"}).status_code == 404
    totals.refresh_from_db()
    assert not totals.is_set_aside
