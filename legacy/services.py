"""Import field spreadsheets: every row ends imported (linked to the right persons, family unit,
relationship and separation) or quarantined with messages that say what is wrong and how to fix it.

The import calls the services of the floors below and never re-implements their rules:
`apprehensions.services.apprehension_record` (persons, encounter, family unit, relationships),
`separations.services.separation_record_imported` (the separation, in effect or ended as of its
dates; reunification opens its cases on `separation_approved`) and `custody_transfer`.
What is added here is reading the sheet and deciding who each row's persons are:

- an A-number on file links that person (unless name and date of birth contradict it: an
  A-number conflict, quarantined and signalled, never merged);
- otherwise name + date of birth (accents, dropped second surname, day/month swapped, estimated
  years) against persons on file and earlier rows; two candidates → quarantined, never a guess;
- otherwise a new person.

Idempotent: a row already imported (same fingerprint) is linked, not written again; persons,
encounters, relationships and separations on file are reused, so a sheet imported twice, a row
repeated, or a child on two offices' sheets leaves one person and one separation.
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections import OrderedDict
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from django.contrib.auth.models import Group
from django.core.cache import cache
from django.db import IntegrityError, transaction
from django.db.models import Q
from django.utils import timezone

from apprehensions.models import (
    Apprehension,
    ApprehensionPerson,
    Person,
    Relationship,
    Station,
)
from apprehensions.scoping import is_person_at_station
from apprehensions.services import apprehension_record
from apprehensions.services.rules import age_on
from apprehensions.signals import a_number_conflict_detected, persons_recorded
from familylink.common.errors import BusinessRuleError, PermissionDenied, ValidationFailed
from familylink.common.models import User
from familylink.common.roles import Role, has_capability
from familylink.common.text import fold
from separations.models import CustodyPeriod, ReasonCode, Separation, SeparationMember
from separations.services import custody_transfer, separation_record_imported, shared_family_unit_id

from . import parsing
from .models import ImportBatch, ImportPreview, ImportRecord, ImportRow
from .parsing import COLUMN_LABELS, CellError, Name, ParsedDate

log = logging.getLogger(__name__)

ADULT_AGE = 18
CHUNK_ROWS = 200
SYSTEM_USERNAME = "legacy-import"
# Local time given to a date-only cell (sheets carry dates, not times).
DATE_ONLY_TIME = time(12, 0)


class NotImportable(Exception):
    """Raised inside a group's savepoint to roll it back; rows are quarantined with `messages`."""

    def __init__(self, messages: dict[int, dict[str, list[str]]]):
        self.messages = messages
        super().__init__("quarantined")


class _DryRunRollback(Exception):
    pass


# --- who may import --------------------------------------------------------------------------


def import_scope(user: Any) -> Station | None:
    """The station a user imports for (supervisors), None for all (HQ); PermissionDenied otherwise."""
    if not has_capability(user, "import_legacy"):
        raise PermissionDenied("Your role cannot import field spreadsheets.")
    if has_capability(user, "read_persons_all"):
        return None
    station = Station.objects.filter(code=getattr(user, "station", ""), withdrawn_at__isnull=True).first()
    if station is None:
        raise PermissionDenied("You have no station; a supervisor imports sheets of their own station.")
    return station


def batches_visible_to(user: Any) -> Any:
    scope = import_scope(user)
    qs = ImportBatch.objects.filter(withdrawn_at__isnull=True)
    return qs if scope is None else qs.filter(station_scope=scope)


def system_user() -> User:
    """The account command-line imports run as (HQ analyst role; it cannot sign in)."""
    user = User.objects.filter(username=SYSTEM_USERNAME).first()
    if user is None:
        user = User(username=SYSTEM_USERNAME, first_name="Legacy import", last_name="(command line)")
        user.set_unusable_password()
        user._change_reason = "created for command-line legacy imports"
        user.save()
    user.groups.add(Group.objects.get(name=str(Role.HQ_ANALYST)))
    return user


# --- batches ---------------------------------------------------------------------------------


@transaction.atomic
def batch_create(*, content: bytes, filename: str, by: Any) -> ImportBatch:
    """Read a CSV/XLSX sheet and keep it as a batch: the header row and every row, each cell as typed.

    Raises parsing.UnreadableFile when the file cannot be read at all (nothing is saved then).
    """
    scope = import_scope(by)
    sheet = parsing.read_sheet(content, filename)
    column_map = parsing.map_headers(sheet.headers)
    batch = ImportBatch(
        filename=(filename or "sheet")[:255],
        file_format=sheet.file_format,
        headers=sheet.headers,
        column_map={str(k): v for k, v in column_map.items()},
        station_scope=scope,
        rows_total=len(sheet.rows),
        created_by=by,
    )
    batch._change_reason = f"uploaded {filename}"[:200]
    batch._history_user = by
    batch.save()
    rows = [
        ImportRow(
            batch=batch,
            row_number=i + 2,
            cells=[[h, c] for h, c in zip(sheet.headers, row, strict=False)],
            created_by=by,
        )
        for i, row in enumerate(sheet.rows)
    ]
    from apprehensions.services.bulk import insert_with_history

    for start in range(0, len(rows), 2000):
        insert_with_history(ImportRow, rows[start : start + 2000], user=by, reason=f"read from {batch.label}")
    return batch


def row_values(row: ImportRow, column_map: dict[str, str]) -> dict[str, str]:
    """Canonical column → text for a row: the cell as typed, or its correction when one was made."""
    values: dict[str, str] = {}
    for index, (_, text) in enumerate(row.cells):
        name = column_map.get(str(index))
        if name is not None:
            values[name] = text
    for name, text in (row.corrections or {}).items():
        values[name] = text
    return values


def column_header(batch: ImportBatch, name: str) -> str:
    for index, canonical in batch.column_map.items():
        if canonical == name:
            return str(batch.headers[int(index)])
    return name


def progress_key(batch_id: Any) -> str:
    return f"legacy:progress:{batch_id}"


def batch_progress(batch: ImportBatch) -> int:
    done = cache.get(progress_key(batch.pk))
    return int(done) if done is not None else batch.rows_done


# --- reading one row -------------------------------------------------------------------------


