"""Precision, recall and F1 of proposed links against the generator's ground truth.

`duplicate_person`: a proposal is a pair of person records; it is right when both records are one
human. Every pair of records of one human is to be found (a human entered three times makes three
pairs). Unordered; a pair proposed twice counts once.

`relationship`: a proposal typed parent or legal guardian (or untyped) is right when one record's
human is the other's parent or guardian and no relationship between the two records is on file
already. Recall is over what discovery is asked to find: an adult and a child apprehended together,
the adult their parent or guardian, no relationship recorded between them and no family unit
shared. Proposals of another type (sibling, grandparent, other relative) are counted apart: they are
not parent claims, so they neither help nor hurt the parent/guardian figures.

Whatever proposes (FamilyLink's `discover_links`, Splink) is scored by the same functions.
"""

from __future__ import annotations

import uuid
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any, Protocol

from bench.linkage.generator import Truth
from familylink.common.text import fold

PARENT_TYPES = {"parent", "legal_guardian", ""}


class Proposal(Protocol):
    kind: str
    person_a_id: Any
    person_b_id: Any
    suggested_type: str


@dataclass
class Score:
    kind: str
    true_positives: int
    false_positives: int
    false_negatives: int
    proposed: int
    to_find: int
    found: int
    false_positive_kinds: Counter[str] = field(default_factory=Counter)
    false_negative_kinds: Counter[str] = field(default_factory=Counter)
    examples_fp: list[str] = field(default_factory=list)
    examples_fn: list[str] = field(default_factory=list)
    other_types: Counter[str] = field(default_factory=Counter)

    @property
    def precision(self) -> float:
        return self.true_positives / self.proposed if self.proposed else 0.0

    @property
    def recall(self) -> float:
        return self.found / self.to_find if self.to_find else 0.0

    @property
    def f1(self) -> float:
        p, r = self.precision, self.recall
        return 2 * p * r / (p + r) if p + r else 0.0


def _pair(a: Any, b: Any) -> frozenset[uuid.UUID]:
    return frozenset((uuid.UUID(str(a)), uuid.UUID(str(b))))


class Explainer:
    """Why a pair is hard, in words, for the error breakdowns."""

    def __init__(self, truth: Truth, records: dict[uuid.UUID, Any] | None = None):
        self.truth = truth
        self.records = records or {}
        self.encounter_of: dict[uuid.UUID, str] = {}

    def label(self, rid: uuid.UUID) -> str:
        p = self.records.get(rid)
        if p is None:
            return str(rid)[:8]
        names = " ".join(x for x in (p.given_names, p.first_surname, p.second_surname) if x)
        return f"{names} ({p.date_of_birth}, {p.a_number or 'no A#'})"

    def surnames(self, rid: uuid.UUID) -> set[str]:
        p = self.records.get(rid)
        if p is None:
            return set()
        return {fold(s) for s in (p.first_surname, p.second_surname) if s}

    def relation(self, a: uuid.UUID, b: uuid.UUID) -> str:
        t = self.truth
        ha, hb = t.human_of.get(a), t.human_of.get(b)
        if ha is None or hb is None:
            return "not in the data set"
        if ha == hb:
            return "same human"
        humans = frozenset((ha, hb))
        if (ha, hb) in t.parent_of or (hb, ha) in t.parent_of:
            return "parent/guardian and child"
        if humans in t.twins:
            return "twins"
        if humans in t.sibling_of:
            return "siblings"
        if humans in t.namesakes:
            return "namesakes"
        shared = self.surnames(a) & self.surnames(b)
        return "unrelated, sharing a surname" if shared else "unrelated"

    def describe(self, a: uuid.UUID, b: uuid.UUID) -> str:
        return f"{self.label(a)} ~ {self.label(b)}"


