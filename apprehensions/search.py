"""Person search that finds the person: names in any order, with typos, without accents or the
second surname; A-numbers in any spelling; and what the analyst also knows (date of birth or age,
country, station, sex, when they were encountered) used to rank, not to filter.

How (one path for the persons page and the API's `q`):
1. Each query word is expanded against the vocabulary of name words on file
   (`apprehensions_name_token`, kept by triggers): the same word, one or two edits apart by word
   length (a swap of two letters is one), alike in letter triples, the same double-metaphone key
   when the spelling is close too (Spanish spellings: Xochitl/Sochitl, Vasquez/Basquez), or the
   start of a word.
2. Candidates: persons whose name holds an expansion of all but one of the query words (a GIN index
   on the name's words). Looser expansions, then any two words (of four or more), are tried only
   while nothing found yet scores what that looser stage could add. With a date of birth, everyone
   born within a week of it (or on its usual slips) is a candidate too, whatever the name index
   found, and a strong name among them ends the looser stages.
3. Each distinct candidate name gets a word-by-word score (every query word against its best name
   word, weighted by length; a name word the query left out costs a little). Names under
   `PERSON_SEARCH_MIN_SCORE` are dropped (the setting is applied here, in Python, not left to
   pg_trgm's default).
4. The persons bearing the best names are read with the other evidence, which adds to the score;
   ties go to the person with more evidence, then the most recently encountered.
Every result carries the reasons it matched.
"""

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from itertools import combinations
from typing import Any

from django.conf import settings
from django.contrib.postgres.fields import ArrayField
from django.core.exceptions import EmptyResultSet
from django.db import connection
from django.db.models import (
    F,
    FloatField,
    Func,
    IntegerField,
    Q,
    QuerySet,
    TextField,
    Value,
)
from django.db.models.expressions import RawSQL
from django.utils import timezone

from familylink.common.countries import country_code, country_name
from familylink.common.errors import ValidationFailed
from familylink.common.text import fold

from .anumber import InvalidANumber, normalize_a_number
from .models import Person, Station

# The rank-only evidence a search may give, as page and API parameters.
RANK_PARAMS = ("born", "age", "country", "sex", "seen_at", "seen_from", "seen_to")

DOB_NEAR_DAYS = 7
DOB_STRONG = 0.8
BONUS = {
    "a_number": 2.0,
    "dob_exact": 0.30,
    "dob_slip": 0.15,
    "dob_near": 0.10,
    "dob_other": -0.10,
    "dob_year": 0.05,
    "age_exact": 0.15,
    "age_near": 0.05,
    "country": 0.05,
    "station": 0.05,
    "sex": 0.05,
    "sex_other": -0.05,
    "seen": 0.05,
}
# Two words this alike in letter triples count as a misspelling of each other (scaled by 0.9).
WORD_TRIGRAM_MIN = 0.35
MAX_WORDS = 6
# The name words on file a query word may stand for, at most, the closest first. Real names have a
# handful each; a vocabulary of look-alikes (numbered test names, codes typed as names) gave one word
# thousands, and one search took 461 s at 1,000,000 persons (bench/load.py).
MAX_EXPANSIONS = 40


def min_score() -> float:
    return float(getattr(settings, "PERSON_SEARCH_MIN_SCORE", 0.6))


def max_results() -> int:
    return int(getattr(settings, "PERSON_SEARCH_MAX_RESULTS", 100))


@dataclass
class Evidence:
    """What the analyst knows besides the name; each adds to the score of the persons it fits."""

    born: date | None = None
    born_year: int | None = None
    age: int | None = None
    country: str | None = None
    sex: str | None = None
    station_id: Any = None
    station_code: str = ""
    seen_from: date | None = None
    seen_to: date | None = None

    def other_bonus_max(self) -> float:
        """The most that evidence other than the date of birth (which has its own candidates) can
        add, so a name this far under the cut can still climb into the results."""
        return (
            (BONUS["age_exact"] if self.age is not None else 0.0)
            + (BONUS["dob_year"] if self.born_year is not None else 0.0)
            + (BONUS["country"] if self.country else 0.0)
            + (BONUS["station"] if self.station_id is not None else 0.0)
            + (BONUS["sex"] if self.sex else 0.0)
            + (BONUS["seen"] if self.seen_from or self.seen_to else 0.0)
        )

    def __bool__(self) -> bool:
        return any(
            v not in (None, "")
            for v in (
                self.born,
                self.born_year,
                self.age,
                self.country,
                self.sex,
                self.station_id,
                self.seen_from,
                self.seen_to,
            )
        )