@dataclass
class PersonFacts:
    side: str  # adult / child
    name: Name
    dob: ParsedDate
    a_number: str | None
    sex: str

    @property
    def given_key(self) -> str:
        return (fold(self.name.given_names).split() or [""])[0]

    @property
    def surname_keys(self) -> set[str]:
        words = fold(f"{self.name.first_surname} {self.name.second_surname}").split()
        return {w for w in words if w not in parsing._PARTICLES}

    def details(self, country: str) -> dict[str, Any]:
        return {
            "given_names": self.name.given_names,
            "first_surname": self.name.first_surname,
            "second_surname": self.name.second_surname,
            "sex": self.sex or "U",
            "date_of_birth": self.dob.value.isoformat(),
            "dob_estimated": self.dob.estimated,
            "country_of_citizenship": country,
            "a_number": self.a_number,
        }

    @property
    def label(self) -> str:
        return f"{self.name.given_names} {self.name.first_surname} {self.name.second_surname}".strip()


@dataclass
class RowPlan:
    row: ImportRow
    station: Station
    occurred_at: datetime
    adult: PersonFacts
    child: PersonFacts
    country: str
    relationship: str | None
    separation_at: datetime | None
    reason_code: str | None
    narrative: str
    reunified_at: datetime | None
    adult_custody: tuple[str, str] | None
    child_placement: tuple[str, str] | None
    notes: str
    extra: dict[str, str]
    fingerprint: str
    outcome: list[str] = field(default_factory=list)
    adult_person: Person | None = None
    child_person: Person | None = None


def _add(messages: dict[str, list[str]], column: str, text: str) -> None:
    messages.setdefault(column, []).append(text)


def _local(day: date, station: Station) -> datetime:
    """Noon at the station on that day (a date-only cell), never later than now."""
    return min(datetime.combine(day, DATE_ONLY_TIME, tzinfo=ZoneInfo(station.timezone)), timezone.now())


class Context:
    """What a run knows across rows: stations, reason codes on file, who may see what."""

    def __init__(self, batch: ImportBatch, by: Any, *, dry_run: bool):
        self.batch = batch
        self.by = by
        self.dry_run = dry_run
        self.today = timezone.localdate()
        self.stations = {s.code: s for s in Station.objects.filter(withdrawn_at__isnull=True)}
        self.station_names = {fold(s.name): s for s in self.stations.values()}
        self.station_names.update({fold(s.name.replace(" Station", "")): s for s in self.stations.values()})
        self.reason_codes: dict[str, str] = {}
        for code in ReasonCode.objects.filter(retired_at__isnull=True, withdrawn_at__isnull=True):
            self.reason_codes[fold(code.code)] = code.code
            self.reason_codes[fold(code.label)] = code.code
        self.sees_all = has_capability(by, "read_persons_all")
        self.conflicts: list[tuple[str, Person, Person | None]] = []
        self.persons_touched: set[Any] = set()
        self.preview_rows: list[dict[str, Any]] = []
        # Persons on file by A-number, loaded once per chunk; persons a group creates are added.
        self.holders: dict[str, Person] = {}
        # Persons created by the group being written: nothing else about them is on file yet.
        self.created_now: set[Any] = set()
        self.a_numbers_checked: set[str] = set()

    def station_for(self, text: str) -> Station | None:
        code = (text or "").strip().upper()
        return self.stations.get(code) or self.station_names.get(fold(text or ""))

    def may_see(self, person: Person) -> bool:
        return self.sees_all or is_person_at_station(person, getattr(self.by, "station", ""))

    def describe(self, person: Person) -> str:
        if not self.may_see(person):
            return "a person already on file (outside your station)"
        born = person.date_of_birth.isoformat() if person.date_of_birth else "date of birth unknown"
        return f"{person.full_name} ({person.a_number or 'no A-number'}, born {born})"


def _fingerprint(values: dict[str, str]) -> str:
    canonical = {k: fold(values.get(k, "")) for k in parsing.KNOWN_COLUMNS}
    return hashlib.sha256(json.dumps(canonical, sort_keys=True).encode()).hexdigest()


def _person_facts(
    side: str, values: dict[str, str], messages: dict[str, list[str]], *, on: date | None, today: date
) -> PersonFacts | None:
    ok = True
    name = dob = None
    a_number = None
    sex = ""
    try:
        name = parsing.parse_name(values.get(f"{side}_name", ""))
    except CellError as exc:
        _add(messages, f"{side}_name", str(exc))
        ok = False
    try:
        dob = parsing.parse_date(values.get(f"{side}_dob", ""), allow_estimate=True)
        if dob is None:
            _add(
                messages,
                f"{side}_dob",
                "The date of birth is blank; enter it (MM/DD/YYYY), or an estimated year such as ~2014.",
            )
            ok = False
        elif dob.value > today:
            _add(messages, f"{side}_dob", f"{dob.value.isoformat()} is in the future; check the year.")
            ok = False
        elif on is not None and dob.value > on:
            _add(
                messages,
                f"{side}_dob",
                f"{dob.value.isoformat()} is after the apprehension date {on.isoformat()}; "
                "check the date of birth or the apprehension date.",
            )
            ok = False
        elif on is not None and age_on(dob.value, on) > 120:
            _add(
                messages, f"{side}_dob", f"{dob.value.isoformat()} makes the person over 120; check the year."
            )
            ok = False
    except CellError as exc:
        _add(messages, f"{side}_dob", str(exc))
        ok = False
    try:
        a_number = parsing.parse_a_number(values.get(f"{side}_a_number", ""))
    except CellError as exc:
        _add(messages, f"{side}_a_number", str(exc))
        ok = False
    try:
        sex = parsing.parse_sex(values.get(f"{side}_sex", "")) or ""
    except CellError as exc:
        _add(messages, f"{side}_sex", str(exc))
        ok = False
    if not ok or name is None or dob is None:
        return None
    return PersonFacts(side, name, dob, a_number, sex)


