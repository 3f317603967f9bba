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
from dataclasses import dataclass, field
from datetime import date
from functools import lru_cache
from typing import Any

from familylink.common.text import fold

PROPOSE_AT = 0.5
ADULT_AGE = 18
_PARTICLES = frozenset({"de", "del", "la", "las", "los", "y", "da", "dos", "van", "von"})


@dataclass(frozen=True)
class PersonFacts:
    """What the scorers read of a person (one row of the discovery queries)."""

    id: Any
    given_names: str
    first_surname: str
    second_surname: str
    date_of_birth: date | None
    dob_estimated: bool
    sex: str
    a_number: str | None
    country: str = ""
    # Blocking sound codes (SQL linkage_gkey / linkage_skey): the keys of NameFrequencies.
    g: str = ""
    s1: str = ""
    s2: str = ""


@dataclass
class NameFrequencies:
    """How common each given-name and surname sound is among the persons on file.

    Agreeing on a rare name is strong evidence, on a very common one weak (term-frequency
    adjustment); the prior odds that two records are one human fall as the file grows.
    """

    total: int = 0
    given: dict[str, int] = field(default_factory=dict)
    first: dict[str, int] = field(default_factory=dict)
    second: dict[str, int] = field(default_factory=dict)

    def share(self, table: dict[str, int], code: str) -> float:
        if not code or not table:
            return 0.02  # no counts (or no sound code): a fairly common name
        return min(1.0, max(table.get(code, 1), 1) / max(self.total, 1))

    def prior(self) -> float:
        """log2 odds that two records are one human before any evidence. About one record in ten
        is a re-entry of someone on file (re-encounters, families split and entered again): of the
        N(N - 1)/2 pairs of a file of N records, about 0.1 N are one human, 0.2 / N of them."""
        return math.log2(0.2 / max(self.total, 1000))


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
    """Edit distance counting two neighbouring letters swapped as one edit (optimal string
    alignment): 'Joés'/'José', 'Krala'/'Karla' are one slip of the hand, not two."""
    if a == b:
        return 0
    if abs(len(a) - len(b)) > limit:
        return limit + 1
    before: list[int] = []
    previous = list(range(len(b) + 1))
    for i, ca in enumerate(a, 1):
        current = [i]
        for j, cb in enumerate(b, 1):
            cost = min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (ca != cb))
            if i > 1 and j > 1 and ca == b[j - 2] and a[i - 2] == cb:
                cost = min(cost, before[j - 2] + 1)
            current.append(cost)
        if min(current) > limit:
            return limit + 1
        before, previous = previous, current
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


@lru_cache(maxsize=500_000)
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


def _agree(m: float, share: float, cap: float = 8.0) -> float:
    """log2(m/u) for agreeing on a value held by `share` of the file, capped so no single name
    outweighs a contradicting date of birth."""
    return max(1.0, min(cap, math.log2(m / max(share, 1e-9))))


def _given_evidence(p: PersonFacts, q: PersonFacts, freq: NameFrequencies) -> tuple[float, str]:
    gp, gq = name_tokens(p.given_names), name_tokens(q.given_names)
    if not gp or not gq:
        return 0.0, ""
    agree = _agree(0.9, freq.share(freq.given, p.g or q.g))
    if gp == gq:
        return agree, "same given names"
    shorter, longer = (gp, gq) if len(gp) <= len(gq) else (gq, gp)
    if all(any(tokens_alike(s, t) for t in longer) for s in shorter):
        if len(shorter) == len(longer):
            return agree - 1.5, "given names alike (spelling)"
        # 'María' for 'María José': a form kept the first part of the compound name (usual), or
        # only a later part (less usual, and how a sibling's name often looks).
        if tokens_alike(shorter[0], longer[0]):
            return agree - 1.5, "one given name of the compound name kept"
        return agree - 3.5, "only a later part of the compound given name kept"
    if len(shorter) == len(longer) and len(gp) > 1 and tokens_alike(gp[0], gq[0]):
        # 'José Luis' and 'José Carlos': brothers (twins, even) far more often than one person.
        return -12.0, "different second given name"
    # Twins and siblings share surnames and even a birth date; a whole new given name is rarer
    # in a re-entry than a new date of birth.
    return -12.0, "different given names"


