"""Reading field spreadsheets as people typed them: headers, one-cell names, A-numbers, dates, codes.

Every function here is pure (no database): it turns one cell's text into a value, or raises
`CellError` with a message that says what is wrong and how to fix it. The import service
(services.py) adds the column name the user sees.
"""

from __future__ import annotations

import codecs
import csv
import io
import re
import unicodedata
import zipfile
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from functools import lru_cache
from itertools import islice
from typing import Any

from apprehensions.anumber import InvalidANumber, normalize_a_number
from familylink.common.text import fold, quoted

CANONICAL_COLUMNS = [
    "apprehension_date",
    "station",
    "adult_name",
    "adult_a_number",
    "adult_dob",
    "adult_sex",
    "child_name",
    "child_a_number",
    "child_dob",
    "child_sex",
    "country",
    "relationship",
    "separation_date",
    "separation_reason",
    "adult_custody",
    "child_placement",
    "notes",
]
# Recognised beyond the template: some sheets say when the family was reunified.
OPTIONAL_COLUMNS = ["reunification_date"]
KNOWN_COLUMNS = CANONICAL_COLUMNS + OPTIONAL_COLUMNS
# What every row needs (services.rows.read_row quarantines a row lacking any of them; a supervisor's
# blank station is their own). A sheet with none of these columns can import no row whatever its
# cells say, so it is refused at upload (`check_columns`) instead of previewed as "Import 0 rows".
ROW_COLUMNS = ["apprehension_date", "station", "adult_name", "adult_dob", "child_name", "child_dob"]

COLUMN_LABELS = {
    "apprehension_date": "apprehension date",
    "station": "station",
    "adult_name": "adult's name",
    "adult_a_number": "adult's A-number",
    "adult_dob": "adult's date of birth",
    "adult_sex": "adult's sex",
    "child_name": "child's name",
    "child_a_number": "child's A-number",
    "child_dob": "child's date of birth",
    "child_sex": "child's sex",
    "country": "country",
    "relationship": "relationship",
    "separation_date": "separation date",
    "separation_reason": "separation reason",
    "adult_custody": "adult's custody",
    "child_placement": "child's placement",
    "notes": "notes",
    "reunification_date": "reunification date",
}

MAX_ROWS = 100_000


class CellError(ValueError):
    """A cell's text cannot be read; the message says what is wrong and how to write it."""


class UnreadableFile(ValueError):
    """The file is not a CSV or XLSX sheet that can be read at all."""


class UnrecognisedColumns(UnreadableFile):
    """The sheet can be read, but none of its columns is one a row is imported from."""


# --- reading files ---------------------------------------------------------------------------


@dataclass
class Sheet:
    headers: list[str]
    rows: list[list[str]]  # each cell as typed (text)
    file_format: str
    # The spreadsheet row number of each row (blank rows are skipped, so not always i + 2): the
    # number a person sees in Excel, which the preview and the quarantine messages give.
    row_numbers: list[int] = field(default_factory=list)
    # The workbook sheet the rows come from ("" for a CSV file).
    title: str = ""


@dataclass
class SheetLeftOut:
    """A sheet of the workbook that is not imported, and why (instructions, a hidden lookup list)."""

    title: str
    why: str


@dataclass
class FileRead:
    """What a file holds: one sheet of rows (a CSV), or each sheet of rows of a workbook, in order."""

    sheets: list[Sheet]
    file_format: str
    left_out: list[SheetLeftOut] = field(default_factory=list)


def _cell_text(value: Any) -> str:
    """An XLSX cell as the text a person sees: dates as YYYY-MM-DD, whole numbers without '.0'."""
    if value is None:
        return ""
    if isinstance(value, datetime):
        return value.date().isoformat() if value.time() == datetime.min.time() else value.isoformat(sep=" ")
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


# A CSV cell may be as long as the file (a narrative pasted into one cell); the csv module's own
# limit (128 KB) would refuse such a sheet.
csv.field_size_limit(max(csv.field_size_limit(), 64 * 1024 * 1024))

# Excel 97-2003 (.xls) and password-protected workbooks are both OLE compound files.
OLE_SIGNATURE = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"
# What an XLSX may expand to when unzipped: a sheet of MAX_ROWS rows is a fraction of this; a file
# that expands further (a zip bomb, or a huge shared-strings table) is refused before it is read.
MAX_XLSX_EXPANDED = 256 * 1024 * 1024
# The header is the row, among the first of the sheet, naming most columns a row is imported from:
# title rows ("El Paso Sector – June 2018", "Prepared by …") above it are not data. A data row can
# name one or two ("Mother" reads as a name header, "El Paso Station" as a station one), so a later
# row is the header only when it names at least HEADER_MIN_COLUMNS.
HEADER_SEARCH_ROWS = 10
HEADER_MIN_COLUMNS = 3
SAVE_AS = "save it as Excel Workbook (.xlsx) or CSV UTF-8"
EMPTY_SHEET = "The sheet is empty: it needs a header row and at least one row of data."


class UnknownSheet(UnreadableFile):
    """A sheet asked for by its title is not in the file; the message names the sheets there are."""


def read_sheets(content: bytes, filename: str, *, titles: Sequence[str] | None = None) -> FileRead:
    """Every sheet of rows of a CSV or XLSX file (a workbook may keep one per month or per office),
    each with its own header row and data rows, cells as text. `titles` chooses workbook sheets by
    title instead (UnknownSheet when one is not there)."""
    if content[:2] == b"PK":
        return _read_xlsx(content, titles)
    sheet = _read_text_or_refuse(content, filename)
    if titles:
        raise UnknownSheet(
            f"{filename or 'The file'} is a CSV file: it has one sheet, and sheet titles "
            f"({', '.join(repr(t) for t in titles)}) choose among an XLSX workbook's sheets; import it "
            "without choosing a sheet."
        )
    return FileRead([sheet], sheet.file_format)


