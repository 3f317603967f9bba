"""Link discovery: propose unrecorded relationships and duplicate persons, over all persons or a few.

`discover_links(*, person_ids=None, persist=True) -> DiscoveryResult` is the one entry point: the
nightly task and `manage.py discover_links` call it over everyone, the incremental pass after an
intake or import calls it with the persons just recorded, and the quality bench (bench/linkage/)
calls it on its labelled data. The result lists every pair proposed in this pass that has no
decision yet (kind, person_a_id, person_b_id, score, suggested_type, reasons).

Pairs come only from blocks (persons sharing a date of birth and a surname or given-name sound;
or a given name and a surname sound and a birth year, or a birthday), and relationship pairs only
from persons encountered together. In the full pass, a block larger than WINDOW + 1 records gives
each record only its WINDOW neighbours in the block's order (a sorted neighbourhood), so no block
gives more than WINDOW pairs per record; smaller blocks keep all their pairs. Blocking keys are SQL
functions (migration 0002) stored on each person as generated columns with an index (migration
0003), so the incremental pass for a handful of persons is a few index lookups; it compares the new
persons with their whole blocks (no window: it reads them by index anyway). Scoring is done here,
in Python, by `scoring.py`.
"""

import logging
import time
from collections import Counter
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import date
from typing import Any
from uuid import UUID

from django.core.cache import cache
from django.db import connection, transaction
from django.utils import timezone

from apprehensions.services.bulk import _history_sql
from audit import chain

from .models import LinkCandidate
from .scoring import PROPOSE_AT, NameFrequencies, PersonFacts, duplicate_score, relationship_score

log = logging.getLogger(__name__)

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

    def to_candidate(self) -> LinkCandidate:
        """The row that files this proposal (unsaved)."""
        return LinkCandidate(
            kind=self.kind,
            person_a_id=self.person_a_id,
            person_b_id=self.person_b_id,
            suggested_type=self.suggested_type,
            score=self.score,
            reasons=self.reasons,
            details=self.details,
            key=self.key,
            station_code=self.station_code,
            encountered_on=self.encountered_on,
        )


@dataclass
class DiscoveryResult:
    candidates: list[ProposedCandidate]
    created: int = 0
    pairs_scored: dict[str, int] = field(default_factory=dict)
    seconds: float = 0.0
    timings: dict[str, float] = field(default_factory=dict)
    analyzed: list[str] = field(default_factory=list)  # tables whose statistics the full pass renewed
    superseded: int = 0  # stale candidates naming a record merged away, superseded by the full pass

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


def _facts(row: Sequence[Any], codes: Sequence[str] = ("", "", "")) -> PersonFacts:
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
        g=codes[0] or "",
        s1=codes[1] or "",
        s2=codes[2] or "",
    )


_N = len(_PERSON_COLUMNS)

# Blocks: pairs of records sharing one of these keys (columns of the keys table, see _KEYS).
# Exact date of birth with a surname or a given-name sound; or both name sounds with a date of
# birth that slipped (day, month, year typed wrong, a day off across a month's end, day and month
# swapped); or the given name and a surname (in either place) with an estimated date of birth (a
# birth year) in the same year; or both surnames swapped in the same birth year; or the exact date
# of birth, or the given name and birthday, with one record's first surname as the other's second
# (kept only the second, swapped).
#
# A block pairs record x with record y when x's `left` keys equal y's `right` keys (`right` None: the
# same keys, a symmetric block), and, for an `estimated` block, one of the two has an estimated date
# of birth. Keys are expressions over a keys-table alias `{t}`.
#
# The full pass compares within a block only neighbours (a sorted neighbourhood): the block's
# records ordered by `order` (the keys the block does not fix: the second surname sound first, the
# one other blocks do not fix, then the given name and first surname sounds and the date of birth),
# each record is paired with the next WINDOW records of its block. A block of WINDOW + 1 records or
# fewer keeps all its pairs; a larger one gives at most WINDOW pairs per record (all pairs would
# grow with the square of its records: common names, thousands of birth years estimated). It does
# not bound the number of small blocks a record shares with others: on a fixed name pool that grows
# with the persons, and so do the pairs per record (docs/benchmarks.md). An asymmetric block
# orders both sides of one key together (each side by its own `order`, the surnames in the key's
# places) and pairs only a left record with a right one.


