"""Workbooks with several sheets of rows (one per month, one per office): one upload makes one batch per
sheet of rows, each with its own header row, column map, preview and result; sheets that are not rows
are left out, named, with why."""

import threading
import time

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import connection

from apprehensions.models import Person
from familylink.common.roles import Role
from legacy.models import ImportBatch, ImportRecord, ImportRow, ImportUpload
from legacy.parsing import (
    CANONICAL_COLUMNS,
    HIDDEN,
    NO_HEADER,
    NO_ROWS,
    UnreadableFile,
    map_headers,
    read_sheets,
)
from legacy.services import batch_create, batch_run, import_upload, runs, upload_batches, upload_create
from separations.models import Separation

from ..conftest import make_user
from .sheets import ANA_ELSEWHERE, HEADERS, ROWS, as_workbook
from .test_services import _snapshot

pytestmark = pytest.mark.django_db

FILE = "sep-2018.xlsx"
INSTRUCTIONS = [
    ["How to fill this workbook"],
    ["One row per separated adult and child; one sheet per month."],
]
LOOKUPS = [["station", "name"], ["EPT", "El Paso"], ["MCA", "McAllen"]]
# June in the template's column names.
JUNE = [CANONICAL_COLUMNS, ROWS[0][1][:17], ROWS[2][1][:17]]
# July under a title row, in another office's spellings ('Parent Name', 'A#', 'DOB', 'Minor Name',
# 'UAC A#', 'Sep Reason', 'ORR Shelter', 'Comments', and an extra 'Agent Initials' column).
ANA_AGAIN = [*ANA_ELSEWHERE[:16], "carried over from June", "MM"]  # June's Ana Sofia, no A-number
JULY = [
    ["El Paso Sector - separated families - July 2018"],
    HEADERS,
    ANA_AGAIN,
    ROWS[4][1],  # Rosa Lopez Ramirez and Kevin: new
    ROWS[5][1],  # the parent's A-number copied onto the child: quarantined
    ROWS[2][1],  # June's third row again, the office's initials beside it: already imported
]


def _workbook() -> bytes:
    return as_workbook(
        ("Instructions", INSTRUCTIONS, "visible"),
        ("June", JUNE, "visible"),
        ("Lookups", LOOKUPS, "hidden"),
        ("July", JULY, "visible"),
    )


def _counts(batch: ImportBatch) -> tuple[int, int, int]:
    return batch.rows_total, batch.rows_imported, batch.rows_quarantined


# --- reading --------------------------------------------------------------------------------------


def test_read_sheets_reads_each_sheet_of_rows_and_names_the_others():
    """A workbook with a sheet per month was refused ("FamilyLink imports one sheet per file"); each
    sheet of rows is read under its own header row, and the instructions and the hidden lookup list
    are left out, each with why."""
    read = read_sheets(_workbook(), FILE)

    assert [s.title for s in read.sheets] == ["June", "July"]
    june, july = read.sheets
    assert june.headers == CANONICAL_COLUMNS and july.headers == HEADERS
    assert map_headers(july.headers) == map_headers([*CANONICAL_COLUMNS, "Agent Initials"])
    assert june.row_numbers == [2, 3] and july.row_numbers == [3, 4, 5, 6]  # under July's title row
    assert july.rows[0] == ANA_AGAIN
    assert [(s.title, s.why) for s in read.left_out] == [("Instructions", NO_HEADER), ("Lookups", HIDDEN)]


def test_read_sheets_leaves_out_a_sheet_with_a_header_and_no_rows():
    """August's sheet is ready but empty: left out as such, not an error and not a batch of nothing."""
    read = read_sheets(
        as_workbook(("June", JUNE, "visible"), ("August", [CANONICAL_COLUMNS], "visible")), FILE
    )

    assert [s.title for s in read.sheets] == ["June"]
    assert [(s.title, s.why) for s in read.left_out] == [("August", NO_ROWS)]


def test_read_sheets_by_title_and_an_unknown_title_names_the_sheets_there_are():
    read = read_sheets(_workbook(), FILE, titles=["july"])

    assert [s.title for s in read.sheets] == ["July"]
    with pytest.raises(UnreadableFile) as refused:
        read_sheets(_workbook(), FILE, titles=["Agust"])
    assert str(refused.value) == (
        "The workbook has no sheet 'Agust'; its sheets are 'Instructions', 'June', 'July' and, hidden, "
        "'Lookups'. Name one of those, as Excel shows it on the sheet's tab."
    )


def test_a_sheet_too_long_is_refused_naming_it(monkeypatch):
    """The refusals of one sheet hold for each sheet, and say which sheet."""
    monkeypatch.setattr("legacy.parsing.MAX_ROWS", 3)

    with pytest.raises(UnreadableFile, match=r"^Sheet 'July': The sheet has 4 rows; split it"):
        read_sheets(_workbook(), FILE)