def _read_text_or_refuse(content: bytes, filename: str) -> Sheet:
    """A CSV file's one sheet; a file that is neither CSV nor XLSX is refused, saying what it is."""
    name = (filename or "").lower()
    if not content.strip():
        raise UnreadableFile(EMPTY_SHEET)
    if content.startswith(OLE_SIGNATURE):
        raise UnreadableFile(
            "The file is an Excel 97-2003 workbook (.xls) or a password-protected workbook, which FamilyLink "
            "cannot read; open it in Excel, remove any password (File > Info > Protect Workbook), and "
            f"{SAVE_AS}."
        )
    if name.endswith((".xlsx", ".xlsm")):
        try:  # a CSV someone named .xlsx is read as the CSV it is
            text = _decode(content)
        except UnreadableFile:
            text = ""
        if not text or any(c < " " and c not in "\t\r\n" for c in text[:4096]):
            raise UnreadableFile(
                f"The XLSX file cannot be opened: {filename!r} is not an Excel workbook (it is damaged, or "
                f"another kind of file); open it in Excel and {SAVE_AS}."
            )
        return _read_csv(content)
    if name.endswith((".csv", ".txt", ".tsv")) or not name:
        return _read_csv(content)
    raise UnreadableFile(f"{filename!r} is neither a .csv nor an .xlsx file; save the sheet as one of those.")


def _decode(content: bytes) -> str:
    """A CSV's text: UTF-16 with its BOM (Excel's "Unicode text"), UTF-8 (BOM or not), or Windows-1252."""
    if content.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        try:
            text = content.decode("utf-16")
        except UnicodeDecodeError as exc:
            raise UnreadableFile(f"The UTF-16 text file is damaged; {SAVE_AS}.") from exc
    else:
        for encoding in ("utf-8-sig", "cp1252"):
            try:
                text = content.decode(encoding)
                break
            except UnicodeDecodeError:
                continue
        else:  # cp1252 leaves five bytes undefined
            raise UnreadableFile("The CSV file is not UTF-8 or Windows-1252 text; save it as CSV UTF-8.")
    if "\x00" in text:
        raise UnreadableFile("The file is not a text CSV file; save the sheet as CSV UTF-8 or XLSX.")
    return text


def _delimiter(text: str) -> str:
    """Comma, semicolon (Spanish-locale Excel) or tab ("Unicode text"): the one that splits most of the
    first rows into the same, largest number of cells. A semicolon sheet's names keep their commas
    unquoted (`PEREZ NUNEZ, Maria`), and a comma sheet's notes may hold semicolons: what the rows agree
    on tells them apart where counting characters does not."""
    sample = text[:65_536]
    best, best_width = ",", 1
    for delimiter in (",", ";", "\t"):
        try:
            rows = [
                r
                for r in islice(csv.reader(io.StringIO(sample, newline=""), delimiter=delimiter), 50)
                if any(c.strip() for c in r)
            ]
        except csv.Error:
            continue
        if not rows:
            continue
        width = Counter(len(r) for r in rows).most_common(1)[0][0]
        if width > best_width:
            best, best_width = delimiter, width
    return best


def _read_csv(content: bytes) -> Sheet:
    text = _decode(content)
    # newline="": a quoted cell keeps its line breaks, and Mac (CR) or mixed line endings end rows.
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=_delimiter(text))
    try:
        table = [(number, row) for number, row in enumerate(reader, start=1) if any(c.strip() for c in row)]
    except csv.Error as exc:
        raise UnreadableFile(
            f"The CSV file cannot be read (line {reader.line_num}: {exc}); open it in Excel and save it as "
            "CSV UTF-8 or XLSX."
        ) from exc
    return _sheet(table, "csv")


def _header_score(row: list[str]) -> int:
    return len(set(map_headers([c.strip() for c in row]).values()) & set(ROW_COLUMNS))


# A formula whose value was never saved (a workbook written by a program, not by Excel): read with its
# value, the cell would be blank; its formula is what was typed, and it is kept. No <v> or an empty
# <v/>: Excel saves a formula that gives "" as <v></v>, a value, not this.
_UNSAVED_FORMULA = re.compile(
    rb"(?:</(?:\w+:)?f>|<(?:\w+:)?f\b[^>]*/>)\s*(?:<(?:\w+:)?v\s*/>)?\s*</(?:\w+:)?c>"
)


# A merged range (<mergeCell ref="B2:B4"/>, after the rows): read-only openpyxl does not report them.
_MERGED = re.compile(rb'<(?:\w+:)?mergeCell\s+ref="([A-Z]+)([0-9]+):([A-Z]+)([0-9]+)"')


def _scan_sheet(archive: zipfile.ZipFile, path: str) -> tuple[bool, set[tuple[int, int, int]]]:
    """Whether the sheet's XML holds a formula whose value was never saved, and its merged ranges that
    span rows, as (column index from 0, first row, last row)."""
    from openpyxl.utils import column_index_from_string

    unsaved = False
    merged: set[tuple[int, int, int]] = set()
    tail = b""
    with archive.open(path) as member:
        while chunk := member.read(1 << 22):
            text = tail + chunk
            unsaved = unsaved or _UNSAVED_FORMULA.search(text) is not None
            for column, first, _, last in _MERGED.findall(text):
                if int(last) > int(first):
                    merged.add((column_index_from_string(column.decode()) - 1, int(first), int(last)))
            tail = chunk[-256:]
    return unsaved, merged


