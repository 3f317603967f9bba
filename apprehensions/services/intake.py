"""Intake: one encounter, everyone in it, who came as a family and how they are related, in one write.

The web form and `POST /api/v1/apprehensions/` both call `apprehension_record`, so they cannot drift
apart. Every rule is checked before anything is written; any invalid part raises `ValidationFailed`
keyed by the contract's field paths (`persons[1].a_number`) and the database is left untouched.
"""

from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any, Unpack
from uuid import UUID
from zoneinfo import ZoneInfo

from django.db import IntegrityError, transaction
from django.db.models import Q
from django.utils import timezone

from familylink.common.dates import MAX_YEAR, MIN_YEAR
from familylink.common.errors import BusinessRuleError, PermissionDenied, ValidationFailed
from familylink.common.roles import has_capability
from familylink.common.text import fold

from ..linkage.scoring import PersonFacts, contradictions
from ..models import (
    Apprehension,
    ApprehensionPerson,
    FamilyMembership,
    FamilyUnit,
    Person,
    PersonIdentifier,
    Relationship,
    Station,
)
from ..signals import apprehension_recorded, persons_recorded
from ..visibility import persons_visible_to
from .bulk import insert_with_history, new_instance
from .conflicts import (
    INTAKE_FIX,
    a_number_conflict_noted,
    out_of_scope_a_number_message,
    person_withheld,
    reports_a_number_conflicts,
)
from .inputs import NO_MEMBERS, NO_PERSONS, NOT_READ, IdentifierInput, IntakeInput, PersonInput
from .rules import (
    Errors,
    ParentGraph,
    add_error,
    age_on,
    as_uuid,
    check_age_gap,
    clean_person_fields,
    clean_relationship_codes,
    clean_text,
    db_parent_children,
)

ADULT_AGE = 18
# Clocks of handheld devices drift; an encounter a few minutes "ahead" is not in the future.
FUTURE_TOLERANCE = timedelta(minutes=5)
MAX_PERSONS = 200


@dataclass
class PersonPlan:
    """One entry of `persons`: who it turned out to be and how intake matched it."""

    index: int
    ref: str
    person: Person
    is_new: bool
    match: str
    match_note: str = ""
    identifiers: list[dict[str, str]] = field(default_factory=list)
    age: int | None = None
    entered: dict[str, Any] = field(default_factory=dict)

    @property
    def key(self) -> Any:
        return self.person.pk

    @property
    def is_minor_now(self) -> bool:
        return self.age is not None and self.age < ADULT_AGE


@dataclass
class RelationshipPlan:
    index: int
    from_plan: Any  # PersonPlan or Person on file
    to_plan: Any
    values: dict[str, Any]
    existing: Relationship | None = None


@dataclass
class IntakePlan:
    """Everything `apprehension_record` will write, checked and resolved, nothing written yet."""

    occurred_at: datetime
    station: Station
    location_description: str
    change_reason: str
    persons: list[PersonPlan]
    family_units: list[dict[str, Any]]
    relationships: list[RelationshipPlan]
    encounter_date: date

    def new_persons(self) -> list[PersonPlan]:
        return [p for p in self.persons if p.is_new]


@dataclass
class IntakeResult:
    apprehension: Apprehension
    persons: list[PersonPlan]
    family_units: list[tuple[FamilyUnit, list[FamilyMembership]]] = field(default_factory=list)
    relationships: list[Relationship] = field(default_factory=list)


def _check_occurred_at(when: datetime | None, errors: Errors) -> datetime | None:
    if when is None:
        add_error(errors, "occurred_at", "Date and time of the encounter are required.")
        return None
    if not MIN_YEAR <= when.year <= MAX_YEAR:
        add_error(errors, "occurred_at", f"Use a date between {MIN_YEAR} and {MAX_YEAR}.")
        return None
    if timezone.is_naive(when):
        add_error(
            errors,
            "occurred_at",
            "The encounter time has no time zone; add the UTC offset, e.g. 2018-06-01T10:15:00-06:00.",
        )
        return None
    if when > timezone.now() + FUTURE_TOLERANCE:
        add_error(errors, "occurred_at", "The encounter time is in the future; enter when it happened.")
        return None
    return when


def _person_ref(raw: PersonInput, index: int, errors: Errors, seen: dict[str, int]) -> str:
    ref = raw.get("ref")
    if ref is None or not ref.strip():
        add_error(
            errors,
            f"persons[{index}].ref",
            "Each person needs a ref (e.g. p1) so family units and relationships can point at them.",
        )
        return f"#{index}"
    ref = ref.strip()
    if ref in seen:
        add_error(
            errors,
            f"persons[{index}].ref",
            f"Ref {ref!r} is already used by persons[{seen[ref]}]; give each person a different ref.",
        )
    seen.setdefault(ref, index)
    return ref


