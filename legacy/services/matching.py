"""Who a row's adult and child are: A-number on file, else name + date of birth; never a guess."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from django.db.models import Q

from apprehensions.models import Person
from familylink.common.text import fold

from .. import parsing
from ..parsing import ParsedDate
from .rows import Context, PersonFacts, _add

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