def _fill_merged(table: list[tuple[int, list[str]]], merged: set[tuple[int, int, int]]) -> None:
    """A cell merged down over several rows (the adult's name across each of their children's rows, a
    station or date over a family) shows its text on each of those rows in Excel; the file holds it
    only in the first. Each row of the range gets it in that column, as a person reads the sheet."""
    rows = dict(table)
    for column, first, last in merged:
        top = rows.get(first)
        text = top[column] if top is not None and column < len(top) else ""
        if not text.strip():
            continue
        for number in range(first + 1, last + 1):
            row = rows.get(number)
            if row is None:
                continue
            row += [""] * (column + 1 - len(row))
            if not row[column].strip():
                row[column] = text


def _read_xlsx(content: bytes, titles: Sequence[str] | None = None) -> FileRead:
    from openpyxl import load_workbook

    try:
        archive = zipfile.ZipFile(io.BytesIO(content))
        members = archive.infolist()
    except (zipfile.BadZipFile, zipfile.LargeZipFile, ValueError) as exc:
        raise UnreadableFile(
            f"The XLSX file cannot be opened ({exc.__class__.__name__}): it is damaged, or not an Excel "
            f"workbook; open it in Excel and {SAVE_AS}."
        ) from exc
    if "mimetype" in archive.namelist() and b"opendocument" in archive.read("mimetype"):
        raise UnreadableFile(f"The file is an OpenDocument spreadsheet (.ods), not an XLSX; {SAVE_AS}.")
    expanded = sum(m.file_size for m in members)
    if expanded > MAX_XLSX_EXPANDED:
        raise UnreadableFile(
            f"The XLSX file expands to {expanded // 2**20} MB when opened, more than a sheet of "
            f"{MAX_ROWS} rows needs ({MAX_XLSX_EXPANDED // 2**20} MB); copy the rows alone into a new "
            "workbook, or save the sheet as CSV UTF-8, and upload that."
        )
    try:
        workbook = load_workbook(io.BytesIO(content), read_only=True, data_only=True)
        chosen, left_out = _data_sheets(workbook, titles)
        scans = {ws.title: _scan_sheet(archive, ws._worksheet_path) for ws in chosen}
        formula_book = None
        if any(unsaved for unsaved, _ in scans.values()):
            formula_book = load_workbook(io.BytesIO(content), read_only=True, data_only=False)
        tables = []
        for ws in chosen:
            unsaved, merged = scans[ws.title]
            formulas = None
            if unsaved and formula_book is not None:
                formula_sheet = formula_book[ws.title]
                formula_sheet.reset_dimensions()
                formulas = formula_sheet.iter_rows(values_only=True)
            table = _worksheet_rows(ws, formulas)
            _fill_merged(table, merged)
            tables.append((ws.title, table))
        workbook.close()
        if formula_book is not None:
            formula_book.close()
    except UnreadableFile:
        raise
    except Exception as exc:  # openpyxl raises many kinds for a damaged file
        raise UnreadableFile(
            f"The XLSX file cannot be opened ({exc.__class__.__name__}); open it in Excel and {SAVE_AS}."
        ) from exc
    several = len(tables) + len(left_out) > 1
    sheets = []
    for title, table in tables:
        try:
            sheets.append(_sheet(table, "xlsx", title=title))
        except UnreadableFile as exc:
            # Which sheet, when the workbook has several: the others may be fine.
            raise UnreadableFile(f"Sheet {title!r}: {exc}" if several else str(exc)) from exc
    return FileRead(sheets, "xlsx", left_out)


def _worksheet_rows(ws: Any, formulas: Any) -> list[tuple[int, list[str]]]:
    """A worksheet's non-blank rows, numbered as Excel shows them; a formula whose value was never
    saved is kept as typed (`formulas`: the same sheet read with its formulas, or None)."""
    table = []
    # Not the sheet's declared size ("A1:XFD1048576" once a column is formatted): its cells.
    ws.reset_dimensions()
    # iter_rows starts at row 1 and yields missing rows empty, so the count is the row number.
    for number, values in enumerate(ws.iter_rows(values_only=True), start=1):
        typed = next(formulas, ()) if formulas is not None else ()
        if not any(v is not None for v in (*values, *typed)):
            continue
        row = [_cell_text(v) for v in values]
        for i, formula in enumerate(typed):
            if (
                isinstance(formula, str)
                and formula.startswith("=")
                and (i >= len(values) or values[i] is None)
            ):
                row += [""] * (i + 1 - len(row))
                row[i] = formula
        if any(c.strip() for c in row):
            table.append((number, row))
    return table


NO_HEADER = "no header row naming the columns a row is imported from (instructions, a list or a summary)"
NO_ROWS = "a header row but no rows of data"
HIDDEN = "hidden (a lookup list, say)"
NOT_CHOSEN = "not among the sheets chosen"


def _data_sheets(workbook: Any, titles: Sequence[str] | None) -> tuple[list[Any], list[SheetLeftOut]]:
    """The worksheets holding rows to import, in workbook order, and the others with why they are left
    out. A sheet of rows is a visible sheet whose first rows name most columns a row is imported
    from, with rows under them; instructions, a summary or a hidden lookup list are not. When no
    sheet qualifies, the one naming most columns is read (and refused for what it lacks).
    `titles` chooses sheets by title (hidden ones too); UnknownSheet names the sheets there are."""
    sheets = workbook.worksheets
    if not sheets:
        raise UnreadableFile(f"The workbook has no worksheet; {SAVE_AS}.")
    if titles:
        chosen = [_sheet_titled(sheets, title) for title in titles]
        return (
            [ws for ws in sheets if ws in chosen],
            [SheetLeftOut(ws.title, NOT_CHOSEN) for ws in sheets if ws not in chosen],
        )
    visible = [ws for ws in sheets if ws.sheet_state == "visible"] or sheets
    left_out = {ws.title: HIDDEN for ws in sheets if ws not in visible}
    if len(visible) == 1:
        return visible, [SheetLeftOut(t, why) for t, why in left_out.items()]
    best, best_score = visible[0], 0
    with_rows = []
    for ws in visible:
        ws.reset_dimensions()
        rows = [r for r in islice(ws.iter_rows(values_only=True), 200) if any(v is not None for v in r)]
        score = max((_header_score([_cell_text(v) for v in r]) for r in rows[:HEADER_SEARCH_ROWS]), default=0)
        if score >= HEADER_MIN_COLUMNS and len(rows) > 1:
            with_rows.append(ws)
        else:
            left_out[ws.title] = NO_ROWS if score >= HEADER_MIN_COLUMNS else NO_HEADER
        if score > best_score:
            best, best_score = ws, score
    chosen = with_rows or [best]
    return chosen, [SheetLeftOut(ws.title, left_out[ws.title]) for ws in sheets if ws not in chosen]