def _clean_identifiers(
    items: Sequence[IdentifierInput | None], prefix: str, errors: Errors
) -> list[dict[str, str]]:
    cleaned = []
    for j, item in enumerate(items):
        path = f"{prefix}[{j}]"
        if item is None:
            add_error(errors, path, NOT_READ)
            continue
        kind = (item.get("kind") or "").strip()
        if kind not in PersonIdentifier.Kind.values:
            add_error(
                errors,
                f"{path}.kind",
                f"Identifier kind {item.get('kind')!r} is not known; use one of "
                f"{', '.join(PersonIdentifier.Kind.values)}.",
            )
        value = clean_text(
            item.get("value"), label="Identifier value", max_length=64, path=f"{path}.value", errors=errors
        )
        if not value:
            add_error(errors, f"{path}.value", "Enter the identifier's number.")
        issuer = clean_text(
            item.get("issuer"), label="Issuer", max_length=64, path=f"{path}.issuer", errors=errors
        )
        cleaned.append({"kind": kind, "value": value, "issuer": issuer, "path": path})
    return cleaned


def _describe_entered(values: Mapping[str, Any]) -> str:
    parts = [
        " ".join(
            str(values.get(f) or "") for f in ("given_names", "first_surname", "second_surname")
        ).strip(),
        str(values.get("date_of_birth") or ""),
        str(values.get("a_number") or ""),
    ]
    return ", ".join(p for p in parts if p)


@dataclass(frozen=True)
class _Ref:
    """A relationship end naming a person of this encounter by ref (a plan once resolved)."""

    ref: str


@dataclass
class ParsedIntake:
    """Stage 1 (parse): the request read field by field; only the station is looked up."""

    occurred_at: datetime | None
    station: Station | None
    location_description: str
    change_reason: str
    encounter_date: date
    persons: list[dict[str, Any]]
    refs: dict[str, int]
    family_units: list[dict[str, Any]]
    relationships: list[tuple[int, dict[str, Any], dict[str, Any]]]


@dataclass
class ResolvedIntake:
    """Stage 2 (resolve): who each person is, and the persons on file the request names."""

    persons: list[PersonPlan]
    by_ref: dict[str, PersonPlan]
    on_file: dict[Any, Person]