_ORDER = ("{t}.s2", "{t}.g", "{t}.s1", "{t}.dob")
_SWAP = ("{t}.s1", "{t}.g", "{t}.s2", "{t}.dob")  # a right side keyed on the second surname


@dataclass(frozen=True)
class _Block:
    left: tuple[str, ...]
    right: tuple[str, ...] | None = None
    estimated: bool = False
    order: tuple[str, ...] = _ORDER
    right_order: tuple[str, ...] = _ORDER

    def conditions(self) -> list[str]:
        """SQL conditions on a pair of keys-table rows x, y: the block holds for (x, y) in either role."""
        sides = [(self.left, self.right or self.left)]
        if self.right is not None:
            sides.append((self.right, self.left))
        conditions = []
        for mine, theirs in sides:
            condition = " AND ".join(
                f"{a.format(t='x')} = {b.format(t='y')}" for a, b in zip(mine, theirs, strict=True)
            )
            conditions.append(condition + (" AND (x.est OR y.est)" if self.estimated else ""))
        return conditions


_BLOCKS = (
    _Block(("{t}.dob", "{t}.s1")),
    _Block(("{t}.dob", "{t}.g")),
    _Block(("{t}.g", "{t}.s1", "{t}.yr", "{t}.mo")),
    _Block(("{t}.g", "{t}.s1", "{t}.yr", "{t}.dd")),
    _Block(("{t}.g", "{t}.s1", "{t}.md")),
    _Block(("{t}.g", "{t}.s1", "{t}.yr", "{t}.lo", "{t}.hi")),
    _Block(("{t}.g", "{t}.s1", "{t}.yr"), estimated=True),
    _Block(("{t}.g", "{t}.s1", "{t}.yr"), ("{t}.g", "{t}.s2", "{t}.yr"), estimated=True, right_order=_SWAP),
    _Block(
        ("{t}.g", "{t}.s1", "{t}.s2", "{t}.yr"), ("{t}.g", "{t}.s2", "{t}.s1", "{t}.yr"), right_order=_SWAP
    ),
    _Block(("{t}.g", "{t}.s1", "{t}.dob + 1"), ("{t}.g", "{t}.s1", "{t}.dob")),
    _Block(("{t}.dob", "{t}.s1"), ("{t}.dob", "{t}.s2"), right_order=_SWAP),
    _Block(("{t}.g", "{t}.s1", "{t}.md"), ("{t}.g", "{t}.s2", "{t}.md"), right_order=_SWAP),
)

# The full pass's window: each record is compared with the next WINDOW records of each block in
# the block's order (see above). Measured (docs/benchmarks.md): on the labelled quality bench
# (20,000 records) it cuts no pair, so quality is unchanged (W = 2 loses 6-7 true duplicates of
# ~1,900); the seeded scenario's blocks hold at most 10 records at 100,000 persons and at most 53
# at 1,000,000, where it cuts 7 % of the pairs.
WINDOW = 8


def _block_sql(block: _Block) -> tuple[str, str, str]:
    """A block's records (one row per record and side: id, side, est, keys k0.., order o0..), its key
    columns, and its blocks that can pair anyone (their keys; most records are alone in theirs)."""
    sides = [(0, block.left, block.order)]
    if block.right is not None:
        sides.append((1, block.right, block.right_order))
    rows = " UNION ALL ".join(
        f"SELECT k.id, {side} AS side, k.est, "  # noqa: S608 - constants only
        + ", ".join(f"{e.format(t='k')} AS k{i}" for i, e in enumerate(keys))
        + ", "
        + ", ".join(f"{e.format(t='k')} AS o{i}" for i, e in enumerate(order))
        + " FROM lk_keys k WHERE "
        + " AND ".join(f"{e.format(t='k')} IS NOT NULL" for e in keys)
        for side, keys, order in sides
    )
    keys = ", ".join(f"k{i}" for i in range(len(block.left)))
    having = ["count(*) > 1"]
    if block.right is not None:
        having.append("bool_or(side = 0) AND bool_or(side = 1)")
    if block.estimated:
        having.append("bool_or(est)")
    blocks = f"SELECT {keys} FROM ({rows}) k GROUP BY {keys} HAVING {' AND '.join(having)}"  # noqa: S608
    return rows, keys, blocks


