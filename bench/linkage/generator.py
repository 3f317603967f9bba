"""Labelled synthetic data for link discovery, hard the way the 2018 records are.

A *human* is one real person; a *record* is one row of `apprehensions_person`. Most humans have
one record; some were entered again later (a new A-number, or none, or one with two digits
swapped; their name and date of birth written differently), which makes duplicate records that
`duplicate_person` must find. Families are recorded properly (family unit + parent links) or, as in
2018, entered as single adults and unaccompanied children in one apprehension with nothing linking
them: those adult–child pairs are the `relationship` links discovery must find.

What makes it hard (each drawn from DOMAIN.md "Words" and LEGACY-SHEETS.md):
- two surnames (father's first, mother's first); a child carries the father's first surname and
  the mother's first surname, so a child shares one surname with each parent, sometimes none (a
  legal guardian) and sometimes both with the mother (registered under the mother's only);
- forms that keep only the first surname, file the second as the last name, or swap the order;
  accents and ñ dropped; typos (b/v, s/z, c/s, y/i, h dropped, letters swapped); compound given
  names cut to their first part; Mayan surnames spelled several ways;
- dates of birth with the day and month swapped, off by a day or a year, or only the estimated
  year (1 January, `dob_estimated`);
- A-numbers missing, new for the same human, or with two adjacent digits transposed;
- decoys: unrelated adults and children apprehended together (sharing a common surname by
  chance, about a fifth of such pairs), adult siblings with their younger siblings, twins (same
  surnames and date of birth), namesakes (common full names shared by unrelated people,
  sometimes born the same year);
- families split across two stations: a parent and child entered again together at another
  station, nothing linking them there.

Names are drawn with Zipf-like weights, so common names are common and namesakes arise naturally
as well as by construction. Everything comes from one `random.Random(seed)`: the same seed and
size give the same records, ids and truth.
"""

from __future__ import annotations

import random
import unicodedata
import uuid
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from bench.scenario import (
    COUNTRIES,
    FEMALE,
    MALE,
    MAYAN_LANGUAGES,
    MAYAN_SURNAMES,
    SECOND_FEMALE,
    SECOND_MALE,
    STATION_TZ,
    STATIONS,
    SURNAMES,
    GEncounter,
    GPerson,
    GRelationship,
)

START = date(2018, 5, 1)
DAYS = 61

# Group kinds and their weights (one group = one apprehension, except re-encounters).
GROUPS: list[tuple[str, int]] = [
    ("recorded_family", 26),
    ("hidden_family", 17),
    ("single_adult", 22),
    ("unaccompanied", 8),
    ("mixed_group", 9),
    ("adult_sibling", 4),
    ("reencounter", 12),
    ("split_family", 4),
]

MAYAN_SPELLINGS = {
    "Xicará": ["Xicara", "Sicará", "Xikará"],
    "Tzoc": ["Tzok", "Tzóc"],
    "Coc": ["Cok", "Koc"],
    "Caal": ["Cal", "Kaal"],
    "Choc": ["Chok", "Chóc"],
    "Pop": ["Popp"],
    "Ajú": ["Aju", "Ajuu"],
    "Tzul": ["Tsul", "Zul"],
    "Chiquín": ["Chiquin", "Chikin"],
    "Xol": ["Shol", "Sol"],
    "Tuyuc": ["Tuyuk"],
    "Cumes": ["Cumez", "Kumes"],
    "Batz": ["Bats", "Baatz"],
    "Ixcoy": ["Ixcoi", "Ishcoy"],
}
TYPO_PAIRS = [("b", "v"), ("v", "b"), ("s", "z"), ("z", "s"), ("c", "s"), ("y", "i"), ("i", "y"), ("ll", "y")]


def _zipf(items: list[str], exponent: float = 1.0) -> list[tuple[str, float]]:
    return [(item, 1.0 / (rank + 1) ** exponent) for rank, item in enumerate(items)]