@dataclass
class Parsed:
    words: list[str]
    a_numbers: list[str]
    dates: list[date]


@dataclass
class Match:
    person_id: Any
    score: float
    reasons: list[str] = field(default_factory=list)


def _date(name: str, value: str) -> date:
    try:
        return date.fromisoformat(value.strip())
    except ValueError as exc:
        raise ValidationFailed({name: [f"{name} {value!r} is not a date; use YYYY-MM-DD."]}) from exc


def evidence_from(params: Mapping[str, Any]) -> Evidence:
    """Read the rank-only parameters; a bad value raises ValidationFailed naming the parameter."""
    ev = Evidence()
    born = str(params.get("born") or "").strip()
    if born:
        if born.isdigit() and len(born) == 4:
            ev.born_year = int(born)
        else:
            ev.born = _date("born", born)
    age = str(params.get("age") or "").strip()
    if age:
        if not age.isdigit() or int(age) > 120:
            raise ValidationFailed({"age": [f"age {age!r} is not an age in years; give a number, e.g. 7."]})
        ev.age = int(age)
    country = str(params.get("country") or "").strip()
    if country:
        ev.country = country_code(country)
        if ev.country is None:
            raise ValidationFailed(
                {
                    "country": [
                        f"country {country!r} names no country; give its name or code, e.g. Guatemala or GT."
                    ]
                }
            )
    sex = str(params.get("sex") or "").strip().upper()[:1]
    if sex:
        if sex not in Person.Sex.values:
            raise ValidationFailed({"sex": [f"sex {params.get('sex')!r} is not one of F, M, X, U."]})
        ev.sex = sex
    seen_at = str(params.get("seen_at") or "").strip().upper()
    if seen_at:
        station = Station.objects.filter(code=seen_at).first()
        if station is None:
            raise ValidationFailed({"seen_at": [f"Unknown station {seen_at!r}; see GET /api/v1/stations/."]})
        ev.station_id, ev.station_code = station.pk, station.code
    for name in ("seen_from", "seen_to"):
        value = str(params.get(name) or "").strip()
        if value:
            setattr(ev, name, _date(name, value))
    if ev.seen_from and ev.seen_to and ev.seen_from > ev.seen_to:
        raise ValidationFailed({"seen_to": ["seen_to is before seen_from; swap them."]})
    return ev


def parse_query(q: str) -> Parsed:
    """Split `q` into name words, A-numbers (any accepted spelling) and dates (YYYY-MM-DD)."""
    words: list[str] = []
    a_numbers: list[str] = []
    dates: list[date] = []
    raw = (q or "").strip()
    # An A-number may be written with spaces or dashes between its digit groups: try the whole first.
    for candidate in (raw, *raw.split()):
        try:
            a_numbers.append(normalize_a_number(candidate))
        except InvalidANumber:
            continue
        if candidate == raw:
            return Parsed([], a_numbers, [])
    for token in raw.split():
        try:
            dates.append(date.fromisoformat(token))
            continue
        except ValueError:
            pass
        try:
            normalize_a_number(token)
            continue
        except InvalidANumber:
            pass
        words.extend(w for w in fold(token).split() if not w.isdigit())
    # A repeated word stays: "Cardona Cardona" asks for a name with that surname twice.
    words.sort(key=len, reverse=True)
    return Parsed(words[:MAX_WORDS], a_numbers, dates)


# --- word similarity -------------------------------------------------------------------------


@dataclass
class WordMatch:
    sim: float
    how: str  # same, spelling, sound, start


def _allowed_edits(word: str) -> int:
    return 0 if len(word) <= 2 else 1 if len(word) <= 4 else 2


def osa_distance(a: str, b: str) -> int:
    """Edits between two words, a swap of two neighbouring letters counting as one (optimal string
    alignment): "vaqsuez" is 1 from "vasquez" (Levenshtein says 2)."""
    rows = [list(range(len(b) + 1))]
    for i in range(1, len(a) + 1):
        row = [i] + [0] * len(b)
        for j in range(1, len(b) + 1):
            cost = 0 if a[i - 1] == b[j - 1] else 1
            row[j] = min(rows[i - 1][j] + 1, row[j - 1] + 1, rows[i - 1][j - 1] + cost)
            if i > 1 and j > 1 and a[i - 1] == b[j - 2] and a[i - 2] == b[j - 1]:
                row[j] = min(row[j], rows[i - 2][j - 2] + 1)
        rows.append(row)
    return rows[-1][-1]