def intake_parse(
    *, user: Any, data: IntakeInput, errors: Errors, stations: Mapping[str, Station] | None = None
) -> ParsedIntake:
    """Parse: check and clean every field of an intake; problems go to `errors` by contract path.

    `data` holds `apprehension_record`'s keyword arguments, as an API serializer or a form read them.
    `stations`: the stations on file (not withdrawn) by code, when the caller has read them already.
    """
    today = timezone.localdate()

    occurred_at = _check_occurred_at(data.get("occurred_at"), errors)
    station = None
    code = (data.get("station") or "").strip().upper()
    if not code:
        add_error(
            errors, "station", "Station is required; give its code, e.g. EPT (see GET /api/v1/stations/)."
        )
    else:
        station = (
            stations.get(code)
            if stations is not None
            else Station.objects.filter(code=code, withdrawn_at__isnull=True).first()
        )
        if station is None:
            add_error(
                errors,
                "station",
                f"Unknown station {data.get('station')!r}; use a station code from GET /api/v1/stations/.",
            )
        elif not has_capability(user, "read_persons_all") and station.code != getattr(user, "station", ""):
            raise PermissionDenied(
                f"You record apprehensions at your own station ({user.station or 'none assigned'}) only, "
                f"not at {station.code}."
            )
    location = clean_text(
        data.get("location_description"),
        label="Location description",
        max_length=255,
        path="location_description",
        errors=errors,
    )
    change_reason = clean_text(
        data.get("change_reason"), label="Change reason", max_length=100, path="change_reason", errors=errors
    )
    encounter_date = today
    if occurred_at is not None:
        tz = ZoneInfo(station.timezone) if station is not None else occurred_at.tzinfo
        encounter_date = occurred_at.astimezone(tz).date()

    raw_persons = data.get("persons") or []
    if not raw_persons:
        add_error(errors, "persons", NO_PERSONS)
    elif len(raw_persons) > MAX_PERSONS:
        add_error(errors, "persons", f"At most {MAX_PERSONS} persons per encounter; split it into several.")
        raw_persons = []

    # 1. Each person: either a person on file (`existing_person`) or the details of someone new.
    seen_refs: dict[str, int] = {}
    entries: list[dict[str, Any]] = []
    for index, raw in enumerate(raw_persons):
        prefix = f"persons[{index}]"
        if raw is None:
            add_error(errors, prefix, NOT_READ)
            continue
        ref = _person_ref(raw, index, errors, seen_refs)
        entry: dict[str, Any] = {"index": index, "ref": ref, "raw": raw}
        match_choice = (raw.get("match") or "").strip()
        if match_choice and match_choice not in ("new", ApprehensionPerson.Match.SAME_PERSON):
            add_error(errors, f"{prefix}.match", "Match must be 'same_person' or 'new'.")
        entry["match_choice"] = match_choice
        entry["match_note"] = clean_text(
            raw.get("match_note"),
            label="Match note",
            max_length=255,
            path=f"{prefix}.match_note",
            errors=errors,
        )
        if "existing_person" in raw:
            entry["existing_id"] = raw["existing_person"]
            if entry["existing_id"] is None:
                add_error(errors, f"{prefix}.existing_person", NOT_READ)
        else:
            entry["values"] = clean_person_fields(
                raw, prefix=prefix, errors=errors, on=encounter_date, today=today
            )
            entry["identifiers"] = _clean_identifiers(
                raw.get("identifiers") or [], f"{prefix}.identifiers", errors
            )
        entries.append(entry)

    # 3. Family units: persons of this encounter, each in at most one unit of it.
    units: list[dict[str, Any]] = []
    unit_of: dict[str, int] = {}
    for u, raw_unit in enumerate(data.get("family_units") or []):
        prefix = f"family_units[{u}]"
        if raw_unit is None:
            add_error(errors, prefix, NOT_READ)
            continue
        members = raw_unit.get("members")
        if members is None:
            add_error(errors, f"{prefix}.members", NO_MEMBERS)
            continue
        if len(members) < 2:
            add_error(errors, f"{prefix}.members", "A family unit has at least two persons; list their refs.")
        unit_refs: list[str] = []
        for m, member in enumerate(members):
            ref = str(member).strip()
            if ref not in seen_refs:
                add_error(
                    errors,
                    f"{prefix}.members[{m}]",
                    f"{member!r} is not the ref of a person in this encounter; use one of "
                    f"{', '.join(seen_refs) or 'the persons refs'}.",
                )
                continue
            if ref in unit_of:
                add_error(
                    errors,
                    f"{prefix}.members[{m}]",
                    f"{ref} is already in family_units[{unit_of[ref]}]; put each person in one family unit.",
                )
                continue
            unit_of[ref] = u
            unit_refs.append(ref)
        label = clean_text(
            raw_unit.get("label"),
            label="Family unit label",
            max_length=120,
            path=f"{prefix}.label",
            errors=errors,
        )
        units.append({"index": u, "refs": unit_refs, "label": label})

    # 4. Relationships: ends are persons of this encounter (ref) or already on file (id).
    rel_entries = []
    for r, raw_rel in enumerate(data.get("relationships") or []):
        prefix = f"relationships[{r}]"
        if raw_rel is None:
            add_error(errors, prefix, NOT_READ)
            continue
        values = clean_relationship_codes(raw_rel, prefix=prefix, errors=errors)
        ends: dict[str, Any] = {}
        for end in ("from", "to"):
            token = raw_rel.get(end)
            text = str(token or "").strip()
            if not text:
                add_error(
                    errors, f"{prefix}.{end}", f"Say who the relationship is {end}: a person ref or id."
                )
            elif text in seen_refs:
                ends[end] = _Ref(text)
            elif as_uuid(text) is not None:
                ends[end] = as_uuid(text)
            else:
                add_error(
                    errors,
                    f"{prefix}.{end}",
                    f"{token!r} is neither a person of this encounter (ref) nor the id of a person on file.",
                )
        rel_entries.append((r, values, ends))
    return ParsedIntake(
        occurred_at=occurred_at,
        station=station,
        location_description=location,
        change_reason=change_reason,
        encounter_date=encounter_date,
        persons=entries,
        refs=seen_refs,
        family_units=units,
        relationships=rel_entries,
    )