def read_row(row: ImportRow, ctx: Context) -> tuple[RowPlan | None, dict[str, list[str]]]:
    """Parse one row's cells into a plan, or the messages (by canonical column) saying what to fix."""
    values = row_values(row, ctx.batch.column_map)
    messages: dict[str, list[str]] = {}
    station = None
    station_text = values.get("station", "").strip()
    if not station_text and ctx.batch.station_scope is not None:
        station = ctx.batch.station_scope
    elif not station_text:
        _add(messages, "station", "The station is blank; write its code, e.g. EPT.")
    else:
        station = ctx.station_for(station_text)
        if station is None:
            codes = ", ".join(sorted(ctx.stations)) or "none on file"
            _add(
                messages,
                "station",
                f"{station_text!r} is not a station on file; write one of its codes ({codes}).",
            )
        elif ctx.batch.station_scope is not None and station.pk != ctx.batch.station_scope_id:
            _add(
                messages,
                "station",
                f"{station.code} is not your station; you import rows of {ctx.batch.station_scope.code} only "
                "(HQ imports other stations' rows).",
            )
            station = None
    appr = None
    try:
        appr = parsing.parse_date(values.get("apprehension_date", ""))
        if appr is None:
            _add(messages, "apprehension_date", f"The apprehension date is blank. {parsing.DATE_HELP}")
        elif appr.value > ctx.today:
            _add(messages, "apprehension_date", f"{appr.value.isoformat()} is in the future; check the year.")
            appr = None
    except CellError as exc:
        _add(messages, "apprehension_date", str(exc))
    on = appr.value if appr else None
    adult = _person_facts("adult", values, messages, on=on, today=ctx.today)
    child = _person_facts("child", values, messages, on=on, today=ctx.today)
    if child is not None and on is not None and age_on(child.dob.value, on) >= ADULT_AGE:
        _add(
            messages,
            "child_dob",
            f"Born {child.dob.value.isoformat()}, the child was {age_on(child.dob.value, on)} at the "
            f"apprehension ({on.isoformat()}), not a minor; check the date of birth, or put this "
            "person in the adult columns.",
        )
    if adult and child and adult.a_number and adult.a_number == child.a_number:
        _add(
            messages,
            "child_a_number",
            f"{child.a_number} is also the adult's A-number "
            f"({column_header(ctx.batch, 'adult_a_number')!r}); "
            "it looks copied from the parent. Enter the child's own A-number, or leave the cell blank.",
        )
    country = ""
    try:
        country = parsing.parse_country(values.get("country", ""))
    except CellError as exc:
        _add(messages, "country", str(exc))
    relationship = None
    try:
        rel = parsing.parse_relationship(values.get("relationship", ""))
        if rel is not None:
            relationship = rel[0]
            if adult is not None and not adult.sex and rel[1]:
                adult.sex = rel[1]
    except CellError as exc:
        _add(messages, "relationship", str(exc))
    sep_day = reunified_day = None
    for column in ("separation_date", "reunification_date"):
        try:
            parsed = parsing.parse_date(values.get(column, ""))
        except CellError as exc:
            _add(messages, column, str(exc))
            continue
        if parsed is not None and parsed.value > ctx.today:
            _add(messages, column, f"{parsed.value.isoformat()} is in the future; check the year.")
        elif parsed is not None and on is not None and parsed.value < on:
            _add(
                messages,
                column,
                f"{parsed.value.isoformat()} is before the apprehension date {on.isoformat()}; "
                "check both dates.",
            )
        elif parsed is not None:
            if column == "separation_date":
                sep_day = parsed.value
            else:
                reunified_day = parsed.value
    if sep_day and reunified_day and reunified_day < sep_day:
        _add(
            messages,
            "reunification_date",
            "The reunification date is before the separation date; check both.",
        )
    reason_text = values.get("separation_reason", "").strip()
    reason_code = parsing.parse_reason(reason_text, ctx.reason_codes)
    notes = values.get("notes", "").strip()
    adult_custody = child_placement = None
    try:
        adult_custody = parsing.parse_custody(values.get("adult_custody", ""))
    except CellError as exc:
        _add(messages, "adult_custody", str(exc))
    try:
        child_placement = parsing.parse_custody(values.get("child_placement", ""), default="HHS_ORR")
    except CellError as exc:  # pragma: no cover - a default agency always applies
        _add(messages, "child_placement", str(exc))
    if messages or station is None or appr is None or adult is None or child is None:
        return None, messages
    has_separation = bool(sep_day or reason_text or reunified_day)
    separation_at = _local(sep_day or appr.value, station) if has_separation else None
    narrative_parts = []
    if reason_text:
        narrative_parts.append(f"Reason on the sheet: {reason_text}")
    elif has_separation:
        narrative_parts.append("The sheet gives no reason for this separation.")
    if notes:
        narrative_parts.append(f"Notes: {notes}")
    extra = {}
    for index, (header, text) in enumerate(row.cells):
        if str(index) not in ctx.batch.column_map and str(text).strip():
            extra[header] = text
    if extra:
        narrative_parts.append("Other columns: " + "; ".join(f"{h}: {t}" for h, t in extra.items()))
    plan = RowPlan(
        row=row,
        station=station,
        occurred_at=_local(appr.value, station),
        adult=adult,
        child=child,
        country=country,
        relationship=relationship,
        separation_at=separation_at,
        reason_code=(reason_code or "OTHER") if has_separation else None,
        narrative=" ".join(narrative_parts),
        reunified_at=_local(reunified_day, station) if reunified_day else None,
        adult_custody=adult_custody,
        child_placement=child_placement,
        notes=notes,
        extra=extra,
        fingerprint=_fingerprint(values),
    )
    for facts, column in ((adult, "adult_dob"), (child, "child_dob")):
        if facts.dob.note:
            plan.outcome.append(f"{COLUMN_LABELS[column].capitalize()}: {facts.dob.note}.")
    if not has_separation:
        plan.outcome.append("No separation information on this row: no separation recorded.")
    elif not reason_text:
        plan.outcome.append("Separation reason blank: recorded as Other with that said in the narrative.")
    if relationship is None:
        plan.outcome.append(
            "Relationship blank: the two are recorded as one family unit, no relationship type."
        )
    return plan, {}


# --- who is who -----------------------------------------------------------------------------


def _dob_candidates(d: ParsedDate) -> list[date]:
    """The date and, a usual slip, the same date with day and month swapped."""
    days = [d.value]
    if d.value.day <= 12 and d.value.day != d.value.month:
        days.append(date(d.value.year, d.value.day, d.value.month))
    return days


def _dob_compatible(facts: PersonFacts, person: Person) -> bool:
    if person.date_of_birth is None:
        return True
    if person.date_of_birth in _dob_candidates(facts.dob):
        return True
    if facts.dob.estimated or person.dob_estimated:
        return abs(person.date_of_birth.year - facts.dob.value.year) <= 1
    return False