# --- batches ---------------------------------------------------------------------------------------


def test_upload_create_makes_a_batch_per_sheet_of_rows(users, stations):
    """One upload, two batches: each named with the file and its sheet, with its own header row and
    column map, and every row of its sheet as typed, numbered as Excel shows it."""
    upload = upload_create(content=_workbook(), filename=FILE, by=users["hq_analyst"])

    june, july = upload_batches(upload)
    assert (june.name, july.name) == ("sep-2018.xlsx — sheet 'June'", "sep-2018.xlsx — sheet 'July'")
    assert june.headers == CANONICAL_COLUMNS and july.headers == HEADERS
    assert july.column_map["2"] == "adult_name" and june.column_map["2"] == "adult_name"
    assert "17" not in july.column_map  # 'Agent Initials': an extra column, kept with each row
    assert (june.rows_total, july.rows_total) == (2, 4)
    assert [r.row_number for r in july.rows.order_by("row_number")] == [3, 4, 5, 6]
    assert july.rows.get(row_number=3).cells == [[h, c] for h, c in zip(HEADERS, ANA_AGAIN, strict=True)]
    assert upload.sheets_left_out == [
        {"sheet": "Instructions", "why": NO_HEADER},
        {"sheet": "Lookups", "why": HIDDEN},
    ]
    assert june.upload == july.upload == upload


def test_upload_create_of_a_sheet_chosen_without_the_columns_is_refused_naming_it(users, stations):
    with pytest.raises(UnreadableFile, match=r"^Sheet 'Instructions': FamilyLink recognises none of the"):
        upload_create(content=_workbook(), filename=FILE, by=users["hq_analyst"], sheets=["Instructions"])
    assert not ImportUpload.objects.exists() and not ImportBatch.objects.exists()


def test_batch_create_still_refuses_a_workbook_of_several_sheets_of_rows(users, stations):
    """A caller that wants the one batch of a file is told the file has several, and nothing is kept."""
    with pytest.raises(UnreadableFile, match=r"has 2 sheets of rows \('June', 'July'\)"):
        batch_create(content=_workbook(), filename=FILE, by=users["hq_analyst"])
    assert not ImportBatch.objects.exists()


def test_import_upload_each_sheet_rows_read_equals_imported_plus_quarantined(users, stations):
    _, (june, july) = import_upload(content=_workbook(), filename=FILE, by=users["hq_analyst"])

    assert _counts(june) == (2, 2, 0)
    assert _counts(july) == (4, 3, 1)
    for batch in (june, july):
        assert batch.rows_total == batch.rows_imported + batch.rows_quarantined
        assert not batch.rows.filter(status=ImportRow.Status.PENDING).exists()
    assert (
        "A300000001 is also the adult's A-number" in july.rows.get(row_number=5).messages["child_a_number"][0]
    )


def test_the_same_child_on_two_sheets_is_one_person(users, stations):
    """June names Ana Sofia Perez Garcia with her A-number, July 'ANA SOFIA PÉREZ' without one: one
    person, one separation; July's row says it linked her. A row repeated on both sheets is linked
    to the first sheet's row."""
    _, (june, july) = import_upload(content=_workbook(), filename=FILE, by=users["hq_analyst"])

    assert Person.objects.filter(given_names="Ana Sofia").count() == 1
    assert Separation.objects.filter(members__person__given_names="Ana Sofia").count() == 1
    assert Person.objects.filter(given_names="Carlos").count() == 1
    ana = july.rows.get(row_number=3)
    assert any("linked by name and date of birth" in line for line in ana.outcome)
    repeated = july.rows.get(row_number=6)
    first = june.rows.get(row_number=3)
    assert repeated.outcome == [
        f"Already imported from sep-2018.xlsx — sheet 'June' ({june.label}) row 3: nothing changed."
    ]
    assert {(r.model, r.object_id) for r in repeated.records.all()} == {
        (r.model, r.object_id) for r in first.records.all()
    }


def test_importing_the_same_workbook_twice_changes_nothing_the_second_time(users, stations):
    import_upload(content=_workbook(), filename=FILE, by=users["hq_analyst"])
    before = _snapshot()

    _, (june, july) = import_upload(content=_workbook(), filename=FILE, by=users["hq_analyst"])

    assert _snapshot() == before
    assert (_counts(june), _counts(july)) == ((2, 2, 0), (4, 3, 1))