# The most common surname is on about 7% of records, the most common given names on about 10%.
SURNAME_W = _zipf(SURNAMES, 0.5)
FEMALE_W = _zipf(FEMALE, 0.7)
MALE_W = _zipf(MALE, 0.7)


def strip_accents(text: str) -> str:
    decomposed = unicodedata.normalize("NFKD", text)
    return "".join(c for c in decomposed if not unicodedata.combining(c))


@dataclass
class Human:
    hid: int
    given: str
    first: str
    second: str
    sex: str
    dob: date
    country: str
    language: str


@dataclass
class Truth:
    """The ground truth: which records are one human, and who is whose parent or guardian."""

    human_of: dict[uuid.UUID, int] = field(default_factory=dict)
    parent_of: set[tuple[int, int]] = field(default_factory=set)  # (adult hid, child hid)
    sibling_of: set[frozenset[int]] = field(default_factory=set)
    twins: set[frozenset[int]] = field(default_factory=set)
    namesakes: set[frozenset[int]] = field(default_factory=set)
    recorded: set[frozenset[uuid.UUID]] = field(default_factory=set)  # a relationship row links them
    shared_unit: set[frozenset[uuid.UUID]] = field(default_factory=set)
    together: list[tuple[uuid.UUID, uuid.UUID, str]] = field(default_factory=list)  # adult, child, group
    variations: dict[uuid.UUID, list[str]] = field(default_factory=dict)  # what a record got wrong
    group_of: dict[uuid.UUID, str] = field(default_factory=dict)
    is_minor: dict[uuid.UUID, bool] = field(default_factory=dict)
    adults_with: dict[uuid.UUID, int] = field(default_factory=dict)  # adults in the record's apprehension

    def records_by_human(self) -> dict[int, list[uuid.UUID]]:
        out: dict[int, list[uuid.UUID]] = {}
        for record, hid in self.human_of.items():
            out.setdefault(hid, []).append(record)
        return out

    def duplicate_pairs(self) -> set[frozenset[uuid.UUID]]:
        """Every pair of records of one human."""
        pairs = set()
        for records in self.records_by_human().values():
            for i, a in enumerate(records):
                for b in records[i + 1 :]:
                    pairs.add(frozenset((a, b)))
        return pairs

    def is_parent_pair(self, a: uuid.UUID, b: uuid.UUID) -> bool:
        ha, hb = self.human_of.get(a), self.human_of.get(b)
        return (ha, hb) in self.parent_of or (hb, ha) in self.parent_of

    def relationship_pairs(self) -> set[frozenset[uuid.UUID]]:
        """What discovery must find: an adult and a child apprehended together, the adult their parent or
        guardian, with no relationship recorded between the two records and no family unit shared."""
        out = set()
        for adult, child, _group in self.together:
            pair = frozenset((adult, child))
            if (
                self.is_parent_pair(adult, child)
                and pair not in self.recorded
                and pair not in self.shared_unit
            ):
                out.add(pair)
        return out


@dataclass
class Dataset:
    seed: int
    encounters: list[GEncounter]
    humans: dict[int, Human]
    truth: Truth

    @property
    def records(self) -> list[GPerson]:
        return [p for e in self.encounters for p in e.persons]

    def fingerprint(self) -> str:
        """A short hash of what would be written: a changed data set gets a bench database of its own."""
        import hashlib

        digest = hashlib.sha256()
        for e in self.encounters:
            digest.update(f"{e.id}{e.station}{e.occurred_at.isoformat()}{e.family_unit_id}".encode())
            for p in e.persons:
                digest.update(
                    f"{p.id}{p.given_names}|{p.first_surname}|{p.second_surname}|{p.date_of_birth}"
                    f"{p.dob_estimated}{p.sex}{p.a_number}{p.is_minor}".encode()
                )
            for r in e.relationships:
                digest.update(f"{r.id}{r.from_index}{r.to_index}{r.type}".encode())
        return digest.hexdigest()[:8]


