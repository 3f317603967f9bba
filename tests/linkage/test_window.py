"""The full pass's window: a block larger than WINDOW + 1 gives each record its WINDOW next
neighbours only (in the block's order: second surname sound, given name, first surname, birth date),
and still proposes the duplicate those neighbours hold."""

import pytest
from django.db import connection, transaction
from django.test import override_settings

from apprehensions.linkage import discovery
from apprehensions.linkage.discovery import discover_links

from .handbuilt import _encounter, _p

pytestmark = pytest.mark.django_db

# Second surnames of distinct sounds (AJNL ARTS ASTR FLRS HRNN JRN KK KL MJ NFS PTS TS, in the
# block's order), and the duplicate's López / Lopes (LPS) between KL and MJ: in the middle.
OTHERS = (
    "Ajanel",
    "Ortiz",
    "Estrada",
    "Flores",
    "Hernández",
    "Girón",
    "Cuc",
    "Caal",
    "Mejía",
    "Navas",
    "Batz",
    "Díaz",
)


def _big_block(agent):
    """Fourteen men named Juan Xol born 1990-04-12, each seen alone: one block of everyone (every
    block keyed on the birth date, the given name or the first surname holds them all). Two of
    them are one man, his second surname typed López, then Lopes."""
    people = {}
    for i, second in enumerate(OTHERS):
        people |= _encounter(
            agent,
            f"2018-06-{i + 1:02d}T10:00:00-06:00",
            "EPT",
            [_p(second, "Juan", "Xol", second, "M", "1990-04-12")],
        )
    people |= _encounter(
        agent,
        "2018-06-20T10:00:00-06:00",
        "EPT",
        [_p("lopez", "Juan", "Xol", "López", "M", "1990-04-12", a_number="A201234567")],
    )
    people |= _encounter(
        agent, "2019-02-01T10:00:00-07:00", "YUM", [_p("lopes", "Juan", "Xol", "Lopes", "M", "1990-04-12")]
    )
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT count(DISTINCT linkage_s2), count(DISTINCT (linkage_g, linkage_s1)) "
            "FROM apprehensions_person"
        )
        assert cursor.fetchone() == (len(OTHERS) + 1, 1)  # the premise: one block, ordered by s2
    return people


def _full_pass_pairs():
    """The full pass's blocked pairs, as it builds them."""
    with transaction.atomic(), connection.cursor() as cursor:
        pairs_from, _ = discovery._duplicate_pairs(cursor, None)
        cursor.execute(f"SELECT a, b FROM {pairs_from}")  # noqa: S608 - the pass's own table name
        pairs = {frozenset(row) for row in cursor.fetchall()}
        cursor.execute("DROP TABLE lk_keys, lk_pairs")
    return pairs


def _dups(result):
    return {
        frozenset((c.person_a_id, c.person_b_id)) for c in result.candidates if c.kind == "duplicate_person"
    }


@override_settings(LINKAGE_INCREMENTAL="off")
def test_a_block_larger_than_the_window_gives_each_record_its_window_next(agent, monkeypatch):
    """14 records, WINDOW 3: 14·3 − (3+2+1) = 36 pairs (of 91), each record with its 3 next and 3
    previous in the order of second-surname sounds, no more; the duplicate (neighbours) is proposed."""
    people = _big_block(agent)
    n = len(people)
    order = sorted(people.values(), key=_s2)
    monkeypatch.setattr(discovery, "WINDOW", 3)

    pairs = _full_pass_pairs()

    expected = {frozenset((order[i].pk, order[j].pk)) for i in range(n) for j in range(i + 1, min(i + 4, n))}
    assert pairs == expected
    assert len(pairs) == n * 3 - 6
    for person in people.values():
        assert sum(person.pk in pair for pair in pairs) <= 2 * 3

    result = discover_links(persist=False)
    assert result.pairs_scored["duplicate_person"] == n * 3 - 6
    assert frozenset((people["lopez"].pk, people["lopes"].pk)) in _dups(result)


@override_settings(LINKAGE_INCREMENTAL="off")
def test_a_block_within_the_window_keeps_all_its_pairs(agent, monkeypatch):
    """The same 14 records with WINDOW 13: a block of WINDOW + 1 records keeps all 91 pairs, and the
    window's proposals are the unbounded pass's (the duplicate; no namesake is proposed)."""
    people = _big_block(agent)
    n = len(people)
    monkeypatch.setattr(discovery, "WINDOW", n - 1)

    pairs = _full_pass_pairs()
    assert len(pairs) == n * (n - 1) // 2
    everything = discover_links(persist=False)
    assert everything.pairs_scored["duplicate_person"] == n * (n - 1) // 2

    monkeypatch.setattr(discovery, "WINDOW", 3)
    assert (
        _dups(discover_links(persist=False))
        == _dups(everything)
        == {frozenset((people["lopez"].pk, people["lopes"].pk))}
    )


@override_settings(LINKAGE_INCREMENTAL="off")
def test_a_duplicate_out_of_the_window_is_not_compared_by_the_full_pass(agent, monkeypatch):
    """The price of the window: with WINDOW 1, López and Lopes stay neighbours (found), but a record
    is never compared with the one two places on (Ajanel and Estrada, in the order AJNL ARTS ASTR)."""
    people = _big_block(agent)
    monkeypatch.setattr(discovery, "WINDOW", 1)

    pairs = _full_pass_pairs()

    assert len(pairs) == len(people) - 1
    assert frozenset((people["lopez"].pk, people["lopes"].pk)) in pairs
    assert frozenset((people["Ajanel"].pk, people["Ortiz"].pk)) in pairs
    assert frozenset((people["Ajanel"].pk, people["Estrada"].pk)) not in pairs


@override_settings(LINKAGE_INCREMENTAL="off")
def test_the_incremental_pass_compares_a_new_record_with_its_whole_block(agent, monkeypatch):
    """The pass after an intake applies no window (it reads the new records' blocks by index): the
    new record is compared with all 13 others, and proposes what the full pass proposes for it."""
    people = _big_block(agent)
    monkeypatch.setattr(discovery, "WINDOW", 3)
    full = {
        c.key
        for c in discover_links(persist=False).candidates
        if people["lopes"].pk in (c.person_a_id, c.person_b_id)
    }

    partial = discover_links(person_ids=[people["lopes"].pk], persist=False)

    assert partial.pairs_scored["duplicate_person"] == len(people) - 1
    assert {c.key for c in partial.candidates} == full
    assert len(full) == 1


def _s2(person):
    with connection.cursor() as cursor:
        cursor.execute(
            'SELECT linkage_s2 COLLATE "C", id::text FROM apprehensions_person WHERE id = %s', [person.pk]
        )
        return cursor.fetchone()
