"""The link-discovery quality bench (bench/linkage/): its scoring is right, and its tiny mode runs end to end.

The targets (duplicate F1 vs Splink, relationship recall/precision) are measured by
`bench/linkage/quality.py` and recorded in docs/benchmarks.md, not asserted here.
"""

import uuid
from datetime import date

import pytest

from apprehensions.linkage.discovery import discover_links
from apprehensions.models import Apprehension, Person, Relationship
from bench.linkage import splink_baseline
from bench.linkage.generator import Truth, generate
from bench.linkage.load import load
from bench.linkage.scoring import Explainer, score_duplicates, score_relationships
from bench.scenario import GPerson


class P:
    """A proposal as discover_links returns them (kind, person_a_id, person_b_id, suggested_type)."""

    def __init__(self, kind: str, a: uuid.UUID, b: uuid.UUID, suggested_type: str = "") -> None:
        self.kind, self.person_a_id, self.person_b_id, self.suggested_type = kind, a, b, suggested_type


def _record(rid: uuid.UUID, given: str, first: str, second: str, dob: date, minor: bool) -> GPerson:
    return GPerson(rid, given, first, second, "F", dob, False, "GT", "Spanish", None, minor)


def _six_records() -> tuple[Truth, dict[uuid.UUID, GPerson], list[uuid.UUID]]:
    """Mother H1 entered twice (r1, r2); her children H2 (r3) and H4 (r5); a stranger H3 (r4); the
    father H5 (r6) whose link to r3 is on file. r1, r3, r4, r5 and r6 were apprehended together."""
    r = [uuid.UUID(int=i + 1) for i in range(6)]
    truth = Truth()
    for rid, hid in zip(r, (1, 1, 2, 3, 4, 5), strict=True):
        truth.human_of[rid] = hid
        truth.group_of[rid] = "hidden_family"
        truth.adults_with[rid] = 3  # r1, r4 and r6 in one apprehension
    truth.parent_of = {(1, 2), (1, 4), (5, 2)}
    truth.sibling_of = {frozenset((2, 4))}
    truth.recorded = {frozenset((r[5], r[2]))}
    for adult in (r[0], r[3], r[5]):
        for child in (r[2], r[4]):
            truth.together.append((adult, child, "hidden_family"))
    records = {
        r[0]: _record(r[0], "María", "Pérez", "López", date(1985, 3, 1), False),
        r[1]: _record(r[1], "Maria", "Perez", "", date(1985, 1, 3), False),
        r[2]: _record(r[2], "Ana", "García", "Pérez", date(2010, 5, 5), True),
        r[3]: _record(r[3], "Rosa", "Cruz", "Reyes", date(1990, 7, 7), False),
        r[4]: _record(r[4], "Sofía", "García", "Pérez", date(2012, 6, 6), True),
        r[5]: _record(r[5], "José", "García", "Ortiz", date(1983, 2, 2), False),
    }
    return truth, records, r


def test_score_duplicates_on_six_hand_made_records():
    """One pair of two is right (P 0.5), the one pair to find is found (R 1.0), a pair given twice
    counts once."""
    truth, records, r = _six_records()
    proposals = [
        P("duplicate_person", r[0], r[1]),
        P("duplicate_person", r[1], r[0]),
        P("duplicate_person", r[2], r[4]),
        P("relationship", r[0], r[2], "parent"),
    ]

    score = score_duplicates(proposals, truth, explainer=Explainer(truth, records))

    assert (score.proposed, score.true_positives, score.false_positives, score.false_negatives) == (
        2,
        1,
        1,
        0,
    )
    assert (score.to_find, score.found) == (1, 1)
    assert score.precision == 0.5
    assert score.recall == 1.0
    assert score.f1 == pytest.approx(2 / 3)
    assert dict(score.false_positive_kinds) == {"siblings": 1}


