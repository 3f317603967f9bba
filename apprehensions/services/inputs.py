"""What the apprehensions write services take: the API contract's request bodies, typed.

The API's input serializers (`apprehensions/serializers.py`) and the web forms read a request into
these shapes — a date as `date`, a person's id as `UUID`, lists as lists — and the services check
every rule on them (required fields, codes, A-number spelling, lengths, matching, visibility, age
gaps). Field names are the contract's. A value the serializer or form could not read arrives as
None (it has already said why, keyed by the same path), so the service still reports everything
else in the same round; JSON `null` arrives as None too, and means "not given". An entry of a list
(a person, a relationship…) or an `existing_person` that is None was not read: the service refuses
the write (`NOT_READ`, behind the reader's own message for that path).
"""

from collections.abc import Sequence
from datetime import date, datetime
from typing import Required, TypedDict
from uuid import UUID

from django.utils.dateparse import parse_date

from familylink.common.text import quoted

from .rules import as_uuid

NOT_READ = "This part of the request could not be read; send it as the API contract shows."
NO_PERSONS = "List at least one person encountered."
NO_MEMBERS = "List the refs of the persons in this family unit."


class IdentifierInput(TypedDict, total=False):
    """A document number besides the A-number (passport, national id…)."""

    kind: Required[str]
    value: Required[str]
    issuer: str


class PersonFields(TypedDict, total=False):
    """A person's identity fields: all of them for someone new, only those to change in an edit."""

    given_names: str
    first_surname: str
    second_surname: str
    aliases: Sequence[str]
    sex: str
    date_of_birth: date | None
    dob_estimated: bool
    country_of_citizenship: str
    language: str
    a_number: str | None  # any accepted spelling; the service stores A + 9 digits


class PersonInput(PersonFields, total=False):
    """One entry of an intake's `persons`: a person on file (`existing_person`) or someone new."""

    ref: Required[str]
    existing_person: UUID | None
    match: str  # outcome of a likely-duplicate review: "same_person" or "new"
    match_note: str
    identifiers: Sequence[IdentifierInput | None]


class FamilyUnitInput(TypedDict, total=False):
    members: Required[Sequence[str]]  # refs of persons of the same intake
    label: str


class RelationshipFields(TypedDict, total=False):
    """What a relationship says besides who it links: all for a new one, only those to change in an edit."""

    type: str
    evidence: str
    note: str
    document_kind: str
    document_number: str


# `from` is a Python keyword, hence the functional form. Each end is a ref of the intake or the id of
# a person on file.
_Ends = TypedDict("_Ends", {"from": Required[str], "to": Required[str]}, total=False)


class RelationshipInput(_Ends, RelationshipFields, total=False):
    """One entry of an intake's `relationships`."""


class IntakeInput(TypedDict, total=False):
    """The keyword arguments of `apprehension_record`: one encounter with everyone in it."""

    occurred_at: Required[datetime | None]
    station: Required[str]
    persons: Required[Sequence[PersonInput | None]]
    family_units: Sequence[FamilyUnitInput | None]
    relationships: Sequence[RelationshipInput | None]
    location_description: str
    change_reason: str


# --- the words for input not of these shapes, the same from a serializer, a form and a service -------


def not_editable_message(name: str, editable: Sequence[str]) -> str:
    return f"{name} cannot be changed here; editable fields are {', '.join(editable)}."


def not_a_person_on_file(value: object) -> str:
    """For `from`/`to` of a relationship: not an id, or not the id of a person the user may see."""
    return f"{quoted(value)} is not the id of a person on file; use a person's id."


def read_date_of_birth(value: object) -> date | None:
    """A date of birth as written (YYYY-MM-DD); None when blank. ValueError says what is wrong."""
    if isinstance(value, datetime):
        return value.date()
    if value is None or isinstance(value, date):
        return value
    text = str(value).strip()
    if not text:
        return None
    try:
        parsed = parse_date(text)
    except ValueError:
        parsed = None
    if parsed is None:
        raise ValueError(f"Date of birth {quoted(value)} is not a date; write it as YYYY-MM-DD.")
    return parsed


def read_person_id(value: object) -> UUID:
    """`existing_person` of an intake as given. ValueError says what is wrong."""
    pid = as_uuid(value)
    if pid is None:
        raise ValueError(f"{quoted(value)} is not a person id; use the id of a person on file.")
    return pid
