"""discover_links over a hand-built set: every unrecorded family and duplicate, none of the decoys."""

import pytest
from django.core.management import call_command
from django.test import override_settings

from apprehensions.linkage.discovery import discover_links
from apprehensions.linkage.models import LinkCandidate

from . import handbuilt

pytestmark = pytest.mark.django_db


def _pairs(result, people):
    label = {p.pk: name for name, p in people.items()}
    return {
        (c.kind, label[c.person_a_id], label[c.person_b_id], c.suggested_type): c for c in result.candidates
    }


@override_settings(LINKAGE_INCREMENTAL="off")
def test_discover_links_finds_the_families_and_duplicates_and_no_decoy(agent):
    """Full pass: exactly the unrecorded families (as parents), the sibling (as sibling), the duplicates."""
    people = handbuilt.build(agent)

    result = discover_links(persist=False)

    found = _pairs(result, people)
    relationships = {(a, b, t) for kind, a, b, t in found if kind == "relationship"}
    duplicates = {tuple(sorted((a, b))) for kind, a, b, _ in found if kind == "duplicate_person"}
    assert relationships == handbuilt.FAMILIES | handbuilt.SIBLINGS
    assert duplicates == {tuple(sorted(pair)) for pair in handbuilt.DUPLICATES}
    assert LinkCandidate.objects.count() == 0  # persist=False files nothing
    father_son = found[("relationship", "father", "son", "parent")]
    assert "same apprehension 2018-06-01 EPT" in father_son.reasons
    assert "child's first surname = adult's first surname" in father_son.reasons
    assert "born 27 years apart" in father_son.reasons
    mother = found[("relationship", "mother", "daughter", "parent")]
    assert "child's second surname = adult's first surname" in mother.reasons
    assert all(0 <= c.score <= 1 for c in result.candidates)


@override_settings(LINKAGE_INCREMENTAL="off")
def test_discover_links_files_once_and_never_reproposes_decided(agent, users):
    """Filed with history; a second pass files nothing; a rejected pair never comes back."""
    people = handbuilt.build(agent)

    first = discover_links()
    assert first.created == len(first.candidates) == LinkCandidate.objects.count() > 0
    candidate = LinkCandidate.objects.get(person_a=people["father"], person_b=people["son"])
    assert candidate.history.count() == 1
    assert candidate.status == LinkCandidate.Status.PROPOSED

    second = discover_links()
    assert second.created == 0 and second.candidates == []

    call_command("discover_links")
    assert LinkCandidate.objects.count() == first.created


@override_settings(LINKAGE_INCREMENTAL="off")
def test_discover_links_incremental_finds_the_same_for_the_persons_given(agent):
    """The pass for a few persons finds their pairs (the same as the full pass), and only theirs."""
    people = handbuilt.build(agent)
    full = {c.key: c for c in discover_links(persist=False).candidates}

    ids = [people["dup1_b"].pk, people["son"].pk]
    partial = discover_links(person_ids=ids, persist=False)

    expected = {k for k, c in full.items() if {c.person_a_id, c.person_b_id} & set(ids)}
    assert {c.key for c in partial.candidates} == expected
    assert len(expected) == 2


def test_intake_runs_the_incremental_pass(agent):
    """An intake files the candidates of the persons it recorded, once it has committed."""
    with override_settings(LINKAGE_INCREMENTAL="off"):
        people = handbuilt.build(agent)
    from .handbuilt import _encounter, _p

    with override_settings(LINKAGE_INCREMENTAL="inline"):
        from django.test import TestCase

        with TestCase.captureOnCommitCallbacks(execute=True):
            again = _encounter(
                agent,
                "2019-03-01T10:00:00-06:00",
                "EPT",
                [_p("x", "Jose", "Garcia", "Lopez", "M", "1980-01-01")],
            )
    candidate = LinkCandidate.objects.get(kind="duplicate_person")
    assert {candidate.person_a_id, candidate.person_b_id} == {again["x"].pk, people["namesake_a"].pk}


@override_settings(LINKAGE_INCREMENTAL="off")
def test_file_candidates_skips_a_pair_another_pass_filed_first(agent):
    """Two passes proposing one pair: the second insert skips it and writes no history row for it."""
    from apprehensions.linkage.discovery import file_candidates

    handbuilt.build(agent)
    proposals = discover_links(persist=False).candidates
    assert file_candidates(proposals, reason="first pass") == len(proposals)
    assert file_candidates(proposals, reason="second pass") == 0
    assert LinkCandidate.objects.count() == len(proposals)
    assert LinkCandidate.history.count() == len(proposals)


@pytest.mark.django_db(transaction=True)
def test_full_pass_renews_stale_statistics_first_as_the_owner():
    """Persons written in bulk since the last ANALYZE (more than autovacuum's 50 + 10 %): the full
    pass analyzes them first (the app role cannot; a SECURITY DEFINER function of the owner does),
    so its joins are not planned for a nearly empty table (280 s instead of 0.4 s at 20,000 persons);
    a second pass right after finds nothing stale."""
    from django.db import connection

    from tests.apprehensions.factories import PersonFactory

    with connection.cursor() as cursor:
        cursor.execute("SELECT greatest(reltuples, 0) FROM pg_class WHERE relname = 'apprehensions_person'")
        on_file = cursor.fetchone()[0]
    created = int(50 + 0.1 * on_file) + 10
    PersonFactory.create_batch(created)
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_stat_force_next_flush()")  # the inserts counted now, not in 10 s

    first = discover_links(persist=False)
    second = discover_links(persist=False)

    assert "apprehensions_person" in first.analyzed
    assert "apprehensions_person" not in second.analyzed
    with connection.cursor() as cursor:
        cursor.execute("SELECT reltuples FROM pg_class WHERE oid = 'apprehensions_person'::regclass")
        # The new statistics count the persons now on file, this test's among them. (Not the old
        # estimate + 60: that estimate may count rows an earlier test wrote and rolled back.)
        assert cursor.fetchone()[0] >= created
