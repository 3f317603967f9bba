"""How alike two person records are, and how likely an adult and a child are family: pure functions.

Both scorers add evidence weights (log2 odds, in the manner of Fellegi–Sunter) and turn the sum
into a 0–1 score; every weight that counted leaves a readable reason. Discovery (the full pass and
the incremental pass alike) proposes a pair when its score reaches PROPOSE_AT.

Names follow DOMAIN.md: two surnames (father's first, mother's first), a child's usually the
father's first and the mother's first, U.S. forms that keep only one, swap them or drop accents;
compound given names are one name; particles belong to the surname. A name alone never proves
identity, and being encountered together never proves family.
"""

import math
import re
from dataclasses import dataclass
from datetime import date
from functools import lru_cache

from familylink.common.text import fold

PROPOSE_AT = 0.5
ADULT_AGE = 18
_PARTICLES = frozenset({"de", "del", "la", "las", "los", "y", "da", "dos", "van", "von"})


@dataclass(frozen=True)
class PersonFacts:
    """What the scorers read of a person (one row of the discovery queries)."""

    id: object
    given_names: str
    first_surname: str
    second_surname: str
    date_of_birth: date | None
    dob_estimated: bool
    sex: str
    a_number: str | None
    country: str = ""


@dataclass
class Score:
    score: float
    suggested_type: str
    reasons: list[str]


def _logistic(weight: float) -> float:
    return 1.0 / (1.0 + 2.0 ** (-weight))


@lru_cache(maxsize=200_000)
def name_tokens(text: str) -> tuple[str, ...]:
    """Folded tokens with particles dropped: 'de la Cruz' → ('cruz',), 'María José' → ('maria', 'jose')."""
    return tuple(t for t in fold(text).split() if t not in _PARTICLES)


@lru_cache(maxsize=200_000)
def surname_key(text: str) -> str:
    return " ".join(name_tokens(text))


def _levenshtein(a: str, b: str, limit: int = 3) -> int:
    if a == b:
        return 0
    if abs(len(a) - len(b)) > limit:
        return limit + 1
    previous = list(range(len(b) + 1))
    for i, ca in enumerate(a, 1):
        current = [i]
        for j, cb in enumerate(b, 1):
            current.append(min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (ca != cb)))
        if min(current) > limit:
            return limit + 1
        previous = current
    return previous[-1]


_SIMPLIFY = [
    (re.compile(r"[^a-z]"), ""),
    (re.compile(r"(.)\1+"), r"\1"),  # doubled letters
    (re.compile(r"^h"), ""),
    (re.compile(r"([^c])h"), r"\1"),
    (re.compile(r"qu"), "k"),
    (re.compile(r"c([aou])"), r"k\1"),
    (re.compile(r"[zs]"), "s"),
    (re.compile(r"c([ei])"), r"s\1"),
    (re.compile(r"[vb]"), "b"),
    (re.compile(r"y"), "i"),
    (re.compile(r"ll"), "i"),
    (re.compile(r"x"), "j"),
    (re.compile(r"w"), "u"),
]


@lru_cache(maxsize=200_000)
def sounds(token: str) -> str:
    """A Spanish/Mayan-spelling-tolerant sound key: 'Xuc'/'Juc', 'Quiché'/'Kiche', 'Yax'/'Iax'."""
    text = token
    for pattern, repl in _SIMPLIFY:
        text = pattern.sub(repl, text)
    return text


def tokens_alike(a: str, b: str) -> bool:
    """One typo (two in a long name) or the same sound."""
    if a == b:
        return True
    if not a or not b:
        return False
    allowed = 1 if max(len(a), len(b)) < 8 else 2
    if _levenshtein(a, b, allowed) <= allowed:
        return True
    return sounds(a) == sounds(b)


def _given_evidence(p: PersonFacts, q: PersonFacts) -> tuple[float, str]:
    gp, gq = name_tokens(p.given_names), name_tokens(q.given_names)
    if not gp or not gq:
        return 0.0, ""
    if gp == gq:
        return 5.0, "same given names"
    shorter, longer = (gp, gq) if len(gp) <= len(gq) else (gq, gp)
    if all(any(tokens_alike(s, t) for t in longer) for s in shorter):
        if len(shorter) == len(longer):
            return 3.5, "given names alike (spelling)"
        # 'María' for 'María José': a form kept one of the compound name's parts.
        return 3.0, "one given name of the compound name kept"
    if len(shorter) == len(longer) and len(gp) > 1 and tokens_alike(gp[0], gq[0]):
        # 'José Luis' and 'José Carlos': brothers far more often than one person.
        return -6.0, "different second given name"
    return -8.0, "different given names"