def _window_pairs_sql(block: _Block, window: int) -> str:
    """One block's pairs (a < b) in the full pass: each record with the next `window` of its block.

    One sort of the records of the blocks that can pair anyone (a hash aggregate finds them), then
    a window aggregate: the ids of the `window` next.
    """
    rows, keys, blocks = _block_sql(block)
    columns = ["id"] + (["side"] if block.right is not None else []) + (["est"] if block.estimated else [])
    # The block's keys hashed first: the sort then compares one integer for all but neighbours.
    window_spec = (
        f"PARTITION BY h, {keys} "
        f"ORDER BY {', '.join(f'o{i}' for i in range(len(block.order)))}, id, side "
        f"ROWS BETWEEN 1 FOLLOWING AND {window} FOLLOWING"
    )
    aggregates = ", ".join(f"array_agg({c}) OVER w AS n_{c}" for c in columns)
    return (
        "SELECT least(r.id, n.id) AS a, greatest(r.id, n.id) AS b FROM ("  # noqa: S608 - constants only
        f"SELECT {', '.join(columns)}, {aggregates} FROM ("
        f"SELECT k.*, hash_record_extended(ROW({keys}), 0) AS h FROM ({rows}) k "
        f"JOIN ({blocks}) b USING ({keys})) k WINDOW w AS ({window_spec})) r "
        f"CROSS JOIN LATERAL unnest({', '.join(f'r.n_{c}' for c in columns)}) AS n({', '.join(columns)}) "
        "WHERE n.id <> r.id"
        + (" AND n.side <> r.side" if block.right is not None else "")
        + (" AND (r.est OR n.est)" if block.estimated else "")
    )


def full_pass_settings(cursor: Any) -> None:
    """The full pass's settings, for the rest of the transaction (the bench's bare SQL uses them too)."""
    cursor.execute("SET LOCAL work_mem = '256MB'")
    # Every block is an equality of a few short keys: hash joins. The planner, estimating each
    # column apart, chose sort-merge joins 4-5x slower (100,000 persons: 2.9 s against 0.8 s for
    # one block), and JIT compiled each of them for nothing.
    cursor.execute("SET LOCAL enable_mergejoin = off")
    cursor.execute("SET LOCAL jit = off")


def full_pass_pairs_sql(columns: str = "p.a, p.b", window: int | None = None) -> str:
    """The full pass's blocked pairs p (a < b, each once), x and y their rows in the keys table lk_keys."""
    union = " UNION ".join(_window_pairs_sql(b, WINDOW if window is None else window) for b in _BLOCKS)
    return (
        f"SELECT {columns} FROM ({union}) p "  # noqa: S608 - constants only
        "JOIN lk_keys x ON x.id = p.a JOIN lk_keys y ON y.id = p.b "
        # As the self-joins did (x.id < y.id WHERE x.g <> '' AND x.s1 <> ''): the first record has names.
        "WHERE x.g <> '' AND x.s1 <> ''"
    )