def _surnames(p: PersonFacts) -> tuple[str, str]:
    return surname_key(p.first_surname), surname_key(p.second_surname)


def _surname_evidence(p: PersonFacts, q: PersonFacts, freq: NameFrequencies) -> tuple[float, str]:
    p1, p2 = _surnames(p)
    q1, q2 = _surnames(q)
    if not (p1 or p2) or not (q1 or q2):
        return 0.0, ""
    first = _agree(0.9, freq.share(freq.first, p.s1 or q.s1), cap=7.0)
    second = _agree(0.9, freq.share(freq.second, p.s2 or q.s2), cap=7.0)
    if (p1, p2) == (q1, q2):
        return first + (second if p2 else 0.0), "same surnames"
    alike = tokens_alike
    if p1 and p2 and q1 and q2:
        if alike(p1, q1) and alike(p2, q2):
            return first + second - 2.0, "surnames alike (spelling)"
        if alike(p1, q2) and alike(p2, q1):
            return first + second - 1.5, "surnames in the other order"
        # Same first surname, another second one: cousins and half-siblings look like this.
        if alike(p1, q1):
            return first - 7.0, "different second surname"
        return -8.0, "different surnames"
    # One record kept a single surname (U.S. forms), or filed the second as the last name.
    ps, qs = [s for s in (p1, p2) if s], [s for s in (q1, q2) if s]
    one, other = (qs, ps) if len(qs) <= len(ps) else (ps, qs)
    if len(one) == 1 and any(alike(one[0], s) for s in other):
        if alike(one[0], other[0]):
            return first - 1.0, "second surname dropped on one record"
        return second - 1.5, "only the second surname kept on one record"
    return -8.0, "no surname in common"


# Dates of birth in the file spread over about 60 years: two people share one by chance about
# once in 22,000 pairs; a typed slip of each kind is rarer still in a true re-entry.
_DOB_EXACT = math.log2(0.85 * 22_000)


def _dob_evidence(p: PersonFacts, q: PersonFacts) -> tuple[float, str]:
    """Dates compared as dates: a day off (across a month or year end too), day and month swapped,
    a year off; an estimated date is a birth year, not a day."""
    a, b = p.date_of_birth, q.date_of_birth
    if a is None or b is None:
        return 0.0, "date of birth missing on one record"
    estimated = p.dob_estimated or q.dob_estimated
    if a == b:
        if estimated:
            return 5.5, "same estimated birth date"
        return _DOB_EXACT, f"same date of birth {a:%Y-%m-%d}"
    if estimated and a.year == b.year:
        return 6.5, f"same birth year {a.year}, one date estimated"
    if estimated and abs(a.year - b.year) == 1:
        return 2.5, f"birth year {a.year} / {b.year}, one estimated"
    if abs((a - b).days) == 1:
        return 10.5, f"birth dates a day apart ({a:%Y-%m-%d} / {b:%Y-%m-%d})"
    if a.year == b.year and a.month == b.day and a.day == b.month:
        return 9.0, f"day and month swapped ({a:%Y-%m-%d} / {b:%Y-%m-%d})"
    if (a.month, a.day) == (b.month, b.day) and abs(a.year - b.year) == 1:
        return 9.0, f"birth year off by one ({a.year} / {b.year})"
    if a.year == b.year and a.month == b.month and _levenshtein(f"{a.day:02d}", f"{b.day:02d}", 1) <= 1:
        return 7.0, f"one digit of the birth day differs ({a:%Y-%m-%d} / {b:%Y-%m-%d})"
    if a.year == b.year and a.day == b.day and _levenshtein(f"{a.month:02d}", f"{b.month:02d}", 1) <= 1:
        return 6.0, f"one digit of the birth month differs ({a:%Y-%m-%d} / {b:%Y-%m-%d})"
    if (a.month, a.day) == (b.month, b.day) and _levenshtein(str(a.year), str(b.year), 1) <= 1:
        return 5.5, f"one digit of the birth year differs ({a.year} / {b.year})"
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


