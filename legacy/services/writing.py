"""Writing one adult's encounter through the services of the apps below."""

from __future__ import annotations

from datetime import date, datetime, time, timedelta
from typing import Any
from uuid import UUID
from zoneinfo import ZoneInfo

from apprehensions.models import (
    Apprehension,
    ApprehensionPerson,
    Person,
    Relationship,
    Station,
)
from apprehensions.services.bulk import insert_with_history, new_instance
from familylink.common.errors import BusinessRuleError, ValidationFailed
from separations.models import CustodyPeriod, Separation, SeparationMember
from separations.services import (
    PreparedSeparation,
    custody_prepare_transfer,
    custody_transfer,
    custody_transfers_save,
    imported_reason_codes,
    separation_prepare_imported,
    separation_record_imported,
    separations_save_imported,
    shared_family_unit_id,
)

from ..models import ImportRecord, ImportRow
from ..parsing import COLUMN_LABELS
from .matching import Resolved, note_created, resolve
from .rows import Context, RowPlan, _add


class NotImportable(Exception):
    """Raised inside a group's savepoint to roll it back; rows are quarantined with `messages`."""

    def __init__(self, messages: dict[int, dict[str, list[str]]]):
        self.messages = messages
        super().__init__("quarantined")


# --- what a chunk writes at its end, set-based -----------------------------------------------


class Pending:
    """A chunk's encounters (`ctx.intake`), separations, custody changes and provenance records,
    validated group by group and written together at the chunk's end (`flush`): a few statements per
    table instead of per row.

    Later groups of the chunk see what earlier ones prepared (`pairs`, `open_of`). A group rolled
    back restores the `snapshot` taken before it (what it flushed is re-queued with the rest).
    """

    def __init__(self) -> None:
        self.separations: list[PreparedSeparation] = []
        self.pairs: dict[tuple[Any, Any], Separation] = {}  # (adult, child) → prepared separation
        self.closing: list[tuple[Any, datetime, str]] = []  # periods on file to end
        # Persons whose CBP period the intake opens with their encounter at the flush: end it then.
        self.closing_open_of: list[tuple[Any, datetime, str]] = []
        self.opening: list[tuple[CustodyPeriod, str]] = []
        self.open_of: dict[Any, CustodyPeriod] = {}  # person → the open period prepared last
        self.end_of: dict[Any, datetime] = {}  # prepared period → when a later row ends it
        self.records: list[ImportRecord] = []
        self.codes: dict[str, Any] | None = None

    def snapshot(self) -> tuple:
        return (
            list(self.separations),
            dict(self.pairs),
            list(self.closing),
            list(self.closing_open_of),
            list(self.opening),
            dict(self.open_of),
            dict(self.end_of),
            list(self.records),
        )

    def restore(self, snap: tuple) -> None:
        (
            self.separations,
            self.pairs,
            self.closing,
            self.closing_open_of,
            self.opening,
            self.open_of,
            self.end_of,
            self.records,
        ) = (type(x)(x) for x in snap)

    def reason_codes(self) -> dict[str, Any]:
        if self.codes is None:
            self.codes = imported_reason_codes()
        return self.codes

    def flush(self, ctx: Context) -> None:
        """Write it all: encounters first (intake opens CBP custody with them), then separations
        (reunification opens their cases), custody changes and provenance records."""
        by = ctx.by
        ctx.group_writes()
        ctx.intake.write()
        for period, _ in self.opening:
            period.ended_at = self.end_of.get(period.pk)
        separations_save_imported(self.separations, by=by)
        custody_transfers_save(
            closing=self.closing, closing_open_of=self.closing_open_of, opening=self.opening, by=by
        )
        insert_with_history(ImportRecord, self.records, user=by, reason=f"provenance of {ctx.batch.label}")
        ctx.open_custody.clear()
        codes = self.codes
        self.__init__()  # type: ignore[misc]
        self.codes = codes


def pending_of(ctx: Context) -> Pending:
    if ctx.pending is None:
        ctx.pending = Pending()
    return ctx.pending


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