def _name_compatible(facts: PersonFacts, person: Person) -> bool:
    given = (fold(person.given_names).split() or [""])[0]
    surnames = {
        w
        for w in fold(f"{person.first_surname} {person.second_surname}").split()
        if w not in parsing._PARTICLES
    }
    # A dropped second surname or swapped order still matches; a different surname does not.
    ours = facts.surname_keys
    return given == facts.given_key and bool(surnames & ours) and (surnames <= ours or ours <= surnames)


def _name_dob_candidates(facts: PersonFacts) -> list[Person]:
    """Persons on file whose first given name and a surname match, born the same day (or a usual slip)."""
    if facts.dob.estimated:
        low, high = date(facts.dob.value.year - 1, 1, 1), date(facts.dob.value.year + 1, 12, 31)
        qs = Person.objects.filter(date_of_birth__range=(low, high))
    else:
        days = _dob_candidates(facts.dob)
        year = facts.dob.value.year
        qs = Person.objects.filter(
            Q(date_of_birth__in=days)
            | Q(dob_estimated=True, date_of_birth__range=(date(year, 1, 1), date(year, 12, 31)))
        )
    qs = qs.filter(withdrawn_at__isnull=True, name_normalized__startswith=facts.given_key + " ")
    return [p for p in qs[:50] if _name_compatible(facts, p) and _dob_compatible(facts, p)]


@dataclass
class Resolved:
    person: Person | None  # None: a new person
    how: str


def resolve(
    facts: PersonFacts, ctx: Context, messages: dict[str, list[str]], column_prefix: str
) -> Resolved | None:
    """Who a row's adult or child is: by A-number, else name + date of birth; None when quarantined."""
    if facts.a_number:
        if facts.a_number in ctx.holders:
            holder: Person | None = ctx.holders[facts.a_number]
        elif facts.a_number in ctx.a_numbers_checked:
            holder = None  # looked up with the chunk: not on file
        else:
            holder = Person.objects.filter(a_number=facts.a_number).first()
        if holder is not None:
            if holder.is_withdrawn:
                _add(
                    messages,
                    f"{column_prefix}_a_number",
                    f"{facts.a_number} belongs to a withdrawn record; check the number or ask HQ "
                    "to resolve it.",
                )
                return None
            if not (_name_compatible(facts, holder) or _dob_compatible(facts, holder)):
                _add(
                    messages,
                    f"{column_prefix}_a_number",
                    f"{facts.a_number} is on file for {ctx.describe(holder)}, but this row names "
                    f"{facts.label} born {facts.dob.value.isoformat()}. One A-number never belongs to two "
                    "people: check the "
                    "number (a parent's copied onto a child?) and correct it, or leave it blank.",
                )
                ctx.conflicts.append((facts.a_number, holder, None))
                return None
            return Resolved(holder, f"linked by A-number {facts.a_number} to {ctx.describe(holder)}")
    candidates = [
        p
        for p in _name_dob_candidates(facts)
        if not (facts.a_number and p.a_number and p.a_number != facts.a_number)
    ]
    if len(candidates) > 1:
        names = "; ".join(ctx.describe(p) for p in candidates[:5])
        _add(
            messages,
            f"{column_prefix}_name",
            f"{facts.label} born {facts.dob.value.isoformat()} matches {len(candidates)} persons on file "
            f"({names}). FamilyLink does not guess: add the A-number in the {column_prefix}'s A-number "
            "column to say which, "
            "or correct the name or date of birth.",
        )
        return None
    if candidates:
        person = candidates[0]
        note = ""
        if facts.a_number and not person.a_number:
            note = f" (the sheet's A-number {facts.a_number} is not on that record; not changed)"
        return Resolved(person, f"linked by name and date of birth to {ctx.describe(person)}{note}")
    return Resolved(None, "new person")


# --- writing one group (one adult's encounter) ----------------------------------------------


def _existing_encounter(station: Station, day: date, persons: list[Person]) -> Apprehension | None:
    if not persons:
        return None
    tz = ZoneInfo(station.timezone)
    start = datetime.combine(day, time(0, 0), tzinfo=tz)
    return (
        Apprehension.objects.filter(
            station=station,
            occurred_at__gte=start,
            occurred_at__lt=start + timedelta(days=1),
            withdrawn_at__isnull=True,
            encounters__person__in=persons,
        )
        .order_by("occurred_at", "pk")
        .first()
    )


def _record(row: ImportRow, obj: Any, action: str, role: str, by: Any, bucket: list[ImportRecord]) -> None:
    bucket.append(
        ImportRecord(
            row=row,
            model=obj._meta.label_lower,
            object_id=obj.pk,
            action=action,
            role=role,
            created_by=by,
        )
    )


def _intake_messages(
    exc: ValidationFailed, plans: list[RowPlan], child_index: dict[int, int]
) -> dict[int, dict[str, list[str]]]:
    """Map intake's field paths back to sheet columns: persons[0] is the adult, persons[k] a row's child."""
    out: dict[int, dict[str, list[str]]] = {}
    field_map = {
        "date_of_birth": "dob",
        "a_number": "a_number",
        "given_names": "name",
        "first_surname": "name",
        "sex": "sex",
    }
    for path, texts in exc.errors.items():
        targets: list[tuple[int, str]] = []
        if path.startswith("persons["):
            k = int(path[len("persons[") : path.index("]")])
            rest = path.split(".", 1)[1] if "." in path else ""
            column = field_map.get(rest, "name")
            column_name = "country" if rest == "country_of_citizenship" else None
            if k == 0:
                targets = [(i, column_name or f"adult_{column}") for i in range(len(plans))]
            else:
                targets = [(i, column_name or f"child_{column}") for i, ci in child_index.items() if ci == k]
        elif path.startswith("relationships["):
            k = int(path[len("relationships[") : path.index("]")])
            targets = [(k, "relationship")]
        else:
            key = "apprehension_date" if path == "occurred_at" else "station" if path == "station" else "row"
            targets = [(i, key) for i in range(len(plans))]
        for i, column in targets:
            for text in texts:
                _add(out.setdefault(i, {}), column, text)
    return out