# The most the remaining evidence can add, to stop scoring a pair that can no longer reach the cutoff.
_MAX_GIVEN, _MAX_SURNAMES, _MAX_OTHER = 8.0, 14.0, 1.5 + 8.0
_NO_FREQUENCIES = NameFrequencies()


def duplicate_score(
    p: PersonFacts, q: PersonFacts, *, freq: NameFrequencies | None = None, cutoff: float | None = None
) -> Score | None:
    """How likely two records are one human entered twice (never called for persons seen together).

    Evidence in log2 odds (Fellegi–Sunter weights, names adjusted for how common they are in the
    file). With `cutoff`, returns None as soon as the pair can no longer reach it: the full pass
    meets millions of blocked pairs that are plainly two people.
    """
    freq = freq or _NO_FREQUENCIES
    floor = -math.inf if cutoff is None else math.log2(cutoff / (1 - cutoff)) if 0 < cutoff < 1 else 0.0
    weight = freq.prior()
    reasons: list[str] = []
    dob_weight, dob_reason = _dob_evidence(p, q)
    weight += dob_weight
    if weight + _MAX_GIVEN + _MAX_SURNAMES + _MAX_OTHER < floor:
        return None
    given_weight, given_reason = _given_evidence(p, q, freq)
    weight += given_weight
    if weight + _MAX_SURNAMES + _MAX_OTHER < floor:
        return None
    surname_weight, surname_reason = _surname_evidence(p, q, freq)
    weight += surname_weight
    if weight + _MAX_OTHER < floor:
        return None
    for reason in (given_reason, surname_reason, dob_reason):
        if reason:
            reasons.append(reason)
    if p.sex in ("F", "M") and q.sex in ("F", "M"):
        if p.sex != q.sex:
            weight -= 6.0
            reasons.append("different sex")
        else:
            weight += 1.0
    if p.country and q.country:
        if p.country != q.country:
            weight -= 3.0
            reasons.append(f"different citizenship ({p.country} / {q.country})")
        else:
            weight += 0.5
    if p.a_number and q.a_number:
        slip = a_number_slip(p.a_number, q.a_number)
        if slip:
            weight += 8.0
            reasons.append(f"A-numbers {p.a_number} / {q.a_number} differ by {slip}")
        else:
            # An agent who does not find the earlier record has a new A-number issued: common.
            weight -= 1.5
            reasons.append(f"different A-numbers {p.a_number} / {q.a_number} (a new A-number?)")
    elif p.a_number or q.a_number:
        reasons.append("A-number on one record only")
    return Score(round(_logistic(weight), 3), "same_person", reasons)


def contradictions(p: PersonFacts, q: PersonFacts) -> list[str]:
    """What in two records says they are two people: "given names", "surnames", "date of birth"
    (evidence against, as `duplicate_score` weighs it: a spelling slip, a surname dropped, a date
    of birth typed with a usual slip or estimated in the same year are not contradictions; a fact
    missing on either record is none either)."""
    found = []
    if _given_evidence(p, q, _NO_FREQUENCIES)[0] < 0:
        found.append("given names")
    if _surname_evidence(p, q, _NO_FREQUENCIES)[0] < 0:
        found.append("surnames")
    if _dob_evidence(p, q)[0] < 0:
        found.append("date of birth")
    return found


def years_between(older: date, younger: date) -> float:
    return (younger - older).days / 365.25


def age_on(dob: date | None, day: date) -> int | None:
    if dob is None:
        return None
    return day.year - dob.year - ((day.month, day.day) < (dob.month, dob.day))