def intake_resolve(
    *, user: Any, parsed: ParsedIntake, errors: Errors, not_on_file: Collection[str] = ()
) -> ResolvedIntake:
    """Resolve: each person on file (by id or A-number) or new; the relationship ends on file.

    `not_on_file`: A-numbers the caller has just read as held by no one (in this transaction).
    """
    entries, occurred_at, station = parsed.persons, parsed.occurred_at, parsed.station
    encounter_date = parsed.encounter_date
    # 2. Who is already on file: by id, and by A-number (never a second person with one A-number).
    existing_ids = {e["existing_id"] for e in entries if e.get("existing_id")}
    a_numbers = {e["values"]["a_number"] for e in entries if e.get("values", {}).get("a_number")}
    on_file: dict[Any, Person] = {}
    by_a_number: dict[str, Person] = {}
    if existing_ids or not a_numbers <= set(not_on_file):
        for person in Person.objects.filter(Q(pk__in=existing_ids) | Q(a_number__in=a_numbers)):
            on_file[person.pk] = person
            if person.a_number:
                by_a_number[person.a_number] = person
    # Persons the agent may see; one given by id outside that scope is answered as an unknown id.
    visible_ids = (
        set(persons_visible_to(user).filter(pk__in=list(on_file)).values_list("pk", flat=True))
        if on_file
        else set()
    )

    plans: list[PersonPlan] = []
    used_person: dict[Any, int] = {}
    used_a_number: dict[str, int] = {}
    for entry in entries:
        index, ref, prefix = entry["index"], entry["ref"], f"persons[{entry['index']}]"
        if "existing_id" in entry:
            pid = entry["existing_id"]
            if pid is None:
                continue
            person = on_file.get(pid)
            if person is None or person.pk not in visible_ids:
                add_error(
                    errors,
                    f"{prefix}.existing_person",
                    f"No person with id {pid} is on file; search the persons list and use their id.",
                )
                continue
            if person.is_withdrawn:
                add_error(
                    errors,
                    f"{prefix}.existing_person",
                    f"The record of {person.full_name} was withdrawn ({person.withdrawn_reason}); "
                    "use the record that replaced it.",
                )
                continue
            match = (
                ApprehensionPerson.Match.SAME_PERSON
                if entry["match_choice"] == ApprehensionPerson.Match.SAME_PERSON
                else ApprehensionPerson.Match.EXISTING
            )
            plan = PersonPlan(index, ref, person, False, match, entry["match_note"])
        else:
            values = entry["values"]
            a_number = values.get("a_number")
            holder = by_a_number.get(a_number) if a_number else None
            if a_number and a_number in used_a_number:
                add_error(
                    errors,
                    f"{prefix}.a_number",
                    f"A-number {a_number} is also given for persons[{used_a_number[a_number]}]; each person "
                    "appears once per encounter, so check which of the two it belongs to.",
                )
                continue
            if a_number:
                used_a_number[a_number] = index
            if holder is not None:
                if holder.is_withdrawn:
                    add_error(
                        errors,
                        f"{prefix}.a_number",
                        f"A-number {a_number} belongs to a withdrawn record; check the number or ask HQ to "
                        "resolve the record.",
                    )
                    continue
                if entry["match_choice"] == "new" and holder.pk not in visible_ids:
                    add_error(
                        errors,
                        f"{prefix}.a_number",
                        out_of_scope_a_number_message(a_number, fix=INTAKE_FIX),
                    )
                    a_number_conflict_noted(
                        a_number=a_number, existing_person=holder, attempted_by=user, context="intake"
                    )
                    continue
                if holder.pk not in visible_ids:
                    person_withheld(holder)
                if entry["match_choice"] == "new":
                    add_error(
                        errors,
                        f"{prefix}.a_number",
                        f"A-number {a_number} is on file for {holder.full_name} (born "
                        f"{holder.date_of_birth or 'unknown'}). If this is someone else, correct the "
                        "A-number or leave it blank; one A-number never belongs to two people.",
                    )
                    continue
                note = entry["match_note"] or f"A-number on file; entered as: {_describe_entered(values)}"
                match = (
                    ApprehensionPerson.Match.SAME_PERSON
                    if entry["match_choice"] == ApprehensionPerson.Match.SAME_PERSON
                    else ApprehensionPerson.Match.A_NUMBER
                )
                plan = PersonPlan(index, ref, holder, False, match, note[:255], entered=values)
            else:
                person = new_instance(
                    Person,
                    **values,
                    created_by=user,
                    first_encountered_at=occurred_at,
                    first_station=station,
                )
                plan = PersonPlan(
                    index,
                    ref,
                    person,
                    True,
                    ApprehensionPerson.Match.NEW,
                    entry["match_note"],
                    identifiers=entry.get("identifiers", []),
                    entered=values,
                )
        if plan.person.pk in used_person:
            add_error(
                errors,
                f"{prefix}.existing_person" if "existing_id" in entry else f"{prefix}.a_number",
                f"{plan.person.full_name} is already persons[{used_person[plan.person.pk]}] of this "
                "encounter; list each person once.",
            )
            continue
        used_person[plan.person.pk] = index
        dob = plan.person.date_of_birth
        plan.age = age_on(dob, encounter_date) if dob else None
        if plan.age is None and not plan.is_new:
            plan.age = 0 if plan.person.is_minor else ADULT_AGE
        plans.append(plan)

    by_ref = {p.ref: p for p in plans}

    # Identifiers other than the A-number must not already belong to someone.
    wanted = [
        (i["kind"], i["value"], i["path"]) for p in plans for i in p.identifiers if i["kind"] and i["value"]
    ]
    if wanted:
        query = Q()
        for kind, value, _ in wanted:
            query |= Q(kind=kind, value=value)
        taken = set(
            PersonIdentifier.objects.filter(query, withdrawn_at__isnull=True).values_list("kind", "value")
        )
        for kind, value, path in wanted:
            if (kind, value) in taken:
                add_error(
                    errors,
                    f"{path}.value",
                    f"{PersonIdentifier.Kind(kind).label} {value} is already recorded for another person; "
                    "check the number, or use that person's record.",
                )

    end_ids = {end for _, _, ends in parsed.relationships for end in ends.values() if isinstance(end, UUID)}
    missing_ids = end_ids - set(on_file)
    if missing_ids:
        for person in persons_visible_to(user).filter(pk__in=missing_ids):
            on_file[person.pk] = person
            visible_ids.add(person.pk)
    # A relationship end given by id must be a person this user may see (else: as an unknown id).
    on_file = {pk: person for pk, person in on_file.items() if pk in visible_ids}
    return ResolvedIntake(persons=plans, by_ref=by_ref, on_file=on_file)