def _surnames(p: PersonFacts) -> tuple[str, str]:
    return surname_key(p.first_surname), surname_key(p.second_surname)


def _surname_evidence(p: PersonFacts, q: PersonFacts) -> tuple[float, str]:
    p1, p2 = _surnames(p)
    q1, q2 = _surnames(q)
    if not (p1 or p2) or not (q1 or q2):
        return 0.0, ""
    if (p1, p2) == (q1, q2):
        return 5.0, "same surnames"
    alike = tokens_alike
    if p1 and p2 and q1 and q2:
        if alike(p1, q1) and alike(p2, q2):
            return 4.0, "surnames alike (spelling)"
        if alike(p1, q2) and alike(p2, q1):
            return 3.5, "surnames in the other order"
        # Same first surname, different second: cousins and half-siblings look like this.
        return -5.0, "different second surname"
    # One record kept a single surname (U.S. forms), or filed the second as the last name.
    ps, qs = [s for s in (p1, p2) if s], [s for s in (q1, q2) if s]
    one, other = (qs, ps) if len(qs) <= len(ps) else (ps, qs)
    if len(one) == 1 and any(alike(one[0], s) for s in other):
        if alike(one[0], other[0]):
            return 2.5, "second surname dropped on one record"
        return 2.0, "only the second surname kept on one record"
    return -8.0, "no surname in common"


def _dob_evidence(p: PersonFacts, q: PersonFacts) -> tuple[float, str]:
    a, b = p.date_of_birth, q.date_of_birth
    if a is None or b is None:
        return -1.0, "date of birth missing on one record"
    estimated = p.dob_estimated or q.dob_estimated
    if a == b:
        return (2.0, "same estimated birth date") if estimated else (5.0, f"same date of birth {a:%Y-%m-%d}")
    if estimated and abs(a.year - b.year) <= 1:
        return 1.5, f"birth year {a.year} / {b.year}, one estimated"
    if a.year == b.year and a.month == b.day and a.day == b.month:
        return 2.5, f"day and month swapped ({a:%Y-%m-%d} / {b:%Y-%m-%d})"
    if (a.month, a.day) == (b.month, b.day) and abs(a.year - b.year) == 1:
        return 2.0, f"birth year off by one ({a.year} / {b.year})"
    if a.year == b.year and a.month == b.month and _levenshtein(f"{a.day:02d}", f"{b.day:02d}", 1) <= 1:
        return 2.0, f"one digit of the birth day differs ({a:%Y-%m-%d} / {b:%Y-%m-%d})"
    if a.year == b.year and a.day == b.day and _levenshtein(f"{a.month:02d}", f"{b.month:02d}", 1) <= 1:
        return 1.5, f"one digit of the birth month differs ({a:%Y-%m-%d} / {b:%Y-%m-%d})"
    if (a.month, a.day) == (b.month, b.day) and _levenshtein(str(a.year), str(b.year), 1) <= 1:
        return 1.5, f"one digit of the birth year differs ({a.year} / {b.year})"
    return -12.0, f"different dates of birth ({a:%Y-%m-%d} / {b:%Y-%m-%d})"


def a_number_slip(a: str, b: str) -> str:
    """'' unless the two A-numbers differ by one typed digit or two neighbouring digits swapped."""
    if len(a) != len(b) or a == b:
        return ""
    diffs = [i for i, (x, y) in enumerate(zip(a, b, strict=True)) if x != y]
    if len(diffs) == 1:
        return "one digit"
    if (
        len(diffs) == 2
        and diffs[1] == diffs[0] + 1
        and a[diffs[0]] == b[diffs[1]]
        and a[diffs[1]] == b[diffs[0]]
    ):
        return "two neighbouring digits swapped"
    return ""


