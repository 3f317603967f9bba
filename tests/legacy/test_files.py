"""The files field offices really send: Excel's CSV flavours, workbooks that are not one plain sheet,
and files that cannot be read (a clear message, never a 500)."""

import csv
import io
import zipfile
from datetime import datetime

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from openpyxl import Workbook

from apprehensions.models import Apprehension, Person
from legacy.models import ImportBatch, ImportRow
from legacy.parsing import CANONICAL_COLUMNS, UnreadableFile, map_headers, parse_name, read_sheets
from legacy.services import import_file, row_correct
from separations.models import CustodyPeriod, Separation

ROWS = [
    [
        "06/05/2018",
        "EPT",
        "MUÑOZ GARCÍA, María José",
        "A211111111",
        "04/02/1988",
        "F",
        "Añorve Müller Muñoz",
        "A211111112",
        "09/30/2013",
        "F",
        "Guatemala",
        "Mother",
        "06/05/2018",
        "ZT",
        "ICE Otero",
        "Southwest Key",
        "Llegó con su hija, asustada",
    ],
    [
        "06/05/2018",
        "EPT",
        "José Ángel NÚÑEZ",
        "A211111113",
        "1980-05-05",
        "M",
        "Jesús NÚÑEZ",
        "",
        "2012-03-01",
        "M",
        "HN",
        "Father",
        "06/06/2018",
        "Crim Hist",
        "USMS",
        "BCFS",
        "two lines:\nsecond; with a semicolon",
    ],
]


def read_sheet(content: bytes, filename: str):
    """The one sheet of rows of a file."""
    (sheet,) = read_sheets(content, filename).sheets
    return sheet


def _csv(*, delimiter=",", lineterminator="\r\n", encoding="utf-8", rows=ROWS, headers=CANONICAL_COLUMNS):
    out = io.StringIO(newline="")
    # Excel quotes a cell holding the delimiter, a quote or a line break, and nothing else.
    writer = csv.writer(out, delimiter=delimiter, lineterminator=lineterminator)
    writer.writerow(headers)
    for row in rows:
        writer.writerow([c.replace("\n", lineterminator) for c in row])
    return out.getvalue().encode(encoding)


def _xlsx(build) -> bytes:
    workbook = Workbook()
    build(workbook)
    buffer = io.BytesIO()
    workbook.save(buffer)
    return buffer.getvalue()


def _plain(workbook):
    workbook.active.append(CANONICAL_COLUMNS)
    for row in ROWS:
        workbook.active.append(row)


def _as_read(sheet):
    """Each row as {header: cell}, a line break inside a cell written as \\n whatever the file's own."""
    return [
        {h: c.replace("\r\n", "\n").replace("\r", "\n") for h, c in zip(sheet.headers, row, strict=True)}
        for row in sheet.rows
    ]


EXPECTED = [dict(zip(CANONICAL_COLUMNS, row, strict=True)) for row in ROWS]


# --- CSV as Excel writes it ------------------------------------------------------------------


@pytest.mark.parametrize(
    "content",
    [
        pytest.param(_csv(lineterminator="\r"), id="mac-cr"),
        pytest.param(_csv(lineterminator="\n"), id="unix-lf"),
        pytest.param(_csv().replace(b"\r\n", b"\r", 2), id="mixed"),
        pytest.param(_csv(delimiter=";", encoding="cp1252"), id="semicolon-spanish-excel"),
        pytest.param(_csv(delimiter="\t", encoding="utf-16"), id="utf16-unicode-text"),
        pytest.param(_csv(delimiter="\t"), id="tab-utf8"),
        pytest.param(b"\xef\xbb\xbf" + _csv(), id="utf8-bom"),
        pytest.param(_csv(encoding="cp1252"), id="cp1252"),
    ],
)
def test_read_sheet_reads_every_csv_excel_writes(content):
    """Mac (CR) and mixed line endings were a 500 (csv.Error), a semicolon sheet whose names keep their
    comma unquoted and a tab-separated one were read as one column, and Excel's "Unicode text"
    (UTF-16) was refused as "not a text CSV file"; each reads cell for cell as the UTF-8 CSV does."""
    sheet = read_sheet(content, "el-paso.csv")

    assert sheet.headers == CANONICAL_COLUMNS
    assert _as_read(sheet) == EXPECTED
    assert sheet.row_numbers == [2, 3]