def _sheet_titled(sheets: list[Any], title: str) -> Any:
    """The worksheet of that title (its case and surrounding spaces aside)."""
    for ws in sheets:
        if ws.title == title:
            return ws
    wanted = " ".join(title.split()).casefold()
    for ws in sheets:
        if " ".join(ws.title.split()).casefold() == wanted:
            return ws
    hidden = [ws.title for ws in sheets if ws.sheet_state != "visible"]
    there = ", ".join(repr(ws.title) for ws in sheets if ws.title not in hidden)
    raise UnknownSheet(
        f"The workbook has no sheet {title!r}; its sheets are {there or '(none visible)'}"
        + (f" and, hidden, {', '.join(repr(t) for t in hidden)}" if hidden else "")
        + ". Name one of those, as Excel shows it on the sheet's tab."
    )


def _sheet(numbered: list[tuple[int, list[str]]], file_format: str, *, title: str = "") -> Sheet:
    if not numbered:
        raise UnreadableFile(EMPTY_SHEET)
    scores = [_header_score(row) for _, row in numbered[:HEADER_SEARCH_ROWS]]
    if max(scores) >= HEADER_MIN_COLUMNS and max(scores) > scores[0]:
        numbered = numbered[scores.index(max(scores)) :]
    table = [row for _, row in numbered]
    if len(table) < 2:
        raise UnreadableFile("The sheet has a header row but no rows of data.")
    if len(table) - 1 > MAX_ROWS:
        raise UnreadableFile(f"The sheet has {len(table) - 1} rows; split it into sheets of {MAX_ROWS} rows.")
    # Columns empty in every row, header included (Excel's trailing ",,,," or a formatted used range
    # of 16,384 columns), are not columns of the sheet.
    widest = max(max((i + 1 for i, c in enumerate(r) if c.strip()), default=0) for r in table)
    table = [r[:widest] for r in table]
    headers = [h.strip() for h in table[0]]
    width = len(headers)
    # Cells beyond the header row's width still count: give them a header of their own.
    headers += [f"(column {i + 1})" for i in range(width, widest)]
    return Sheet(
        headers,
        [[*r, *[""] * (len(headers) - len(r))] for r in table[1:]],
        file_format,
        row_numbers=[number for number, _ in numbered[1:]],
        title=title,
    )


# --- headers ---------------------------------------------------------------------------------

_ADULT_WORDS = {"adult", "adults", "parent", "parents", "father", "mother", "guardian", "fmua", "sponsor"}
_CHILD_WORDS = {"child", "children", "minor", "minors", "uac", "juvenile", "kid", "son", "daughter"}


def _words(header: str) -> list[str]:
    text = fold(header.replace("#", " number "))
    words = text.split()
    # "A-Number", "A#", "Alien #", "A No" → one word.
    merged: list[str] = []
    for word in words:
        if merged and merged[-1] in ("a", "alien") and word in ("number", "no", "num", "nbr"):
            merged[-1] = "anumber"
        elif word in ("anumber", "anum", "ano", "alienno", "aliennumber"):
            merged.append("anumber")
        else:
            merged.append(word)
    return merged


def _person_field(words: list[str]) -> str | None:
    ws = set(words)
    if "anumber" in ws or ("alien" in ws and ("registration" in ws or "reg" in ws)):
        return "a_number"
    if ws & {"dob", "birthdate", "birthday", "born", "yob"} or ({"date", "birth"} <= ws) or "birth" in ws:
        return "dob"
    if ws & {"sex", "gender"} or words in (["m", "f"], ["f", "m"]):
        return "sex"
    if ws & {"name", "names", "fullname"}:
        return "name"
    return None


def map_headers(headers: list[str]) -> dict[int, str]:
    """Which column index holds which canonical field; columns left out are extra (kept per row).

    A person field without "adult"/"child" in its header (`A#`, `DOB`) belongs to the person of
    the nearest qualified column to its left (`Parent Name, A#, DOB, Minor Name, UAC A#, DOB`).
    """
    mapping: dict[int, str] = {}
    taken: set[str] = set()
    side = "adult"
    for index, header in enumerate(headers):
        words = _words(header)
        if not words:
            continue
        ws = set(words)
        qualifier = "adult" if ws & _ADULT_WORDS else "child" if ws & _CHILD_WORDS else None
        canonical = "_".join(words)
        target: str | None = canonical if canonical in KNOWN_COLUMNS else None
        if target is None:
            target = _other_field(words)
        if target is None:
            person = _person_field(words)
            if person is None and qualifier and len(words) == 1:
                person = "name"  # a column headed just "Parent" or "Minor"
            if person is not None and not (ws & {"relationship", "relation"}):
                target = f"{qualifier or side}_{person}"
        if target is not None and target.startswith(("adult_", "child_")):
            side = target.split("_", 1)[0]
        elif qualifier:
            side = qualifier
        if target is not None and target not in taken:
            mapping[index] = target
            taken.add(target)
    return mapping


HEADERS_QUOTED = 5


def _quoted(header: str) -> str:
    text = " ".join(header.split())
    return quoted(text) if text else "(blank)"