def _how_found(person: Person, new: bool, how: str, first: RowPlan, plan: RowPlan) -> str:
    """How a row's adult or child was found: a new person (named once, on the first row that has
    them; later rows of the group say which row created them), else how they matched."""
    if not new:
        return how
    if first is plan:
        return f"new person {person.full_name}"
    return f"{person.full_name}, the new person of row {first.row.row_number}"


def _record(row: ImportRow, obj: Any, action: str, role: str, by: Any, bucket: list[ImportRecord]) -> None:
    bucket.append(
        new_instance(
            ImportRecord,
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
    pending = pending_of(ctx)
    if any(p.pk in pending.open_of or ctx.intake.stages(p.pk) for p in existing_persons):
        # A person of an encounter or custody change earlier groups prepared: write those first,
        # so this group is checked against the records as they will be (the intake opens custody
        # for persons with none open; an encounter on file is reused).
        pending.flush(ctx)
    # A group with a reunification date writes through the one-at-a-time services (the separation
    # is ended as reunified there): let them see what earlier groups prepared.
    ctx.direct = any(plan.reunified_at is not None for plan in plans)
    if ctx.direct:
        pending.flush(ctx)
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
        data: dict[str, Any] = {
            "occurred_at": first.occurred_at,
            "station": first.station.code,
            "location_description": "",
            # The intake keeps 100 characters: the sheet's title (Excel allows 31) before the rows.
            "change_reason": (
                f"{ctx.batch.label}{f' (sheet {ctx.batch.sheet!r})' if ctx.batch.sheet else ''} rows "
                + ", ".join(str(p.row.row_number) for p in plans)
            )[:100],
            "persons": entries,
            "family_units": [
                {"members": [e["ref"] for e in entries], "label": f"Imported ({ctx.batch.label})"}
            ]
            if len(entries) > 1
            else [],
            "relationships": relationships,
        }
        try:
            # Checked as apprehension_record checks it; written with the chunk (`Pending.flush`).
            # The service takes ids and dates typed (`PersonInput`), the entries hold them as text.
            data["persons"] = [
                {**e, "existing_person": UUID(e["existing_person"])}
                if "existing_person" in e
                else {**e, "date_of_birth": date.fromisoformat(e["date_of_birth"])}
                for e in entries
            ]
            result = ctx.intake.add(**data)
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
            if p.is_new:
                ctx.created_now.add(p.person.pk)
                note_created(p.person, ctx)
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
    on_file_ids = [p.pk for p in persons_of.values() if p.pk not in ctx.created_now]
    if (ctx.direct or ctx.careful) and created_encounter:
        pending.flush(ctx)  # the one-at-a-time services below read the encounter's records
    elif created_encounter and any(c is None for c in ctx.open_custody_of(on_file_ids).values()):
        # A person on file with no custody open gets CBP custody with the encounter (the sheet's
        # custody columns are compared with it): write the encounter now and read it back.
        pending.flush(ctx)
    # Open custody of the persons on file; a new person's CBP period opens with the encounter's write.
    open_periods = {pk: c for pk, c in ctx.open_custody_of(on_file_ids).items() if c is not None}
    apprehended_at = encounter.occurred_at
    first_of_ref: dict[str, int] = {}  # a person's first row in the group (a repeated child's)
    for i, plan in enumerate(plans):
        child = persons_of[refs[i]]
        plan.adult_person, plan.child_person = adult, child
        new_adult = adult_res.person is None and created_encounter
        new_child = (
            child_res[i].person is None and created_encounter and child_index[i] == first_child_index.get(i)
        )
        plan.outcome.insert(0, f"Adult: {_how_found(adult, new_adult, adult_res.how, plans[0], plan)}.")
        first_of_child = plans[first_of_ref.setdefault(refs[i], i)]
        found = _how_found(child, child_res[i].person is None, child_res[i].how, first_of_child, plan)
        plan.outcome.insert(1, f"Child: {found}.")
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
            _write_separation(
                plan,
                ctx,
                adult,
                child,
                records,
                new_pair=new_pair,
                unit=unit_of.get(child.pk),
                open_periods=open_periods,
                apprehended_at=apprehended_at,
            )
        except NotImportable as exc:
            raise NotImportable({i: exc.messages[-1]}) from exc
    pending.records.extend(records)
    if ctx.direct or ctx.careful:
        pending.flush(ctx)


def _write_separation(
    plan: RowPlan,
    ctx: Context,
    adult: Person,
    child: Person,
    records: list[ImportRecord],
    *,
    new_pair: bool = False,
    unit: Any = None,
    open_periods: dict[Any, CustodyPeriod] | None = None,
    apprehended_at: datetime | None = None,
) -> None:
    """The row's separation (unless one of the pair is on file already) and the custody it names.

    `new_pair`: the adult or the child was created just now, so nothing about the pair is on file;
    `unit`: the family unit just recorded for them, if any; `open_periods`: the open custody on file
    of the persons on file; `apprehended_at`: when both were apprehended (the row's encounter).
    Validated now, written with the chunk (`Pending`), unless the group writes through the
    one-at-a-time services (`ctx.direct`).
    """
    by = ctx.by
    if plan.separation_at is None:
        return
    pending = pending_of(ctx)
    direct = ctx.direct
    open_periods = open_periods or {}
    existing = None if direct else pending.pairs.get((adult.pk, child.pk))
    if existing is None and not new_pair:
        existing = (
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
    if existing is not None:
        plan.outcome.append(
            f"Separation already on file ({existing.get_status_display().lower()} since "
            f"{existing.occurred_at.date().isoformat()})."
        )
        _record(plan.row, existing, ImportRecord.Action.LINKED, "separation", by, records)
        return
    try:
        if direct:
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
        else:
            # Validates as separation_record_imported does; written with the chunk.
            prepared = separation_prepare_imported(
                by=by,
                station=plan.station,
                children=[child],
                adults=[adult],
                reason_code=plan.reason_code or "OTHER",
                occurred_at=plan.separation_at,
                narrative=plan.narrative,
                family_unit=unit if unit is not None else shared_family_unit_id([child, adult]),
                provenance=plan.row.provenance,
                codes=pending.reason_codes(),
                linked=unit is not None,  # both just recorded in that family unit
            )
            separation = prepared.separation
            pending.separations.append(prepared)
            pending.pairs[(adult.pk, child.pk)] = separation
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
        if direct:
            current = (
                None
                if person.pk in ctx.created_now
                else CustodyPeriod.objects.filter(
                    person=person, ended_at__isnull=True, withdrawn_at__isnull=True
                ).first()
            )
        else:
            current = pending.open_of.get(person.pk) or open_periods.get(person.pk)
        # A person created just now has only the intake's custody: transfer from it, whatever it is.
        known = None if person.pk in ctx.created_now else current
        if known is not None and known.agency == agency and known.facility == facility:
            continue
        if known is not None and known.started_at > plan.separation_at:
            plan.outcome.append(
                f"{COLUMN_LABELS[role].capitalize()} not recorded: later custody is already on file."
            )
            continue
        try:
            if direct:
                # Validates before it writes; atomic itself.
                period = custody_transfer(
                    person_id=person.pk,
                    agency=agency,
                    facility=facility,
                    started_at=plan.separation_at,
                    by=by,
                    change_reason=plan.row.provenance,
                )
            else:
                # Validates as custody_transfer does; written with the chunk.
                period, why = custody_prepare_transfer(
                    person=person,
                    agency=agency,
                    facility=facility,
                    started_at=plan.separation_at,
                    by=by,
                    current=current,
                    change_reason=plan.row.provenance,
                    apprehended_at=apprehended_at,
                )
                if current is not None and current.pk in {p.pk for p, _ in pending.opening}:
                    pending.end_of[current.pk] = plan.separation_at
                elif current is not None:
                    pending.closing.append((current.pk, plan.separation_at, why))
                elif person.pk in ctx.created_now:
                    # Its CBP period opens with the encounter, written at the flush: ends there.
                    pending.closing_open_of.append((person.pk, plan.separation_at, why))
                pending.opening.append((period, why))
                pending.open_of[person.pk] = period
        except (ValidationFailed, BusinessRuleError) as exc:
            plan.outcome.append(f"{COLUMN_LABELS[role].capitalize()} not recorded: {exc}")
            continue
        _record(plan.row, period, ImportRecord.Action.CREATED, role, by, records)