def test_read_sheet_keeps_a_cell_longer_than_the_csv_module_allows():
    """A narrative of 200,000 characters pasted into one cell was a 500 (csv's 128 KB field limit)."""
    long_note = "x" * 200_000
    sheet = read_sheet(_csv(rows=[[*ROWS[0][:16], long_note]]), "long.csv")

    assert sheet.rows[0][16] == long_note


def test_upload_of_a_mac_csv_is_previewed_not_a_500(client, users, stations):
    client.force_login(users["hq_analyst"])

    response = client.post(
        "/imports/", {"sheet": SimpleUploadedFile("mac.csv", _csv(lineterminator="\r"), "text/csv")}
    )

    assert response.status_code == 302
    assert ImportBatch.objects.get().rows_total == 2


def test_read_sheet_drops_csv_columns_empty_in_every_row():
    """Excel's CSV of a sheet with a formatted column far right ends every line with ',,,,'; those
    empty columns were kept as headers '' and a cell per row."""
    content = _csv(headers=[*CANONICAL_COLUMNS, *[""] * 40], rows=[[*r, *[""] * 40] for r in ROWS])

    sheet = read_sheet(content, "trailing.csv")

    assert sheet.headers == CANONICAL_COLUMNS
    assert _as_read(sheet) == EXPECTED


# --- workbooks that are not one plain sheet --------------------------------------------------


def test_read_sheet_finds_the_data_on_a_later_sheet_past_instructions_and_a_hidden_list():
    """The first worksheet was read whatever it held: a sheet of instructions, or a hidden lookup list,
    ahead of the data was refused as "recognises none of the columns"."""

    def build(workbook):
        lookups = workbook.active
        lookups.title = "Lookups"
        lookups.sheet_state = "hidden"
        lookups.append(["station", "name"])
        lookups.append(["EPT", "El Paso"])
        instructions = workbook.create_sheet("Instructions")
        instructions.append(["Fill one row per separated adult and child."])
        data = workbook.create_sheet("June")
        data.append(CANONICAL_COLUMNS)
        for row in ROWS:
            data.append(row)

    sheet = read_sheet(_xlsx(build), "el-paso.xlsx")

    assert sheet.headers == CANONICAL_COLUMNS
    assert _as_read(sheet) == EXPECTED


@pytest.mark.parametrize("fmt", ["xlsx", "csv"])
def test_read_sheet_skips_title_rows_above_the_header(fmt):
    """A title, a blank row and a 'Prepared by' line above the header: the title was taken as the header
    (mapped to station, for its 'Sector') and every real row quarantined with nonsense."""
    above = [
        ["El Paso Sector - Separated families - June 2018"],
        [],
        ["Prepared by: J. Blake", "", "Date: 06/20/2018"],
    ]
    if fmt == "xlsx":

        def build(workbook):
            for row in [*above, CANONICAL_COLUMNS, *ROWS]:
                workbook.active.append(row)

        content = _xlsx(build)
    else:
        out = io.StringIO(newline="")
        csv.writer(out).writerows([*above, CANONICAL_COLUMNS, *ROWS])
        content = out.getvalue().encode()

    sheet = read_sheet(content, f"el-paso.{fmt}")

    assert sheet.headers == CANONICAL_COLUMNS
    assert _as_read(sheet) == EXPECTED
    assert sheet.row_numbers == [5, 6]  # the numbers Excel shows


def test_read_sheet_keeps_a_header_that_names_no_column_rather_than_a_data_row():
    """With headers in Spanish no header is recognised; a data row naming one column ('Mother' reads as
    a name header) is not taken for the header: the sheet is refused as the headers it has."""
    headers = ["Fecha", "Estación", "Nombre del padre", "Nacimiento", *[f"Col {i}" for i in range(13)]]

    sheet = read_sheet(_csv(headers=headers), "es.csv")

    assert sheet.headers == headers
    assert len(sheet.rows) == 2


def _patched(content: bytes, part: str, replace) -> bytes:
    source = zipfile.ZipFile(io.BytesIO(content))
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as target:
        for item in source.infolist():
            data = source.read(item.filename)
            target.writestr(item, replace(data) if item.filename == part else data)
    return out.getvalue()


