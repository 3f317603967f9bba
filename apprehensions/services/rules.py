"""Validation rules shared by intake, person edits and relationship writes.

Each rule adds readable messages to an `errors` dict keyed by the API contract's field path
(`persons[1].date_of_birth`), so the web form and the API show the same words in the same place.
"""

import re
from collections.abc import Callable, Iterable, Mapping
from datetime import date
from typing import Any
from uuid import UUID

from ..anumber import InvalidANumber, normalize_a_number
from ..models import Person, Relationship

Errors = dict[str, list[str]]

MAX_AGE_YEARS = 120
MIN_PARENT_AGE_GAP_YEARS = 12
# Types whose `from` person is of an older generation than the `to` person.
OLDER_GENERATION_TYPES = {
    Relationship.Type.PARENT,
    Relationship.Type.LEGAL_GUARDIAN,
    Relationship.Type.GRANDPARENT,
}
COUNTRY_RE = re.compile(r"^[A-Z]{2}$")
# The choices' values, read once (`Choices.values` builds a new list on each read; intake checks
# every person and relationship against them).
SEX_VALUES = frozenset(Person.Sex.values)
RELATIONSHIP_TYPE_VALUES = frozenset(Relationship.Type.values)
EVIDENCE_VALUES = frozenset(Relationship.Evidence.values)

PERSON_TEXT_FIELDS = {
    "given_names": ("Given names", 120),
    "first_surname": ("First surname", 120),
    "second_surname": ("Second surname", 120),
    "language": ("Language", 64),
}


def add_error(errors: Errors, path: str, message: str) -> None:
    errors.setdefault(path, []).append(message)


def join_path(prefix: str, field: str) -> str:
    return f"{prefix}.{field}" if prefix else field


def age_on(date_of_birth: date, on: date) -> int:
    """Whole years between `date_of_birth` and `on` (birthday counted on the day)."""
    years = on.year - date_of_birth.year
    if (on.month, on.day) < (date_of_birth.month, date_of_birth.day):
        years -= 1
    return years


def as_uuid(value: Any) -> UUID | None:
    try:
        return value if isinstance(value, UUID) else UUID(str(value).strip())
    except (ValueError, AttributeError, TypeError):
        return None


def clean_text(value: str | None, *, label: str, max_length: int, path: str, errors: Errors) -> str:
    """Text with its runs of spaces and line breaks made one space, at most `max_length` long."""
    if value is None:
        return ""
    text = " ".join(value.split())
    if len(text) > max_length:
        add_error(errors, path, f"{label} is {len(text)} characters long; shorten it to {max_length}.")
    return text


def clean_a_number(value: str | None, *, path: str, errors: Errors) -> str | None:
    if value is None or not value.strip():
        return None
    try:
        return normalize_a_number(value)
    except InvalidANumber as exc:
        add_error(errors, path, f"A-number: {exc}")
        return None


def check_date_of_birth(dob: date | None, *, path: str, errors: Errors, on: date, today: date) -> date | None:
    """Date of birth: given, not in the future, not after `on`, and at most 120 years before it."""
    if dob is None:
        add_error(
            errors,
            path,
            "Date of birth is required. If it is not known exactly, enter your best estimate "
            "and mark it as estimated.",
        )
        return None
    if dob > today:
        add_error(
            errors,
            path,
            f"Date of birth {dob.isoformat()} is in the future; enter a past date (estimate if unknown).",
        )
        return None
    if dob > on:
        add_error(
            errors,
            path,
            f"Date of birth {dob.isoformat()} is after the encounter date {on.isoformat()}; "
            "check the date of birth or the encounter date.",
        )
        return None
    if age_on(dob, on) > MAX_AGE_YEARS:
        add_error(
            errors,
            path,
            f"Date of birth {dob.isoformat()} makes the person {age_on(dob, on)} years old; "
            f"ages above {MAX_AGE_YEARS} are not possible, check the year.",
        )
        return None
    return dob


def clean_person_fields(
    raw: Mapping[str, Any],
    *,
    prefix: str,
    errors: Errors,
    on: date,
    today: date,
    partial: bool = False,
) -> dict[str, Any]:
    """Check a person's identity fields (read by a serializer or form); the cleaned values present in `raw`.

    With `partial` (a PATCH), absent fields are left out and nothing is required.
    """
    cleaned: dict[str, Any] = {}
    for field, (label, max_length) in PERSON_TEXT_FIELDS.items():
        if partial and field not in raw:
            continue
        cleaned[field] = clean_text(
            raw.get(field), label=label, max_length=max_length, path=join_path(prefix, field), errors=errors
        )
    for field, label in (("given_names", "Given names"), ("first_surname", "First surname")):
        if field in cleaned and not cleaned[field] and join_path(prefix, field) not in errors:
            add_error(
                errors,
                join_path(prefix, field),
                f"{label} is required; write the name as the person gives it (accents are fine).",
            )
    if not partial or "sex" in raw:
        sex = str(raw.get("sex") or Person.Sex.UNKNOWN).strip().upper()
        if sex not in SEX_VALUES:
            add_error(
                errors,
                join_path(prefix, "sex"),
                f"Sex {raw.get('sex')!r} is not one of F (female), M (male), X (another sex) or U (unknown).",
            )
        cleaned["sex"] = sex
    if not partial or "date_of_birth" in raw:
        cleaned["date_of_birth"] = check_date_of_birth(
            raw.get("date_of_birth"),
            path=join_path(prefix, "date_of_birth"),
            errors=errors,
            on=on,
            today=today,
        )
    if not partial or "dob_estimated" in raw:
        cleaned["dob_estimated"] = bool(raw.get("dob_estimated"))
    if not partial or "country_of_citizenship" in raw:
        country = str(raw.get("country_of_citizenship") or "").strip().upper()
        if country and not COUNTRY_RE.match(country):
            add_error(
                errors,
                join_path(prefix, "country_of_citizenship"),
                f"Country of citizenship {raw.get('country_of_citizenship')!r} is not a two-letter "
                "ISO country code; use e.g. GT, HN, SV or MX.",
            )
        cleaned["country_of_citizenship"] = country
    if not partial or "a_number" in raw:
        cleaned["a_number"] = clean_a_number(
            raw.get("a_number"), path=join_path(prefix, "a_number"), errors=errors
        )
    if not partial or "aliases" in raw:
        cleaned["aliases"] = [" ".join(a.split())[:120] for a in raw.get("aliases") or [] if a.strip()]
    return cleaned


