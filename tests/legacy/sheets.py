"""A field spreadsheet showing every variation of LEGACY-SHEETS.md, as CSV and as XLSX (same rows)."""

import csv
import io
from datetime import datetime

HEADERS = [
    "Apprehension Date",
    "Sector/Station",
    "Parent Name",
    "A#",
    "DOB",
    "Gender",
    "Minor Name",
    "UAC A#",
    "Date of Birth",
    "Sex",
    "Country of Citizenship",
    "Relationship",
    "Sep Date",
    "Sep Reason",
    "Parent Custody",
    "ORR Shelter",
    "Comments",
    "Agent Initials",  # an extra column: kept with the row, never dropped
]

# (expected outcome, cells). 32235 is the Excel serial of 1988-04-02, 43252 of 2018-06-01.
ROWS = [
    (
        "imported",
        [
            "06/01/2018",
            "EPT",
            "PEREZ NUNEZ, Maria Jose",
            "A201234567",
            "04/02/1988",
            "F",
            "Ana Sofia Perez Garcia",
            "202345678",
            "2013-09-30",
            "F",
            "Guatemala",
            "Mother",
            "06/01/2018",
            "ZT",
            "ICE Otero County Processing Center",
            "Southwest Key Casa Padre",
            "",
            "JB",
        ],
    ),
    (
        "imported",
        [
            "2018-06-01",
            "ept",
            "María José PÉREZ",
            "A-201-234-567",
            "32235",
            "",
            "Luis Perez Garcia",
            "",
            "~2014",
            "M",
            "GT",
            "mom",
            "1-Jun-18",
            "Zero Tolerance",
            "",
            "",
            "",
            "JB",
        ],
    ),
    (
        "imported",
        [
            "43252",
            "EPT",
            "Jose Luis Hernandez Mejia",
            "20123456",
            "1980-05-05",
            "M",
            "HERNANDEZ LOPEZ, Carlos",
            "A098765432",
            "03/15/2010",
            "M",
            "Honduras",
            "Father",
            "06/02/2018",
            "1325 prosecution",
            "USMS",
            "BCFS Harlingen",
            "",
            "RT",
        ],
    ),
    # The first row again (the sheet was sent twice): one person, one separation.
    (
        "imported",
        [
            "06/01/2018",
            "EPT",
            "PEREZ NUNEZ, Maria Jose",
            "A201234567",
            "04/02/1988",
            "F",
            "Ana Sofia Perez Garcia",
            "202345678",
            "2013-09-30",
            "F",
            "Guatemala",
            "Mother",
            "06/01/2018",
            "ZT",
            "ICE Otero County Processing Center",
            "Southwest Key Casa Padre",
            "",
            "JB",
        ],
    ),
    (
        "imported",
        [
            "06/05/2018",
            "EPT",
            "Rosa Lopez Ramirez",
            "",
            "07/07/1960",
            "F",
            "Kevin Lopez",
            "",
            "2012-01-20",
            "M",
            "SV",
            "Grandmother",
            "06/05/2018",
            "Crim Hist",
            "",
            "",
            "",
            "",
        ],
    ),
    (
        "quarantined",
        [
            "06/06/2018",
            "EPT",
            "Carmen Diaz Flores",
            "A300000001",
            "1990-01-01",
            "F",
            "Sofia Diaz",
            "A300000001",
            "2015-02-02",
            "F",
            "HN",
            "Mother",
            "06/06/2018",
            "criminal history",
            "",
            "",
            "A# copied from parent?",
            "",
        ],
    ),
    (
        "quarantined",
        [
            "06/06/2018",
            "EPT",
            "Juana Ramos",
            "A12345",
            "1985-03-03",
            "F",
            "Pablo Ramos",
            "",
            "2016-03-03",
            "M",
            "HN",
            "Mother",
            "06/06/2018",
            "ZT",
            "",
            "",
            "",
            "",
        ],
    ),
    (
        "quarantined",
        [
            "06/07/2018",
            "EPT",
            "Pedro Gomez",
            "A30000000X",
            "1979-09-09",
            "M",
            "Mateo Gomez",
            "",
            "2011-09-09",
            "M",
            "MX",
            "Father",
            "06/07/2018",
            "ZT",
            "",
            "",
            "",
            "",
        ],
    ),
    (
        "quarantined",
        [
            "06/07/2018",
            "EPT",
            "Lucia Morales Chavez",
            "",
            "1992-08-08",
            "F",
            "Elena Morales",
            "",
            "02/30/2012",
            "F",
            "GT",
            "Mother",
            "06/07/2018",
            "ZT",
            "",
            "",
            "DOB impossible",
            "",
        ],
    ),
    (
        "imported",
        [
            "06/08/2018",
            "EPT",
            "Marta Cruz Vega",
            "",
            "1982-02-02",
            "F",
            "Diego Cruz",
            "",
            "2014-04-04",
            "M",
            "GT",
            "Aunt",
            "",
            "",
            "",
            "",
            "no sep info",
            "",
        ],
    ),
    (
        "imported",
        [
            "06/08/2018",
            "EPT",
            "Alberto Ruiz",
            "",
            "1970-10-10",
            "M",
            "Jorge Ruiz Paz",
            "",
            "2009-10-10",
            "M",
            "GT",
            "Legal guardian",
            "06/09/2018",
            "criminal history",
            "ICE",
            "",
            "",
            "",
        ],
    ),
    (
        "imported",
        [
            "06/10/2018",
            "EPT",
            "Ana Maria Castillo",
            "",
            "1987-12-12",
            "F",
            "Brenda Castillo",
            "",
            "2013-12-12",
            "F",
            "SV",
            "Parent",
            "06/10/2018",
            "Other - parent hospitalized",
            "",
            "",
            "",
            "",
        ],
    ),
    (
        "imported",
        [
            "06/11/2018",
            "EPT",
            "Sandra Ortiz",
            "",
            "1991-01-15",
            "F",
            "Mia Ortiz",
            "",
            "2014",
            "F",
            "HN",
            "",
            "06/11/2018",
            "",
            "",
            "",
            "",
            "",
        ],
    ),
    (
        "quarantined",
        [
            "06/12/2018",
            "EPT",
            "Raul Mendez",
            "",
            "1983-05-05",
            "M",
            "Tomas Mendez",
            "",
            "2012-05-05",
            "M",
            "HN",
            "Friend",
            "06/12/2018",
            "ZT",
            "",
            "",
            "",
            "",
        ],
    ),
]