def _write_group(plans: list[RowPlan], ctx: Context) -> None:
    """Write one adult's encounter (the rows sharing station, date and adult) through the services below."""
    by = ctx.by
    first = plans[0]
    ctx.created_now = set()
    pairs_seen: set[tuple[Any, Any]] = set()
    messages: dict[int, dict[str, list[str]]] = {}
    adult_res = resolve(first.adult, ctx, messages.setdefault(0, {}), "adult")
    if adult_res is None:
        raise NotImportable({i: messages[0] for i in range(len(plans))})
    child_res: dict[int, Resolved] = {}
    children_by_key: dict[Any, int] = {}
    for i, plan in enumerate(plans):
        res = resolve(plan.child, ctx, messages.setdefault(i, {}), "child")
        if res is None:
            continue
        if res.person is not None and adult_res.person is not None and res.person.pk == adult_res.person.pk:
            _add(
                messages[i],
                "child_name",
                "The child resolves to the same person as the adult; check both people's details.",
            )
            continue
        child_res[i] = res
    bad = {i: m for i, m in messages.items() if m}
    if bad:
        raise NotImportable(bad)

    # Persons of the encounter: the adult first, then each distinct child.
    entries: list[dict[str, Any]] = []
    refs: dict[int, str] = {}
    existing_persons: list[Person] = []
    if adult_res.person is not None:
        entries.append({"ref": "adult", "existing_person": str(adult_res.person.pk)})
        existing_persons.append(adult_res.person)
    else:
        entries.append({"ref": "adult", **first.adult.details(first.country)})
    child_index: dict[int, int] = {}
    first_child_index: dict[int, int] = {}
    for i, plan in enumerate(plans):
        res = child_res[i]
        key: Any = (
            res.person.pk
            if res.person is not None
            else (
                "new",
                plan.child.a_number
                or (plan.child.given_key, frozenset(plan.child.surname_keys), plan.child.dob.value),
            )
        )
        if key in children_by_key:
            refs[i] = refs[children_by_key[key]]
            child_index[i] = child_index[children_by_key[key]]
            if children_by_key[key] != i:
                plan.outcome.append(
                    f"Same child as row {plans[children_by_key[key]].row.row_number}: one person."
                )
            continue
        children_by_key[key] = i
        first_child_index[i] = len(entries)
        ref = f"child{len(entries)}"
        refs[i] = ref
        child_index[i] = len(entries)
        if res.person is not None:
            entries.append({"ref": ref, "existing_person": str(res.person.pk)})
            existing_persons.append(res.person)
        else:
            entries.append({"ref": ref, **plan.child.details(plan.country or first.country)})

    everyone_on_file = all("existing_person" in e for e in entries)
    encounter = (
        _existing_encounter(first.station, first.occurred_at.date(), existing_persons)
        if existing_persons
        else None
    )
    in_encounter: set[Any] = set()
    if encounter is not None:
        in_encounter = set(
            ApprehensionPerson.objects.filter(apprehension=encounter).values_list("person_id", flat=True)
        )
    records: list[ImportRecord] = []
    persons_of: dict[str, Person] = {}
    unit_of: dict[Any, Any] = {}  # person id → the family unit this group just recorded
    if everyone_on_file and encounter is not None and {p.pk for p in existing_persons} <= in_encounter:
        for e in entries:
            persons_of[e["ref"]] = next(p for p in existing_persons if str(p.pk) == e["existing_person"])
        for plan in plans:
            plan.outcome.append(
                f"Encounter already on file ({encounter.station.code} "
                f"{encounter.occurred_at.date().isoformat()})."
            )
            _record(plan.row, encounter, ImportRecord.Action.LINKED, "apprehension", by, records)
        created_encounter = False
    else:
        relationships = []
        seen_rel: set[tuple[str, str]] = set()
        for i, plan in enumerate(plans):
            if plan.relationship and (refs[i], plan.relationship) not in seen_rel:
                seen_rel.add((refs[i], plan.relationship))
                relationships.append(
                    {
                        "from": "adult",
                        "to": refs[i],
                        "type": plan.relationship,
                        "evidence": "claimed",
                        "note": f"From the field spreadsheet: {plan.row.provenance}",
                    }
                )
        rel_row: list[int] = []
        for r in relationships:
            rel_row.append(
                next(
                    i for i, plan in enumerate(plans) if refs[i] == r["to"] and plan.relationship == r["type"]
                )
            )
        data = {
            "occurred_at": first.occurred_at,
            "station": first.station.code,
            "location_description": "",
            "change_reason": f"{ctx.batch.label} rows {', '.join(str(p.row.row_number) for p in plans)}"[
                :100
            ],
            "persons": entries,
            "family_units": [
                {"members": [e["ref"] for e in entries], "label": f"Imported ({ctx.batch.label})"}
            ]
            if len(entries) > 1
            else [],
            "relationships": relationships,
        }
        try:
            # Validates before it writes; the group's savepoint undoes it if a later step fails.
            result = apprehension_record(user=by, data=data, source=Relationship.Source.LEGACY_IMPORT)
        except ValidationFailed as exc:
            rel_index = {k: rel_row[k] for k in range(len(rel_row))}
            mapped = _intake_messages(exc, plans, child_index)
            fixed: dict[int, dict[str, list[str]]] = {}
            for i, m in mapped.items():
                for column, texts in m.items():
                    target = rel_index.get(i, i) if column == "relationship" else i
                    for t in texts:
                        _add(fixed.setdefault(target, {}), column, t)
            raise NotImportable(fixed) from exc
        encounter = result.apprehension
        created_encounter = True
        for p in result.persons:
            persons_of[p.ref] = p.person
            ctx.persons_touched.add(p.person.pk)
            if p.is_new:
                ctx.created_now.add(p.person.pk)
            if p.person.a_number:
                ctx.holders[p.person.a_number] = p.person
        for plan_i, plan in enumerate(plans):
            _record(plan.row, encounter, ImportRecord.Action.CREATED, "apprehension", by, records)
            for unit, members in result.family_units:
                _record(plan.row, unit, ImportRecord.Action.CREATED, "family_unit", by, records)
                for member in members:
                    unit_of[member.person_id] = unit.pk
            for rel in result.relationships:
                if rel.to_person_id == persons_of[refs[plan_i]].pk:
                    action = (
                        ImportRecord.Action.CREATED
                        if rel.source == Relationship.Source.LEGACY_IMPORT
                        and rel.apprehension_id == encounter.pk
                        else ImportRecord.Action.LINKED
                    )
                    _record(plan.row, rel, action, "relationship", by, records)
    adult = persons_of["adult"]
    for i, plan in enumerate(plans):
        child = persons_of[refs[i]]
        plan.adult_person, plan.child_person = adult, child
        new_adult = adult_res.person is None and created_encounter
        new_child = (
            child_res[i].person is None and created_encounter and child_index[i] == first_child_index.get(i)
        )
        plan.outcome.insert(0, f"Adult: {'new person ' + adult.full_name if new_adult else adult_res.how}.")
        plan.outcome.insert(
            1,
            f"Child: {'new person ' + child.full_name if child_res[i].person is None else child_res[i].how}.",
        )
        _record(
            plan.row,
            adult,
            ImportRecord.Action.CREATED if new_adult else ImportRecord.Action.LINKED,
            "adult",
            by,
            records,
        )
        _record(
            plan.row,
            child,
            ImportRecord.Action.CREATED if new_child else ImportRecord.Action.LINKED,
            "child",
            by,
            records,
        )
        try:
            # A pair with a person created just now has no separation on file (unless an earlier
            # row of this group, a repeat, recorded it).
            new_pair = (new_adult or new_child) and (adult.pk, child.pk) not in pairs_seen
            pairs_seen.add((adult.pk, child.pk))
            _write_separation(plan, ctx, adult, child, records, new_pair=new_pair, unit=unit_of.get(child.pk))
        except NotImportable as exc:
            raise NotImportable({i: exc.messages[-1]}) from exc
    for record in records:
        record._change_reason = record.row.provenance
        record._history_user = by
    from apprehensions.services.bulk import insert_with_history

    insert_with_history(ImportRecord, records, user=by, reason=f"provenance of {ctx.batch.label}")