def check_columns(headers: list[str], mapping: dict[int, str], *, station_needed: bool = True) -> None:
    """Raise UnrecognisedColumns when the sheet has none of ROW_COLUMNS: no row of it could import.

    The message quotes the first headers found, names the columns every row needs and points to the
    template; what FamilyLink did recognise (a notes column, say) is named too.
    """
    if set(mapping.values()) & set(ROW_COLUMNS):
        return
    found = ", ".join(_quoted(h) for h in headers[:HEADERS_QUOTED])
    if len(headers) > HEADERS_QUOTED:
        found += f" and {len(headers) - HEADERS_QUOTED} more"
    recognised = [f"{_quoted(headers[i])} ({COLUMN_LABELS[name]})" for i, name in sorted(mapping.items())]
    needed = [c for c in ROW_COLUMNS if station_needed or c != "station"]
    raise UnrecognisedColumns(
        f"FamilyLink recognises none of the columns a row is imported from; the sheet's headers are {found}"
        + (
            f" (only {', '.join(recognised)} {'is' if len(recognised) == 1 else 'are'} recognised)"
            if recognised
            else ""
        )
        + ". Every row needs "
        + ", ".join(f"{COLUMN_LABELS[c]} ({c})" for c in needed)
        + ": head the columns with these names (or usual spellings such as 'Parent Name', 'DOB', "
        "'Minor Name'), as the template does — download it from the Import spreadsheets page "
        "(template (CSV) or template (XLSX)) — and upload the sheet again."
    )


def _other_field(words: list[str]) -> str | None:
    ws = set(words)
    if ws & {"relationship", "relation", "rel", "relationshiptochild"}:
        return "relationship"
    if ws & {"reunified", "reunification", "reunite", "reunited"}:
        return "reunification_date"
    if ws & {"reason", "reasons", "basis", "why"}:
        return "separation_reason"
    if (ws & {"separation", "sep", "separated"}) and (ws & {"date", "dt", "on"} or len(ws) == 1):
        return "separation_date"
    if ws & {"shelter", "placement", "placed", "orr", "hhs"}:
        return "child_placement"
    if ws & {"custody", "disposition", "location", "detention"} and not ws & _CHILD_WORDS:
        return "adult_custody"
    if ws & {"notes", "note", "comments", "comment", "remarks", "narrative", "details"}:
        return "notes"
    if ws & {"station", "sector", "office", "aor", "stn"}:
        return "station"
    if ws & {"country", "citizenship", "nationality", "coc", "cob"}:
        return "country"
    if ws & {"apprehension", "apprehended", "encounter", "encountered", "arrest", "app"} or words == ["date"]:
        return "apprehension_date"
    return None


# --- text ------------------------------------------------------------------------------------


def visible_text(text: str) -> str:
    """`text` as a person sees it: control characters (but tab and line breaks) and invisible format
    characters (zero-width spaces, soft hyphens) dropped, other whitespace as spaces.

    What a record keeps from a cell (a name, a facility, a narrative) is visible text: a control
    character from an old system's export is nothing anyone typed, keeps a name from matching, and
    cannot be written to an XLSX export at all. The cell itself stays as typed in ImportRow.cells.
    """
    if text.isprintable():
        return text
    out = []
    for c in text:
        if c in "\t\n\r":
            out.append(c)
        elif c.isspace():
            out.append(" ")
        elif unicodedata.category(c) not in ("Cc", "Cf"):
            out.append(c)
    return "".join(out)


# --- names -----------------------------------------------------------------------------------

_PARTICLES = {"de", "del", "la", "las", "los", "y", "da", "dos", "van", "von"}
# Second words of compound given names (María José, José Luis): two given names before the surnames.
_SECOND_GIVEN = {
    "jose",
    "maria",
    "luis",
    "carlos",
    "antonio",
    "manuel",
    "alejandro",
    "fernanda",
    "isabel",
    "elena",
    "guadalupe",
    "fernando",
    "gabriela",
    "alberto",
    "andres",
    "angel",
    "eduardo",
    "francisco",
    "javier",
    "jesus",
    "juan",
    "miguel",
    "pablo",
    "pedro",
    "rafael",
    "ramon",
    "daniel",
    "david",
    "enrique",
    "esteban",
    "ernesto",
    "alexander",
    "josue",
    "abigail",
    "lucia",
    "sofia",
    "victoria",
    "paola",
    "alejandra",
    "andrea",
    "beatriz",
    "carmen",
    "cristina",
    "esther",
    "eugenia",
    "ines",
    "mercedes",
    "pilar",
    "rosa",
    "teresa",
    "valentina",
    "yesenia",
    "emanuel",
    "armando",
    "arturo",
    "alfredo",
    "ricardo",
    "roberto",
    "adrian",
    "ivan",
    "josefina",
}


@dataclass
class Name:
    given_names: str
    first_surname: str
    second_surname: str


def _group_surnames(tokens: list[str]) -> list[str]:
    """Surname tokens with particles kept on the surname they introduce ('de la Cruz')."""
    groups: list[str] = []
    pending: list[str] = []
    for token in tokens:
        if fold(token) in _PARTICLES:
            pending.append(token)
            continue
        groups.append(" ".join([*pending, token]))
        pending = []
    if pending:
        if groups:
            groups[-1] = groups[-1] + " " + " ".join(pending)
        else:
            groups.append(" ".join(pending))
    return groups


def _titled(text: str) -> str:
    """'PÉREZ NÚÑEZ' → 'Pérez Núñez'; mixed-case text is kept as typed."""
    if text.isupper() or text.islower():
        return " ".join(
            w
            if fold(w) in _PARTICLES and text.islower()
            else w.capitalize()
            if fold(w) not in _PARTICLES
            else w.lower()
            for w in text.split()
        )
    return text


