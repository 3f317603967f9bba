"""Candidates naming a record merged away: superseded by the merge, their question carried to the
survivor; an unmerge puts both back.

A proposed candidate that names the record a merge folds away can no longer be decided (accepting
it is refused: the record takes no new links), yet its question (is C this child's father? is C
the same human?) still stands for the survivor, the same human. In the merge's transaction each
such candidate becomes `superseded` (`result_id`: the merge), and the same question about the
survivor is filed as a new candidate (`carried_from`: the superseded one), scored by link
discovery's own scorers in their direction (`rescore_pair`: a relationship's person_a is the
adult); an A-number conflict is carried as it stands, the survivor in the merged record's place
(person_a stays the side holding the number). Nothing is carried when a candidate with that key is
already on file in any status (a rejected pair is never proposed again, an accepted one not
re-proposed, a proposed one not doubled), when the candidate was about the two merged records
themselves, or when discovery never asks about the pair (two people seen together; a relationship
already recorded). The superseded candidate's decision reason says which.

An unmerge proposes the candidates that merge superseded again and supersedes the candidates it
carried that are still proposed ("the merge they came from was undone"); a carried candidate an
analyst already decided keeps its decision, and the unmerge says so.
"""

from dataclasses import dataclass, field
from typing import Any

from django.db import IntegrityError, OperationalError, transaction
from django.db.models import Q

from apprehensions.models import Person
from apprehensions.visibility import is_person_visible
from familylink.common.errors import BusinessRuleError

from .decisions import decide, stamp
from .discovery import ProposedCandidate, candidate_key, rescore_pair
from .models import LinkCandidate, PersonMerge

SUPERSEDED = LinkCandidate.Status.SUPERSEDED
PROPOSED = LinkCandidate.Status.PROPOSED
LOCK_NOT_AVAILABLE = "55P03"  # PostgreSQL's SQLSTATE for FOR UPDATE NOWAIT meeting a lock

# Why discovery does not ask a question about the survivor (`rescore_pair` found no such pair).
_NOT_ASKED: dict[str, str] = {
    LinkCandidate.Kind.RELATIONSHIP: (
        "a relationship or a family unit already links them, or by the survivor's record they are "
        "not an adult and a child encountered together"
    ),
    LinkCandidate.Kind.DUPLICATE_PERSON: "they were encountered together or share a family unit: two people",
}


def lock_proposed_naming(person: Any, *, besides: LinkCandidate | None = None) -> list[LinkCandidate]:
    """The proposed candidates naming `person` (but `besides`), locked in id order, before the merge
    locks its persons: in the order a decision locks (its candidate, then the persons).

    One that an analyst is deciding at this moment refuses the merge (409, try again) instead of
    waiting: two analysts accepting two duplicates of one record would each hold the candidate the
    other's merge supersedes, a deadlock.
    """
    candidates = LinkCandidate.objects.select_for_update(nowait=True).filter(
        Q(person_a_id=person.pk) | Q(person_b_id=person.pk), status=PROPOSED
    )
    if besides is not None:
        candidates = candidates.exclude(pk=besides.pk)
    try:
        with transaction.atomic():
            return list(candidates.order_by("pk"))
    except OperationalError as exc:
        if getattr(exc.__cause__, "pgcode", None) != LOCK_NOT_AVAILABLE:
            raise
        raise BusinessRuleError(
            f"A link candidate naming {person.full_name} is being decided at this moment; "
            "try the merge again in a moment."
        ) from exc


def _merge_words(merge: PersonMerge) -> str:
    return f"{merge.merged.full_name} was merged into {merge.survivor.full_name}"


def carry_target(candidate: LinkCandidate, merge: PersonMerge) -> tuple[Any, Any] | None:
    """(person_a_id, person_b_id) of the same question about the survivor, in the candidate's own
    direction; None when the candidate was about the two merged records themselves."""
    pair = {candidate.person_a_id, candidate.person_b_id}
    if pair == {merge.merged_id, merge.survivor_id}:
        return None

    def moved(person_id: Any) -> Any:
        return merge.survivor_id if person_id == merge.merged_id else person_id

    return moved(candidate.person_a_id), moved(candidate.person_b_id)