def test_a_sheets_rows_keep_their_provenance_file_sheet_and_row(users, stations):
    """Every record an import row created names its batch (file and sheet) and its row."""
    _, (_, july) = import_upload(content=_workbook(), filename=FILE, by=users["hq_analyst"])

    kevin = Person.objects.get(given_names="Kevin")
    record = ImportRecord.objects.get(model="apprehensions.person", object_id=kevin.pk)
    assert (record.row.batch, record.row.row_number) == (july, 4)
    assert (record.row.batch.filename, record.row.batch.sheet) == (FILE, "July")
    assert kevin.history.earliest().history_change_reason == f"{july.label} (sheet 'July') rows 4"
    separation = Separation.objects.get(members__person=kevin)
    assert f"{july.label} (sep-2018.xlsx — sheet 'July') row 4" in separation.decision_comment


# --- the command -------------------------------------------------------------------------------------


@pytest.fixture
def workbook_path(tmp_path):
    path = tmp_path / FILE
    path.write_bytes(_workbook())
    return path


def test_command_imports_every_sheet_of_rows_and_prints_each(users, stations, workbook_path, capsys):
    call_command("import_legacy", str(workbook_path), "--user", "hq_analyst")

    june, july = ImportBatch.objects.order_by("created_at")
    assert capsys.readouterr().out.splitlines() == [
        f"sep-2018.xlsx — sheet 'June' ({june.label}): rows read 2, imported 2, quarantined 0.",
        f"sep-2018.xlsx — sheet 'July' ({july.label}): rows read 4, imported 3, quarantined 1.",
        f"Not imported: sheet 'Instructions' ({NO_HEADER}).",
        f"Not imported: sheet 'Lookups' ({HIDDEN}).",
    ]


def test_command_dry_run_of_a_workbook_prints_each_sheet_and_writes_nothing(
    users, stations, workbook_path, capsys
):
    call_command("import_legacy", str(workbook_path), "--dry-run")

    out = capsys.readouterr().out
    assert (
        "Dry run of sep-2018.xlsx — sheet 'June' (nothing written): rows read 2, would import 2, "
        "would quarantine 0." in out
    )
    assert "sheet 'July' (nothing written): rows read 4, would import 3, would quarantine 1." in out
    assert not ImportUpload.objects.exists() and not Person.objects.exists()


def test_command_sheet_chooses_sheets(users, stations, workbook_path, capsys):
    call_command("import_legacy", str(workbook_path), "--sheet", "July", "--show-quarantined")

    (july,) = ImportBatch.objects.all()
    assert july.sheet == "July" and _counts(july) == (4, 3, 1)
    out = capsys.readouterr().out
    assert f"sep-2018.xlsx — sheet 'July' ({july.label}): rows read 4, imported 3, quarantined 1." in out
    assert "  row 5, column 'UAC A#' (child_a_number): A300000001 is also the adult's A-number" in out
    assert "Not imported: sheet 'June' (not among the sheets chosen)." in out

    call_command("import_legacy", str(workbook_path), "--sheet", "June", "--sheet", "July")
    assert ImportBatch.objects.filter(sheet="June").count() == 1
    assert ImportBatch.objects.filter(sheet="July").count() == 2


def test_command_unknown_sheet_is_a_clear_error_naming_the_sheets(users, stations, workbook_path, tmp_path):
    with pytest.raises(CommandError) as refused:
        call_command("import_legacy", str(workbook_path), "--sheet", "July", "--sheet", "Agust")
    assert "The workbook has no sheet 'Agust'; its sheets are 'Instructions', 'June', 'July'" in str(
        refused.value
    )
    assert not ImportUpload.objects.exists()

    csv_path = tmp_path / "el-paso.csv"
    csv_path.write_bytes(b"apprehension_date,station,adult_name\n06/01/2018,EPT,Ana Perez\n")
    with pytest.raises(CommandError, match=r"el-paso.csv is a CSV file: it has one sheet"):
        call_command("import_legacy", str(csv_path), "--sheet", "July")


# --- the pages ---------------------------------------------------------------------------------------


def _upload_page(client, content=None):
    return client.post("/imports/", {"sheet": SimpleUploadedFile(FILE, content or _workbook())})