def intake_rules(
    *, parsed: ParsedIntake, who: ResolvedIntake, errors: Errors
) -> tuple[list[dict[str, Any]], list[RelationshipPlan]]:
    """Rules: family units and relationships checked against who the persons turned out to be."""
    plans, by_ref, on_file = who.persons, who.by_ref, who.on_file
    units = [
        {"index": u["index"], "members": [by_ref[r] for r in u["refs"] if r in by_ref], "label": u["label"]}
        for u in parsed.family_units
    ]
    plan_by_pk = {p.person.pk: p for p in plans}
    rel_plans: list[RelationshipPlan] = []
    # New persons have no parent links on file yet: walking from them needs no query.
    new_ids = {p.person.pk for p in plans if p.is_new}
    graph = ParentGraph(loader=lambda ids: db_parent_children([i for i in ids if i not in new_ids]))
    seen_links: dict[tuple[Any, Any, str], int] = {}
    for r, values, ends in parsed.relationships:
        prefix = f"relationships[{r}]"
        resolved: dict[str, Any] = {}
        for end, target in ends.items():
            if isinstance(target, _Ref):
                resolved[end] = by_ref.get(target.ref)  # None when that person itself is invalid
                continue
            person = on_file.get(target)
            if person is None or person.is_withdrawn:
                add_error(
                    errors,
                    f"{prefix}.{end}",
                    f"No person with id {target} is on file; a relationship links persons of this encounter "
                    "or persons already on file.",
                )
                resolved[end] = None
            else:
                resolved[end] = plan_by_pk.get(person.pk, person)
        a, b = resolved.get("from"), resolved.get("to")
        if a is None or b is None:
            continue
        a_person = a.person if isinstance(a, PersonPlan) else a
        b_person = b.person if isinstance(b, PersonPlan) else b
        if a_person.pk == b_person.pk:
            add_error(
                errors,
                f"{prefix}.to",
                f"A person cannot be related to themself: from and to are both "
                f"{a_person.full_name or 'the same person'}; choose the other person.",
            )
            continue
        rel_type = values.get("type")
        if not rel_type or f"{prefix}.type" in errors:
            continue
        link = (a_person.pk, b_person.pk, rel_type)
        if link in seen_links:
            add_error(
                errors,
                prefix,
                f"The same relationship is already relationships[{seen_links[link]}]; record it once.",
            )
            continue
        seen_links[link] = r
        check_age_gap(
            rel_type=rel_type,
            older_name=a_person.full_name,
            older_dob=a_person.date_of_birth,
            younger_name=b_person.full_name,
            younger_dob=b_person.date_of_birth,
            path=prefix,
            errors=errors,
        )
        if rel_type == Relationship.Type.PARENT:
            if graph.would_cycle(a_person.pk, b_person.pk):
                add_error(
                    errors,
                    prefix,
                    f"{a_person.full_name} cannot be parent of {b_person.full_name}: {b_person.full_name} is "
                    f"already recorded as an ancestor of {a_person.full_name}, which would make a cycle of "
                    "parent links. Check the direction (from is the parent).",
                )
                continue
            graph.add(a_person.pk, b_person.pk)
        rel_plans.append(RelationshipPlan(r, a, b, values))

    return units, rel_plans