def test_read_sheet_reads_the_cells_not_the_used_range_of_a_whole_formatted_sheet():
    """A used range of A1:XFD1048576 (a column or the sheet formatted): every row was padded to 16,384
    cells and the batch kept 16,384 headers and as many cells per row."""
    import re

    content = _patched(
        _xlsx(_plain),
        "xl/worksheets/sheet1.xml",
        lambda xml: re.sub(rb'<dimension ref="[^"]+"\s*/>', b'<dimension ref="A1:XFD1048576"/>', xml),
    )
    assert b"XFD1048576" in zipfile.ZipFile(io.BytesIO(content)).read("xl/worksheets/sheet1.xml")

    sheet = read_sheet(content, "formatted.xlsx")

    assert sheet.headers == CANONICAL_COLUMNS
    assert _as_read(sheet) == EXPECTED


def test_read_sheet_refuses_a_workbook_that_expands_beyond_any_sheet_of_rows(monkeypatch):
    """A small XLSX whose shared strings expand to gigabytes was read into memory whole (1.5 GB for a
    1.4 MB upload); it is refused from the sizes the zip declares, before it is read."""
    monkeypatch.setattr("legacy.parsing.MAX_XLSX_EXPANDED", 1024 * 1024)
    content = _patched(
        _xlsx(_plain),
        "docProps/app.xml",
        lambda xml: xml + b"<!--" + b"A" * 2 * 1024 * 1024 + b"-->",
    )
    assert len(content) < 100_000

    with pytest.raises(UnreadableFile, match=r"expands to 2 MB when opened.*save the sheet as CSV UTF-8"):
        read_sheet(content, "bomb.xlsx")


def test_read_sheet_keeps_a_formula_whose_value_was_never_saved():
    """A workbook written by a program keeps formulas without their values: read for values only, the
    cells were blank and the row imported without them. The formula is what was typed; it is kept."""

    def build(workbook):
        workbook.active.append(CANONICAL_COLUMNS)
        workbook.active.append([*ROWS[0][:12], "=A2", *ROWS[0][13:16], '=CONCATENATE("a","b")'])

    sheet = read_sheet(_xlsx(build), "generated.xlsx")

    assert sheet.rows[0][12] == "=A2"
    assert sheet.rows[0][16] == '=CONCATENATE("a","b")'
    assert sheet.rows[0][:12] == ROWS[0][:12]


# --- files that cannot be read: what is wrong and how to fix it -------------------------------

OLE = bytes.fromhex("D0CF11E0A1B11AE1") + bytes(2048)


@pytest.mark.parametrize(
    ("content", "name", "message"),
    [
        (OLE, "june.xls", r"Excel 97-2003 workbook \(\.xls\) or a password-protected workbook"),
        (OLE, "protected.xlsx", r"remove any password .* save it as Excel Workbook \(\.xlsx\) or CSV UTF-8"),
        (b"", "empty.xlsx", r"The sheet is empty: it needs a header row"),
        (b"\x01\x02\x03garbage\xff", "broken.xlsx", r"is not an Excel workbook .* save it as Excel"),
        (b"PK\x03\x04 broken", "broken.xlsx", r"The XLSX file cannot be opened .* save it as Excel Workbook"),
    ],
)
def test_read_sheet_unreadable_files_say_what_they_are_and_how_to_save_them(content, name, message):
    """A password-protected workbook or an old .xls named .xlsx, and an empty file, were all
    "The XLSX file cannot be opened (BadZipFile); save it again": saving it again changes nothing."""
    with pytest.raises(UnreadableFile, match=message):
        read_sheet(content, name)


def test_read_sheet_reads_a_csv_named_xlsx():
    sheet = read_sheet(_csv(), "really-a-csv.xlsx")

    assert sheet.file_format == "csv" and _as_read(sheet) == EXPECTED