def score_duplicates(
    proposals: Iterable[Proposal], truth: Truth, *, explainer: Explainer | None = None, examples: int = 5
) -> Score:
    proposed = {_pair(p.person_a_id, p.person_b_id) for p in proposals if p.kind == "duplicate_person"}
    expected = truth.duplicate_pairs()
    tp = proposed & expected
    fps, fns = proposed - expected, expected - proposed
    score = Score(
        kind="duplicate_person",
        true_positives=len(tp),
        false_positives=len(fps),
        false_negatives=len(fns),
        proposed=len(proposed),
        to_find=len(expected),
        found=len(tp),
    )
    if explainer is not None:
        for pair in sorted(fps, key=str):
            a, b = sorted(pair, key=str)
            kind = explainer.relation(a, b)
            score.false_positive_kinds[kind] += 1
            if len(score.examples_fp) < examples:
                score.examples_fp.append(f"[{kind}] {explainer.describe(a, b)}")
        for pair in sorted(fns, key=str):
            a, b = sorted(pair, key=str)
            tags = sorted({t for r in (a, b) for t in truth.variations.get(r, []) if t != "accents dropped"})
            key = " + ".join(tags) or "accents only"
            for tag in tags or ["accents only"]:
                score.false_negative_kinds[tag] += 1
            if len(score.examples_fn) < examples:
                score.examples_fn.append(f"[{key}] {explainer.describe(a, b)}")
    return score


def score_relationships(
    proposals: Iterable[Proposal], truth: Truth, *, explainer: Explainer | None = None, examples: int = 5
) -> Score:
    parent_claims: set[frozenset[uuid.UUID]] = set()
    other_types: Counter[str] = Counter()
    for p in proposals:
        if p.kind != "relationship" or p.person_b_id is None:
            continue
        pair = _pair(p.person_a_id, p.person_b_id)
        if (p.suggested_type or "") in PARENT_TYPES:
            parent_claims.add(pair)
        else:
            a, b = tuple(pair)
            related = truth.human_of.get(a) is not None and (
                truth.is_parent_pair(a, b)
                or frozenset((truth.human_of[a], truth.human_of.get(b))) in truth.sibling_of
            )
            other_types[f"{p.suggested_type} ({'related' if related else 'unrelated'})"] += 1
    correct = {
        pair for pair in parent_claims if truth.is_parent_pair(*tuple(pair)) and pair not in truth.recorded
    }
    expected = truth.relationship_pairs()
    found = parent_claims & expected
    fps = parent_claims - correct
    fns = expected - parent_claims
    score = Score(
        kind="relationship",
        true_positives=len(correct),
        false_positives=len(fps),
        false_negatives=len(fns),
        proposed=len(parent_claims),
        to_find=len(expected),
        found=len(found),
        other_types=other_types,
    )
    if explainer is not None:
        for pair in sorted(fps, key=str):
            a, b = sorted(pair, key=str)
            kind = "already recorded" if pair in truth.recorded else explainer.relation(a, b)
            if pair in truth.shared_unit:
                kind += ", one family unit"
            adults = truth.adults_with.get(a, 0)
            kind += f", {truth.group_of.get(a, '?')}, " + (
                "the only adult" if adults == 1 else f"{adults} adults"
            )
            score.false_positive_kinds[kind] += 1
            if len(score.examples_fp) < examples:
                score.examples_fp.append(f"[{kind}] {explainer.describe(a, b)}")
        for pair in sorted(fns, key=str):
            a, b = sorted(pair, key=str)
            shared = len(explainer.surnames(a) & explainer.surnames(b))
            adults = truth.adults_with.get(a, 0)
            alone = "the only adult" if adults == 1 else f"{adults} adults"
            kind = f"{truth.group_of.get(a, '?')}, {shared} surname(s) shared, {alone}"
            score.false_negative_kinds[kind] += 1
            if len(score.examples_fn) < examples:
                score.examples_fn.append(f"[{kind}] {explainer.describe(a, b)}")
    return score


def format_score(s: Score) -> str:
    return (
        f"{s.kind:<17} P {s.precision:.3f}  R {s.recall:.3f}  F1 {s.f1:.3f}  "
        f"(proposed {s.proposed:,}, right {s.true_positives:,}; to find {s.to_find:,}, found {s.found:,})"
    )


def duplicate_recall_by_variation(proposals: Iterable[Proposal], truth: Truth) -> dict[str, tuple[int, int]]:
    """For each way a record was written differently: (pairs found, pairs to find) among the pairs
    where one of the two records carries that variation."""
    proposed = {_pair(p.person_a_id, p.person_b_id) for p in proposals if p.kind == "duplicate_person"}
    out: dict[str, list[int]] = {}
    for pair in truth.duplicate_pairs():
        tags = {t for r in pair for t in truth.variations.get(r, [])}
        for tag in tags:
            counts = out.setdefault(tag, [0, 0])
            counts[0] += pair in proposed
            counts[1] += 1
    return {tag: (found, total) for tag, (found, total) in sorted(out.items(), key=lambda kv: -kv[1][1])}