# The first row's child as another office (or another month's sheet) wrote her: no A-number of her
# own, her second surname left out, accents typed; the mother's A-number as on the first row.
ANA_ELSEWHERE = [
    "6/1/2018",
    "EPT",
    "Maria Jose Perez",
    "A201234567",
    "1988-04-02",
    "F",
    "ANA SOFIA PÉREZ",
    "",
    "09/30/2013",
    "F",
    "GT",
    "Madre",
    "6/1/2018",
    "Tolerancia cero / ZT",
    "",
    "",
    "sent by the ORR office",
    "MM",
]

EXPECTED_IMPORTED = sum(1 for outcome, _ in ROWS if outcome == "imported")
EXPECTED_QUARANTINED = sum(1 for outcome, _ in ROWS if outcome == "quarantined")


def as_csv(headers: list[str] = HEADERS, rows: list[list[str]] | None = None) -> bytes:
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(headers)
    for cells in rows if rows is not None else [r for _, r in ROWS]:
        writer.writerow(cells)
    return out.getvalue().encode("utf-8")


def as_xlsx(headers: list[str] = HEADERS, rows: list[list[str]] | None = None) -> bytes:
    """The same rows as an Excel workbook: serials as numbers, one ISO date as a real date cell."""
    from openpyxl import Workbook

    workbook = Workbook()
    sheet = workbook.active
    sheet.append(headers)
    for cells in rows if rows is not None else [r for _, r in ROWS]:
        values: list = []
        for text in cells:
            if text.isdigit() and len(text) == 5:
                values.append(int(text))  # an Excel date serial typed as a number
            elif len(text) == 10 and text[4] == "-" and text[7] == "-" and text.startswith("2018"):
                values.append(datetime.fromisoformat(text))  # a real date cell
            else:
                values.append(text)
        sheet.append(values)
    buffer = io.BytesIO()
    workbook.save(buffer)
    return buffer.getvalue()


def as_workbook(*sheets: tuple[str, list[list], str]) -> bytes:
    """A workbook of several sheets, in order: (title, rows (the header row first), state), state
    "visible" or "hidden". Cells as given (text, numbers, dates)."""
    from openpyxl import Workbook

    workbook = Workbook()
    workbook.remove(workbook.active)
    for title, rows, state in sheets:
        sheet = workbook.create_sheet(title)
        sheet.sheet_state = state
        for cells in rows:
            sheet.append(cells)
    buffer = io.BytesIO()
    workbook.save(buffer)
    return buffer.getvalue()
