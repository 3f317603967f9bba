"""Who a row's adult and child are: A-number on file, else name + date of birth; never a guess."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from django.db.models import Q
from django.db.models.expressions import RawSQL

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


def _dob_windows(facts: PersonFacts) -> list[tuple[date, date, bool]]:
    """(from, to, estimated on file only): the birth dates a person on file may have to match `facts`
    (the date, a usual slip, or any day of the year for an estimated date on either side)."""
    year = facts.dob.value.year
    if facts.dob.estimated:
        return [(date(year - 1, 1, 1), date(year + 1, 12, 31), False)]
    return [(d, d, False) for d in _dob_candidates(facts.dob)] + [
        (date(year, 1, 1), date(year, 12, 31), True)
    ]


def _in_window(facts: PersonFacts, person: Person) -> bool:
    """The look-up's own test (`_dob_windows`, first given name, not withdrawn), on a person in hand."""
    born = person.date_of_birth
    if born is None or person.withdrawn_at is not None:
        return False
    if not (person.name_normalized or fold(person.full_name)).startswith(facts.given_key + " "):
        return False
    return any(lo <= born <= hi and (person.dob_estimated or not est) for lo, hi, est in _dob_windows(facts))


# Constant text; the windows are array parameters. One probe of person_first_word_dob per window
# (LATERAL … OFFSET 0 keeps that shape even where the planner has no statistics for the table).
_CANDIDATES_SQL = (
    "SELECT DISTINCT c.id "
    "FROM unnest(%s::text[], %s::date[], %s::date[], %s::boolean[]) AS f(k, lo, hi, est) "
    "CROSS JOIN LATERAL (SELECT p.id FROM apprehensions_person p "
    "WHERE split_part(p.name_normalized, ' ', 1) = f.k "
    "AND p.date_of_birth BETWEEN f.lo AND f.hi AND (p.dob_estimated OR NOT f.est) "
    "AND p.withdrawn_at IS NULL AND starts_with(p.name_normalized, f.k || ' ') OFFSET 0) AS c"
)


def _first_name(person: Person) -> str:
    return ((person.name_normalized or fold(person.full_name)).split() or [""])[0]


def note_created(person: Person, ctx: Context) -> None:
    """A person the chunk has just created (written or not yet): later rows may name them too."""
    ctx.created_in_chunk.setdefault(_first_name(person), []).append(person)


def _fact_key(facts: PersonFacts) -> tuple[str, date, bool]:
    return (facts.given_key, facts.dob.value, facts.dob.estimated)


def load_candidates(all_facts: list[PersonFacts], ctx: Context) -> None:
    """Persons on file that any of a chunk's adults and children could match by name and date of
    birth, in one query (instead of one per person); `_name_dob_candidates` picks from them."""
    ctx.candidates, ctx.candidate_facts, ctx.created_in_chunk = {}, set(), {}
    windows = {(f.given_key, *w) for f in all_facts if f.given_key for w in _dob_windows(f)}
    if not windows:
        return
    keys, los, his, ests = (list(x) for x in zip(*sorted(windows), strict=True))
    candidates = RawSQL(_CANDIDATES_SQL, [keys, los, his, ests])  # noqa: S611  # nosec B611
    found = Person.objects.filter(pk__in=candidates)
    for person in found.order_by("created_at", "pk"):
        ctx.candidates.setdefault(_first_name(person), []).append(person)
    ctx.candidate_facts = {_fact_key(f) for f in all_facts}


def _name_dob_candidates(facts: PersonFacts, ctx: Context) -> list[Person]:
    """Persons on file whose first given name and a surname match, born the same day (or a usual slip);
    with the persons this chunk created, whether written yet or not."""
    if _fact_key(facts) in ctx.candidate_facts:
        pool = [p for p in ctx.candidates.get(facts.given_key, []) if _in_window(facts, p)]
    else:
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
        pool = list(qs[:50])
    seen = {p.pk for p in pool}
    created = ctx.created_in_chunk.get(facts.given_key, [])
    pool += [p for p in created if p.pk not in seen and _in_window(facts, p)]
    return [p for p in pool if _name_compatible(facts, p) and _dob_compatible(facts, p)]


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
        for p in _name_dob_candidates(facts, ctx)
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