@reports_a_number_conflicts
def apprehension_validate(
    *,
    user: Any,
    importing: bool = False,
    refuse_contradicted_a_numbers: bool = False,
    **intake: Unpack[IntakeInput],
) -> IntakePlan:
    """Check every rule of an intake and resolve who each person is; write nothing.

    Takes `apprehension_record`'s keyword arguments. Three stages, each adding to one `errors` dict
    so every problem is reported at once: `intake_parse` → `intake_resolve` → `intake_rules`, and,
    with `refuse_contradicted_a_numbers` (the record step; the web form's review offers the holder
    instead), an A-number on file typed for someone else (`contradicted_a_numbers`).
    Raises ValidationFailed (keyed by field path) or PermissionDenied.
    """
    # A field spreadsheet import (HQ analysts; supervisors for their station) records encounters too.
    if not (has_capability(user, "record_intake") or (importing and has_capability(user, "import_legacy"))):
        raise PermissionDenied("Your role cannot record apprehensions.")
    errors: Errors = {}
    parsed = intake_parse(user=user, data=intake, errors=errors)
    who = intake_resolve(user=user, parsed=parsed, errors=errors)
    units, rel_plans = intake_rules(parsed=parsed, who=who, errors=errors)
    if refuse_contradicted_a_numbers:
        contradicted_a_numbers(who.persons, user=user, errors=errors)
    occurred_at, station, plans = parsed.occurred_at, parsed.station, who.persons
    location, change_reason, encounter_date = (
        parsed.location_description,
        parsed.change_reason,
        parsed.encounter_date,
    )
    if errors:
        raise ValidationFailed(errors)
    assert occurred_at is not None and station is not None

    intake_existing_links(rel_plans)
    return IntakePlan(
        occurred_at=occurred_at,
        station=station,
        location_description=location,
        change_reason=change_reason,
        persons=plans,
        family_units=units,
        relationships=rel_plans,
        encounter_date=encounter_date,
    )


def intake_existing_links(rel_plans: list[RelationshipPlan]) -> None:
    """Links already on file between persons on file are reused, not recorded twice (`existing`)."""
    pairs = [
        (rp.from_plan, rp.to_plan)
        for rp in rel_plans
        if not _is_new(rp.from_plan) and not _is_new(rp.to_plan)
    ]
    if not pairs:
        return
    query = Q()
    for a, b in pairs:
        query |= Q(from_person_id=_person(a).pk, to_person_id=_person(b).pk)
    active = {
        (rel.from_person_id, rel.to_person_id, rel.type): rel
        for rel in Relationship.objects.filter(query, withdrawn_at__isnull=True)
    }
    for rp in rel_plans:
        rp.existing = active.get((_person(rp.from_plan).pk, _person(rp.to_plan).pk, rp.values["type"]))


def _is_new(end: Any) -> bool:
    return isinstance(end, PersonPlan) and end.is_new


def _person(end: Any) -> Person:
    return end.person if isinstance(end, PersonPlan) else end


def _with_adult_on_file(plans: list[PersonPlan]) -> set[Any]:
    """Persons on file (minors now) who already share a family unit on file with an adult."""
    ids = [p.person.pk for p in plans if not p.is_new and p.is_minor_now]
    if not ids:
        return set()
    return set(
        FamilyMembership.objects.filter(
            person_id__in=ids,
            withdrawn_at__isnull=True,
            family_unit__memberships__role=FamilyMembership.Role.ADULT,
            family_unit__memberships__withdrawn_at__isnull=True,
        ).values_list("person_id", flat=True)
    )


def intake_family_roles(plan: IntakePlan) -> tuple[set[Any], dict[Any, str]]:
    """Who travels with an adult (family units of this encounter, plus units on file for known
    persons), and each unit member's role."""
    with_adult: set[Any] = _with_adult_on_file(plan.persons)
    roles: dict[Any, str] = {}
    for unit in plan.family_units:
        has_adult = any(not m.is_minor_now for m in unit["members"])
        for member in unit["members"]:
            roles[member.person.pk] = (
                FamilyMembership.Role.CHILD if member.is_minor_now else FamilyMembership.Role.ADULT
            )
            if has_adult:
                with_adult.add(member.person.pk)
    return with_adult, roles


def _save(obj: Any, *, user: Any, reason: str, **kwargs: Any) -> None:
    obj._change_reason = reason
    obj._history_user = user
    obj.save(**kwargs)