_KEYS = (
    "SELECT {p}.id, {p}.date_of_birth AS dob, "
    "{p}.linkage_g AS g, {p}.linkage_s1 AS s1, {p}.linkage_s2 AS s2, "
    "extract(year FROM {p}.date_of_birth)::int AS yr, extract(month FROM {p}.date_of_birth)::int AS mo, "
    "extract(day FROM {p}.date_of_birth)::int AS dd, to_char({p}.date_of_birth, 'MMDD') AS md, "
    "least(extract(month FROM {p}.date_of_birth), extract(day FROM {p}.date_of_birth))::int AS lo, "
    "greatest(extract(month FROM {p}.date_of_birth), extract(day FROM {p}.date_of_birth))::int AS hi, "
    "{p}.dob_estimated AS est FROM apprehensions_person {p} WHERE "
)
_KEYS_SELECT = _KEYS.format(p="p") + _ACTIVE.format(p="p")
# The full pass's keys table: the name sounds and month-day in the "C" collation (byte order), so
# its joins and sorts compare bytes; the linguistic collation sorted 100,000 keys in 1.9 s. Equality
# is the same in both (deterministic collations). The incremental pass keeps the columns' own
# collation, so its look-ups use their indexes.
_KEYS_FULL = (
    _KEYS_SELECT.replace("linkage_g AS g", 'linkage_g COLLATE "C" AS g')
    .replace("linkage_s1 AS s1", 'linkage_s1 COLLATE "C" AS s1')
    .replace("linkage_s2 AS s2", 'linkage_s2 COLLATE "C" AS s2')
    .replace("'MMDD') AS md", "'MMDD') COLLATE \"C\" AS md")
)


# Each pair carries both records' name sounds (already computed in the keys), for the frequencies.
_PAIR_CODES = "x.g AS ga, x.s1 AS s1a, x.s2 AS s2a, y.g AS gb, y.s1 AS s1b, y.s2 AS s2b"


def _duplicate_pairs(
    cursor: Any, person_ids: list[UUID] | None, pair: tuple[UUID, UUID] | None = None
) -> tuple[str, list[Any]]:
    """The blocked pairs (a, b, name sounds of each) as a FROM item and its parameters.

    With `pair`, that one pair (a, b) whatever its blocks, if both records take part.

    Full pass: a temp table of each block's windowed pairs (a < b, `full_pass_pairs_sql`).
    Incremental pass: a subquery (no temp tables: their catalog writes would cost an intake more
    than the search) from the new persons through the date-of-birth index and the expression
    indexes of migration 0003, held to the blocks of the full pass (a is the new person) but with
    no window: a new person is compared with every record of its blocks (read by index anyway;
    64 ms added to an intake at p95 at 1,000,000 persons), so in a block larger than WINDOW + 1 it
    may be proposed with a record the full pass does not compare it with.
    """
    if pair is not None:
        return (
            f"(SELECT x.id AS a, y.id AS b, {_PAIR_CODES} "  # noqa: S608 - constants only
            f"FROM ({_KEYS_SELECT} AND p.id = %s) x CROSS JOIN ({_KEYS_SELECT} AND p.id = %s) y) lk_pairs"
        ), [str(pair[0]), str(pair[1])]
    if person_ids is None:
        cursor.execute("DROP TABLE IF EXISTS lk_keys, lk_pairs")
        cursor.execute(f"CREATE TEMP TABLE lk_keys AS {_KEYS_FULL}")  # noqa: S608
        cursor.execute("ANALYZE lk_keys")
        # One sort per block (a window over its records), then each pair once (UNION).
        cursor.execute(
            f"CREATE TEMP TABLE lk_pairs AS {full_pass_pairs_sql(f'p.a, p.b, {_PAIR_CODES}')}"  # noqa: S608
        )
        cursor.execute("ANALYZE lk_pairs")
        return "lk_pairs", []
    blocks = " OR ".join(f"({c})" for b in _BLOCKS for c in b.conditions())
    lookups = (
        "q.date_of_birth = x.dob",
        "q.linkage_g = x.g AND q.linkage_s1 = x.s1",
    )
    selects_sql = " UNION ".join(
        f"SELECT x.id AS a, y.id AS b, {_PAIR_CODES} "  # noqa: S608 - constants only
        f"FROM ({_KEYS_SELECT} AND p.id = ANY(%s::uuid[])) x "
        f"CROSS JOIN LATERAL ({_KEYS.format(p='q')}{_ACTIVE.format(p='q')} AND {lookup}) y "
        f"WHERE y.id <> x.id AND x.g <> '' AND x.s1 <> '' AND ({blocks})"
        for lookup in lookups
    )
    return f"({selects_sql}) lk_pairs", [[str(i) for i in person_ids]] * len(lookups)


# Kept from one nightly pass to the next, with a margin.
FREQUENCY_CACHE_SECONDS = 36 * 3600


