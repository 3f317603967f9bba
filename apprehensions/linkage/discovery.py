"""Link discovery: propose unrecorded relationships and duplicate persons, over all persons or a few.

`discover_links(*, person_ids=None, persist=True) -> DiscoveryResult` is the one entry point: the
nightly task and `manage.py discover_links` call it over everyone, the incremental pass after an
intake or import calls it with the persons just recorded, and the quality bench (bench/linkage/)
calls it on its labelled data. The result lists every pair proposed in this pass that has no
decision yet (kind, person_a_id, person_b_id, score, suggested_type, reasons).

Cost grows about linearly with the number of persons: pairs come only from blocks (persons sharing
a date of birth and a surname or given-name sound; or a given name and a surname sound and a birth
year, or a birthday), and relationship pairs only from persons encountered together. Blocking keys
are SQL functions (migration 0001) with expression indexes, so the incremental pass for a handful
of persons is a few index lookups. Scoring is done here, in Python, by `scoring.py`.
"""

import logging
import time
from collections import Counter
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import date
from typing import Any
from uuid import UUID

from django.db import connection, transaction

from apprehensions.services.bulk import insert_with_history

from .models import LinkCandidate
from .scoring import PROPOSE_AT, PersonFacts, duplicate_score, relationship_score

log = logging.getLogger(__name__)

# A block larger than this (a very common name born the same year) yields more noise than matches;
# its pairs are still reached through the tighter blocks (same date of birth).
MAX_BLOCK = 400
FETCH_CHUNK = 20_000


@dataclass
class ProposedCandidate:
    kind: str
    person_a_id: UUID
    person_b_id: UUID | None
    score: float
    suggested_type: str
    reasons: list[str]
    details: dict[str, Any] = field(default_factory=dict)
    station_code: str = ""
    encountered_on: date | None = None

    @property
    def key(self) -> str:
        return candidate_key(self.kind, self.person_a_id, self.person_b_id, self.details)


@dataclass
class DiscoveryResult:
    candidates: list[ProposedCandidate]
    created: int = 0
    pairs_scored: dict[str, int] = field(default_factory=dict)
    seconds: float = 0.0
    timings: dict[str, float] = field(default_factory=dict)

    def by_kind(self) -> dict[str, int]:
        return dict(Counter(c.kind for c in self.candidates))


def candidate_key(kind: str, a: Any, b: Any, details: dict[str, Any] | None = None) -> str:
    """Order-free, over every status: a decided pair is never proposed again."""
    if kind == LinkCandidate.Kind.A_NUMBER_CONFLICT:
        return f"{kind}:{(details or {}).get('a_number', '')}:{a}:{b or (details or {}).get('attempt', '')}"[
            :200
        ]
    low, high = sorted([str(a), str(b)])
    return f"{kind}:{low}:{high}"


_PERSON_COLUMNS = (
    "id",
    "given_names",
    "first_surname",
    "second_surname",
    "date_of_birth",
    "dob_estimated",
    "sex",
    "a_number",
    "country_of_citizenship",
)

# Persons that take part: not withdrawn, not merged into another record.
_ACTIVE = (
    "{p}.withdrawn_at IS NULL AND NOT EXISTS (SELECT 1 FROM linkage_personmerge m "
    "WHERE m.merged_id = {p}.id AND m.undone_at IS NULL)"
)


def _cols(alias: str) -> str:
    return ", ".join(f"{alias}.{c}" for c in _PERSON_COLUMNS)


def _facts(row: Sequence[Any]) -> PersonFacts:
    return PersonFacts(
        id=row[0],
        given_names=row[1] or "",
        first_surname=row[2] or "",
        second_surname=row[3] or "",
        date_of_birth=row[4],
        dob_estimated=bool(row[5]),
        sex=row[6] or "U",
        a_number=row[7],
        country=row[8] or "",
    )


_N = len(_PERSON_COLUMNS)

# Pairs of records sharing a block. `k` is the keys table (all persons, or the incremental set);
# `o` the other side (all persons). Each block is a join on indexed key columns.
_BLOCKS = (
    ("x.dob = y.dob AND x.s1 = y.s1", "same date of birth and first-surname sound"),
    ("x.dob = y.dob AND x.g = y.g", "same date of birth and given-name sound"),
    ("x.g = y.g AND x.s1 = y.s1 AND x.yr = y.yr", "same names' sound and birth year"),
    ("x.g = y.g AND x.s1 = y.s1 AND x.md = y.md", "same names' sound and birthday"),
    ("x.g = y.g AND x.s1 = y.s2 AND x.yr = y.yr", "surnames swapped"),
    ("x.g = y.g AND x.s2 = y.s1 AND x.yr = y.yr", "surnames swapped"),
)