def _on_file(candidate: LinkCandidate, target: tuple[Any, Any]) -> LinkCandidate | None:
    key = candidate_key(candidate.kind, target[0], target[1], candidate.details)
    return LinkCandidate.objects.filter(key=key).first()


def asked_instead(candidate: LinkCandidate, merge: PersonMerge) -> LinkCandidate | None:
    """The candidate asking `candidate`'s question about the survivor of `merge`: carried by it, or
    already on file then (a candidate's key is unique over every status)."""
    target = carry_target(candidate, merge)
    return None if target is None else _on_file(candidate, target)


def _carried(candidate: LinkCandidate, target: tuple[Any, Any]) -> ProposedCandidate | None:
    """The question about the survivor: rescored by discovery, or an A-number conflict as it stands."""
    a_id, b_id = target
    if candidate.kind == LinkCandidate.Kind.A_NUMBER_CONFLICT:
        return ProposedCandidate(
            kind=candidate.kind,
            person_a_id=a_id,
            person_b_id=b_id,
            score=candidate.score,
            suggested_type=candidate.suggested_type,
            reasons=list(candidate.reasons),
            details=dict(candidate.details or {}),
            station_code=candidate.station_code,
            encountered_on=candidate.encountered_on,
        )
    if b_id is None:
        return None
    return rescore_pair(kind=candidate.kind, person_a_id=a_id, person_b_id=b_id)


def _carry(candidate: LinkCandidate, *, merge: PersonMerge, by: Any) -> str:
    """File the candidate's question about the survivor, if it is to be asked; what happened, in words."""
    survivor = merge.survivor.full_name
    target = carry_target(candidate, merge)
    if target is None:
        return "; it was about these two records, now one"
    on_file = _on_file(candidate, target)
    if on_file is None:
        question = _carried(candidate, target)
        if question is None:
            why = _NOT_ASKED.get(candidate.kind, "it names no one else")
            return f"; not carried to {survivor}: link discovery does not ask it ({why})"
        words = f"carried from candidate {candidate.pk}: {_merge_words(merge)}"
        carried = question.to_candidate()
        carried.reasons = [words, *question.reasons]
        carried.carried_from = candidate
        carried.created_by = by
        stamp(carried, by=by, reason=words)
        try:
            with transaction.atomic():  # a discovery pass may file the same key at the same moment
                carried.save()
            return f"; its question about {survivor} is carried to candidate {carried.pk}"
        except IntegrityError:
            on_file = _on_file(candidate, target)
    if on_file is None:  # filed by a pass at the same moment and not visible yet
        return f"; the same question about {survivor} was already on file"
    status = on_file.get_status_display().lower()
    return f"; the same question about {survivor} was already asked (candidate {on_file.pk}, {status})"


def supersede_for_merge(candidates: list[LinkCandidate], *, merge: PersonMerge, by: Any) -> None:
    """In the merge's transaction: each proposed candidate naming the merged record is superseded,
    with the merge in its history, and its question carried to the survivor (see the module)."""
    for candidate in candidates:
        outcome = _carry(candidate, merge=merge, by=by)
        decide(candidate, status=SUPERSEDED, by=by, reason=_merge_words(merge) + outcome, result_id=merge.pk)