def _frequency_cache_key() -> str:
    return f"linkage:name-frequencies:{connection.settings_dict['NAME']}"


def name_frequencies(cursor: Any, *, from_keys: bool) -> NameFrequencies:
    """Counts of each name sound among active persons. The full pass counts its keys table and
    caches the result; the incremental pass reads the cache (without it, every name counts as common)."""
    if not from_keys:
        cached = cache.get(_frequency_cache_key())
        if cached is not None:
            return NameFrequencies(**cached)
        # No full pass yet (or its counts expired): every name counts as fairly common.
        cursor.execute("SELECT reltuples::bigint FROM pg_class WHERE relname = 'apprehensions_person'")
        estimate = cursor.fetchone()[0]
        if estimate < 100_000:
            cursor.execute("SELECT count(*) FROM apprehensions_person")
            estimate = cursor.fetchone()[0]
        return NameFrequencies(total=estimate)
    cursor.execute(
        "SELECT 'g', g, count(*) FROM lk_keys GROUP BY g UNION ALL "
        "SELECT 'f', s1, count(*) FROM lk_keys GROUP BY s1 UNION ALL "
        "SELECT 's', s2, count(*) FROM lk_keys GROUP BY s2"
    )
    tables: dict[str, dict[str, int]] = {"g": {}, "f": {}, "s": {}}
    for table, code, count in cursor.fetchall():
        tables[table][code or ""] = count
    freq = NameFrequencies(
        total=sum(tables["g"].values()), given=tables["g"], first=tables["f"], second=tables["s"]
    )
    cache.set(
        _frequency_cache_key(),
        {"total": freq.total, "given": freq.given, "first": freq.first, "second": freq.second},
        FREQUENCY_CACHE_SECONDS,
    )
    return freq


def _stream(sql: str, params: Sequence[Any] = ()) -> Iterator[Sequence[Any]]:
    """Rows of a server-side cursor, FETCH_CHUNK at a time (a million pairs never sit in memory)."""
    connection.ensure_connection()
    with connection.connection.cursor(name=f"lk_stream_{time.monotonic_ns()}") as cursor:
        cursor.itersize = FETCH_CHUNK
        cursor.execute(sql, params)
        yield from cursor


def _seen_together(pairs: list[tuple[UUID, UUID]]) -> set[tuple[UUID, UUID]]:
    """Pairs encountered in one apprehension or sharing a family unit: two humans, never one."""
    if not pairs:
        return set()
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT a, b FROM unnest(%s::uuid[], %s::uuid[]) AS t(a, b) WHERE EXISTS ("
            "  SELECT 1 FROM apprehensions_apprehensionperson ea JOIN apprehensions_apprehensionperson eb"
            "  ON eb.apprehension_id = ea.apprehension_id WHERE ea.person_id = t.a AND eb.person_id = t.b) "
            "OR EXISTS (SELECT 1 FROM apprehensions_familymembership fa "
            "  JOIN apprehensions_familymembership fb"
            "  ON fb.family_unit_id = fa.family_unit_id WHERE fa.person_id = t.a AND fb.person_id = t.b)",
            [[str(a) for a, _ in pairs], [str(b) for _, b in pairs]],
        )
        return {(UUID(str(a)), UUID(str(b))) for a, b in cursor.fetchall()}