def expand_words(words: list[str]) -> dict[str, dict[str, WordMatch]]:
    """For each query word, the name words on file it may stand for, with how alike they are."""
    if not words:
        return {}
    with connection.cursor() as cursor:
        cursor.execute(
            """
            SELECT q.word, v.token, levenshtein_less_equal(q.word, v.token, 3) AS d,
                   similarity(q.word, v.token) AS trigram,
                   (v.dmeta <> '' AND (v.dmeta = dmetaphone(q.word) OR v.dmeta_alt = dmetaphone_alt(q.word)))
                       AS sound,
                   (length(q.word) >= 3 AND v.token LIKE q.word || '%%') AS start
            FROM (SELECT DISTINCT unnest(%s::text[])) AS q(word)
            JOIN apprehensions_name_token v
              ON levenshtein_less_equal(q.word, v.token, 3) <= 3
              OR similarity(q.word, v.token) >= %s
              OR (v.dmeta <> '' AND (v.dmeta = dmetaphone(q.word) OR v.dmeta_alt = dmetaphone_alt(q.word)))
              OR (length(q.word) >= 3 AND v.token LIKE q.word || '%%')
            """,
            [words, WORD_TRIGRAM_MIN],
        )
        rows = cursor.fetchall()
    out: dict[str, dict[str, WordMatch]] = {w: {} for w in words}
    for word, token, lev, trigram, sound, start in rows:
        best: WordMatch | None = None
        d = osa_distance(word, token) if lev > 1 else lev
        if d == 0:
            best = WordMatch(1.0, "same")
        elif d <= _allowed_edits(word):
            best = WordMatch(1.0 - d / max(len(word), len(token)), "spelling")
        if trigram >= WORD_TRIGRAM_MIN and (best is None or best.sim < trigram * 0.9):
            best = WordMatch(round(trigram * 0.9, 3), "spelling")
        # Double metaphone folds many Spanish surnames together (García and Cruz are both KRS):
        # a sound-alike counts only when the spelling is close too.
        if sound and len(word) >= 3 and d <= max(2, len(word) // 3) and (best is None or best.sim < 0.8):
            best = WordMatch(0.8, "sound")
        if start and (best is None or best.sim < 0.75):
            best = WordMatch(0.75, "start")
        if best is not None:
            out[word][token] = best
    for word, found in out.items():
        if len(found) > MAX_EXPANSIONS:
            closest = sorted(found.items(), key=lambda item: (-item[1].sim, item[0]))[:MAX_EXPANSIONS]
            out[word] = dict(closest)
    return out


def strict(match: WordMatch) -> bool:
    return match.how in ("same", "sound", "start") or match.sim >= 0.8


def name_score(words: list[str], name: str, sims: dict[str, dict[str, WordMatch]]) -> tuple[float, list[str]]:
    """How well the name's words answer the query's (0–1), and the words of the explanation."""
    tokens = name.split()
    used: set[int] = set()
    total = weight = 0.0
    notes: list[str] = []
    positions: list[int] = []
    for word in words:
        w = max(len(word), 3)
        weight += w
        best, best_i = None, -1
        for i, token in enumerate(tokens):
            if i in used:
                continue
            m = sims.get(word, {}).get(token)
            if m is not None and (best is None or m.sim > best.sim):
                best, best_i = m, i
        if best is None:
            notes.append(f"“{word}” not in the name")
            continue
        used.add(best_i)
        positions.append(best_i)
        total += w * best.sim
        if best.how == "spelling":
            notes.append(f"“{word}” ≈ {tokens[best_i]} (spelling)")
        elif best.how == "sound":
            notes.append(f"“{word}” sounds like {tokens[best_i]}")
        elif best.how == "start":
            notes.append(f"“{word}” starts {tokens[best_i]}")
    if not weight:
        return 0.0, notes
    left_out = len(tokens) - len(used)
    score = total / weight - 0.02 * min(left_out, 3)
    if positions != sorted(positions) and len(positions) > 1:
        notes.append("words in another order")
    if left_out:
        notes.append(f"{left_out} name word{'s' if left_out > 1 else ''} not given")
    return max(score, 0.0), notes


# --- candidates --------------------------------------------------------------------------------


def _words_q(
    groups: list[list[str]], weights: list[float], need: int, reachable: float, matchable: set[int]
) -> Q | None:
    """Persons whose name holds an expansion of at least `need` of the query words (any `need` of
    them), leaving out combinations that could never score `reachable`: a word outside the
    combination counts as possible only if it has some expansion (`matchable`)."""
    total = sum(weights)
    # A repeated word ("Cardona Cardona") is one condition: a name word cannot pair with itself.
    present: list[int] = []
    for i, g in enumerate(groups):
        if g and all(sorted(g) != sorted(groups[j]) for j in present):
            present.append(i)
    condition: Q | None = None
    # A query of two or more words never rests on one word alone (that is half the file).
    if len(present) < min(need, 2):
        return None
    for combo in combinations(present, min(need, len(present))):
        possible = sum(weights[i] for i in combo) + sum(weights[j] for j in matchable if j not in combo)
        if not combo or possible / total < reachable:
            continue
        clause = Q()
        for i in combo:
            clause &= Q(name_words__overlap=groups[i])
        condition = clause if condition is None else condition | clause
    return condition


NAMES_PER_STAGE = 150


def _name_words() -> Func:
    return Func(
        F("name_normalized"), Value(" "), function="string_to_array", output_field=ArrayField(TextField())
    )


def _rough_sql(
    strict_groups: list[list[str]], loose_groups: list[list[str]], weights: list[float]
) -> tuple[str, list[Any]]:
    """An upper bound of a name's weighted word score over its words `w`, as SQL: a query word
    counts whole if the name holds a close expansion of it, 0.8 if only a looser one."""
    parts: list[str] = []
    params: list[Any] = []
    for strict_g, loose_g, weight in zip(strict_groups, loose_groups, weights, strict=True):
        whens = ""
        if strict_g:
            whens += " WHEN w && %s::text[] THEN %s"
            params += [strict_g, weight]
        if loose_g:
            whens += " WHEN w && %s::text[] THEN %s"
            params += [loose_g, 0.8 * weight]
        if whens:
            parts.append(f"(CASE{whens} ELSE 0 END)")
    return (" + ".join(parts) or "0"), params


def _name_groups(
    queryset: QuerySet[Person], condition: Q, rough: tuple[str, list[Any]], floor: float
) -> dict[str, int]:
    """The candidate names most likely to score well (by the rough bound, at least `floor`), with
    how many persons bear each. The GIN index on the name's words finds the candidates; the bound
    is computed once per distinct name."""
    try:
        inner, inner_params = (
            queryset.annotate(name_words=_name_words())
            .filter(condition)
            .values("name_normalized")
            .query.sql_with_params()
        )
    except EmptyResultSet:  # the viewer may see nobody
        return {}
    rough_sql, rough_params = rough
    # Both pieces are SQL this module composed (Django's compiler, _rough_sql); values are parameters.
    sql = (
        "SELECT name, n FROM ("  # noqa: S608
        f"  SELECT name, n, {rough_sql} AS r"
        "   FROM (SELECT name_normalized AS name, count(*) AS n"
        f"        FROM ({inner}) candidates GROUP BY name_normalized) names,"
        "        LATERAL (SELECT string_to_array(name, ' ') AS w) words"
        ") scored WHERE r >= %s ORDER BY r DESC LIMIT %s"
    )
    with connection.cursor() as cursor:
        cursor.execute(sql, [*rough_params, *inner_params, floor, NAMES_PER_STAGE])
        return dict(cursor.fetchall())


def dob_slips(dob: date) -> list[date]:
    """Dates a date of birth is often mistaken for: day and month swapped, the year before or after."""
    slips = []
    for year, month, day in (
        (dob.year, dob.day, dob.month),
        (dob.year - 1, dob.month, dob.day),
        (dob.year + 1, dob.month, dob.day),
    ):
        try:
            slip = date(year, month, day)
        except ValueError:
            continue
        if slip != dob:
            slips.append(slip)
    return slips


# --- evidence ---------------------------------------------------------------------------------


def _age_at(dob: date, when: date) -> int:
    return when.year - dob.year - ((when.month, when.day) < (dob.month, dob.day))


def evidence_score(row: Mapping[str, Any], ev: Evidence) -> tuple[float, int, list[str]]:
    """What the evidence adds for one person: (bonus, pieces of evidence that fit, reasons)."""
    bonus, fits, reasons = 0.0, 0, []
    dob: date | None = row["date_of_birth"]
    if ev.born is not None and dob is not None:
        if dob == ev.born:
            bonus, fits = bonus + BONUS["dob_exact"], fits + 1
            reasons.append(f"Same date of birth {dob.isoformat()}")
        elif dob in dob_slips(ev.born):
            bonus, fits = bonus + BONUS["dob_slip"], fits + 1
            reasons.append(f"Date of birth {dob.isoformat()} (a usual slip of {ev.born.isoformat()})")
        elif abs((dob - ev.born).days) <= DOB_NEAR_DAYS:
            bonus, fits = bonus + BONUS["dob_near"], fits + 1
            reasons.append(f"Date of birth {dob.isoformat()} ({abs((dob - ev.born).days)} days apart)")
        else:
            bonus += BONUS["dob_other"]
    if ev.born_year is not None and dob is not None and dob.year == ev.born_year:
        bonus, fits = bonus + BONUS["dob_year"], fits + 1
        reasons.append(f"Born in {dob.year}")
    if ev.age is not None and dob is not None:
        seen: datetime | None = row["first_encountered_at"]
        on = timezone.localdate(seen) if seen is not None else timezone.localdate()
        age = _age_at(dob, on)
        if age == ev.age:
            bonus, fits = bonus + BONUS["age_exact"], fits + 1
            reasons.append(f"Age {age} when first encountered")
        elif abs(age - ev.age) == 1:
            bonus, fits = bonus + BONUS["age_near"], fits + 1
            reasons.append(f"Age {age} when first encountered (1 year off)")
    if ev.country and row["country_of_citizenship"] == ev.country:
        bonus, fits = bonus + BONUS["country"], fits + 1
        reasons.append(f"Citizen of {country_name(ev.country)}")
    if ev.sex and row["sex"] not in ("", "U"):
        if row["sex"] == ev.sex:
            bonus, fits = bonus + BONUS["sex"], fits + 1
            reasons.append(f"Sex {ev.sex}")
        else:
            bonus += BONUS["sex_other"]
    if ev.station_id is not None and row["first_station_id"] == ev.station_id:
        bonus, fits = bonus + BONUS["station"], fits + 1
        reasons.append(f"First encountered at {ev.station_code}")
    if ev.seen_from or ev.seen_to:
        seen_at: datetime | None = row["first_encountered_at"]
        if seen_at is not None:
            day = timezone.localdate(seen_at)
            if (ev.seen_from is None or day >= ev.seen_from) and (ev.seen_to is None or day <= ev.seen_to):
                bonus, fits = bonus + BONUS["seen"], fits + 1
                reasons.append(f"Encountered {day.isoformat()}, in the dates given")
    return bonus, fits, reasons


ROW_FIELDS = (
    "id",
    "name_normalized",
    "a_number",
    "date_of_birth",
    "country_of_citizenship",
    "sex",
    "first_station_id",
    "first_encountered_at",
)


def rank_persons(queryset: QuerySet[Person], *, q: str, evidence: Evidence | None = None) -> list[Match]:
    """The best matches in `queryset` for `q` and `evidence`, best first, each with its reasons."""
    ev = evidence or Evidence()
    parsed = parse_query(q)
    if ev.born is None and parsed.dates:
        ev.born = parsed.dates[0]
    threshold = min_score()
    limit = max_results()
    matches: dict[Any, Match] = {}

    if parsed.a_numbers:
        for row in queryset.filter(a_number__in=parsed.a_numbers).values(*ROW_FIELDS):
            matches[row["id"]] = Match(row["id"], BONUS["a_number"], [f"Same A-number {row['a_number']}"])

    words = parsed.words
    if not words:
        return sorted(matches.values(), key=lambda m: -m.score)
    sims = expand_words(words)
    strict_groups = [[t for t, m in sims[w].items() if strict(m)] for w in words]
    loose_groups = [list(sims[w]) for w in words]
    n = len(words)
    weights = [float(max(len(w), 3)) for w in words]
    matchable = {i for i, g in enumerate(loose_groups) if g}
    most = n if n <= 2 else n - 1
    total = sum(weights)
    # Each stage, with the best score a person it adds (and no earlier stage found) could have:
    # the looser words match under 0.8; matching only two words of four or more leaves the rest out.
    stages: list[tuple[list[list[str]], int, float]] = [
        (strict_groups, most, 1.0),
        (loose_groups, most, 1.0 - 0.2 * min(weights) / total),
    ]
    if n >= 4:
        stages.append((loose_groups, 2, sum(sorted(weights)[-(n - 2) :]) / total))

    rough = _rough_sql(strict_groups, loose_groups, weights)
    floor = threshold * total
    name_scores: dict[str, tuple[float, list[str]]] = {}
    counts: dict[str, int] = {}
    # With a date of birth, everyone born then (or on a usual slip, or close) is a candidate too.
    near: Q | None = None
    dob_names: list[str] = []
    dob_strong = False
    if ev.born is not None:
        window = timedelta(days=DOB_NEAR_DAYS)
        near = Q(date_of_birth__range=(ev.born - window, ev.born + window)) | Q(
            date_of_birth__in=dob_slips(ev.born)
        )
        for name in _name_groups(queryset, near, rough, floor):
            if name not in name_scores:
                name_scores[name] = name_score(words, name, sims)
            if name_scores[name][0] >= threshold:
                dob_names.append(name)
        # Someone born then whose name answers the query well: looser name stages cannot put
        # anyone above them (they lack the date of birth), so the strict stage is enough.
        dob_strong = any(name_scores[name][0] >= DOB_STRONG for name in dob_names)

    for index, (groups, need, bound) in enumerate(stages):
        # Someone already scores at least what this stage could add: it would only add persons
        # ranked below them (measured: same recall@20, a third less time; bench/search.py).
        if any(sc >= bound for nm, (sc, _) in name_scores.items() if nm in counts):
            break
        if index and dob_strong:
            break
        condition = _words_q(groups, weights, need, threshold, matchable)
        if condition is None:
            continue
        for name, count in _name_groups(queryset, condition, rough, floor).items():
            if name not in name_scores:
                name_scores[name] = name_score(words, name, sims)
            counts[name] = count

    good = sorted(
        ((s, name) for name, (s, _) in name_scores.items() if s >= threshold and name in counts), reverse=True
    )
    chosen: list[str] = []
    covered = 0
    cut: float | None = None
    for s, name in good:
        if cut is not None and s < cut - ev.other_bonus_max():
            break
        chosen.append(name)
        covered += counts[name]
        if cut is None and covered >= limit:
            cut = s

    wanted = Q(name_normalized__in=chosen) if chosen else None
    if near is not None and dob_names:
        in_window = near & Q(name_normalized__in=dob_names)
        wanted = in_window if wanted is None else wanted | in_window
    rows: dict[Any, dict[str, Any]] = {}
    if wanted is not None:
        for row in queryset.filter(wanted).values(*ROW_FIELDS):
            rows[row["id"]] = row

    ranked: list[tuple[tuple[Any, ...], Match]] = []
    for pid, row in rows.items():
        base, notes = name_scores[row["name_normalized"]]
        bonus, fits, ev_reasons = evidence_score(row, ev)
        score = base + bonus
        name_reason = "Name matches" + (f": {'; '.join(notes)}" if notes else " word for word")
        existing = matches.get(pid)
        if existing is not None:
            existing.score += base
            existing.reasons += [name_reason, *ev_reasons]
            continue
        seen = row["first_encountered_at"]
        key = (-score, -fits, -base, -(seen.timestamp() if seen else 0), str(pid))
        ranked.append((key, Match(pid, round(score, 3), [name_reason, *ev_reasons])))
    ranked.sort(key=lambda item: item[0])
    out = sorted(matches.values(), key=lambda m: -m.score) + [m for _, m in ranked]
    return out[:limit]


REASON_SEPARATOR = "\x1f"


def ranked_queryset(queryset: QuerySet[Person], matches: list[Match]) -> QuerySet[Person]:
    """`queryset` narrowed to `matches`, in their order, each with `search_score` and `search_reasons`."""
    ids = [m.person_id for m in matches]
    # Constant SQL; every value goes in as a parameter.
    position = "array_position(%s::uuid[], apprehensions_person.id)"
    return (
        queryset.filter(pk__in=ids)
        .annotate(
            search_rank=RawSQL(  # noqa: S611  # nosec B611
                position, (ids,), output_field=IntegerField()
            ),
            search_score=RawSQL(  # noqa: S611  # nosec B611
                f"(%s::float8[])[{position}]", ([m.score for m in matches], ids), output_field=FloatField()
            ),
            search_reasons_text=RawSQL(  # noqa: S611  # nosec B611
                f"(%s::text[])[{position}]",
                ([REASON_SEPARATOR.join(m.reasons) for m in matches], ids),
                output_field=TextField(),
            ),
        )
        .order_by("search_rank")
    )


def search_reasons(person: Person) -> list[str] | None:
    """Why a search found this person (None when it was not found by a search)."""
    text = getattr(person, "search_reasons_text", None)
    return None if text is None else [r for r in text.split(REASON_SEPARATOR) if r]