def duplicate_score(p: PersonFacts, q: PersonFacts) -> Score:
    """How likely two records are one human entered twice (never called for persons seen together)."""
    weight = -6.0
    reasons: list[str] = []
    for evidence in (_given_evidence(p, q), _surname_evidence(p, q), _dob_evidence(p, q)):
        weight += evidence[0]
        if evidence[1]:
            reasons.append(evidence[1])
    if p.sex in "FM" and q.sex in "FM" and p.sex and q.sex:
        if p.sex != q.sex:
            weight -= 8.0
            reasons.append("different sex")
        else:
            weight += 0.5
    if p.country and q.country and p.country != q.country:
        weight -= 2.0
        reasons.append(f"different citizenship ({p.country} / {q.country})")
    if p.a_number and q.a_number:
        slip = a_number_slip(p.a_number, q.a_number)
        if slip:
            weight += 3.0
            reasons.append(f"A-numbers {p.a_number} / {q.a_number} differ by {slip}")
        else:
            weight -= 1.0
            reasons.append(f"different A-numbers {p.a_number} / {q.a_number} (a new A-number?)")
    elif p.a_number or q.a_number:
        reasons.append("A-number on one record only")
    return Score(round(_logistic(weight), 3), "same_person", reasons)


def years_between(older: date, younger: date) -> float:
    return (younger - older).days / 365.25


def age_on(dob: date | None, day: date) -> int | None:
    if dob is None:
        return None
    return day.year - dob.year - ((day.month, day.day) < (dob.month, dob.day))


def relationship_score(
    adult: PersonFacts, child: PersonFacts, *, together: str, other_adults: int = 0
) -> Score:
    """How likely an adult and a child encountered together are family, and how (parent first).

    `together` is the readable shared encounter ("same apprehension 2018-06-01 EPT"). Being together
    counts for little on its own: an unrelated adult and child in one event share no surname, and
    twins, siblings and namesakes are told apart by the age gap and the surname pattern.
    """
    reasons = [together]
    a1, a2 = _surnames(adult)
    c1, c2 = _surnames(child)
    weight = -4.0 - 0.5 * min(other_adults, 4)
    pattern = ""
    if c1 and c2 and (c1, c2) == (a1, a2):
        pattern = "both"
        weight += 5.0
        reasons.append("same two surnames")
    elif c1 and a1 and c1 == a1:
        pattern = "father"
        weight += 6.0
        reasons.append("child's first surname = adult's first surname")
    elif c2 and a1 and c2 == a1:
        pattern = "mother"
        weight += 6.0
        reasons.append("child's second surname = adult's first surname")
    elif c1 and a2 and c1 == a2 or c2 and a2 and c2 == a2:
        pattern = "other"
        weight += 3.0
        reasons.append("child and adult share a surname (not in a parent's place)")
    elif c1 and a1 and tokens_alike(c1, a1) or c2 and a1 and tokens_alike(c2, a1):
        pattern = "alike"
        weight += 4.0
        reasons.append("child's surname spelled like the adult's first surname")
    else:
        reasons.append("no surname in common")
        weight -= 4.0

    gap = None
    if adult.date_of_birth and child.date_of_birth:
        gap = years_between(adult.date_of_birth, child.date_of_birth)
        reasons.append(f"born {gap:.0f} years apart")
    suggested = "parent"
    if gap is None:
        weight -= 0.5
    elif gap < 12:
        # Not a parent: an adult brother or sister, or a cousin.
        suggested = "sibling" if pattern == "both" else "other_relative"
        weight += 1.0 if pattern == "both" else -3.0
    elif gap > 50:
        suggested = "grandparent"
        weight += 0.5
    elif 15 <= gap <= 45:
        weight += 2.0
    if suggested == "parent":
        if pattern == "father" and adult.sex == "F" or pattern == "mother" and adult.sex == "M":
            weight -= 1.5
            reasons.append("surname in the other parent's place for the adult's sex")
        elif pattern in ("father", "mother") and adult.sex in "FM" and adult.sex:
            weight += 0.5
    return Score(round(_logistic(weight), 3), suggested, reasons)


def facts_from(row: dict) -> PersonFacts:
    return PersonFacts(
        id=row["id"],
        given_names=row["given_names"] or "",
        first_surname=row["first_surname"] or "",
        second_surname=row["second_surname"] or "",
        date_of_birth=row["date_of_birth"],
        dob_estimated=bool(row["dob_estimated"]),
        sex=row["sex"] or "U",
        a_number=row["a_number"],
        country=row.get("country_of_citizenship") or "",
    )


def clamp(value: float) -> float:
    return max(0.0, min(1.0, value if math.isfinite(value) else 0.0))