class Generator:
    def __init__(self, seed: int):
        self.seed = seed
        self.rng = random.Random(seed)
        self.humans: dict[int, Human] = {}
        self.records_of: dict[int, list[tuple[uuid.UUID, str | None]]] = {}
        self.families: list[tuple[list[int], list[int]]] = []  # (parent hids, child hids)
        self.encounters: list[GEncounter] = []
        self.truth = Truth()
        self.a_numbers: set[str] = set()
        self.record_count = 0

    # --- basics -----------------------------------------------------------------------------------

    def uuid(self) -> uuid.UUID:
        return uuid.UUID(int=self.rng.getrandbits(128), version=4)

    def pick(self, weighted: list[tuple[str, float]]) -> str:
        return self.rng.choices([i for i, _ in weighted], weights=[w for _, w in weighted])[0]

    def surname(self, mayan: bool) -> str:
        if mayan and self.rng.random() < 0.5:
            return self.rng.choice(MAYAN_SURNAMES)
        return self.pick(SURNAME_W)

    def given(self, sex: str) -> str:
        first = self.pick(FEMALE_W if sex == "F" else MALE_W)
        if self.rng.random() < 0.4:
            second = self.rng.choice(SECOND_FEMALE if sex == "F" else SECOND_MALE)
            if second != first:
                return f"{first} {second}"
        return first

    def new_a_number(self) -> str:
        while True:
            number = f"A2{self.rng.randrange(10**8):08d}"
            if number not in self.a_numbers:
                self.a_numbers.add(number)
                return number

    def transposed(self, number: str) -> str:
        digits = list(number[1:])
        for _ in range(10):
            i = self.rng.randrange(1, 8)
            if digits[i] != digits[i + 1]:
                swapped = digits[:]
                swapped[i], swapped[i + 1] = swapped[i + 1], swapped[i]
                candidate = "A" + "".join(swapped)
                if candidate not in self.a_numbers:
                    self.a_numbers.add(candidate)
                    return candidate
        return self.new_a_number()

    def origin(self) -> tuple[str, str, bool]:
        country = self.pick([(c, float(w)) for c, w in COUNTRIES])
        mayan = country == "GT" and self.rng.random() < 0.3
        language = self.rng.choice(MAYAN_LANGUAGES) if mayan and self.rng.random() < 0.5 else "Spanish"
        return country, language, mayan

    def human(
        self, *, sex: str, age: int, first: str, second: str, country: str, language: str, on: date
    ) -> Human:
        hid = len(self.humans)
        dob = on - timedelta(days=age * 365 + self.rng.randint(0, 364))
        h = Human(hid, self.given(sex), first, second, sex, dob, country, language)
        self.humans[hid] = h
        return h

    def namesake_of(self, other: Human, *, age: int, on: date) -> Human:
        """An unrelated human with the same full name (sometimes born the same year)."""
        hid = len(self.humans)
        if self.rng.random() < 0.35:
            dob = date(other.dob.year, self.rng.randint(1, 12), self.rng.randint(1, 28))
        else:
            dob = on - timedelta(days=age * 365 + self.rng.randint(0, 364))
        h = Human(hid, other.given, other.first, other.second, other.sex, dob, other.country, other.language)
        self.humans[hid] = h
        self.truth.namesakes.add(frozenset((hid, other.hid)))
        return h

    # --- records --------------------------------------------------------------------------------

    def render(self, h: Human, on: date, *, again: bool) -> tuple[GPerson, list[str]]:
        """One record of human `h` as an agent typed it; `again` = a later, independent entry."""
        rng = self.rng
        given, first, second, dob, estimated = h.given, h.first, h.second, h.dob, False
        tags: list[str] = []
        # Light noise on every record: U.S. forms keep one surname or swap them.
        roll = rng.random()
        if second and roll < 0.07:
            second, tags = "", ["second surname dropped"]
        elif second and roll < 0.10:
            first, second, tags = second, first, ["surnames swapped"]
        if again:
            options = [
                ("surnames swapped", 3),
                ("second surname dropped", 4),
                ("second surname as last name", 2),
                ("typo in given name", 3),
                ("typo in surname", 3),
                ("compound given name cut", 2),
                ("Mayan spelling", 2),
                ("dob day/month swapped", 2),
                ("dob off by a day", 2),
                ("dob year only", 2),
                ("dob off by a year", 1),
                ("no change", 2),
            ]
            count = 1 + (rng.random() < 0.45) + (rng.random() < 0.15)
            for _ in range(count):
                tag = self.pick([(t, float(w)) for t, w in options])
                changed = True
                if tag == "surnames swapped" and second:
                    first, second = second, first
                elif tag == "second surname dropped" and second:
                    second = ""
                elif tag == "second surname as last name" and second:
                    first, second = second, ""
                elif tag == "typo in given name":
                    given = self.typo(given)
                elif tag == "typo in surname":
                    first = self.typo(first)
                elif tag == "compound given name cut" and " " in given:
                    given = given.split(" ")[0]
                elif tag == "Mayan spelling" and (first in MAYAN_SPELLINGS or second in MAYAN_SPELLINGS):
                    first = rng.choice(MAYAN_SPELLINGS.get(first, [first]))
                    second = rng.choice(MAYAN_SPELLINGS.get(second, [second])) if second else second
                elif tag == "dob day/month swapped" and dob.day <= 12 and dob.day != dob.month:
                    dob = date(dob.year, dob.day, dob.month)
                elif tag == "dob off by a day":
                    dob = dob + timedelta(days=rng.choice((-1, 1)))
                elif tag == "dob year only":
                    dob, estimated = date(dob.year, 1, 1), True
                elif tag == "dob off by a year":
                    dob = date(dob.year + rng.choice((-1, 1)), dob.month, min(dob.day, 28))
                else:
                    changed = tag == "no change"
                if changed and tag not in tags:
                    tags.append(tag)
        if rng.random() < (0.5 if again else 0.3):
            given, first, second = strip_accents(given), strip_accents(first), strip_accents(second)
            tags.append("accents dropped")
        age_days = (on - dob).days
        person = GPerson(
            id=self.uuid(),
            given_names=given,
            first_surname=first,
            second_surname=second,
            sex=h.sex,
            date_of_birth=dob,
            dob_estimated=estimated,
            country=h.country,
            language=h.language,
            a_number=None,
            is_minor=age_days < 18 * 365.25,
        )
        return person, tags

    def typo(self, text: str) -> str:
        rng = self.rng
        lower = text.lower()
        pairs = [(a, b) for a, b in TYPO_PAIRS if a in lower]
        if pairs and rng.random() < 0.5:
            a, b = rng.choice(pairs)
            i = lower.index(a)
            replacement = b.upper() if text[i].isupper() else b
            return text[:i] + replacement + text[i + len(a) :]
        if len(text) < 4:
            return text + text[-1]
        i = rng.randrange(1, len(text) - 1)
        op = rng.choice(("delete", "swap", "double"))
        if op == "delete":
            return text[:i] + text[i + 1 :]
        if op == "swap" and text[i] != text[i + 1]:
            return text[:i] + text[i + 1] + text[i] + text[i + 2 :]
        return text[:i] + text[i] + text[i:]

    # --- encounters ------------------------------------------------------------------------------

    def encounter(self, group: str, *, station: str | None = None, day: date | None = None) -> GEncounter:
        rng = self.rng
        if station is None:
            station = self.pick([(code, float(w)) for code, w, _ in STATIONS])
        if day is None:
            day = START + timedelta(days=rng.randrange(DAYS))
        local = datetime(
            day.year,
            day.month,
            day.day,
            rng.randrange(24),
            rng.randrange(60),
            tzinfo=ZoneInfo(STATION_TZ[station]),
        )
        occurred = local.astimezone(UTC)
        e = GEncounter(
            k=len(self.encounters),
            id=self.uuid(),
            station=station,
            occurred_at=occurred,
            recorded_at=occurred + timedelta(minutes=rng.randint(20, 240)),
            location=rng.choice(next(locs for code, _, locs in STATIONS if code == station)),
            kind=group,
        )
        self.encounters.append(e)
        return e

    def day_of(self, e: GEncounter) -> date:
        return e.occurred_at.astimezone(ZoneInfo(STATION_TZ[e.station])).date()

    def add(self, e: GEncounter, h: Human, *, a_number_odds: float) -> int:
        """Record human `h` in encounter `e`: a first record, or another one of a known human."""
        previous = self.records_of.get(h.hid, [])
        again = bool(previous)
        person, tags = self.render(h, self.day_of(e), again=again)
        if again:
            roll = self.rng.random()
            prior = next((a for _, a in reversed(previous) if a), None)
            if prior is not None and roll < 0.25:
                person.a_number, tag = self.transposed(prior), "A-number digits transposed"
            elif roll < 0.6:
                person.a_number, tag = self.new_a_number(), "new A-number"
            else:
                tag = "no A-number"
            tags.append(tag)
        elif self.rng.random() < a_number_odds:
            person.a_number = self.new_a_number()
        e.persons.append(person)
        self.records_of.setdefault(h.hid, []).append((person.id, person.a_number))
        self.truth.human_of[person.id] = h.hid
        self.truth.variations[person.id] = tags
        self.truth.group_of[person.id] = e.kind
        self.truth.is_minor[person.id] = person.is_minor
        self.record_count += 1
        return len(e.persons) - 1

    def finish(
        self, e: GEncounter, *, unit: list[int] | None = None, links: list[tuple[int, int, str]] | None = None
    ) -> None:
        """Close an encounter: its family unit and recorded relationships, ids, and who was together."""
        if unit:
            e.family_unit_id = self.uuid()
            e.family_label = f"{e.persons[unit[0]].first_surname} family"
            e.family_members = list(unit)
            for i, a in enumerate(unit):
                for b in unit[i + 1 :]:
                    self.truth.shared_unit.add(frozenset((e.persons[a].id, e.persons[b].id)))
        for a, b, kind in links or []:
            e.relationships.append(GRelationship(self.uuid(), a, b, kind, "claimed"))
            self.truth.recorded.add(frozenset((e.persons[a].id, e.persons[b].id)))
        with_adult = any(not e.persons[i].is_minor for i in unit or [])
        adults = sum(1 for p in e.persons if not p.is_minor)
        for p in e.persons:
            self.truth.adults_with[p.id] = adults
        for p in e.persons:
            p.is_unaccompanied = p.is_minor and not with_adult
        for adult in e.persons:
            if adult.is_minor:
                continue
            for child in e.persons:
                if child.is_minor:
                    self.truth.together.append((adult.id, child.id, e.kind))
        e.encounter_ids = [self.uuid() for _ in e.persons]
        e.membership_ids = [self.uuid() for _ in e.family_members]

    # --- groups ---------------------------------------------------------------------------------

    def make_family(self, on: date) -> tuple[list[Human], list[Human], list[tuple[int, int, str]], str]:
        """Parents (or a guardian) and children; returns adults, children, (adult, child, type) links."""
        rng = self.rng
        country, language, mayan = self.origin()
        father_first, father_second = self.surname(mayan), self.surname(mayan)
        mother_first, mother_second = self.surname(mayan), self.surname(mayan)
        n_children = self.pick([("1", 45.0), ("2", 32.0), ("3", 16.0), ("4", 7.0)])
        ages = sorted((rng.randint(0, 17) for _ in range(int(n_children))), reverse=True)
        parent_age = max(ages[0] + rng.randint(17, 30), rng.randint(19, 32))
        shape = self.pick(
            [("mother", 52.0), ("father", 22.0), ("both", 18.0), ("guardian", 4.0), ("mother_only_name", 4.0)]
        )
        kid_first, kid_second = father_first, mother_first
        adults: list[Human] = []
        kinds: list[str] = []
        mk: dict[str, Any] = {"country": country, "language": language, "on": on}
        if shape in ("mother", "both", "mother_only_name"):
            adults.append(self.human(sex="F", age=parent_age, first=mother_first, second=mother_second, **mk))
            kinds.append("parent")
        if shape in ("father", "both"):
            age = parent_age + rng.randint(-3, 6)
            adults.append(self.human(sex="M", age=age, first=father_first, second=father_second, **mk))
            kinds.append("parent")
        if shape == "mother_only_name":
            kid_first, kid_second = mother_first, mother_second
        if shape == "guardian":
            # The maternal grandmother as legal guardian: her surnames are not the child's.
            age = parent_age + rng.randint(18, 26)
            adults.append(self.human(sex="F", age=age, first=mother_second, second=self.surname(mayan), **mk))
            kinds.append("legal_guardian")
        children: list[Human] = []
        twins = rng.random() < 0.05
        for n, age in enumerate(ages):
            sex = rng.choice("MF")
            child = self.human(sex=sex, age=age, first=kid_first, second=kid_second, **mk)
            if twins and n == 1:
                child.dob = children[0].dob
                self.truth.twins.add(frozenset((child.hid, children[0].hid)))
            children.append(child)
        for i, a in enumerate(children):
            for b in children[i + 1 :]:
                self.truth.sibling_of.add(frozenset((a.hid, b.hid)))
        links = []
        for ai, a in enumerate(adults):
            for ci, c in enumerate(children):
                self.truth.parent_of.add((a.hid, c.hid))
                links.append((ai, ci, kinds[ai]))
        self.families.append(([a.hid for a in adults], [c.hid for c in children]))
        return adults, children, links, shape

    def group_family(self, kind: str) -> None:
        e = self.encounter(kind)
        adults, children, links, _shape = self.make_family(self.day_of(e))
        idx = [self.add(e, a, a_number_odds=0.85) for a in adults]
        idx += [self.add(e, c, a_number_odds=0.6) for c in children]
        if kind == "recorded_family":
            n = len(adults)
            self.finish(e, unit=idx, links=[(idx[a], idx[n + c], t) for a, c, t in links])
        else:
            self.finish(e)

    def single(self, e: GEncounter, *, minor: bool) -> Human:
        rng = self.rng
        on = self.day_of(e)
        age = rng.randint(6, 17) if minor else rng.randint(18, 55)
        recent = (self.humans[i] for i in range(max(0, len(self.humans) - 400), len(self.humans)))
        pool = [h for h in recent if ((on - h.dob).days < 18 * 365) == minor]
        if pool and rng.random() < 0.07:
            return self.namesake_of(rng.choice(pool), age=age, on=on)
        country, language, mayan = self.origin()
        sex = ("M" if rng.random() < 0.65 else "F") if minor else ("M" if rng.random() < 0.75 else "F")
        return self.human(
            sex=sex,
            age=age,
            first=self.surname(mayan),
            second=self.surname(mayan),
            country=country,
            language=language,
            on=on,
        )

    def group_single_adult(self) -> None:
        e = self.encounter("single_adult")
        self.add(e, self.single(e, minor=False), a_number_odds=0.9)
        self.finish(e)

    def group_unaccompanied(self) -> None:
        e = self.encounter("unaccompanied")
        first = self.single(e, minor=True)
        self.add(e, first, a_number_odds=0.6)
        if self.rng.random() < 0.25:
            sibling = self.human(
                sex=self.rng.choice("MF"),
                age=self.rng.randint(6, 17),
                first=first.first,
                second=first.second,
                country=first.country,
                language=first.language,
                on=self.day_of(e),
            )
            if self.rng.random() < 0.3:
                sibling.dob = first.dob
                self.truth.twins.add(frozenset((first.hid, sibling.hid)))
            self.truth.sibling_of.add(frozenset((first.hid, sibling.hid)))
            self.add(e, sibling, a_number_odds=0.6)
            recorded = self.rng.random() < 0.5
            self.finish(e, unit=[0, 1] if recorded else None, links=[(0, 1, "sibling")] if recorded else [])
        else:
            self.finish(e)

    def group_mixed(self) -> None:
        """Strangers apprehended together: unrelated adults and children, sometimes a family among them."""
        rng = self.rng
        seen = len(self.humans)
        e = self.encounter("mixed_group")
        adults = [self.single(e, minor=False) for _ in range(rng.randint(1, 4))]
        if seen and rng.random() < 0.2:
            adults.append(self.humans[rng.randrange(seen)])  # someone seen before
        # Strangers share a surname only by chance: the name weights make that common enough (a fifth
        # of pairs or so share one), more often than in the real records, whose surnames are more varied.
        children = [self.single(e, minor=True) for _ in range(rng.randint(1, 2))]
        family_adults: list[Human] = []
        family_children: list[Human] = []
        if rng.random() < 0.4:
            family_adults, family_children, _links, _ = self.make_family(self.day_of(e))
        for h in adults + family_adults:
            if (self.day_of(e) - h.dob).days >= 18 * 365:
                self.add(e, h, a_number_odds=0.85)
        for h in children + family_children:
            self.add(e, h, a_number_odds=0.6)
        self.finish(e)

    def group_adult_sibling(self) -> None:
        """An adult (18–23) travelling with younger siblings: same surnames, not their parent."""
        rng = self.rng
        e = self.encounter("adult_sibling")
        on = self.day_of(e)
        country, language, mayan = self.origin()
        first, second = self.surname(mayan), self.surname(mayan)
        mk: dict[str, Any] = {
            "first": first,
            "second": second,
            "country": country,
            "language": language,
            "on": on,
        }
        elder_age = rng.randint(18, 23)
        elder = self.human(sex=rng.choice("MF"), age=elder_age, **mk)
        younger = [
            self.human(sex=rng.choice("MF"), age=max(1, elder_age - rng.randint(2, 16)), **mk)
            for _ in range(rng.randint(1, 2))
        ]
        group = [elder, *younger]
        for i, a in enumerate(group):
            for b in group[i + 1 :]:
                self.truth.sibling_of.add(frozenset((a.hid, b.hid)))
        self.add(e, elder, a_number_odds=0.85)
        for y in younger:
            self.add(e, y, a_number_odds=0.6)
        self.finish(e)

    def group_reencounter(self) -> None:
        """A human entered again, alone, somewhere else: a duplicate record."""
        if not self.humans:
            return self.group_single_adult()
        h = self.humans[self.rng.randrange(len(self.humans))]
        e = self.encounter("reencounter")
        self.add(e, h, a_number_odds=0.0)
        self.finish(e)

    def group_split_family(self) -> None:
        """A parent and a child from a family on file, entered again together at another station with
        nothing linking them: two duplicates and one relationship to find."""
        if not self.families:
            return self.group_family("hidden_family")
        parents, children = self.families[self.rng.randrange(len(self.families))]
        e = self.encounter("split_family")
        parent, child = self.humans[self.rng.choice(parents)], self.humans[self.rng.choice(children)]
        if (self.day_of(e) - child.dob).days >= 18 * 365:
            self.add(e, parent, a_number_odds=0.0)
        else:
            self.add(e, parent, a_number_odds=0.0)
            self.add(e, child, a_number_odds=0.0)
        self.finish(e)

    def run(self, persons: int) -> Dataset:
        while self.record_count < persons:
            kind = self.pick([(k, float(w)) for k, w in GROUPS])
            if kind in ("recorded_family", "hidden_family"):
                self.group_family(kind)
            elif kind == "single_adult":
                self.group_single_adult()
            elif kind == "unaccompanied":
                self.group_unaccompanied()
            elif kind == "mixed_group":
                self.group_mixed()
            elif kind == "adult_sibling":
                self.group_adult_sibling()
            elif kind == "reencounter":
                self.group_reencounter()
            else:
                self.group_split_family()
        return Dataset(seed=self.seed, encounters=self.encounters, humans=self.humans, truth=self.truth)


def generate(*, persons: int, seed: int) -> Dataset:
    """The labelled data set: about `persons` person records (a group may overshoot by a few)."""
    return Generator(seed).run(persons)