def _write_separation(
    plan: RowPlan,
    ctx: Context,
    adult: Person,
    child: Person,
    records: list[ImportRecord],
    *,
    new_pair: bool = False,
    unit: Any = None,
) -> None:
    """The row's separation (unless one of the pair is on file already) and the custody it names.

    `new_pair`: the adult or the child was created just now, so nothing about the pair is on file;
    `unit`: the family unit just recorded for them, if any.
    """
    by = ctx.by
    if plan.separation_at is None:
        return
    existing = (
        None
        if new_pair
        else (
            Separation.objects.filter(
                withdrawn_at__isnull=True,
                status__in=[
                    Separation.Status.REQUESTED,
                    Separation.Status.IN_EFFECT,
                    Separation.Status.ENDED,
                ],
            )
            .filter(members__person=child, members__side=SeparationMember.Side.CHILD)
            .filter(members__person=adult, members__side=SeparationMember.Side.ADULT)
            .order_by("occurred_at")
            .first()
        )
    )
    if existing is not None:
        plan.outcome.append(
            f"Separation already on file ({existing.get_status_display().lower()} since "
            f"{existing.occurred_at.date().isoformat()})."
        )
        _record(plan.row, existing, ImportRecord.Action.LINKED, "separation", by, records)
        return
    try:
        # Atomic itself; validates before it writes.
        separation = separation_record_imported(
            by=by,
            station=plan.station,
            children=[child],
            adults=[adult],
            reason_code=plan.reason_code or "OTHER",
            occurred_at=plan.separation_at,
            narrative=plan.narrative,
            family_unit=unit if unit is not None else shared_family_unit_id([child, adult]),
            provenance=plan.row.provenance,
            ended_at=plan.reunified_at,
        )
    except ValidationFailed as exc:
        column = {
            "occurred_at": "separation_date",
            "ended_at": "reunification_date",
            "reason_code": "separation_reason",
            "narrative": "separation_reason",
        }
        raise NotImportable({-1: {column.get(k, "row"): v for k, v in exc.errors.items()}}) from exc
    state = (
        "ended (reunified " + plan.reunified_at.date().isoformat() + ")" if plan.reunified_at else "in effect"
    )
    plan.outcome.append(
        f"Separation recorded as imported: {separation.reason_code.label}, {state} since "
        f"{plan.separation_at.date().isoformat()}."
    )
    _record(plan.row, separation, ImportRecord.Action.CREATED, "separation", by, records)
    for person, custody, role in (
        (adult, plan.adult_custody, "adult_custody"),
        (child, plan.child_placement, "child_placement"),
    ):
        if custody is None:
            continue
        agency, facility = custody
        current = (
            None
            if person.pk in ctx.created_now
            else CustodyPeriod.objects.filter(
                person=person, ended_at__isnull=True, withdrawn_at__isnull=True
            ).first()
        )
        if current is not None and current.agency == agency and current.facility == facility:
            continue
        if current is not None and current.started_at > plan.separation_at:
            plan.outcome.append(
                f"{COLUMN_LABELS[role].capitalize()} not recorded: later custody is already on file."
            )
            continue
        try:
            # Validates before it writes; atomic itself.
            period = custody_transfer(
                person_id=person.pk,
                agency=agency,
                facility=facility,
                started_at=plan.separation_at,
                by=by,
                change_reason=plan.row.provenance,
            )
        except (ValidationFailed, BusinessRuleError) as exc:
            plan.outcome.append(f"{COLUMN_LABELS[role].capitalize()} not recorded: {exc}")
            continue
        _record(plan.row, period, ImportRecord.Action.CREATED, role, by, records)


# --- running a batch -------------------------------------------------------------------------


def _group_key(plan: RowPlan) -> tuple:
    a = plan.adult
    who = a.a_number or (a.given_key, frozenset(a.surname_keys), a.dob.value.isoformat())
    return (plan.station.pk, plan.occurred_at.date(), who)


def _finish_row(
    row: ImportRow,
    status: str,
    messages: dict[str, list[str]],
    outcome: list[str],
    ctx: Context,
    fingerprint: str = "",
) -> None:
    if ctx.dry_run:
        ctx.preview_rows.append(
            {
                "row": str(row.pk),
                "row_number": row.row_number,
                "status": status,
                "messages": messages,
                "outcome": outcome,
            }
        )
        return
    row.status, row.messages, row.outcome = status, messages, outcome
    row.fingerprint = fingerprint
    row.imported_at = timezone.now() if status == ImportRow.Status.IMPORTED else None
    row._change_reason = f"import: {status}"
    row._history_user = ctx.by
    row.save(update_fields=["status", "messages", "outcome", "fingerprint", "imported_at"])


