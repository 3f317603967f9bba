"""Intake of many encounters written together: a sheet import's chunk.

`IntakeChunk.add` checks one encounter exactly as `apprehension_record` does (the same stages:
`intake_parse` → `intake_resolve` → `intake_rules`, the links already on file, the same
`ValidationFailed` keyed by field path) and builds the rows it would write (`intake_rows`), writing
nothing. `IntakeChunk.write` inserts every staged row with its history row and its encounter's
change reason (rule 2) — about two statements per table for the whole chunk instead of a dozen per
encounter — then sends `apprehensions_recorded` (custody opens the CBP periods) and
`persons_recorded` once.

Each encounter sees what the encounters staged before it would have written: one that names a
person of a staged encounter (by id, by A-number or by another identifier, or as a relationship
end) makes the chunk write first, so it is checked against the database as a lone intake would be.
The caller keeps the persons of staged encounters unchanged until `write`.
"""

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, Unpack

from django.db import IntegrityError, transaction

from familylink.common.errors import BusinessRuleError, PermissionDenied, ValidationFailed
from familylink.common.roles import has_capability

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
from ..signals import apprehensions_recorded, persons_recorded
from .bulk import insert_with_history_each
from .conflicts import reports_a_number_conflicts
from .inputs import IntakeInput
from .intake import (
    IntakePlan,
    IntakeResult,
    IntakeRows,
    ParsedIntake,
    _update_known_person,
    intake_existing_links,
    intake_family_roles,
    intake_parse,
    intake_resolve,
    intake_rows,
    intake_rules,
)
from .rules import Errors


@dataclass
class _Staged:
    rows: IntakeRows
    person_ids: list[Any]
    reason: str
    # Persons on file: (person, fields this encounter changes, version when staged).
    known: list[tuple[Person, dict[str, Any], int]]

    def names(self) -> set[Any]:
        """What a later encounter may name this one's persons by: ids, A-numbers, identifiers."""
        return (
            {str(pid) for pid in self.person_ids}
            | {("a_number", p.a_number) for p in self.rows.persons if p.a_number}
            | {(i.kind, i.value) for i in self.rows.identifiers}
        )


