"""Reading cells as people typed them: headers, one-cell names, A-numbers, dates, codes."""

from datetime import date

import pytest

from legacy.parsing import (
    CellError,
    UnrecognisedColumns,
    _in_a_format,
    check_columns,
    map_headers,
    parse_a_number,
    parse_custody,
    parse_date,
    parse_name,
    parse_reason,
    parse_relationship,
)

from .sheets import HEADERS


def test_map_headers_reads_every_spelling_and_keeps_extra_columns_apart():
    """`A#`, `DOB` take the person of the nearest named column; unknown headings stay extra."""
    mapping = map_headers(HEADERS)
    by_header = {HEADERS[i]: name for i, name in mapping.items()}
    assert by_header == {
        "Apprehension Date": "apprehension_date",
        "Sector/Station": "station",
        "Parent Name": "adult_name",
        "A#": "adult_a_number",
        "DOB": "adult_dob",
        "Gender": "adult_sex",
        "Minor Name": "child_name",
        "UAC A#": "child_a_number",
        "Date of Birth": "child_dob",
        "Sex": "child_sex",
        "Country of Citizenship": "country",
        "Relationship": "relationship",
        "Sep Date": "separation_date",
        "Sep Reason": "separation_reason",
        "Parent Custody": "adult_custody",
        "ORR Shelter": "child_placement",
        "Comments": "notes",
    }
    assert "Agent Initials" not in by_header


@pytest.mark.parametrize(
    "headers",
    [
        HEADERS,
        ["station", "notes"],  # rows quarantined, each correctable in the UI
        ["apprehension_date", "station", "child_name"],
        ["Parent", "Minor"],
        ["DOB"],
    ],
)
def test_check_columns_lets_any_sheet_with_a_column_a_row_needs_through(headers):
    check_columns(headers, map_headers(headers))


def test_check_columns_quotes_the_first_headers_and_names_every_column_a_row_needs():
    headers = ["foo", "", "Agent Initials", "A#", "x" * 60, "sixth", "seventh"]
    with pytest.raises(UnrecognisedColumns) as refused:
        check_columns(headers, map_headers(headers))
    message = str(refused.value)
    long_header = f"'{'x' * 40}'… (60 characters)"
    assert f"headers are 'foo', (blank), 'Agent Initials', 'A#', {long_header} and 2 more" in message
    assert "(only 'A#' (adult's A-number) is recognised)" in message
    assert (
        "Every row needs apprehension date (apprehension_date), station (station), adult's name "
        "(adult_name), adult's date of birth (adult_dob), child's name (child_name), child's date of "
        "birth (child_dob)"
    ) in message


@pytest.mark.parametrize(
    "headers, expected",
    [
        (
            ["Parent Name", "A-Number", "Minor Name", "Alien #", "Reason", "Notes"],
            ["adult_name", "adult_a_number", "child_name", "child_a_number", "separation_reason", "notes"],
        ),
        (["adult_name", "child_name", "child_dob"], ["adult_name", "child_name", "child_dob"]),
        (
            ["Date", "Station", "Parent", "Minor", "Minor DOB", "Separation reason", "Comments", "Extra"],
            [
                "apprehension_date",
                "station",
                "adult_name",
                "child_name",
                "child_dob",
                "separation_reason",
                "notes",
                None,
            ],
        ),
    ],
)
def test_map_headers_other_spellings(headers, expected):
    mapping = map_headers(headers)
    assert [mapping.get(i) for i in range(len(headers))] == expected


@pytest.mark.parametrize(
    "raw, given, first, second",
    [
        ("PEREZ NUNEZ, Maria Jose", "Maria Jose", "Perez", "Nunez"),
        ("Maria Jose Perez Nunez", "Maria Jose", "Perez", "Nunez"),
        ("María José PÉREZ", "María José", "Pérez", ""),
        ("María José PÉREZ NÚÑEZ", "María José", "Pérez", "Núñez"),
        ("Ana Perez Garcia", "Ana", "Perez", "Garcia"),
        ("Jose Luis Hernandez", "Jose Luis", "Hernandez", ""),
        ("DE LA CRUZ LOPEZ, Juan", "Juan", "de la Cruz", "Lopez"),
        ("Kevin Lopez", "Kevin", "Lopez", ""),
    ],
)
def test_parse_name_every_shape(raw, given, first, second):
    name = parse_name(raw)
    assert (name.given_names, name.first_surname, name.second_surname) == (given, first, second)


@pytest.mark.parametrize("raw", ["", "Maria", "Maria 123"])
def test_parse_name_refuses_what_is_not_a_full_name(raw):
    with pytest.raises(CellError):
        parse_name(raw)