def test_score_relationships_on_six_hand_made_records():
    """Parent claims are right when the human is the parent and no link is on file; recall counts only
    what was apprehended together without a link; claims of another type are counted apart."""
    truth, records, r = _six_records()
    proposals = [
        P("relationship", r[0], r[2], "parent"),  # right, and to find
        P("relationship", r[2], r[1], "parent"),  # right (the mother's other record), not in the to-find set
        P("relationship", r[3], r[4], "parent"),  # a stranger
        P("relationship", r[5], r[2], "parent"),  # already on file
        P("relationship", r[0], r[4], "sibling"),  # another type: neither helps nor hurts
        P("duplicate_person", r[0], r[1]),
    ]

    score = score_relationships(proposals, truth, explainer=Explainer(truth, records))

    assert truth.relationship_pairs() == {frozenset((r[0], r[2])), frozenset((r[0], r[4]))}
    assert (score.proposed, score.true_positives, score.false_positives) == (4, 2, 2)
    assert (score.to_find, score.found, score.false_negatives) == (2, 1, 1)
    assert score.precision == 0.5
    assert score.recall == 0.5
    assert score.f1 == 0.5
    assert dict(score.other_types) == {"sibling (related)": 1}
    assert dict(score.false_positive_kinds) == {
        "unrelated, hidden_family, 3 adults": 1,
        "already recorded, hidden_family, 3 adults": 1,
    }


def test_generator_is_reproducible_and_labels_what_it_writes():
    """The same seed gives the same records and truth; another seed gives other records."""
    first, again, other = (
        generate(persons=300, seed=7),
        generate(persons=300, seed=7),
        generate(persons=300, seed=8),
    )

    assert [p.id for p in first.records] == [p.id for p in again.records]
    assert first.truth.duplicate_pairs() == again.truth.duplicate_pairs()
    assert first.truth.relationship_pairs() == again.truth.relationship_pairs()
    assert {p.id for p in first.records}.isdisjoint({p.id for p in other.records})
    assert set(first.truth.human_of) == {p.id for p in first.records}
    a_numbers = [p.a_number for p in first.records if p.a_number]
    assert len(a_numbers) == len(set(a_numbers))


@pytest.mark.django_db
def test_quality_tiny_mode_end_to_end():
    """500 labelled records written through the real tables, discover_links over them, scored per kind."""
    dataset = generate(persons=500, seed=3)

    written, _seconds = load(dataset)
    proposals = discover_links(persist=False).candidates

    assert written == len(dataset.records) == Person.objects.count()
    assert Apprehension.objects.count() == len(dataset.encounters)
    assert Relationship.objects.count() == sum(len(e.relationships) for e in dataset.encounters)
    assert Person.history.filter(history_change_reason="bench/linkage synthetic data").count() == written
    assert load(dataset)[0] == 0  # loaded once
    ids = set(dataset.truth.human_of)
    assert proposals and all(uuid.UUID(str(p.person_a_id)) in ids for p in proposals)
    explainer = Explainer(dataset.truth, {p.id: p for p in dataset.records})
    for score in (
        score_duplicates(proposals, dataset.truth, explainer=explainer),
        score_relationships(proposals, dataset.truth, explainer=explainer),
    ):
        assert score.to_find > 0
        assert score.true_positives + score.false_positives == score.proposed
        assert score.found + score.false_negatives == score.to_find
        assert 0.0 <= score.precision <= 1.0 and 0.0 <= score.recall <= 1.0


def test_splink_baseline_scores_the_same_records():
    """Splink (DuckDB) trains on the tiny data set and its pairs are scored like FamilyLink's."""
    dataset = generate(persons=500, seed=3)

    pairs = splink_baseline.predict(splink_baseline.rows_from_records(dataset.records), seed=3)
    threshold, f1 = splink_baseline.best_threshold(pairs, dataset.truth.duplicate_pairs())
    score = score_duplicates([p for p in pairs if p.match_probability >= threshold], dataset.truth)

    assert pairs and all(0.0 <= p.match_probability <= 1.0 for p in pairs)
    assert score.f1 == pytest.approx(f1)
