import pytest

from apprehensions.anumber import InvalidANumber, normalize_a_number, normalize_a_number_or_none


@pytest.mark.parametrize(
    ("raw", "stored"),
    [
        ("A012345678", "A012345678"),
        ("A12345678", "A012345678"),
        ("a12345678", "A012345678"),
        ("012345678", "A012345678"),
        ("12345678", "A012345678"),
        ("A-201-234-567", "A201234567"),
        (" a 201 234 567 ", "A201234567"),
        ("201-234-567", "A201234567"),
    ],
)
def test_normalize_a_number_accepts_every_documented_spelling(raw, stored):
    """A or a + 8 or 9 digits, or the bare digits, dashes/spaces allowed → A + 9 digits."""
    assert normalize_a_number(raw) == stored


@pytest.mark.parametrize(
    ("raw", "fragment"),
    [
        ("A1234567", "has 7 digits"),
        ("A1234567890", "has 10 digits"),
        ("B12345678", "characters other than A"),
        ("A12345X78", "characters other than A"),
        ("", "empty"),
    ],
)
def test_normalize_a_number_explains_what_is_wrong(raw, fragment):
    """A wrong A-number gets a message saying what is wrong and what an A-number looks like."""
    with pytest.raises(InvalidANumber) as excinfo:
        normalize_a_number(raw)
    assert fragment in str(excinfo.value)
    assert "A followed by 8 or 9 digits" in str(excinfo.value)


def test_normalize_a_number_or_none_treats_blank_as_no_number():
    """Blank means the person has no A-number; it is not an error."""
    assert normalize_a_number_or_none("  ") is None
    assert normalize_a_number_or_none(None) is None


def test_a_long_wrong_a_number_is_quoted_by_its_start_not_echoed_whole():
    """3,000 characters typed in the A-number field: the message quotes its first 40 and says how
    long it was, instead of repeating all of it beside the field."""
    with pytest.raises(InvalidANumber) as excinfo:
        normalize_a_number("x" * 3000)
    message = str(excinfo.value)
    assert "'" + "x" * 40 + "'… (3,000 characters)" in message and "x" * 41 not in message
    assert "A followed by 8 or 9 digits" in message