class IntakeChunk:
    """Encounters checked one at a time (`add`) and written together (`write`), by one user."""

    def __init__(self, *, user: Any, source: str = Relationship.Source.LEGACY_IMPORT) -> None:
        self.user = user
        self.source = source
        self._staged: list[_Staged] = []
        self._names: set[Any] = set()  # of the staged encounters' persons (`_Staged.names`)
        self._stations: dict[str, Station] | None = None  # read once
        self._not_on_file: set[str] = set()

    def not_on_file(self, a_numbers: Iterable[str]) -> None:
        """A-numbers the caller has just read as held by no one (this transaction): checking a new
        person with one of them needs no look-up. The unique A-number still guards the write."""
        self._not_on_file = set(a_numbers)

    # --- what is staged ---------------------------------------------------------------------

    def __len__(self) -> int:
        return len(self._staged)

    def stages(self, person_id: Any) -> bool:
        """True when a staged (unwritten) encounter includes this person, new or on file."""
        return str(person_id) in self._names

    def snapshot(self) -> list[_Staged]:
        return list(self._staged)

    def restore(self, snapshot: list[_Staged]) -> None:
        """Back to a snapshot (a caller's savepoint rolled back: what was written since is staged again)."""
        self._staged = list(snapshot)
        self._names = {name for s in self._staged for name in s.names()}

    def _names_staged(self, parsed: ParsedIntake) -> bool:
        names = self._names
        if not names:
            return False
        for entry in parsed.persons:
            if str(entry.get("existing_id")) in names:
                return True
            if ("a_number", (entry.get("values") or {}).get("a_number")) in names:
                return True
            if any((i["kind"], i["value"]) in names for i in entry.get("identifiers", [])):
                return True
        return any(str(end) in names for _, _, ends in parsed.relationships for end in ends.values())

    # --- checking and staging one encounter -------------------------------------------------

    @reports_a_number_conflicts
    def add(self, **intake: Unpack[IntakeInput]) -> IntakeResult:
        """Check one encounter as `apprehension_record` does and stage its rows; write nothing.

        Raises ValidationFailed (keyed by field path) or PermissionDenied, with nothing staged.
        The result's objects carry their ids; they are in the database after `write`.
        """
        user = self.user
        importing = self.source == Relationship.Source.LEGACY_IMPORT
        if not (
            has_capability(user, "record_intake") or (importing and has_capability(user, "import_legacy"))
        ):
            raise PermissionDenied("Your role cannot record apprehensions.")
        errors: Errors = {}
        if self._stations is None:
            self._stations = {s.code: s for s in Station.objects.filter(withdrawn_at__isnull=True)}
        parsed = intake_parse(user=user, data=intake, errors=errors, stations=self._stations)
        if self._names_staged(parsed):
            self.write()
        who = intake_resolve(user=user, parsed=parsed, errors=errors, not_on_file=self._not_on_file)
        units, rel_plans = intake_rules(parsed=parsed, who=who, errors=errors)
        if errors:
            raise ValidationFailed(errors)
        assert parsed.occurred_at is not None and parsed.station is not None
        intake_existing_links(rel_plans)
        plan = IntakePlan(
            occurred_at=parsed.occurred_at,
            station=parsed.station,
            location_description=parsed.location_description,
            change_reason=parsed.change_reason,
            persons=who.persons,
            family_units=units,
            relationships=rel_plans,
            encounter_date=parsed.encounter_date,
        )
        reason = plan.change_reason or (
            "intake (web form)" if self.source == Relationship.Source.INTAKE else "intake (API)"
        )
        with_adult, roles = intake_family_roles(plan)
        rows = intake_rows(plan, user=user, source=self.source, with_adult=with_adult, roles=roles)
        self._not_on_file -= {p.a_number for p in rows.persons if p.a_number}
        staged = _Staged(
            rows=rows,
            person_ids=[p.person.pk for p in plan.persons],
            reason=reason,
            known=[(person, changes, person.version) for person, changes in rows.known],
        )
        self._staged.append(staged)
        self._names |= staged.names()
        return IntakeResult(rows.apprehension, plan.persons, rows.family_units, rows.relationships)

    # --- writing ----------------------------------------------------------------------------

    def write(self) -> None:
        """Insert every staged encounter's rows with their history rows, then tell the layers above.

        Raises BusinessRuleError when a unique A-number or identifier was saved meanwhile by someone
        else (nothing of the chunk is written then; the caller's transaction decides what follows).
        """
        staged = self._staged
        if not staged:
            return
        self.restore([])
        user = self.user
        try:
            with transaction.atomic():
                self._insert(staged)
        except IntegrityError as exc:
            self.restore(staged)
            raise BusinessRuleError(
                "Another record with one of these A-numbers or identifiers was saved at the same moment; "
                "import again and it will be linked."
            ) from exc
        apprehensions_recorded.send(
            sender=Apprehension,
            encounters=[(s.rows.apprehension, s.person_ids, s.reason) for s in staged],
            by=user,
        )
        persons_recorded.send(
            sender=Apprehension,
            person_ids=list(dict.fromkeys(pid for s in staged for pid in s.person_ids)),
            source="legacy_import" if self.source == Relationship.Source.LEGACY_IMPORT else "intake",
            by=user,
        )

    def _insert(self, staged: list[_Staged]) -> None:
        user = self.user

        def each(model: Any, pick: Any) -> None:
            objs, reasons = [], []
            for s in staged:
                for obj in pick(s.rows):
                    objs.append(obj)
                    reasons.append(s.reason)
            insert_with_history_each(model, objs, user=user, reasons=reasons)

        each(Apprehension, lambda r: [r.apprehension])
        for s in staged:
            for person, changes, version in s.known:
                person.version = version  # as staged, should a rolled-back write be replayed
                _update_known_person(person, changes, user=user, reason=s.reason)
        each(Person, lambda r: r.persons)
        each(PersonIdentifier, lambda r: r.identifiers)
        each(ApprehensionPerson, lambda r: r.encounters)
        each(FamilyUnit, lambda r: [u for u, _ in r.family_units])
        each(FamilyMembership, lambda r: [m for _, ms in r.family_units for m in ms])
        each(Relationship, lambda r: r.created)
