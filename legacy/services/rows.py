"""Reading one row: its cells as typed (or corrected) into a plan, or messages naming the column."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from datetime import date, datetime, time
from functools import cached_property
from typing import Any
from zoneinfo import ZoneInfo

from django.db import connection, transaction
from django.utils import timezone

from apprehensions.models import Person, Relationship, Station
from apprehensions.scoping import is_person_at_station
from apprehensions.services.intake_chunk import IntakeChunk
from apprehensions.services.rules import age_on
from familylink.common.roles import has_capability
from familylink.common.text import fold, quoted
from separations.models import CustodyPeriod, ReasonCode

from .. import parsing
from ..models import ImportBatch, ImportRow
from ..parsing import COLUMN_LABELS, CellError, Name, ParsedDate
from .batches import column_header, row_values

ADULT_AGE = 18
# Local time given to a date-only cell (sheets carry dates, not times).
DATE_ONLY_TIME = time(12, 0)


# --- reading one row -------------------------------------------------------------------------


@dataclass
class PersonFacts:
    side: str  # adult / child
    name: Name
    dob: ParsedDate
    a_number: str | None
    sex: str

    @cached_property
    def given_key(self) -> str:
        return (fold(self.name.given_names).split() or [""])[0]

    @cached_property
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
    extra: list[tuple[str, str]]  # (header, text) of each unmapped cell; headers may repeat
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
        self.day_first = dates_day_first(batch)
        self.conflicts: list[tuple[str, Person, Person | None]] = []
        self.preview_rows: list[dict[str, Any]] = []
        # Persons on file by A-number, loaded once per chunk; persons a group creates are added.
        self.holders: dict[str, Person] = {}
        # Persons created by the group being written: nothing else about them is on file yet.
        self.created_now: set[Any] = set()
        self.a_numbers_checked: set[str] = set()
        # The chunk's encounters, checked group by group and written with the chunk (writing.Pending).
        self.intake = IntakeChunk(user=by, source=Relationship.Source.LEGACY_IMPORT)
        # Name + date-of-birth candidates on file for the chunk's rows, by first given name (one
        # query per chunk; matching.load_candidates), and the persons the chunk has created since.
        self.candidates: dict[str, list[Person]] = {}
        self.candidate_facts: set[tuple[str, date, bool]] = set()
        self.created_in_chunk: dict[str, list[Person]] = {}  # by first given name (folded)
        # Open custody period on file per person (None: none open); forgotten whenever the chunk writes.
        self.open_custody: dict[Any, CustodyPeriod | None] = {}
        # The group being written goes through the one-at-a-time services (a reunification date).
        self.direct = False
        # Retrying a chunk whose write failed: every group is written on its own, in its savepoint.
        self.careful = False
        self.pending: Any = None  # writing.Pending, made on first use
        self.finished: list[ImportRow] = []  # rows finished, saved at the chunk's end
        # Writing a group (runs._group_savepoint): its savepoint, once it writes anything.
        self.in_group = False
        self.group_savepoint: str | None = None

    def group_writes(self) -> None:
        """The group being written is about to write: from here on a savepoint can undo it."""
        if self.in_group and self.group_savepoint is None:
            self.group_savepoint = transaction.savepoint()

    def open_custody_of(self, person_ids: Any) -> dict[Any, CustodyPeriod | None]:
        """The open custody period on file of each person (None: none open), read once per chunk."""
        missing = [pk for pk in person_ids if pk not in self.open_custody]
        if missing:
            self.open_custody.update(dict.fromkeys(missing))
            for period in CustodyPeriod.objects.filter(
                person_id__in=missing, ended_at__isnull=True, withdrawn_at__isnull=True
            ):
                self.open_custody[period.person_id] = period
        return {pk: self.open_custody[pk] for pk in person_ids}

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


DATE_COLUMNS = ("apprehension_date", "adult_dob", "child_dob", "separation_date", "reunification_date")
# A numeric date only one reading fits: day first (25/06/2018) or month first (06/25/2018).
_ONLY_DAY_FIRST = r"^\s*(1[3-9]|2[0-9]|3[01])[/.-](0?[1-9]|1[0-2])[/.-][0-9]{2,4}\s*$"
_ONLY_MONTH_FIRST = r"^\s*(0?[1-9]|1[0-2])[/.-](1[3-9]|2[0-9]|3[01])[/.-][0-9]{2,4}\s*$"


def dates_day_first(batch: ImportBatch) -> bool:
    """Whether the sheet writes its numeric dates day first (Excel in a Spanish or other non-U.S.
    locale): some date cell reads only day first and none only month first. Read cell by cell,
    05/06/2018 was 6 May beside the sheet's own 25/06/2018 (25 June), and the CSV of a workbook
    whose date cells say 5 June imported a different date. One count over the batch's date cells."""
    indexes = [int(i) for i, name in batch.column_map.items() if name in DATE_COLUMNS]
    if not indexes or batch.pk is None:
        return False
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT count(*) FILTER (WHERE v ~ %(day)s), count(*) FILTER (WHERE v ~ %(month)s) "  # noqa: S608
            f'FROM "{ImportRow._meta.db_table}" r CROSS JOIN unnest(%(indexes)s::int[]) AS i(n) '
            "CROSS JOIN LATERAL (SELECT r.cells -> i.n ->> 1 AS v) c WHERE r.batch_id = %(batch)s",
            {"day": _ONLY_DAY_FIRST, "month": _ONLY_MONTH_FIRST, "indexes": indexes, "batch": batch.pk},
        )
        day_first, month_first = cursor.fetchone()
    return bool(day_first) and not month_first


