"""The dates FamilyLink holds: 1900 to 2100 (year 1 overflows time zone arithmetic, rule 3)."""

from datetime import date, datetime

from .errors import ValidationFailed

MIN_YEAR, MAX_YEAR = 1900, 2100
# A date of birth may precede 1900 (ages up to 120 at a 2018 encounter); its own rule judges it.
MIN_DATE_YEAR = 1800


def check_year(value: date | datetime, field: str) -> None:
    """Refuse a date outside 1900–2100 with a 400 keyed by `field`."""
    if not MIN_YEAR <= value.year <= MAX_YEAR:
        raise ValidationFailed({field: [f"Use a date between {MIN_YEAR} and {MAX_YEAR}."]})