def _duplicates(
    cursor: Any,
    person_ids: list[UUID] | None,
    result: DiscoveryResult,
    *,
    pair: tuple[UUID, UUID] | None = None,
    propose_at: float = PROPOSE_AT,
) -> Iterator[ProposedCandidate]:
    """Pairs scored as one human entered twice, from `propose_at` up (`pair`: that pair alone)."""
    started = time.monotonic()
    pairs_from, pairs_params = _duplicate_pairs(cursor, person_ids, pair)
    result.timings["duplicate_blocking"] = time.monotonic() - started
    freq = name_frequencies(cursor, from_keys=person_ids is None)
    sql = (
        f"SELECT {_cols('pa')}, {_cols('pb')}, "  # noqa: S608 - column names are constants
        "sa.code, sb.code, pa.first_encountered_at, pb.first_encountered_at, "
        "lk_pairs.ga, lk_pairs.s1a, lk_pairs.s2a, lk_pairs.gb, lk_pairs.s1b, lk_pairs.s2b "
        f"FROM {pairs_from} JOIN apprehensions_person pa ON pa.id = lk_pairs.a "
        "JOIN apprehensions_person pb ON pb.id = lk_pairs.b "
        "LEFT JOIN apprehensions_station sa ON sa.id = pa.first_station_id "
        "LEFT JOIN apprehensions_station sb ON sb.id = pb.first_station_id"
    )
    scored = 0
    found: list[ProposedCandidate] = []
    for row in _stream(sql, pairs_params):
        scored += 1
        p = _facts(row[:_N], row[2 * _N + 4 : 2 * _N + 7])
        q = _facts(row[_N : 2 * _N], row[2 * _N + 7 : 2 * _N + 10])
        s = duplicate_score(p, q, freq=freq, cutoff=propose_at or None)
        if s is None or s.score < propose_at:
            continue
        code_a, code_b, seen_a, seen_b = row[2 * _N : 2 * _N + 4]
        latest = max((t for t in (seen_a, seen_b) if t), default=None)
        found.append(
            ProposedCandidate(
                kind=LinkCandidate.Kind.DUPLICATE_PERSON,
                person_a_id=p.id,
                person_b_id=q.id,
                score=s.score,
                suggested_type=s.suggested_type,
                reasons=s.reasons,
                station_code=(code_b if latest is seen_b else code_a) or "",
                encountered_on=latest.date() if latest else None,
            )
        )
    result.pairs_scored[LinkCandidate.Kind.DUPLICATE_PERSON] = scored
    together: set[tuple[UUID, UUID]] = set()
    for start in range(0, len(found), 10_000):
        together |= _seen_together([(c.person_a_id, c.person_b_id) for c in found[start : start + 10_000]])  # type: ignore[misc]
    for candidate in found:
        if (candidate.person_a_id, candidate.person_b_id) not in together:
            yield candidate


_ADULT = (
    "CASE WHEN {p}.date_of_birth IS NOT NULL "
    "THEN {p}.date_of_birth <= (ap.occurred_at AT TIME ZONE 'UTC')::date - interval '18 years' "
    "ELSE NOT {p}.is_minor END"
)


def _relationships(
    cursor: Any,
    person_ids: list[UUID] | None,
    result: DiscoveryResult,
    *,
    pair: tuple[UUID, UUID] | None = None,
    propose_at: float = PROPOSE_AT,
) -> Iterator[ProposedCandidate]:
    """Adult–child pairs encountered together with no relationship recorded and no family unit shared,
    scored from `propose_at` up (`pair`: those two alone, either one the adult)."""
    started = time.monotonic()
    scope = ""
    params: list[Any] = []
    if person_ids is not None:
        # The encounters of these persons first, so the planner walks a few apprehensions by index.
        cursor.execute(
            "SELECT DISTINCT apprehension_id FROM apprehensions_apprehensionperson WHERE person_id = ANY(%s)",
            [person_ids],
        )
        apprehension_ids = [row[0] for row in cursor.fetchall()]
        if not apprehension_ids:
            result.pairs_scored[LinkCandidate.Kind.RELATIONSHIP] = 0
            return
        scope = " AND ea.apprehension_id = ANY(%s::uuid[]) AND ec.apprehension_id = ANY(%s::uuid[])"
        params = [[str(i) for i in apprehension_ids]] * 2
        if pair is not None:
            scope += " AND pa.id = ANY(%s::uuid[]) AND pc.id = ANY(%s::uuid[])"
            params += [[str(i) for i in pair]] * 2
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
    for row in _stream(sql, params):
        scored += 1
        adult, child = _facts(row[:_N]), _facts(row[_N : 2 * _N])
        occurred_at, code, apprehension_id, other_adults = row[2 * _N :]
        together = f"same apprehension {occurred_at:%Y-%m-%d} {code}"
        s = relationship_score(adult, child, together=together, other_adults=other_adults)
        if s.score < propose_at:
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
    """Insert the candidates not yet on file (any status), with their history rows; returns how many.

    A pass running at the same time (the nightly one and an intake's) may file a pair first: its
    key is unique, that row is skipped here, and only the rows inserted get a history row.
    """
    created = 0
    chunk = 5_000
    user_id = by.pk if getattr(by, "is_authenticated", False) else None
    for start in range(0, len(candidates), chunk):
        objs = [c.to_candidate() for c in candidates[start : start + chunk]]
        LinkCandidate._default_manager.bulk_create(objs, ignore_conflicts=True)  # history-safe: below
        with connection.cursor() as cursor:
            cursor.execute(
                _history_sql(LinkCandidate), [timezone.now(), reason, "+", user_id, [o.pk for o in objs]]
            )
            created += cursor.rowcount
    return created