def _surname_pattern(a1: str, a2: str, c1: str, c2: str) -> tuple[str, float, str]:
    """Which of the adult's surnames (a1, a2) the child (c1, c2) carries, and where."""
    if c1 and c2 and (c1, c2) == (a1, a2):
        return "both", 5.0, "same two surnames"
    if c1 and a1 and c1 == a1:
        return "father", 6.0, "child's first surname = adult's first surname"
    if c2 and a1 and c2 == a1:
        return "mother", 6.0, "child's second surname = adult's first surname"
    if c1 and a2 and c1 == a2 or c2 and a2 and c2 == a2:
        return "other", 3.0, "child and adult share a surname (not in a parent's place)"
    if c1 and a1 and tokens_alike(c1, a1) or c2 and a1 and tokens_alike(c2, a1):
        return "alike", 4.0, "child's surname spelled like the adult's first surname"
    return "none", -4.0, "no surname in common"


def relationship_score(
    adult: PersonFacts, child: PersonFacts, *, together: str, other_adults: int = 0
) -> Score:
    """How likely an adult and a child encountered together are family, and how (parent first).

    `together` is the readable shared encounter ("same apprehension 2018-06-01 EPT"). Being together
    counts for little on its own: an unrelated adult and child in one event share no surname, and
    twins, siblings and namesakes are told apart by the age gap and the surname pattern. A parent
    shares ONE surname with the child in a parent's place (the father's first is the child's first,
    the mother's first the child's second); both surnames in the same order are a brother's or
    sister's, or a mother's whose child is registered under her surnames only. Strangers in a group
    share a surname by chance more often than a lone adult with a child does.
    """
    reasons = [together]
    a1, a2 = _surnames(adult)
    c1, c2 = _surnames(child)
    weight = -3.25 - 1.0 * min(other_adults, 4)
    pattern, pattern_weight, pattern_reason = _surname_pattern(a1, a2, c1, c2)
    weight += pattern_weight
    reasons.append(pattern_reason)
    # A record that kept one surname (U.S. forms) hides which parent's place it held, and the
    # dropped one may be the surname a parent shares: neither the place nor its absence counts much.
    one_kept = not (a1 and a2) or not (c1 and c2)
    if one_kept and pattern == "none":
        weight += 3.0
        reasons.append("one record kept a single surname")
    if other_adults == 0:
        weight += 2.5
        reasons.append("the only adult with the child")

    gap = None
    if adult.date_of_birth and child.date_of_birth:
        gap = years_between(adult.date_of_birth, child.date_of_birth)
        reasons.append(f"born {gap:.0f} years apart")
    suggested = "parent"
    if gap is None:
        weight -= 0.5
    elif pattern == "both" and (adult.sex != "F" or gap < 16):
        # Both surnames in the same order: a brother or sister (a father's child carries the
        # mother's surname second; a mother young enough to be a sister is rarer than a sister).
        suggested = "sibling" if gap < 25 else "other_relative"
        reasons.append("same surnames in the same order: a sibling's, not a parent's")
    elif gap < 12:
        # Not a parent: an adult brother or sister, or a cousin.
        suggested = "other_relative"
        weight -= 3.0
    elif pattern == "none" and other_adults == 0 and gap >= 35:
        # Old enough to be a grandparent and the only adult with the child: a grandmother or
        # another relative in charge of the child, whose surnames need not be the child's.
        suggested = "legal_guardian"
        weight += 8.0
        reasons.append("old enough to be a grandparent, the only adult with the child: a guardian?")
    elif gap > 50:
        suggested = "grandparent"
        weight += 0.5
    elif 15 <= gap <= 45:
        weight += 2.0
    if suggested == "parent":
        if pattern == "both":
            weight -= 2.0
            reasons.append("the child may be registered under the mother's surnames only")
        elif not one_kept and (
            pattern == "father" and adult.sex == "F" or pattern == "mother" and adult.sex == "M"
        ):
            weight -= 2.5
            reasons.append("surname in the other parent's place for the adult's sex")
        elif pattern in ("father", "mother") and adult.sex in "FM" and adult.sex:
            weight += 0.5
    return Score(round(_logistic(weight), 3), suggested, reasons)