def supersede_stale(*, by: Any = None) -> int:
    """Supersede, as their merge would have, the proposed candidates that still name a record merged
    away, and carry their question to the survivor; how many. Such a candidate was filed by a
    discovery pass that committed while the merge ran (the merge had locked the candidates on file
    then), or was proposed before merges superseded candidates. Run by the nightly full pass; one an
    analyst is deciding at that moment is left for the next night."""
    merges = PersonMerge.objects.filter(undone_at__isnull=True)
    stale = list(
        LinkCandidate.objects.select_for_update(skip_locked=True)
        .filter(status=PROPOSED)
        .filter(Q(person_a_id__in=merges.values("merged_id")) | Q(person_b_id__in=merges.values("merged_id")))
        .order_by("pk")
    )
    named = {c.person_a_id for c in stale} | {c.person_b_id for c in stale}
    merge_of = {
        m.merged_id: m for m in merges.filter(merged_id__in=named).select_related("survivor", "merged")
    }
    for candidate in stale:
        merge = merge_of.get(candidate.person_a_id) or merge_of[candidate.person_b_id]
        supersede_for_merge([candidate], merge=merge, by=by)
    return len(stale)


@dataclass
class Unmerged:
    """An undone merge, and what the unmerge did to the candidates of that merge."""

    merge: PersonMerge
    proposed_again: list[LinkCandidate] = field(default_factory=list)
    withdrawn: list[LinkCandidate] = field(default_factory=list)  # carried, still proposed: superseded
    kept: list[LinkCandidate] = field(default_factory=list)  # carried, already decided: left as they are


def lock_superseded_by(merge: PersonMerge) -> tuple[list[LinkCandidate], list[LinkCandidate]]:
    """The candidates `merge` superseded and those it carried to the survivor, locked in id order."""
    superseded = list(
        LinkCandidate.objects.select_for_update()
        .filter(status=SUPERSEDED, result_id=merge.pk)
        .filter(Q(person_a_id=merge.merged_id) | Q(person_b_id=merge.merged_id))
        .order_by("pk")
    )
    carried = []
    for candidate in superseded:
        target = carry_target(candidate, merge)
        if target is not None:
            key = candidate_key(candidate.kind, target[0], target[1], candidate.details)
            # Carried by this merge (not one on file before it, nor one an earlier, undone merge carried).
            carried += LinkCandidate.objects.select_for_update().filter(key=key, carried_from=candidate)
    return superseded, carried


def restore_for_unmerge(
    superseded: list[LinkCandidate], carried: list[LinkCandidate], *, merge: PersonMerge, by: Any, reason: str
) -> Unmerged:
    """In the unmerge's transaction: the merge's superseded candidates are proposed again (as they were
    before it: no decision), the candidates it carried and nobody decided are superseded."""
    done = Unmerged(merge=merge)
    for candidate in superseded:
        candidate.status = PROPOSED
        candidate.decided_at = candidate.decided_by = candidate.result_id = None
        candidate.decision_reason = ""
        stamp(
            candidate,
            by=by,
            reason=f"proposed again: the merge ({_merge_words(merge)}) was undone: {reason}",
        )
        candidate.save(update_fields=["status", "decided_at", "decided_by", "decision_reason", "result_id"])
        done.proposed_again.append(candidate)
    for candidate in carried:
        if candidate.status != PROPOSED:
            done.kept.append(candidate)
            continue
        words = (
            f"the merge it came from was undone ({merge.merged.full_name} and {merge.survivor.full_name} "
            f"are two records again): {reason}"
        )
        decide(candidate, status=SUPERSEDED, by=by, reason=words, result_id=merge.pk)
        done.withdrawn.append(candidate)
    # A candidate proposed again may name a record merged away since (its other person): that merge
    # supersedes it now, as it would have had the candidate been proposed then.
    for candidate in done.proposed_again:
        for person_id in (candidate.person_a_id, candidate.person_b_id):
            later = (
                PersonMerge.objects.filter(merged_id=person_id, undone_at__isnull=True)
                .exclude(pk=merge.pk)
                .first()
            )
            if later is not None:
                supersede_for_merge([candidate], merge=later, by=by)
                break
    return done


# --- Saying what happened to a superseded candidate, to a reader ----------------------------------


@dataclass
class SupersededStory:
    """Why a candidate is superseded, with the persons and candidates the reader may follow."""

    merge: PersonMerge
    origin_undone: bool  # carried by `merge`, which was since undone
    merged: Person | None  # None: a record the reader may not see
    survivor: Person | None
    successor: LinkCandidate | None  # where the question is asked now