@pytest.mark.parametrize(
    "raw, stored",
    [
        ("A201234567", "A201234567"),
        ("201234567", "A201234567"),
        ("A-201-234-567", "A201234567"),
        ("20123456", "A020123456"),
        ("a 20123456", "A020123456"),
        ("", None),
        ("N/A", None),
    ],
)
def test_parse_a_number_every_spelling(raw, stored):
    assert parse_a_number(raw) == stored


@pytest.mark.parametrize("raw, problem", [("A12345", "5 digits"), ("A30000000X", "characters other than")])
def test_parse_a_number_wrong_shape_says_what_is_wrong_and_the_fix(raw, problem):
    with pytest.raises(CellError, match=problem) as exc:
        parse_a_number(raw)
    assert "leave the cell blank" in str(exc.value)


@pytest.mark.parametrize(
    "raw, expected, estimated",
    [
        ("06/01/2018", date(2018, 6, 1), False),
        ("2018-06-01", date(2018, 6, 1), False),
        ("1-Jun-18", date(2018, 6, 1), False),
        ("18-Feb-62", date(1962, 2, 18), False),
        ("43252", date(2018, 6, 1), False),
        ("25/06/2018", date(2018, 6, 25), False),
        ("~2014", date(2014, 1, 1), True),
        ("2014", date(2014, 1, 1), True),
    ],
)
def test_parse_date_every_spelling(raw, expected, estimated):
    parsed = parse_date(raw, allow_estimate=True)
    assert parsed is not None and parsed.value == expected and parsed.estimated is estimated


def test_in_a_format_reads_the_first_format_that_fits_and_keeps_two_digit_years_in_the_past():
    """The formats' reading, remembered per (text, today): a two-digit year after `today` is a
    century earlier, and the same text read on another day is read again."""
    assert _in_a_format("1-Jun-18", date(2026, 11, 30)) == date(2018, 6, 1)
    assert _in_a_format("06/01/2018", date(2026, 11, 30)) == date(2018, 6, 1)
    assert _in_a_format("18-Feb-62", date(2026, 11, 30)) == date(1962, 2, 18)
    assert _in_a_format("01/02/30", date(2026, 11, 30)) == date(1930, 1, 2)
    assert _in_a_format("01/02/30", date(2031, 1, 1)) == date(2030, 1, 2)
    assert _in_a_format("02/30/2012", date(2026, 11, 30)) is None
    hits = _in_a_format.cache_info().hits
    assert _in_a_format("1-Jun-18", date(2026, 11, 30)) == date(2018, 6, 1)
    assert _in_a_format.cache_info().hits == hits + 1


def test_parse_date_blank_is_none_and_impossible_dates_are_refused():
    assert parse_date("") is None
    with pytest.raises(CellError, match="not a date that exists"):
        parse_date("02/30/2012")
    with pytest.raises(CellError, match="only a year"):
        parse_date("2018")


@pytest.mark.parametrize(
    "raw, code",
    [
        ("ZT", "ZERO_TOLERANCE_PROSECUTION"),
        ("Zero Tolerance", "ZERO_TOLERANCE_PROSECUTION"),
        ("1325 prosecution", "ZERO_TOLERANCE_PROSECUTION"),
        ("Crim Hist", "CRIMINAL_HISTORY"),
        ("criminal history", "CRIMINAL_HISTORY"),
        ("Other - parent hospitalized", "PARENT_MEDICAL"),
        ("Other", "OTHER"),
        ("something nobody coded", "OTHER"),
        ("", None),
    ],
)
def test_parse_reason_hand_typed(raw, code):
    assert parse_reason(raw) == code


@pytest.mark.parametrize(
    "raw, rel",
    [
        ("Mother", ("parent", "F")),
        ("Father", ("parent", "M")),
        ("mom", ("parent", "F")),
        ("Parent", ("parent", "")),
        ("Aunt", ("other_relative", "F")),
        ("Grandmother", ("grandparent", "F")),
        ("Legal guardian", ("legal_guardian", "")),
        ("", None),
    ],
)
def test_parse_relationship_hand_typed(raw, rel):
    assert parse_relationship(raw) == rel


def test_parse_relationship_unknown_names_the_accepted_words():
    with pytest.raises(CellError, match="Mother, Father, Parent"):
        parse_relationship("Friend")


def test_parse_custody():
    assert parse_custody("ICE Otero County Processing Center") == (
        "ICE",
        "ICE Otero County Processing Center",
    )
    assert parse_custody("ICE") == ("ICE", "")
    assert parse_custody("Released to sponsor") == ("RELEASED", "Released to sponsor")
    assert parse_custody("") is None
    with pytest.raises(CellError, match="names no custody agency"):
        parse_custody("somewhere")
    assert parse_custody("USMS") == ("USMS", "")
    assert parse_custody("Southwest Key Casa Padre", default="HHS_ORR")[0] == "HHS_ORR"