def test_import_of_a_messy_workbook_and_its_csv_give_one_result(users, stations):
    """The workbook (data on its second sheet, under a title, a date as a date cell, an A-number Excel
    turned into a number) and the CSV of its rows import the same; the second changes nothing."""

    def build(workbook):
        workbook.active.append(["Read me first"])
        data = workbook.create_sheet("Data")
        data.append(["El Paso Sector - June 2018"])
        data.append(CANONICAL_COLUMNS)
        first = [*ROWS[0]]
        first[0] = datetime(2018, 6, 5)
        first[3] = 211111111
        data.append(first)
        data.append(ROWS[1])

    workbook = import_file(content=_xlsx(build), filename="el-paso.xlsx", by=users["hq_analyst"])
    written = (Person.objects.count(), Separation.objects.count(), CustodyPeriod.objects.count())
    sheet = import_file(content=_csv(), filename="el-paso.csv", by=users["hq_analyst"])

    assert (workbook.rows_total, workbook.rows_imported, workbook.rows_quarantined) == (2, 2, 0)
    assert (sheet.rows_total, sheet.rows_imported, sheet.rows_quarantined) == (2, 2, 0)
    assert [r.row_number for r in workbook.rows.order_by("row_number")] == [3, 4]
    assert map_headers(workbook.headers) == map_headers(CANONICAL_COLUMNS)
    assert written[:2] == (4, 2)
    assert (Person.objects.count(), Separation.objects.count(), CustodyPeriod.objects.count()) == written


# --- what a row keeps and says ----------------------------------------------------------------


def test_import_keeps_every_extra_column_in_the_narrative_even_two_headed_alike(users, stations):
    """Two extra columns both headed 'Agent' (a sheet merged from two): the narrative kept only the
    second ('Other columns: Agent: RT'), the first agent's initials were dropped."""
    content = _csv(headers=[*CANONICAL_COLUMNS, "Agent", "Agent"], rows=[[*ROWS[0], "JB", "RT"]])

    batch = import_file(content=content, filename="two-offices.csv", by=users["hq_analyst"])

    assert batch.rows_imported == 1
    assert Separation.objects.get().narrative.endswith("Other columns: Agent: JB; Agent: RT")


@pytest.mark.parametrize(
    "raw",
    [
        "MUÑOZ GARCÍA\x1b, María\x07 José",  # control characters from an old system's export
        "MUÑOZ\u200b GARCÍA, María\u200b José",  # zero-width spaces pasted from a web page
        "MUÑOZ GARCÍA, Ma\u00adría José",  # a soft hyphen
    ],
)
def test_parse_name_drops_invisible_characters(raw):
    """A name with an invisible character was stored with it (Person 'Bertha\\x07 Zelaya\\x1b Ramos'),
    a second person beside the one typed cleanly."""
    name = parse_name(raw)

    assert (name.given_names, name.first_surname, name.second_surname) == ("María José", "Muñoz", "García")


def test_a_column_the_sheet_lacks_is_named_missing_not_blank(users, stations):
    """A sheet without a child's date of birth column: every row said "The date of birth is blank", as
    if a cell had been left empty; it says the sheet has no such column, and a correction imports it."""
    headers = [h for h in CANONICAL_COLUMNS if h != "child_dob"]
    rows = [[c for h, c in zip(CANONICAL_COLUMNS, r, strict=True) if h != "child_dob"] for r in ROWS]

    batch = import_file(
        content=_csv(headers=headers, rows=rows), filename="no-dob.csv", by=users["hq_analyst"]
    )

    assert (batch.rows_imported, batch.rows_quarantined) == (0, 2)
    row = batch.rows.order_by("row_number").first()
    assert row.messages == {
        "child_dob": [
            "The sheet has no column for the child's date of birth (child_dob); enter it here, or add the "
            "column to the sheet and upload it again."
        ]
    }
    assert row_correct(
        row_id=row.pk, by=users["hq_analyst"], corrections={"child_dob": "09/30/2013"}
    ).status == (ImportRow.Status.IMPORTED)


