"""A-numbers (Alien Registration Numbers): accept the spellings people write, store one form.

Accepted: `A` or `a` followed by 8 or 9 digits, or the bare 8 or 9 digits, with optional dashes
or spaces anywhere between (`A-201-234-567`, `a 12345678`, `201234567`). Stored as `A` + 9 digits,
8-digit numbers padded with a leading zero (`A12345678` → `A012345678`).
"""

import re

from familylink.common.text import quoted

_SEPARATORS = re.compile(r"[\s\-]+")
_SHAPE = re.compile(r"^[Aa]?([0-9]{8,9})$")

A_NUMBER_HELP = "An A-number is A followed by 8 or 9 digits, e.g. A012345678 (dashes and spaces are fine)."


class InvalidANumber(ValueError):
    """The text is not an A-number; the message says what is wrong and what to write instead."""


def normalize_a_number(raw: str) -> str:
    """Return the stored form `A` + 9 digits, or raise InvalidANumber with a readable message."""
    text = (raw or "").strip()
    if not text:
        raise InvalidANumber("The A-number is empty. " + A_NUMBER_HELP)
    compact = _SEPARATORS.sub("", text)
    match = _SHAPE.match(compact)
    if match is None:
        digits = re.sub(r"[^0-9]", "", compact)
        if compact[:1] in "Aa" and compact[1:].isdigit() or compact.isdigit():
            problem = f"{quoted(text)} has {len(digits)} digits."
        else:
            problem = f"{quoted(text)} contains characters other than A, digits, dashes and spaces."
        raise InvalidANumber(f"{problem} {A_NUMBER_HELP}")
    return "A" + match.group(1).zfill(9)


def normalize_a_number_or_none(raw: str | None) -> str | None:
    """Like normalize_a_number, but blank input means "no A-number" (None)."""
    if raw is None or not str(raw).strip():
        return None
    return normalize_a_number(str(raw))