def _visible(person: Any, viewer: Any) -> Any:
    return person if person is not None and is_person_visible(viewer, person, by_identifier=False) else None


def superseded_story(candidate: LinkCandidate, *, viewer: Any) -> SupersededStory | None:
    if candidate.status != SUPERSEDED or candidate.result_id is None:
        return None
    merge = PersonMerge.objects.select_related("survivor", "merged").filter(pk=candidate.result_id).first()
    if merge is None:
        return None
    origin_undone = merge.merged_id not in (candidate.person_a_id, candidate.person_b_id)
    successor = candidate.carried_from if origin_undone else asked_instead(candidate, merge)
    return SupersededStory(
        merge=merge,
        origin_undone=origin_undone,
        merged=_visible(merge.merged, viewer),
        survivor=_visible(merge.survivor, viewer),
        successor=successor,
    )


def _name(person: Person | None) -> str:
    return person.full_name if person is not None else "another record"


def superseded_message(candidate: LinkCandidate, *, viewer: Any) -> str:
    """Why a superseded candidate cannot be decided, and where its question is asked now (409)."""
    story = superseded_story(candidate, viewer=viewer)
    if story is None:
        return "This link candidate is superseded; nothing is left to decide on it."
    merged, survivor = _name(story.merged), _name(story.survivor)
    successor = story.successor
    if story.origin_undone:
        text = (
            f"This link candidate is superseded: it was carried to {survivor} when {merged} was merged "
            f"into it, and that merge was undone."
        )
        if successor is not None:
            status = successor.get_status_display().lower()
            text += f" The question is asked again in candidate {successor.pk} ({status})."
        return text + " Nothing is left to decide on this one."
    text = (
        f"This link candidate is superseded: {merged} was merged into {survivor}, so a link to {merged} "
        "can no longer be accepted or rejected."
    )
    if successor is not None:
        status = successor.get_status_display().lower()
        text += f" The same question about {survivor} is candidate {successor.pk} ({status})"
        text += ": decide that one." if successor.status == PROPOSED else "."
    else:
        text += f" It is not asked about {survivor} (see the decision reason)."
    return text + " Undoing the merge would propose this candidate again."


def _plural(items: list[Any], one: str, many: str) -> str:
    return one if len(items) == 1 else many


def unmerge_summary(unmerged: Unmerged, *, viewer: Any) -> str:
    """What an unmerge did to its merge's candidates, in words, naming only persons `viewer` may see."""
    merged = _name(_visible(unmerged.merge.merged, viewer))
    survivor = _name(_visible(unmerged.merge.survivor, viewer))
    said = []
    again, withdrawn, kept = unmerged.proposed_again, unmerged.withdrawn, unmerged.kept
    if again:
        noun, verb = _plural(again, "candidate", "candidates"), _plural(again, "is", "are")
        said.append(f"{len(again)} {noun} naming {merged} {verb} proposed again.")
    if withdrawn:
        noun, verb = _plural(withdrawn, "candidate", "candidates"), _plural(withdrawn, "is", "are")
        said.append(
            f"{len(withdrawn)} {noun} carried to {survivor} {verb} withdrawn "
            "(superseded: the merge they came from was undone)."
        )
    if kept:
        decisions = "; ".join(
            _name(_visible(c.person_a, viewer))
            + (f" and {_name(_visible(c.person_b, viewer))}" if c.person_b_id else "")
            + f": {c.get_status_display().lower()}"
            for c in kept
        )
        noun, verb = _plural(kept, "candidate", "candidates"), _plural(kept, "was", "were")
        keeps = _plural(kept, "keeps its", "keep their")
        said.append(
            f"{len(kept)} {noun} carried to {survivor} {verb} already decided and {keeps} decision "
            f"({decisions})."
        )
    return " ".join(said)