def test_correcting_a_row_with_a_nul_in_a_cell_is_not_a_500(client, users, stations):
    """A NUL pasted into the correction form was a 500 (PostgreSQL: '\\u0000 cannot be converted to
    text'). The page refuses it by field before anything runs, as every page does (nothing saved;
    Back returns to the form as filled in); the service itself drops the invisible character, so a
    correction from any other caller imports."""
    headers = [h for h in CANONICAL_COLUMNS if h != "child_dob"]
    rows = [[c for h, c in zip(CANONICAL_COLUMNS, ROWS[0], strict=True) if h != "child_dob"]]
    batch = import_file(
        content=_csv(headers=headers, rows=rows), filename="no-dob.csv", by=users["hq_analyst"]
    )
    row = batch.rows.get()
    client.force_login(users["hq_analyst"])
    typed = {"cell-child_dob": "09/30/2013\x00", "cell-notes": "asustada\x00"}

    response = client.post(f"/imports/rows/{row.pk}/", typed)

    assert response.status_code == 400
    assert "cell-child_dob" in response.content.decode() and "Nothing was saved" in response.content.decode()
    row.refresh_from_db()
    assert row.status == ImportRow.Status.QUARANTINED

    row_correct(
        row_id=row.pk,
        by=users["hq_analyst"],
        corrections={"child_dob": "09/30/2013\x00", "notes": "asustada\x00"},
    )
    row.refresh_from_db()
    assert row.status == ImportRow.Status.IMPORTED
    assert row.corrections == {"child_dob": "09/30/2013", "notes": "asustada"}


def test_quarantine_messages_quote_a_long_cell_without_echoing_it_whole(users, stations):
    """A 50,000-character cell in the station, date or relationship column was echoed whole in its
    message, on every page showing the row; messages quote its start and give its length."""
    row = [*ROWS[0]]
    row[1], row[8], row[11] = "E" * 50_000, "9" * 50_000, "Friend " * 5_000

    batch = import_file(content=_csv(rows=[row]), filename="long.csv", by=users["hq_analyst"])

    messages = batch.rows.get().messages
    assert set(messages) == {"station", "child_dob", "relationship"}
    assert all(len(text) < 400 for texts in messages.values() for text in texts)
    assert messages["station"][0].startswith(f"'{'E' * 40}'… (50,000 characters) is not a station on file")


def test_read_sheet_gives_a_cell_merged_down_to_each_row_it_spans():
    """The adult's name, A-number and date of birth merged down over their two children's rows: the file
    holds them in the first row only, so the second was quarantined ("The name is empty", "The date of
    birth is blank") though Excel shows them on it. A merge across columns is not spread sideways."""

    def build(workbook):
        sheet = workbook.active
        sheet.append(CANONICAL_COLUMNS)
        sheet.append(ROWS[0])
        sheet.append(
            [*ROWS[0][:2], "", "", "", "", "Pedro Muñoz García", "", "2015-01-01", "M", *ROWS[0][10:16], ""]
        )
        for columns in ("C2:C3", "D2:D3", "E2:E3"):
            sheet.merge_cells(columns)
        sheet.merge_cells("P2:Q2")  # placement and notes merged sideways on the first row

    sheet = read_sheet(_xlsx(build), "merged.xlsx")

    first, second = _as_read(sheet)
    assert [second[c] for c in ("adult_name", "adult_a_number", "adult_dob")] == [
        "MUÑOZ GARCÍA, María José",
        "A211111111",
        "04/02/1988",
    ]
    assert second["adult_sex"] == "" and second["child_name"] == "Pedro Muñoz García"
    assert first["notes"] == ""  # the sideways merge hid the notes cell; nothing is copied into it


def test_control_characters_in_cells_stay_out_of_the_records_and_the_xlsx_export(client, users, stations):
    """Control characters in custody, placement, reason, notes and an extra column (an old system's
    export) were written into the custody facility and the separation narrative, and the
    separated-children XLSX export then failed with a 500 (openpyxl IllegalCharacterError). The records
    keep the visible text; the cells stay as typed in the batch."""
    row = [*ROWS[0]]
    row[13], row[14], row[15], row[16] = (
        "ZT\x1b",
        "ICE Otero\x07 County",
        "Southwest\x0b Key\x01 Casa Padre",
        "asustada\x08",
    )
    content = _csv(headers=[*CANONICAL_COLUMNS, "Agent"], rows=[[*row, "JB\x1f"]])

    batch = import_file(content=content, filename="old-system.csv", by=users["hq_analyst"])

    assert batch.rows_imported == 1
    assert batch.rows.get().cells[14] == ["adult_custody", "ICE Otero\x07 County"]
    assert set(CustodyPeriod.objects.exclude(agency="CBP").values_list("facility", flat=True)) == {
        "ICE Otero County",
        "Southwest Key Casa Padre",
    }
    assert (
        Separation.objects.get().narrative
        == "Reason on the sheet: ZT Notes: asustada Other columns: Agent: JB"
    )
    client.force_login(users["hq_analyst"])
    response = client.get("/reports/separated-children/?format=xlsx")
    assert response.status_code == 200