def _already_imported(fingerprints: list[str], batch: ImportBatch) -> dict[str, ImportRow]:
    rows = (
        ImportRow.objects.filter(fingerprint__in=fingerprints, status=ImportRow.Status.IMPORTED)
        .exclude(batch=batch)
        .select_related("batch")
        .order_by("created_at")
    )
    found: dict[str, ImportRow] = {}
    for row in rows:
        found.setdefault(row.fingerprint, row)
    return found


def _process(rows: list[ImportRow], ctx: Context) -> tuple[int, int]:
    """Import (or dry-run) `rows` in sheet order; returns (imported, quarantined)."""
    imported = quarantined = 0
    plans: list[RowPlan] = []
    for row in rows:
        row.batch = ctx.batch  # provenance labels read it; one batch for every row
        plan, messages = read_row(row, ctx)
        if plan is None:
            _finish_row(row, ImportRow.Status.QUARANTINED, messages, [], ctx)
            quarantined += 1
        else:
            plans.append(plan)
    earlier = _already_imported([p.fingerprint for p in plans], ctx.batch) if plans else {}
    wanted = {f.a_number for p in plans for f in (p.adult, p.child) if f.a_number}
    ctx.holders = {p.a_number: p for p in Person.objects.filter(a_number__in=wanted)} if wanted else {}
    ctx.a_numbers_checked = wanted
    groups: OrderedDict[tuple, list[RowPlan]] = OrderedDict()
    for plan in plans:
        prior = earlier.get(plan.fingerprint)
        if prior is not None:
            outcome = [
                f"Already imported from {prior.batch.filename} ({prior.batch.label}) row "
                f"{prior.row_number}: nothing changed."
            ]
            records = [
                ImportRecord(
                    row=plan.row,
                    model=r.model,
                    object_id=r.object_id,
                    action=ImportRecord.Action.LINKED,
                    role=r.role,
                    created_by=ctx.by,
                )
                for r in prior.records.all()
            ]
            from apprehensions.services.bulk import insert_with_history

            insert_with_history(ImportRecord, records, user=ctx.by, reason=plan.row.provenance)
            _finish_row(plan.row, ImportRow.Status.IMPORTED, {}, outcome, ctx, plan.fingerprint)
            imported += 1
            continue
        groups.setdefault(_group_key(plan), []).append(plan)
    for group in groups.values():
        pending = list(group)
        while pending:
            # A group rolled back takes the persons it created with it: forget them here too.
            holders, touched = dict(ctx.holders), set(ctx.persons_touched)
            try:
                with transaction.atomic():
                    _write_group(pending, ctx)
            except NotImportable as exc:
                ctx.holders, ctx.persons_touched = holders, touched
                bad = {}
                for i, m in exc.messages.items():
                    if i == -1:  # a separation problem: every row of the group, to be safe
                        for j in range(len(pending)):
                            bad[j] = m
                    else:
                        bad[i] = m
                if not bad:
                    bad = {
                        j: {"row": ["The row could not be imported; check its cells."]}
                        for j in range(len(pending))
                    }
                for i, m in bad.items():
                    _finish_row(pending[i].row, ImportRow.Status.QUARANTINED, m, [], ctx)
                    quarantined += 1
                for plan in pending:
                    plan.outcome = [
                        o
                        for o in plan.outcome
                        if not o.startswith(("Adult:", "Child:", "Encounter", "Separation"))
                    ]
                pending = [p for i, p in enumerate(pending) if i not in bad]
                continue
            except (BusinessRuleError, IntegrityError, PermissionDenied) as exc:
                ctx.holders, ctx.persons_touched = holders, touched
                for plan in pending:
                    _finish_row(plan.row, ImportRow.Status.QUARANTINED, {"row": [str(exc)]}, [], ctx)
                    quarantined += 1
                pending = []
                continue
            for plan in pending:
                _finish_row(plan.row, ImportRow.Status.IMPORTED, {}, plan.outcome, ctx, plan.fingerprint)
                imported += 1
            pending = []
    return imported, quarantined


def _send_conflicts(ctx: Context) -> None:
    for a_number, holder, other in ctx.conflicts:
        a_number_conflict_detected.send(
            sender=ImportBatch,
            a_number=a_number,
            existing_person=holder,
            attempted_by=ctx.by,
            context="legacy_import",
            other_person=other,
        )
    ctx.conflicts.clear()


def batch_run(*, batch_id: Any, by: Any, dry_run: bool = False) -> ImportBatch:
    """Import every pending row of a batch (or, with `dry_run`, work out what would happen and write nothing).

    Real runs commit every CHUNK_ROWS rows (progress is visible; a crash loses no finished chunk);
    a dry run runs in one transaction that is rolled back, so later rows see earlier rows' persons
    exactly as the real run will. Progress (rows done) is kept in the cache for the progress bar.
    """
    batch = ImportBatch.objects.get(pk=batch_id)
    status = ImportBatch.Status.PREVIEWING if dry_run else ImportBatch.Status.IMPORTING
    _set_status(batch, status, by)
    ctx = Context(batch, by, dry_run=dry_run)
    rows_qs = ImportRow.objects.filter(batch=batch).order_by("row_number")
    if not dry_run:
        rows_qs = rows_qs.filter(status=ImportRow.Status.PENDING)
    ids = list(rows_qs.values_list("pk", flat=True))
    done = batch.rows_total - len(ids) if not dry_run else 0
    cache.set(progress_key(batch.pk), done, 3600)
    counts = {"imported": 0, "quarantined": 0}
    try:
        if dry_run:
            try:
                with transaction.atomic():
                    for start in range(0, len(ids), CHUNK_ROWS):
                        chunk = list(
                            ImportRow.objects.filter(pk__in=ids[start : start + CHUNK_ROWS]).order_by(
                                "row_number"
                            )
                        )
                        imp, qua = _process(chunk, ctx)
                        counts["imported"] += imp
                        counts["quarantined"] += qua
                        done += len(chunk)
                        cache.set(progress_key(batch.pk), done, 3600)
                    raise _DryRunRollback
            except _DryRunRollback:
                pass
            preview = ImportPreview(batch=batch, rows=ctx.preview_rows, created_by=by)
            preview._change_reason = "dry run"
            preview._history_user = by
            preview.save()
        else:
            for start in range(0, len(ids), CHUNK_ROWS):
                with transaction.atomic():
                    chunk = list(
                        ImportRow.objects.filter(pk__in=ids[start : start + CHUNK_ROWS]).order_by(
                            "row_number"
                        )
                    )
                    imp, qua = _process(chunk, ctx)
                    counts["imported"] += imp
                    counts["quarantined"] += qua
                    if ctx.persons_touched:
                        persons_recorded.send(
                            sender=ImportBatch,
                            person_ids=sorted(ctx.persons_touched, key=str),
                            source="legacy_import",
                            by=by,
                        )
                        ctx.persons_touched.clear()
                    _refresh_counts(batch, by)
                done += len(chunk)
                cache.set(progress_key(batch.pk), done, 3600)
                _send_conflicts(ctx)
    except Exception as exc:
        log.exception("legacy import of %s failed", batch.label)
        batch.refresh_from_db()
        batch.error = f"{exc.__class__.__name__}: {exc}"[:2000]
        _set_status(batch, ImportBatch.Status.FAILED, by, extra=["error"])
        raise
    batch.refresh_from_db()
    if dry_run:
        batch.preview = {"rows": batch.rows_total, **counts, **_preview_links(batch)}
        _set_status(batch, ImportBatch.Status.PREVIEWED, by, extra=["preview"])
    else:
        _refresh_counts(batch, by)
        batch.finished_at = timezone.now()
        _set_status(batch, ImportBatch.Status.DONE, by, extra=["finished_at"])
    cache.set(progress_key(batch.pk), batch.rows_total, 3600)
    return batch