_KEYS_SELECT = (
    "SELECT p.id, p.date_of_birth AS dob, linkage_gkey(p.given_names) AS g, "
    "linkage_skey(p.first_surname) AS s1, linkage_skey(p.second_surname) AS s2, "
    "extract(year FROM p.date_of_birth)::int AS yr, to_char(p.date_of_birth, 'MMDD') AS md "
    "FROM apprehensions_person p WHERE " + _ACTIVE.format(p="p")
)


def _build_duplicate_pairs(cursor: Any, person_ids: list[UUID] | None) -> None:
    """Fill temp table lk_pairs(a, b) with the blocked pairs (a < b), none encountered together."""
    cursor.execute("DROP TABLE IF EXISTS lk_keys, lk_new, lk_pairs")
    if person_ids is None:
        cursor.execute(f"CREATE TEMP TABLE lk_keys AS {_KEYS_SELECT}")  # noqa: S608 - no input in SQL
        for cols in ("dob, s1", "dob, g", "g, s1, yr", "g, s1, md", "g, s2, yr"):
            cursor.execute(f"CREATE INDEX ON lk_keys ({cols})")
        cursor.execute("ANALYZE lk_keys")
        # Oversized blocks (common name, same year) are dropped from the loose blocks only.
        cursor.execute(
            "CREATE TEMP TABLE lk_big AS SELECT g, s1, yr FROM lk_keys WHERE g <> '' AND s1 <> '' "
            f"GROUP BY g, s1, yr HAVING count(*) > {MAX_BLOCK}"
        )
        selects = []
        for condition, _ in _BLOCKS:
            loose = "yr" in condition or "md" in condition
            guard = (
                " AND NOT EXISTS (SELECT 1 FROM lk_big b WHERE b.g = x.g AND b.s1 = x.s1 AND b.yr = x.yr)"
                if loose
                else ""
            )
            selects.append(
                f"SELECT x.id AS a, y.id AS b FROM lk_keys x JOIN lk_keys y ON {condition} AND x.id < y.id "
                f"WHERE x.g <> '' AND x.s1 <> ''{guard}"
            )
        selects_sql = " UNION ".join(selects)
    else:
        cursor.execute(
            f"CREATE TEMP TABLE lk_new AS {_KEYS_SELECT} AND p.id = ANY(%s)",  # noqa: S608
            [person_ids],
        )
        # The other side is read through the expression indexes of migration 0001.
        other = (
            "SELECT q.id, q.date_of_birth AS dob, linkage_gkey(q.given_names) AS g, "
            "linkage_skey(q.first_surname) AS s1, linkage_skey(q.second_surname) AS s2, "
            "extract(year FROM q.date_of_birth)::int AS yr, to_char(q.date_of_birth, 'MMDD') AS md "
            "FROM apprehensions_person q WHERE " + _ACTIVE.format(p="q") + " AND ({where})"
        )
        lookups = [
            "q.date_of_birth = n.dob",
            "linkage_gkey(q.given_names) = n.g AND linkage_skey(q.first_surname) IN (n.s1, n.s2)",
            "linkage_gkey(q.given_names) = n.g AND linkage_skey(q.second_surname) = n.s1",
        ]
        selects = []
        for lookup in lookups:
            selects.append(
                "SELECT LEAST(x.id, y.id) AS a, GREATEST(x.id, y.id) AS b FROM lk_new x "
                f"CROSS JOIN LATERAL ({other.format(where=lookup.replace('n.', 'x.'))}) y "
                "WHERE y.id <> x.id AND x.g <> '' AND x.s1 <> '' AND ("
                + " OR ".join(f"({c})" for c, _ in _BLOCKS)
                + ")"
            )
        selects_sql = " UNION ".join(selects)
    cursor.execute(
        f"CREATE TEMP TABLE lk_pairs AS SELECT a, b FROM ({selects_sql}) pairs "  # noqa: S608
        "WHERE NOT EXISTS (SELECT 1 FROM apprehensions_apprehensionperson ea "
        "  JOIN apprehensions_apprehensionperson eb ON eb.apprehension_id = ea.apprehension_id "
        "  WHERE ea.person_id = pairs.a AND eb.person_id = pairs.b) "
        "AND NOT EXISTS (SELECT 1 FROM apprehensions_familymembership fa "
        "  JOIN apprehensions_familymembership fb ON fb.family_unit_id = fa.family_unit_id "
        "  WHERE fa.person_id = pairs.a AND fb.person_id = pairs.b)"
    )