def _surnames(tokens: list[str]) -> tuple[str, str]:
    groups = _group_surnames(tokens)
    if not groups:
        return "", ""
    return _titled(groups[0]), _titled(" ".join(groups[1:]))


def parse_name(raw: str) -> Name:
    """A one-cell name in any of the sheets' shapes → given names, first and second surname.

    `PEREZ NUNEZ, Maria Jose` (surnames, comma, given), `María José PÉREZ` (capitals mark the
    surnames), `Maria Jose Perez Nunez` (the last two words are the surnames when there are four
    or more; with three, a known second given name like José makes a compound given name).
    """
    # Invisible characters (control characters from old systems, zero-width spaces pasted from the
    # web) would be stored in the name and keep it from matching the same person typed cleanly.
    text = " ".join(visible_text(raw or "").split()).strip(" ,;")
    if not text:
        raise CellError("The name is empty; write the person's given names and surnames.")
    if re.search(r"[0-9@]", text):
        raise CellError(f"{quoted(text)} contains digits or symbols; write only the person's name.")
    if "," in text:
        surnames, _, given = text.partition(",")
        given = given.strip(" ,")
        if not given or not surnames.strip():
            raise CellError(
                f"{quoted(text)} has a comma but no name on one side; write 'SURNAMES, Given names'."
            )
        first, second = _surnames(surnames.split())
        return Name(_titled(given.replace(",", " ").strip()), first, second)
    tokens = text.split()
    if len(tokens) == 1:
        raise CellError(
            f"{quoted(text)} is a single word; write the given name and at least one surname "
            "(e.g. 'Maria Perez' or 'PEREZ, Maria')."
        )
    capitals = [t for t in tokens if t.isupper() and len(fold(t)) > 1]
    others = [t for t in tokens if not (t.isupper() and len(fold(t)) > 1)]
    if capitals and others and not text.isupper():
        # 'María José PÉREZ NÚÑEZ' – capitals are the surnames wherever they stand.
        surname_tokens = [t for t in tokens if t in capitals or (fold(t) in _PARTICLES and t.islower())]
        given_tokens = [t for t in tokens if t not in surname_tokens]
        if given_tokens:
            first, second = _surnames(surname_tokens)
            return Name(" ".join(given_tokens), first, second)
    # Particles belong to the surname that follows them; find where the surnames start.
    words = [t for t in tokens]
    core = [i for i, t in enumerate(words) if fold(t) not in _PARTICLES]
    if len(core) >= 4:
        start = core[-2]
    elif len(core) == 3:
        start = core[2] if fold(words[core[1]]) in _SECOND_GIVEN else core[1]
    else:
        start = core[-1] if len(core) > 1 else len(words) - 1
    # Pull particles just before `start` into the surname.
    while start > 1 and fold(words[start - 1]) in _PARTICLES:
        start -= 1
    given = " ".join(words[:start])
    first, second = _surnames(words[start:])
    return Name(_titled(given), first, second)


# --- A-numbers -------------------------------------------------------------------------------


def parse_a_number(raw: str) -> str | None:
    """`A201234567`, `201234567`, `A-201-234-567`, `20123456` → `A201234567` / `A020123456`; blank → None."""
    text = (raw or "").strip()
    if not text or fold(text) in ("n a", "na", "none", "unknown", "unk", "pending"):
        return None
    text = re.sub(r"^[Aa]\s*#\s*", "A", text).replace(".", "")
    try:
        return normalize_a_number(text)
    except InvalidANumber as exc:
        raise CellError(f"{exc} Correct the number, or leave the cell blank if it is not known.") from exc


# --- dates -----------------------------------------------------------------------------------

_EXCEL_EPOCH = date(1899, 12, 30)
_FORMATS = (
    "%Y-%m-%d",
    "%m/%d/%Y",
    "%m/%d/%y",
    "%m-%d-%Y",
    "%m-%d-%y",
    "%d-%b-%y",
    "%d-%b-%Y",
    "%d %b %Y",
    "%d %b %y",
    "%b %d %Y",
    "%b %d, %Y",
    "%B %d, %Y",
    "%B %d %Y",
    "%d %B %Y",
    "%Y/%m/%d",
    "%m.%d.%Y",
    "%Y-%m-%d %H:%M:%S",
)
_ESTIMATED = re.compile(
    r"^(?:~|ca\.?|circa|approx\.?|abt\.?|about|est\.?|estimated)?\s*((?:19|20)[0-9]{2})\s*(?:\(?est\.?\)?|\(?estimated\)?|\?)?$",
    re.IGNORECASE,
)
DATE_HELP = "Write it as MM/DD/YYYY (e.g. 06/01/2018) or YYYY-MM-DD."


@dataclass
class ParsedDate:
    value: date
    estimated: bool = False
    note: str = ""


# Cached: a sheet repeats its dates (the day of an encounter on each of its rows), and a failed
# strptime (one per format tried before the one that reads the text) costs an exception.
@lru_cache(maxsize=65_536)
def _in_a_format(text: str, today: date) -> date | None:
    """The date the first of `_FORMATS` reads in `text` (a two-digit year never after `today`)."""
    for fmt in _FORMATS:
        try:
            value = datetime.strptime(text, fmt).date()  # noqa: DTZ007 - a calendar date
        except ValueError:
            continue
        if "%y" in fmt and value > today:
            # A two-digit year: '18-Feb-62' is 1962, not 2062 (these sheets record the past).
            value = value.replace(year=value.year - 100)
        return value
    return None


_NUMERIC_DATE = re.compile(r"([0-9]{1,2})[/.-]([0-9]{1,2})[/.-]([0-9]{2,4})")


def _full_year(year: int) -> int:
    if year >= 100:
        return year
    return year + 2000 if year <= date.today().year % 100 else year + 1900