def _preview_links(batch: ImportBatch) -> dict[str, int]:
    preview = batch.previews.order_by("-created_at").first()
    rows = preview.rows if preview else []
    linked = sum(
        1
        for r in rows
        if r["status"] == ImportRow.Status.IMPORTED and any("linked by" in line for line in r["outcome"])
    )
    return {"linked": linked}


def _refresh_counts(batch: ImportBatch, by: Any) -> None:
    batch.rows_imported = ImportRow.objects.filter(batch=batch, status=ImportRow.Status.IMPORTED).count()
    batch.rows_quarantined = ImportRow.objects.filter(
        batch=batch, status=ImportRow.Status.QUARANTINED
    ).count()
    batch.rows_done = batch.rows_imported + batch.rows_quarantined
    batch._change_reason = "import progress"
    batch._history_user = by
    batch.save(update_fields=["rows_imported", "rows_quarantined", "rows_done"])


def _set_status(batch: ImportBatch, status: str, by: Any, extra: list[str] | None = None) -> None:
    batch.status = status
    batch._change_reason = f"status: {status}"
    batch._history_user = by
    batch.save(update_fields=["status", *(extra or [])])


@transaction.atomic
def batch_confirm(*, batch_id: Any, by: Any) -> ImportBatch:
    """Queue the import of a previewed batch (the Celery task runs `batch_run`)."""
    import_scope(by)
    batch = batches_visible_to(by).select_for_update().filter(pk=batch_id).first()
    if batch is None:
        raise PermissionDenied("No such import batch for you.")
    if batch.status != ImportBatch.Status.PREVIEWED:
        raise BusinessRuleError(
            f"Only a previewed batch can be imported (it is {batch.get_status_display().lower()})."
        )
    _set_status(batch, ImportBatch.Status.QUEUED, by)
    from .tasks import run_batch

    run_batch.delay_on_commit(str(batch.pk), by.pk, False)
    return batch


@transaction.atomic
def row_correct(*, row_id: Any, by: Any, corrections: dict[str, str]) -> ImportRow:
    """Correct a quarantined row cell by cell (the original cells stay as typed) and import it.

    The row ends imported, or quarantined again with new messages; the batch counts follow.
    """
    import_scope(by)
    row = ImportRow.objects.select_for_update().select_related("batch").filter(pk=row_id).first()
    if row is None or not batches_visible_to(by).filter(pk=row.batch_id).exists():
        raise PermissionDenied("No such import row for you.")
    if row.status != ImportRow.Status.QUARANTINED:
        raise BusinessRuleError(
            f"Only a quarantined row can be corrected (it is {row.get_status_display().lower()})."
        )
    batch = row.batch
    original = row_values(ImportRow(cells=row.cells, corrections={}), batch.column_map)
    changed = {
        k: " ".join(str(v).split()) if k != "notes" else str(v).strip()
        for k, v in corrections.items()
        if k in parsing.KNOWN_COLUMNS
    }
    merged = {**(row.corrections or {})}
    for k, v in changed.items():
        if v == original.get(k, "").strip():
            merged.pop(k, None)
        else:
            merged[k] = v
    row.corrections = merged
    row.status = ImportRow.Status.PENDING
    row._change_reason = "corrected in the UI: " + ", ".join(sorted(merged)) if merged else "retried"
    row._history_user = by
    row.save(update_fields=["corrections", "status"])
    ctx = Context(batch, by, dry_run=False)
    _process([row], ctx)
    if ctx.persons_touched:
        persons_recorded.send(
            sender=ImportBatch, person_ids=sorted(ctx.persons_touched, key=str), source="legacy_import", by=by
        )
    transaction.on_commit(lambda: _send_conflicts(ctx))
    _refresh_counts(batch, by)
    row.refresh_from_db()
    return row


def import_file(*, content: bytes, filename: str, by: Any, dry_run: bool = False) -> ImportBatch:
    """What `import_legacy` runs: keep the sheet as a batch, then import it (or dry-run it) in-process.

    A dry run keeps nothing: the batch itself is rolled back with everything else.
    """
    if dry_run:
        result: dict[str, Any] = {}
        try:
            with transaction.atomic():
                batch = batch_create(content=content, filename=filename, by=by)
                batch = batch_run(batch_id=batch.pk, by=by, dry_run=True)
                result["batch"] = batch
                result["preview"] = batch.previews.get().rows
                raise _DryRunRollback
        except _DryRunRollback:
            pass
        batch = result["batch"]
        batch.preview_rows = result["preview"]  # type: ignore[attr-defined]
        return batch
    batch = batch_create(content=content, filename=filename, by=by)
    return batch_run(batch_id=batch.pk, by=by)