def rescore_pair(*, kind: str, person_a_id: UUID | str, person_b_id: UUID | str) -> ProposedCandidate | None:
    """Discovery's own view of one pair, whatever its score: the candidate its passes would file
    (their direction, score, type and reasons), or None when they never ask about the pair (either
    record withdrawn or merged away; duplicates: encountered together or in one family unit, so two
    people; relationships: already linked by a relationship or a family unit, or not an adult and a
    child encountered together). Reads only; runs in the caller's transaction.
    """
    pair = (UUID(str(person_a_id)), UUID(str(person_b_id)))
    if kind == LinkCandidate.Kind.RELATIONSHIP:
        scan = _relationships
    elif kind == LinkCandidate.Kind.DUPLICATE_PERSON:
        scan = _duplicates
    else:
        raise ValueError(f"Link discovery does not score {kind} pairs.")
    with connection.cursor() as cursor:
        found = list(scan(cursor, list(pair), DiscoveryResult(candidates=[]), pair=pair, propose_at=0.0))
    return found[0] if found else None


def discover_links(
    *, person_ids: Sequence[UUID | str] | None = None, persist: bool = True, by: Any = None
) -> DiscoveryResult:
    """Propose relationships and duplicates among all persons, or those involving `person_ids`.

    Pairs already on file (proposed, accepted, rejected, unmerged or superseded) are left out of the
    result and never filed twice. With `persist`, the new proposals are filed as LinkCandidates
    (history kept).
    """
    started = time.monotonic()
    ids = None if person_ids is None else [UUID(str(i)) for i in person_ids]
    result = DiscoveryResult(candidates=[])
    if ids is not None and not ids:
        return result
    with transaction.atomic(), connection.cursor() as cursor:
        if ids is None:
            # One full pass at a time (the nightly task and the command); a second one waits.
            cursor.execute("SELECT pg_advisory_xact_lock(hashtext('familylink.link_discovery'))")
            full_pass_settings(cursor)
            # Statistics first: planned for a table taken as nearly empty (never analyzed, or bulk
            # written since), the relationship pairs ran 280 s instead of 0.4 s at 20,000 persons.
            cursor.execute("SELECT linkage_analyze_stale()")
            result.analyzed = list(cursor.fetchone()[0] or [])
            chain.batch_links(cursor)  # thousands of candidates: their history links a statement at a time
            if persist:
                from .carry import supersede_stale  # carry builds on this module

                result.superseded = supersede_stale(by=by)
        else:
            # A few persons: the queries are written in the order to walk them (their encounters
            # first), and planning a dozen joins every way would cost more than running them.
            cursor.execute("SET LOCAL join_collapse_limit = 1")
            cursor.execute("SET LOCAL from_collapse_limit = 1")
        proposals: dict[str, ProposedCandidate] = {}
        for candidate in _relationships(cursor, ids, result):
            proposals.setdefault(candidate.key, candidate)
        dup_started = time.monotonic()
        for candidate in _duplicates(cursor, ids, result):
            proposals.setdefault(candidate.key, candidate)
        result.timings["duplicates"] = time.monotonic() - dup_started
        if ids is None:
            cursor.execute("DROP TABLE IF EXISTS lk_keys, lk_pairs")
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