@reports_a_number_conflicts
@transaction.atomic
def apprehension_record(
    *, user: Any, source: str = Relationship.Source.API, **intake: Unpack[IntakeInput]
) -> IntakeResult:
    """Record an encounter with everyone in it, atomically; any invalid part saves nothing.

    The keyword arguments are `IntakeInput`'s: `occurred_at`, `station` (code), `persons`, and
    optionally `family_units`, `relationships`, `location_description`, `change_reason`.
    Persons given by `existing_person`, or whose A-number is on file, are linked, never duplicated.
    A minor with no adult in any of their family units is marked unaccompanied. Every row written
    gets its history row (author and change reason).
    """
    importing = source == Relationship.Source.LEGACY_IMPORT
    # A sheet's rows are matched by the import's own rules (LEGACY-SHEETS.md), not refused here.
    plan = apprehension_validate(
        user=user, importing=importing, refuse_contradicted_a_numbers=not importing, **intake
    )
    reason = plan.change_reason or (
        "intake (web form)" if source == Relationship.Source.INTAKE else "intake (API)"
    )

    with_adult, roles = intake_family_roles(plan)
    try:
        # No savepoint: on a unique-constraint race the whole intake is rolled back anyway.
        result = _write(plan, user=user, reason=reason, source=source, with_adult=with_adult, roles=roles)
    except IntegrityError as exc:
        raise BusinessRuleError(
            "Another record with one of these A-numbers or identifiers was saved at the same moment; "
            "submit again and it will be linked."
        ) from exc
    persons_recorded.send(
        sender=Apprehension,
        person_ids=[p.person.pk for p in plan.persons],
        source="legacy_import" if source == Relationship.Source.LEGACY_IMPORT else "intake",
        by=user,
    )
    return result


def _facts(person: Person | None, values: Mapping[str, Any]) -> PersonFacts:
    get = (lambda f: getattr(person, f)) if person is not None else values.get
    return PersonFacts(
        id=None,
        given_names=get("given_names") or "",
        first_surname=get("first_surname") or "",
        second_surname=get("second_surname") or "",
        date_of_birth=get("date_of_birth"),
        dob_estimated=bool(get("dob_estimated")),
        sex=get("sex") or "U",
        a_number=None,
    )


def contradicted_a_numbers(persons: list[PersonPlan], *, user: Any, errors: Errors) -> None:
    """A person entered anew whose A-number is on file is linked to its holder (a re-encounter),
    unless what was entered says it is someone else (another given name, no surname in common,
    another date of birth: `contradictions`). Then nothing is linked silently (DOMAIN.md: two
    people with one A-number are surfaced, never merged): an error on the A-number (with the
    intake's other errors, in one answer), HQ is told, and the caller either corrects the number or
    confirms the person (`match: same_person`; the web form sends it when the agent picks the
    person on file at review)."""
    visible: set[Any] | None = None
    for p in persons:
        if p.match != ApprehensionPerson.Match.A_NUMBER or not p.entered:
            continue
        differs = contradictions(_facts(None, p.entered), _facts(p.person, {}))
        if not differs:
            continue
        holder, a_number = p.person, p.person.a_number or ""
        if visible is None:
            linked = [q.person.pk for q in persons if q.match == ApprehensionPerson.Match.A_NUMBER]
            visible = set(persons_visible_to(user).filter(pk__in=linked).values_list("pk", flat=True))
        if holder.pk in visible:  # the agent may read the holder anyway: named, no report for HQ
            born = holder.date_of_birth or "unknown"
            what = (
                " and ".join(differs) if len(differs) < 3 else f"{', '.join(differs[:-1])} and {differs[-1]}"
            )
            message = (
                f"A-number {a_number} is on file for {holder.full_name} (born {born}), but the "
                f"{what} entered here differ. Check the A-number against the person's "
                f'documents; if this is {holder.full_name}, record them as the person on file ("match": '
                '"same_person"); otherwise correct the A-number or leave it blank.'
            )
        else:
            a_number_conflict_noted(
                a_number=a_number, existing_person=holder, attempted_by=user, context="intake"
            )
            message = (
                f"A-number {a_number} is on file for a person you cannot see, whose details differ from "
                "what was entered here; one A-number never belongs to two people. Check the A-number against "
                'the person\'s documents; if it is theirs, record them as the person on file ("match": '
                '"same_person"); otherwise correct the A-number or leave it blank. Nothing was saved; HQ has '
                "been told of the conflict."
            )
        add_error(errors, f"persons[{p.index}].a_number", message)


def _bulk(model: Any, objs: list[Any], *, user: Any, reason: str) -> None:
    """Insert new rows and their history rows: two statements per table, not two per row."""
    insert_with_history(model, objs, user=user, reason=reason)