def clean_relationship_codes(
    raw: Mapping[str, Any], *, prefix: str, errors: Errors, partial: bool = False
) -> dict[str, Any]:
    """Type, evidence and the document seen.

    `documented` evidence without `document_kind` is accepted (the contract names no such field):
    the relationship records the document as not named and HQ follows it up
    (`Relationship.document_not_named`, the "Documents not named" list).
    """
    cleaned: dict[str, Any] = {}
    if not partial or "type" in raw:
        rel_type = str(raw.get("type") or "").strip()
        if rel_type not in RELATIONSHIP_TYPE_VALUES:
            add_error(
                errors,
                join_path(prefix, "type"),
                f"Relationship type {raw.get('type')!r} is not known; use one of "
                f"{', '.join(Relationship.Type.values)} (from is the parent/guardian/grandparent of to).",
            )
        cleaned["type"] = rel_type
    if not partial or "evidence" in raw:
        evidence = str(raw.get("evidence") or Relationship.Evidence.CLAIMED).strip()
        if evidence not in EVIDENCE_VALUES:
            add_error(
                errors,
                join_path(prefix, "evidence"),
                f"Evidence {raw.get('evidence')!r} is not known; use one of "
                f"{', '.join(Relationship.Evidence.values)}.",
            )
        cleaned["evidence"] = evidence
    for field, label, max_length in (
        ("note", "Note", 2000),
        ("document_kind", "Document kind", 64),
        ("document_number", "Document number", 64),
    ):
        if not partial or field in raw:
            cleaned[field] = clean_text(
                raw.get(field),
                label=label,
                max_length=max_length,
                path=join_path(prefix, field),
                errors=errors,
            )
    return cleaned


def check_age_gap(
    *,
    rel_type: str,
    older_name: str,
    older_dob: date | None,
    younger_name: str,
    younger_dob: date | None,
    path: str,
    errors: Errors,
) -> None:
    """A parent, legal guardian or grandparent is at least 12 years older than the child."""
    if rel_type not in OLDER_GENERATION_TYPES or older_dob is None or younger_dob is None:
        return
    gap = age_on(older_dob, younger_dob) if older_dob <= younger_dob else -age_on(younger_dob, older_dob)
    if gap < MIN_PARENT_AGE_GAP_YEARS:
        label = Relationship.Type(rel_type).label.lower()
        add_error(
            errors,
            path,
            f"{older_name} (born {older_dob.isoformat()}) cannot be {label} of {younger_name} "
            f"(born {younger_dob.isoformat()}): a {label} must be at least {MIN_PARENT_AGE_GAP_YEARS} "
            "years older than the child. Check both dates of birth, the relationship type, or its direction "
            "(from is the parent).",
        )


def db_parent_children(person_ids: Iterable[Any]) -> dict[Any, set[Any]]:
    """Recorded parent links (not withdrawn, not disproven) from each of `person_ids` to their children."""
    result: dict[Any, set[Any]] = {}
    ids = [pid for pid in person_ids if isinstance(pid, UUID)]
    if not ids:
        return result
    rows = (
        Relationship.objects.filter(
            from_person_id__in=ids, type=Relationship.Type.PARENT, withdrawn_at__isnull=True
        )
        .exclude(evidence=Relationship.Evidence.DISPROVEN)
        .values_list("from_person_id", "to_person_id")
    )
    for parent, child in rows:
        result.setdefault(parent, set()).add(child)
    return result


class ParentGraph:
    """Parent links on file plus those added in this request, to refuse a cycle before it is saved.

    Nodes are person ids (UUID) for persons on file and any other hashable key for persons not yet
    saved; only persons on file can have links on file.
    """

    def __init__(self, loader: Callable[[Iterable[Any]], dict[Any, set[Any]]] = db_parent_children):
        self._loader = loader
        self._db_children: dict[Any, set[Any]] = {}
        self._new_children: dict[Any, set[Any]] = {}

    def _children(self, nodes: set[Any]) -> dict[Any, set[Any]]:
        missing = [n for n in nodes if n not in self._db_children]
        if missing:
            loaded = self._loader(missing)
            for node in missing:
                self._db_children[node] = loaded.get(node, set())
        return {n: self._db_children[n] | self._new_children.get(n, set()) for n in nodes}

    def reaches(self, start: Any, goal: Any) -> bool:
        """True when `goal` descends from `start` through parent links (one query per generation)."""
        seen: set[Any] = set()
        frontier = {start}
        while frontier:
            if goal in frontier:
                return True
            seen |= frontier
            children = self._children(frontier)
            frontier = {c for kids in children.values() for c in kids} - seen
        return False

    def would_cycle(self, parent: Any, child: Any) -> bool:
        return parent == child or self.reaches(child, parent)

    def add(self, parent: Any, child: Any) -> None:
        self._new_children.setdefault(parent, set()).add(child)