def _day_first_rows():
    first, second = [*ROWS[0]], [*ROWS[1]]
    first[0], first[4], first[8], first[12] = "13/06/2018", "04/02/1988", "30/09/2013", "13/06/2018"
    second[0], second[4], second[8], second[12] = "05/06/2018", "05/05/1980", "01/03/2012", "06/06/2018"
    return [first, second]


def test_a_sheet_that_writes_dates_day_first_is_read_day_first_throughout(users, stations):
    """A Spanish-locale Excel CSV writes 13/06/2018 and 05/06/2018: the first was read day first (no
    13th month) but the second as 6 May, so one sheet's rows disagreed and its XLSX (real date cells,
    5 June) imported another date. Every numeric date of such a sheet is read day first."""
    third = [
        *_day_first_rows()[0][:6],
        "Rosa Muñoz García",
        "",
        "31/02/2012",
        "F",
        *_day_first_rows()[0][10:],
    ]
    content = _csv(delimiter=";", encoding="cp1252", rows=[*_day_first_rows(), third])

    batch = import_file(content=content, filename="es.csv", by=users["hq_analyst"])

    assert (batch.rows_imported, batch.rows_quarantined) == (2, 1)
    row = batch.rows.get(status=ImportRow.Status.QUARANTINED)
    assert "this sheet writes its dates day first" in row.messages["child_dob"][0]
    # The form asks for MM/DD/YYYY: a correction is read month first.
    row = row_correct(row_id=row.pk, by=users["hq_analyst"], corrections={"child_dob": "02/25/2012"})
    assert row.status == ImportRow.Status.IMPORTED
    assert Person.objects.get(given_names="Rosa").date_of_birth.isoformat() == "2012-02-25"

    by_child = {s.members.get(side="child").person.given_names: s for s in Separation.objects.all()}
    assert by_child["Añorve"].occurred_at.date().isoformat() == "2018-06-13"
    assert by_child["Jesús"].occurred_at.date().isoformat() == "2018-06-06"
    adult = Person.objects.get(a_number="A211111113")
    child = Person.objects.get(a_number="A211111112")
    assert (adult.date_of_birth.isoformat(), child.date_of_birth.isoformat()) == ("1980-05-05", "2013-09-30")
    assert Person.objects.get(a_number="A211111111").date_of_birth.isoformat() == "1988-02-04"
    assert {a.occurred_at.date().isoformat() for a in Apprehension.objects.all()} == {
        "2018-06-13",
        "2018-06-05",
    }


def test_a_sheet_with_dates_in_both_orders_keeps_reading_month_first(users, stations):
    rows = _day_first_rows()
    rows[1][0] = "06/25/2018"  # only month first: the sheet is not day first
    rows[1][12] = "06/25/2018"

    batch = import_file(content=_csv(rows=rows), filename="mixed.csv", by=users["hq_analyst"])

    assert batch.rows_imported == 2
    assert {a.occurred_at.date().isoformat() for a in Apprehension.objects.all()} == {
        "2018-06-13",
        "2018-06-25",
    }


def test_read_sheet_leaves_blank_a_formula_excel_saved_as_an_empty_text():
    """Excel saves a formula that gives "" (=IF(A2="","",...)) as <v></v>: its value is blank, not
    unsaved, and the cell is read blank, not as its formula."""

    def build(workbook):
        workbook.active.append(CANONICAL_COLUMNS)
        workbook.active.append([*ROWS[0][:16], '=IF(A2="","","late")'])

    content = _patched(
        _xlsx(build),
        "xl/worksheets/sheet1.xml",
        lambda xml: xml.replace(b'<c r="Q2">', b'<c r="Q2" t="str">').replace(b"<v />", b"<v></v>"),
    )
    assert b'<c r="Q2" t="str"><f>IF(A2="","","late")</f><v></v></c>' in zipfile.ZipFile(
        io.BytesIO(content)
    ).read("xl/worksheets/sheet1.xml")

    sheet = read_sheet(content, "excel.xlsx")

    assert sheet.rows[0] == [*ROWS[0][:16], ""]