def _fingerprint(values: dict[str, str]) -> str:
    canonical = {k: fold(values.get(k, "")) for k in parsing.KNOWN_COLUMNS}
    return hashlib.sha256(json.dumps(canonical, sort_keys=True).encode()).hexdigest()


def _person_facts(
    side: str,
    values: dict[str, str],
    messages: dict[str, list[str]],
    *,
    on: date | None,
    today: date,
    day_first: bool = False,
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
        dob = parsing.parse_date(values.get(f"{side}_dob", ""), allow_estimate=True, day_first=day_first)
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

    def day_first(column: str) -> bool:
        # A correction typed in the form is read as the form asks (MM/DD/YYYY), not as the sheet.
        return ctx.day_first and column not in (row.corrections or {})

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
                f"{quoted(station_text)} is not a station on file; write one of its codes ({codes}).",
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
        appr = parsing.parse_date(
            values.get("apprehension_date", ""), day_first=day_first("apprehension_date")
        )
        if appr is None:
            _add(messages, "apprehension_date", f"The apprehension date is blank. {parsing.DATE_HELP}")
        elif appr.value > ctx.today:
            _add(messages, "apprehension_date", f"{appr.value.isoformat()} is in the future; check the year.")
            appr = None
    except CellError as exc:
        _add(messages, "apprehension_date", str(exc))
    on = appr.value if appr else None
    adult = _person_facts("adult", values, messages, on=on, today=ctx.today, day_first=day_first("adult_dob"))
    child = _person_facts("child", values, messages, on=on, today=ctx.today, day_first=day_first("child_dob"))
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
            parsed = parsing.parse_date(values.get(column, ""), day_first=day_first(column))
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
    reason_text = parsing.visible_text(values.get("separation_reason", "")).strip()
    reason_code = parsing.parse_reason(reason_text, ctx.reason_codes)
    notes = parsing.visible_text(values.get("notes", "")).strip()
    adult_custody = child_placement = None
    try:
        adult_custody = parsing.parse_custody(values.get("adult_custody", ""))
    except CellError as exc:
        _add(messages, "adult_custody", str(exc))
    try:
        child_placement = parsing.parse_custody(values.get("child_placement", ""), default="HHS_ORR")
    except CellError as exc:  # pragma: no cover - a default agency always applies
        _add(messages, "child_placement", str(exc))
    # A column every row needs that the sheet lacks: not "blank", but missing from the whole sheet.
    mapped = set(ctx.batch.column_map.values())
    for column in parsing.ROW_COLUMNS:
        if column in messages and column not in mapped and column not in (row.corrections or {}):
            messages[column] = [
                f"The sheet has no column for the {COLUMN_LABELS[column]} ({column}); enter it here, or add "
                "the column to the sheet and upload it again."
            ]
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
    # A list, not a dict: two columns headed alike ("Agent", "Agent") both reach the narrative.
    extra = [
        (parsing.visible_text(header) or f"column {index + 1}", parsing.visible_text(str(text)))
        for index, (header, text) in enumerate(row.cells)
        if str(index) not in ctx.batch.column_map and str(text).strip()
    ]
    if extra:
        narrative_parts.append("Other columns: " + "; ".join(f"{h}: {t}" for h, t in extra))
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