def test_upload_of_a_workbook_lists_its_batches_with_a_link_to_each_preview(client, users, stations):
    """The upload page lists every sheet's batch; each links to its preview, and back."""
    client.force_login(users["hq_analyst"])
    response = _upload_page(client)

    upload = ImportUpload.objects.get()
    june, july = upload_batches(upload)
    assert response.status_code == 302 and response["Location"] == f"/imports/uploads/{upload.pk}/"
    assert june.status == july.status == ImportBatch.Status.PREVIEWING  # both dry runs queued
    page = client.get(f"/imports/uploads/{upload.pk}/").content.decode()
    assert "The workbook has 2 sheets of rows: each is its own import" in page
    assert "0 of 2 sheets ready" in page and f'hx-get="/imports/uploads/{upload.pk}/progress/"' in page
    assert "Sheet 'Instructions': no header row naming the columns" in page
    assert "Sheet 'Lookups': hidden" in page
    assert "HX-Refresh" not in client.get(f"/imports/uploads/{upload.pk}/progress/")

    for batch in (june, july):
        batch_run(batch_id=batch.pk, by=users["hq_analyst"], dry_run=True)  # what the worker does
    partial = client.get(f"/imports/uploads/{upload.pk}/progress/")
    assert partial["HX-Refresh"] == "true" and partial.content.decode() == "2 of 2 sheets ready"
    page = client.get(f"/imports/uploads/{upload.pk}/").content.decode()
    assert "sheets ready" not in page
    assert f"""<a class="usa-link" href="/imports/{june.pk}/">Preview of sheet 'June'</a>""" in page
    assert f"""<a class="usa-link" href="/imports/{july.pk}/">Preview of sheet 'July'</a>""" in page
    assert "Preview ready: would import 3, quarantine 1" in page

    detail = client.get(f"/imports/{july.pk}/").content.decode()
    assert "<h1>Import of sep-2018.xlsx — sheet &#x27;July&#x27;</h1>" in detail
    assert "One of 2 sheets of rows of sep-2018.xlsx" in detail
    assert f'href="/imports/uploads/{upload.pk}/"' in detail
    listing = client.get("/imports/").content.decode()
    assert (
        "sep-2018.xlsx — sheet &#x27;June&#x27;" in listing
        and "sep-2018.xlsx — sheet &#x27;July&#x27;" in listing
    )


def test_upload_of_a_file_of_one_sheet_still_opens_its_batch(client, users, stations):
    client.force_login(users["hq_analyst"])
    response = _upload_page(
        client, as_workbook(("Instructions", INSTRUCTIONS, "visible"), ("June", JUNE, "visible"))
    )

    batch = ImportBatch.objects.get()
    assert response["Location"] == f"/imports/{batch.pk}/"
    detail = client.get(f"/imports/{batch.pk}/").content.decode()
    assert "The sheet of rows of sep-2018.xlsx" in detail


def test_another_stations_supervisor_cannot_open_an_upload(client, users, stations):
    """A supervisor's upload is their station's: the McAllen supervisor sees its page, El Paso's does not."""
    mca = make_user("supervisor_mca", Role.SUPERVISOR, station="MCA")
    upload = upload_create(content=_workbook(), filename=FILE, by=mca)
    assert {b.station_scope.code for b in upload_batches(upload)} == {"MCA"}

    client.force_login(mca)
    assert client.get(f"/imports/uploads/{upload.pk}/").status_code == 200
    client.force_login(users["supervisor"])
    assert client.get(f"/imports/uploads/{upload.pk}/").status_code == 404
    assert client.get(f"/imports/uploads/{upload.pk}/progress/").status_code == 404


@pytest.mark.django_db(transaction=True)
def test_two_sheets_imported_at_once_still_make_one_person(users, stations, monkeypatch):
    """Both sheets confirmed together run on two workers at once. Rosa López and her grandson Kevin (no
    A-numbers) are on both: each sheet's chunk decided who they were before the other's commit, so
    both added them, and two Kevins were on file. A chunk now waits for the other's commit: July's
    links the persons June recorded."""
    kevin_again = [*ROWS[4][1]]
    kevin_again[2], kevin_again[6] = "LOPEZ RAMIREZ, Rosa", "Kevin LÓPEZ"
    content = as_workbook(
        ("June", [CANONICAL_COLUMNS, ROWS[4][1][:17]], "visible"), ("July", [HEADERS, kevin_again], "visible")
    )
    june, july = upload_batches(upload_create(content=content, filename=FILE, by=users["hq_analyst"]))
    real_load, june_reading = runs.load_candidates, threading.Event()

    def load_candidates(facts, ctx):
        real_load(facts, ctx)
        if ctx.batch.sheet == "June" and not june_reading.is_set():
            june_reading.set()
            time.sleep(1.5)  # July's run starts meanwhile

    def run(batch):
        try:
            batch_run(batch_id=batch.pk, by=users["hq_analyst"])
        finally:
            connection.close()

    monkeypatch.setattr(runs, "load_candidates", load_candidates)
    first = threading.Thread(target=run, args=(june,))
    first.start()
    assert june_reading.wait(30)
    second = threading.Thread(target=run, args=(july,))
    second.start()
    first.join()
    second.join()

    assert Person.objects.filter(given_names="Kevin").count() == 1
    assert Person.objects.filter(given_names="Rosa").count() == 1
    outcome = july.rows.get().outcome
    assert any(line.startswith("Child: linked by name and date of birth") for line in outcome)