def _stream(cursor: Any, sql: str, params: Sequence[Any] = ()) -> Iterator[Sequence[Any]]:
    cursor.execute(sql, params)
    while rows := cursor.fetchmany(FETCH_CHUNK):
        yield from rows


def _duplicates(
    cursor: Any, person_ids: list[UUID] | None, result: DiscoveryResult
) -> Iterator[ProposedCandidate]:
    started = time.monotonic()
    _build_duplicate_pairs(cursor, person_ids)
    result.timings["duplicate_blocking"] = time.monotonic() - started
    sql = (
        f"SELECT {_cols('pa')}, {_cols('pb')}, "  # noqa: S608 - column names are constants
        "sa.code, sb.code, pa.first_encountered_at, pb.first_encountered_at "
        "FROM lk_pairs JOIN apprehensions_person pa ON pa.id = lk_pairs.a "
        "JOIN apprehensions_person pb ON pb.id = lk_pairs.b "
        "LEFT JOIN apprehensions_station sa ON sa.id = pa.first_station_id "
        "LEFT JOIN apprehensions_station sb ON sb.id = pb.first_station_id"
    )
    scored = 0
    for row in _stream(cursor, sql):
        scored += 1
        p, q = _facts(row[:_N]), _facts(row[_N : 2 * _N])
        s = duplicate_score(p, q)
        if s.score < PROPOSE_AT:
            continue
        code_a, code_b, seen_a, seen_b = row[2 * _N :]
        latest = max((t for t in (seen_a, seen_b) if t), default=None)
        yield ProposedCandidate(
            kind=LinkCandidate.Kind.DUPLICATE_PERSON,
            person_a_id=p.id,
            person_b_id=q.id,
            score=s.score,
            suggested_type=s.suggested_type,
            reasons=s.reasons,
            station_code=(code_b if latest is seen_b else code_a) or "",
            encountered_on=latest.date() if latest else None,
        )
    result.pairs_scored[LinkCandidate.Kind.DUPLICATE_PERSON] = scored


_ADULT = (
    "CASE WHEN {p}.date_of_birth IS NOT NULL "
    "THEN {p}.date_of_birth <= (ap.occurred_at AT TIME ZONE 'UTC')::date - interval '18 years' "
    "ELSE NOT {p}.is_minor END"
)


def _relationships(
    cursor: Any, person_ids: list[UUID] | None, result: DiscoveryResult
) -> Iterator[ProposedCandidate]:
    """Adult–child pairs encountered together with no relationship recorded and no family unit shared."""
    started = time.monotonic()
    scope = ""
    params: list[Any] = []
    if person_ids is not None:
        scope = (
            " AND ea.apprehension_id IN (SELECT apprehension_id FROM apprehensions_apprehensionperson "
            "WHERE person_id = ANY(%s))"
        )
        params = [person_ids]
    sql = (
        "SELECT DISTINCT ON (pa.id, pc.id) "  # noqa: S608 - constants only
        f"{_cols('pa')}, {_cols('pc')}, ap.occurred_at, st.code, ap.id, "
        "(SELECT count(*) FROM apprehensions_apprehensionperson ex JOIN apprehensions_person px "
        "  ON px.id = ex.person_id WHERE ex.apprehension_id = ap.id AND ex.person_id <> pa.id "
        f"  AND {_ADULT.format(p='px')}) "
        "FROM apprehensions_apprehensionperson ea "
        "JOIN apprehensions_apprehensionperson ec "
        "  ON ec.apprehension_id = ea.apprehension_id AND ec.person_id <> ea.person_id "
        "JOIN apprehensions_apprehension ap ON ap.id = ea.apprehension_id "
        "JOIN apprehensions_station st ON st.id = ap.station_id "
        "JOIN apprehensions_person pa ON pa.id = ea.person_id "
        "JOIN apprehensions_person pc ON pc.id = ec.person_id "
        "WHERE ea.withdrawn_at IS NULL AND ec.withdrawn_at IS NULL AND ap.withdrawn_at IS NULL "
        f"AND {_ACTIVE.format(p='pa')} AND {_ACTIVE.format(p='pc')} "
        f"AND {_ADULT.format(p='pa')} AND NOT {_ADULT.format(p='pc')} "
        "AND NOT EXISTS (SELECT 1 FROM apprehensions_relationship r WHERE r.withdrawn_at IS NULL AND "
        "  ((r.from_person_id = pa.id AND r.to_person_id = pc.id) "
        "   OR (r.from_person_id = pc.id AND r.to_person_id = pa.id))) "
        "AND NOT EXISTS (SELECT 1 FROM apprehensions_familymembership fa "
        "  JOIN apprehensions_familymembership fc ON fc.family_unit_id = fa.family_unit_id "
        "  WHERE fa.person_id = pa.id AND fc.person_id = pc.id "
        "  AND fa.withdrawn_at IS NULL AND fc.withdrawn_at IS NULL)"
        f"{scope} ORDER BY pa.id, pc.id, ap.occurred_at"
    )
    scored = 0
    for row in _stream(cursor, sql, params):
        scored += 1
        adult, child = _facts(row[:_N]), _facts(row[_N : 2 * _N])
        occurred_at, code, apprehension_id, other_adults = row[2 * _N :]
        together = f"same apprehension {occurred_at:%Y-%m-%d} {code}"
        s = relationship_score(adult, child, together=together, other_adults=other_adults)
        if s.score < PROPOSE_AT:
            continue
        yield ProposedCandidate(
            kind=LinkCandidate.Kind.RELATIONSHIP,
            person_a_id=adult.id,
            person_b_id=child.id,
            score=s.score,
            suggested_type=s.suggested_type,
            reasons=s.reasons,
            details={"apprehension": str(apprehension_id)},
            station_code=code,
            encountered_on=occurred_at.date(),
        )
    result.pairs_scored[LinkCandidate.Kind.RELATIONSHIP] = scored
    result.timings["relationships"] = time.monotonic() - started