def parse_date(raw: str, *, allow_estimate: bool = False, day_first: bool = False) -> ParsedDate | None:
    """A date in any of the sheets' spellings, an Excel serial, or (dates of birth) an estimated year.

    `day_first`: the sheet writes its numeric dates day first (`dates_day_first`), so 05/06/2018 is
    5 June, as its 25/06/2018 is 25 June; otherwise month first, as the template does.
    """
    text = " ".join((raw or "").split())
    if not text:
        return None
    if re.fullmatch(r"[0-9]{5}(\.0+)?", text):
        serial = int(float(text))
        if 10_000 <= serial <= 80_000:
            return ParsedDate(_EXCEL_EPOCH + timedelta(days=serial), note=f"Excel date serial {serial}")
    if allow_estimate:
        match = _ESTIMATED.match(text)
        if match:
            return ParsedDate(
                date(int(match.group(1)), 1, 1), estimated=True, note=f"estimated year {text!r}"
            )
    elif re.fullmatch(r"~?\s*(19|20)[0-9]{2}", text):
        raise CellError(f"{quoted(text)} is only a year; this date needs day and month. {DATE_HELP}")
    match = _NUMERIC_DATE.fullmatch(text) if day_first else None
    if match:
        day, month, year = (int(g) for g in match.groups())
        try:
            return ParsedDate(
                date(_full_year(year), month, day), note=f"read {text!r} as day/month/year, as the sheet does"
            )
        except ValueError:
            raise CellError(
                f"{quoted(text)} is not a date that exists (day {day}, month {month}: this sheet writes its "
                f"dates day first). {DATE_HELP}"
            ) from None
    cleaned = text.replace(".", "").strip() if re.search(r"[A-Za-z]", text) else text
    value = _in_a_format(cleaned, date.today())
    if value is not None:
        return ParsedDate(value)
    # Day first (25/06/2018) when the month-first reading is impossible and only one reading fits.
    match = re.fullmatch(r"([0-9]{1,2})[/-]([0-9]{1,2})[/-]([0-9]{2,4})", text)
    if match:
        first, second, year = (int(g) for g in match.groups())
        year = _full_year(year)
        if first > 12 and second <= 12:
            try:
                return ParsedDate(date(year, second, first), note=f"read {text!r} as day/month/year")
            except ValueError:
                pass
        raise CellError(
            f"{quoted(text)} is not a date that exists (month {first}, day {second}). {DATE_HELP}"
        )
    raise CellError(f"{quoted(text)} is not a date. {DATE_HELP}")


# --- codes -----------------------------------------------------------------------------------

# Most specific first: "Other - parent hospitalized" is a medical reason, "ZT / crim hist" prosecution.
_REASON_RULES: list[tuple[str, tuple[str, ...]]] = [
    (
        "ZERO_TOLERANCE_PROSECUTION",
        ("zt", "zero tolerance", "1325", "prosecution", "prosecuted", "0 tolerance"),
    ),
    (
        "PARENT_IN_CRIMINAL_CUSTODY",
        ("usms", "marshal", "criminal custody", "jail", "state custody", "county custody"),
    ),
    (
        "PRIOR_REMOVAL",
        (
            "prior removal",
            "1326",
            "reentry",
            "re entry",
            "removal order",
            "immigration violation",
            "prior deport",
        ),
    ),
    ("CRIMINAL_HISTORY", ("crim hist", "criminal history", "criminal record", "crim", "criminal", "warrant")),
    (
        "PARENTAGE_UNVERIFIED",
        ("parentage", "fraud", "not the parent", "unverified", "false claim", "no proof"),
    ),
    ("DANGER_TO_CHILD", ("danger", "abuse", "safety", "neglect", "trafficking")),
    ("PARENT_MEDICAL", ("hospital", "medical", "surgery", "er visit")),
    (
        "COMMUNICABLE_DISEASE",
        ("communicable", "disease", "contagious", "tb", "tuberculosis", "varicella", "flu"),
    ),
    ("GANG_AFFILIATION", ("gang", "ms 13", "ms13", "18th street", "barrio 18")),
    ("OTHER", ("other", "misc", "see notes")),
]


def parse_reason(raw: str, extra_codes: dict[str, str] | None = None) -> str | None:
    """A hand-typed separation reason → a reason code; blank → None; unrecognised text → OTHER.

    `extra_codes` maps folded codes and labels of the reason-code list on file (administrators add
    codes without a code change) to their codes; they are tried first.
    """
    text = fold(raw or "")
    if not text:
        return None
    if extra_codes and text in extra_codes:
        return extra_codes[text]
    padded = f" {text} "
    # Whole words, or word beginnings for longer keys ("hospital" finds "hospitalized").
    for code, keys in _REASON_RULES:
        if any(f" {k} " in padded or (len(k) > 4 and f" {k}" in padded) for k in keys):
            return code
    return "OTHER"


_RELATIONSHIPS: dict[str, tuple[str, str]] = {}
for _words_, _type_, _sex_ in (
    (
        ("mother", "mom", "mum", "mama", "madre", "mommy", "mot", "bio mother", "biological mother"),
        "parent",
        "F",
    ),
    (("father", "dad", "papa", "padre", "daddy", "fat", "bio father", "biological father"), "parent", "M"),
    (("parent", "parents", "bio parent", "biological parent"), "parent", ""),
    (("legal guardian", "guardian", "lg", "tutor", "tutora", "custodian"), "legal_guardian", ""),
    (("grandmother", "grandma", "abuela", "gm"), "grandparent", "F"),
    (("grandfather", "grandpa", "abuelo", "gf"), "grandparent", "M"),
    (("grandparent", "grand parent"), "grandparent", ""),
    (("aunt", "tia", "auntie"), "other_relative", "F"),
    (("uncle", "tio"), "other_relative", "M"),
    (("sister", "older sister", "hermana"), "sibling", "F"),
    (("brother", "older brother", "hermano"), "sibling", "M"),
    (("sibling",), "sibling", ""),
    (
        (
            "cousin",
            "prima",
            "primo",
            "relative",
            "other relative",
            "step mother",
            "stepmother",
            "step father",
            "stepfather",
            "godmother",
            "godfather",
            "great aunt",
            "great uncle",
        ),
        "other_relative",
        "",
    ),
):
    for _w in _words_:
        _RELATIONSHIPS[_w] = (_type_, _sex_)