def _write(
    plan: IntakePlan, *, user: Any, reason: str, source: str, with_adult: set[Any], roles: dict[Any, str]
) -> IntakeResult:
    rows = intake_rows(plan, user=user, source=source, with_adult=with_adult, roles=roles)
    _bulk(Apprehension, [rows.apprehension], user=user, reason=reason)
    for person, changes in rows.known:
        _update_known_person(person, changes, user=user, reason=reason)
    _bulk(Person, rows.persons, user=user, reason=reason)
    _bulk(PersonIdentifier, rows.identifiers, user=user, reason=reason)
    _bulk(ApprehensionPerson, rows.encounters, user=user, reason=reason)
    _bulk(FamilyUnit, [u for u, _ in rows.family_units], user=user, reason=reason)
    _bulk(FamilyMembership, [m for _, ms in rows.family_units for m in ms], user=user, reason=reason)
    _bulk(Relationship, rows.created, user=user, reason=reason)
    apprehension_recorded.send(
        sender=Apprehension,
        apprehension=rows.apprehension,
        person_ids=[p.person.pk for p in plan.persons],
        by=user,
        reason=reason,
    )
    return IntakeResult(rows.apprehension, plan.persons, rows.family_units, rows.relationships)


@dataclass
class IntakeRows:
    """The rows an intake writes, built from its plan and not inserted yet (`intake_rows`)."""

    apprehension: Apprehension
    persons: list[Person]  # the new persons
    identifiers: list[PersonIdentifier]
    encounters: list[ApprehensionPerson]
    family_units: list[tuple[FamilyUnit, list[FamilyMembership]]]
    relationships: list[Relationship]  # every relationship of the intake: reused from file or new
    created: list[Relationship]  # the new ones
    known: list[tuple[Person, dict[str, Any]]]  # persons on file and the fields this encounter changes


def intake_rows(
    plan: IntakePlan, *, user: Any, source: str, with_adult: set[Any], roles: dict[Any, str]
) -> IntakeRows:
    """Build (not save) every row a validated intake writes; `intake_family_roles` gives the last two."""
    apprehension = new_instance(
        Apprehension,
        occurred_at=plan.occurred_at,
        station=plan.station,
        location_description=plan.location_description,
        apprehending_agent=user,
        created_by=user,
    )
    new_persons, identifiers, encounters, known = [], [], [], []
    for p in plan.persons:
        person = p.person
        if p.is_new:
            person.is_minor = p.is_minor_now
            person.is_unaccompanied = p.is_minor_now and person.pk not in with_adult
            person.name_normalized = fold(person.full_name)  # Person.save() does this; bulk insert does not
            new_persons.append(person)
            identifiers += [
                new_instance(
                    PersonIdentifier,
                    person=person,
                    kind=i["kind"],
                    value=i["value"],
                    issuer=i["issuer"],
                    created_by=user,
                )
                for i in p.identifiers
            ]
        else:
            changes = known_person_changes(p, plan, with_adult=with_adult)
            if changes:
                known.append((person, changes))
        encounters.append(
            new_instance(
                ApprehensionPerson,
                apprehension=apprehension,
                person=person,
                match=p.match,
                match_note=p.match_note[:255],
                created_by=user,
            )
        )
    units: list[tuple[FamilyUnit, list[FamilyMembership]]] = []
    for n, unit in enumerate(plan.family_units):
        family = new_instance(
            FamilyUnit,
            apprehension=apprehension,
            label=unit["label"] or f"Family {chr(ord('A') + n) if n < 26 else n + 1}",
            created_by=user,
        )
        members = [
            new_instance(
                FamilyMembership,
                family_unit=family,
                person=m.person,
                role=roles[m.person.pk],
                created_by=user,
            )
            for m in unit["members"]
        ]
        units.append((family, members))
    relationships, created = [], []
    for rp in plan.relationships:
        if rp.existing is not None:
            relationships.append(rp.existing)
            continue
        rel = new_instance(
            Relationship,
            from_person=_person(rp.from_plan),
            to_person=_person(rp.to_plan),
            apprehension=apprehension,
            source=source,
            created_by=user,
            **rp.values,
        )
        relationships.append(rel)
        created.append(rel)
    return IntakeRows(
        apprehension, new_persons, identifiers, encounters, units, relationships, created, known
    )


def known_person_changes(p: PersonPlan, plan: IntakePlan, *, with_adult: set[Any]) -> dict[str, Any]:
    """A person on file encountered again: earlier first encounter, unaccompanied flag (never identity)."""
    person = p.person
    changes: dict[str, Any] = {}
    if person.first_encountered_at is None or plan.occurred_at < person.first_encountered_at:
        changes["first_encountered_at"] = plan.occurred_at
        changes["first_station"] = plan.station
        if p.age is not None and person.date_of_birth and person.is_minor != p.is_minor_now:
            changes["is_minor"] = p.is_minor_now
    if p.is_minor_now:
        unaccompanied = person.pk not in with_adult
        if person.is_unaccompanied != unaccompanied:
            changes["is_unaccompanied"] = unaccompanied
    return changes


def _update_known_person(person: Person, changes: dict[str, Any], *, user: Any, reason: str) -> None:
    for name, value in changes.items():
        setattr(person, name, value)
    _save(person, user=user, reason=f"{reason}: encountered again", update_fields=list(changes))