def _already_on_file(keys: Iterable[str], everything: bool) -> set[str]:
    if everything:
        return set(LinkCandidate.objects.values_list("key", flat=True))
    keys = list(keys)
    return set(LinkCandidate.objects.filter(key__in=keys).values_list("key", flat=True)) if keys else set()


def file_candidates(candidates: Sequence[ProposedCandidate], *, by: Any = None, reason: str) -> int:
    """Insert the candidates not yet on file (any status), with their history rows; returns how many."""
    created = 0
    chunk = 5_000
    for start in range(0, len(candidates), chunk):
        objs = [
            LinkCandidate(
                kind=c.kind,
                person_a_id=c.person_a_id,
                person_b_id=c.person_b_id,
                suggested_type=c.suggested_type,
                score=c.score,
                reasons=c.reasons,
                details=c.details,
                key=c.key,
                station_code=c.station_code,
                encountered_on=c.encountered_on,
            )
            for c in candidates[start : start + chunk]
        ]
        insert_with_history(LinkCandidate, objs, user=by, reason=reason)
        created += len(objs)
    return created


def discover_links(
    *, person_ids: Sequence[UUID | str] | None = None, persist: bool = True, by: Any = None
) -> DiscoveryResult:
    """Propose relationships and duplicates among all persons, or those involving `person_ids`.

    Pairs already on file (proposed, accepted, rejected or unmerged) are left out of the result and
    never filed twice. With `persist`, the new proposals are filed as LinkCandidates (history kept).
    """
    started = time.monotonic()
    ids = None if person_ids is None else [UUID(str(i)) for i in person_ids]
    result = DiscoveryResult(candidates=[])
    if ids is not None and not ids:
        return result
    with transaction.atomic(), connection.cursor() as cursor:
        if ids is None:
            # The full pass reads a million rows; the planner's parallel workers help on 2 cores.
            cursor.execute("SET LOCAL work_mem = '256MB'")
        proposals: dict[str, ProposedCandidate] = {}
        for candidate in _relationships(cursor, ids, result):
            proposals.setdefault(candidate.key, candidate)
        dup_started = time.monotonic()
        for candidate in _duplicates(cursor, ids, result):
            proposals.setdefault(candidate.key, candidate)
        result.timings["duplicates"] = time.monotonic() - dup_started
        cursor.execute("DROP TABLE IF EXISTS lk_keys, lk_new, lk_pairs, lk_big")
        on_file = _already_on_file(proposals, everything=ids is None)
        result.candidates = [c for k, c in proposals.items() if k not in on_file]
        if persist and result.candidates:
            persist_started = time.monotonic()
            result.created = file_candidates(
                result.candidates, by=by, reason="link discovery" + (" (incremental)" if ids else "")
            )
            result.timings["persist"] = time.monotonic() - persist_started
    result.seconds = time.monotonic() - started
    log.info(
        "discover_links: %s proposed (%s new on file) in %.1f s",
        result.by_kind(),
        result.created,
        result.seconds,
    )
    return result