RELATIONSHIP_HELP = (
    "Write Mother, Father, Parent, Legal guardian, Grandmother, Grandfather, Aunt, Uncle, Sibling or "
    "Other relative (what the adult is to the child), or leave it blank if not known."
)


def parse_relationship(raw: str) -> tuple[str, str] | None:
    """A hand-typed relationship (what the adult is to the child) → (type, implied sex); blank → None."""
    text = fold(raw or "")
    if not text or text in ("unknown", "unk", "n a", "na", "none"):
        return None
    if text in _RELATIONSHIPS:
        return _RELATIONSHIPS[text]
    for word in text.split():
        if word in _RELATIONSHIPS:
            return _RELATIONSHIPS[word]
    raise CellError(f"{quoted(raw.strip())} is not a relationship FamilyLink knows. {RELATIONSHIP_HELP}")


_SEX = {
    "f": "F",
    "female": "F",
    "fem": "F",
    "woman": "F",
    "girl": "F",
    "mujer": "F",
    "femenino": "F",
    "m": "M",
    "male": "M",
    "masc": "M",
    "man": "M",
    "boy": "M",
    "hombre": "M",
    "masculino": "M",
    "x": "X",
    "other": "X",
    "u": "U",
    "unknown": "U",
    "unk": "U",
}


def parse_sex(raw: str) -> str | None:
    text = fold(raw or "")
    if not text:
        return None
    if text in _SEX:
        return _SEX[text]
    raise CellError(f"{quoted(raw.strip())} is not a sex; write F, M, X (another sex) or U (unknown).")


_COUNTRIES = {
    "guatemala": "GT",
    "guat": "GT",
    "gt": "GT",
    "gua": "GT",
    "gtm": "GT",
    "honduras": "HN",
    "hond": "HN",
    "hn": "HN",
    "hon": "HN",
    "hnd": "HN",
    "el salvador": "SV",
    "salvador": "SV",
    "sv": "SV",
    "es": "SV",
    "slv": "SV",
    "els": "SV",
    "mexico": "MX",
    "mx": "MX",
    "mex": "MX",
    "ecuador": "EC",
    "ec": "EC",
    "ecu": "EC",
    "nicaragua": "NI",
    "ni": "NI",
    "nic": "NI",
    "brazil": "BR",
    "brasil": "BR",
    "br": "BR",
    "bra": "BR",
    "colombia": "CO",
    "co": "CO",
    "col": "CO",
    "cuba": "CU",
    "cu": "CU",
    "venezuela": "VE",
    "ve": "VE",
    "ven": "VE",
    "peru": "PE",
    "pe": "PE",
    "india": "IN",
    "in": "IN",
    "ind": "IN",
    "haiti": "HT",
    "ht": "HT",
    "hai": "HT",
    "dominican republic": "DO",
    "do": "DO",
    "belize": "BZ",
    "bz": "BZ",
    "costa rica": "CR",
    "cr": "CR",
    "panama": "PA",
    "pa": "PA",
    "romania": "RO",
    "ro": "RO",
    "china": "CN",
    "cn": "CN",
}


def parse_country(raw: str) -> str:
    text = fold(raw or "")
    if not text:
        return ""
    if text in _COUNTRIES:
        return _COUNTRIES[text]
    raise CellError(
        f"{quoted(raw.strip())} is not a country FamilyLink recognises; write its two-letter ISO code "
        "(e.g. GT, HN, SV, MX) or its name in English."
    )


_AGENCIES: list[tuple[str, tuple[str, ...]]] = [
    ("REMOVED", ("removed", "deported", "removal", "repatriated")),
    ("RELEASED", ("released", "release", "sponsor", "atd", "bond", "parole", "paroled", "discharged")),
    ("ICE", ("ice", "ero")),
    (
        "USMS",
        (
            "usms",
            "marshal",
            "marshals",
            "jail",
            "county jail",
            "federal custody",
            "criminal custody",
            "prison",
        ),
    ),
    ("HHS_ORR", ("orr", "hhs", "shelter", "foster", "southwest key", "bcfs", "casa", "tornillo")),
    ("ICE", ("detention", "processing center", "dilley", "karnes", "otero", "port isabel")),
    ("CBP", ("cbp", "border patrol", "usbp", "station", "cpc", "ursula")),
]


def parse_custody(raw: str, *, default: str | None = None) -> tuple[str, str] | None:
    """Custody text → (agency code, facility as typed); blank → None; text naming no agency → default."""
    text = " ".join(visible_text(raw or "").split())
    if not text:
        return None
    padded = f" {fold(text)} "
    for agency, keys in _AGENCIES:
        if any(f" {k} " in padded for k in keys):
            facility = "" if fold(text) in keys or fold(text) == agency.lower().replace("_", " ") else text
            return agency, facility[:200]
    if default is not None:
        return default, text[:200]
    raise CellError(
        f"{quoted(text)} names no custody agency; start it with ICE, USMS, CBP, HHS ORR, Released or Removed "
        "(e.g. 'ICE Otero County Processing Center')."
    )


@dataclass
class RowValues:
    """The canonical cells of one row (text as typed, after any correction)."""

    cells: dict[str, str] = field(default_factory=dict)

    def get(self, name: str) -> str:
        return (self.cells.get(name) or "").strip()
