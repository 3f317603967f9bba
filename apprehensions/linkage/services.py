"""Every write of link review: file an A-number conflict, accept or reject a candidate, merge, unmerge."""

from typing import Any

from django.apps import apps
from django.db import models, transaction
from django.utils import timezone
from rest_framework.exceptions import NotFound
from simple_history.models import HistoricalChanges

from apprehensions.extensions import merge_adjusters
from apprehensions.models import Person, Relationship
from apprehensions.services.persons import _relationship_rules
from apprehensions.signals import persons_recorded
from familylink.common.errors import BusinessRuleError, PermissionDenied, ValidationFailed
from familylink.common.roles import has_capability

from .carry import (
    Unmerged,
    lock_proposed_naming,
    lock_superseded_by,
    restore_for_unmerge,
    supersede_for_merge,
    superseded_message,
)
from .decisions import decide, stamp
from .discovery import candidate_key
from .models import LinkCandidate, PersonMerge


@transaction.atomic
def a_number_conflict_file(
    *,
    a_number: str,
    existing_person: Any,
    other_person: Any = None,
    attempted_by: Any = None,
    context: str = "",
    entered: dict[str, Any] | None = None,
) -> LinkCandidate | None:
    """File an `a_number_conflict` for HQ review (once per A-number and pair); never merges anything."""
    if existing_person is None:
        return None
    details: dict[str, Any] = {"a_number": a_number, "context": context}
    if other_person is None and entered:
        details["entered"] = {k: str(v) for k, v in entered.items()}
        details["attempt"] = "|".join(str(v) for v in entered.values())[:80]
    key = candidate_key(
        LinkCandidate.Kind.A_NUMBER_CONFLICT, existing_person.pk, getattr(other_person, "pk", None), details
    )
    existing = LinkCandidate.objects.filter(key=key).first()
    if existing is not None:
        return existing
    who = getattr(attempted_by, "username", "") or "someone"
    reasons = [
        f"A-number {a_number} typed at {context or 'entry'} by {who} belongs to another person on file"
    ]
    if other_person is not None:
        reasons.append(f"{other_person.full_name} was saved with or asked for it")
    elif entered:
        reasons.append("entered: " + ", ".join(f"{k} {v}" for k, v in entered.items() if v))
    station = getattr(existing_person, "first_station", None)
    candidate = LinkCandidate(
        kind=LinkCandidate.Kind.A_NUMBER_CONFLICT,
        person_a=existing_person,
        person_b=other_person,
        suggested_type="review_a_number",
        score=1.0,
        reasons=reasons,
        details=details,
        key=key,
        station_code=getattr(station, "code", "") or getattr(attempted_by, "station", "") or "",
        created_by=attempted_by if getattr(attempted_by, "is_authenticated", False) else None,
    )
    candidate._change_reason = f"A-number conflict at {context or 'entry'}"
    candidate._history_user = attempted_by if getattr(attempted_by, "is_authenticated", False) else None
    candidate.save()
    return candidate


def _locked_candidate(candidate_id: Any) -> LinkCandidate:
    candidate = LinkCandidate.objects.select_for_update().filter(pk=candidate_id).first()
    if candidate is None:
        raise NotFound("No link candidate with this id.")
    return candidate


def _require(user: Any, capability: str, message: str) -> None:
    if not has_capability(user, capability):
        raise PermissionDenied(message)


def _check_proposed(candidate: LinkCandidate, *, by: Any) -> None:
    if candidate.status == LinkCandidate.Status.SUPERSEDED:
        raise BusinessRuleError(superseded_message(candidate, viewer=by))
    if candidate.status != LinkCandidate.Status.PROPOSED:
        raise BusinessRuleError(
            f"This link candidate was already decided (it is {candidate.get_status_display().lower()}"
            f"{' by ' + candidate.decided_by.username if candidate.decided_by else ''}); "
            "only a proposed candidate can be accepted or rejected."
        )


def active_merge_of(person_id: Any) -> PersonMerge | None:
    """The merge that folded this record into another, if it is in force."""
    return PersonMerge.objects.filter(merged_id=person_id, undone_at__isnull=True).first()


def _not_merged(*persons: Any) -> None:
    for person in persons:
        merge = active_merge_of(person.pk)
        if merge is not None:
            raise BusinessRuleError(
                f"{person.full_name} was merged into {merge.survivor.full_name} ({merge.survivor_id}); "
                "decide on the surviving record instead, or undo the merge first."
            )


@transaction.atomic
def candidate_reject(*, candidate_id: Any, by: Any, reason: str) -> LinkCandidate:
    """Reject a proposed candidate with a reason; the pair is never proposed again."""
    _require(by, "decide_link_candidates", "Your role cannot decide link candidates.")
    if not (reason or "").strip():
        raise ValidationFailed(
            {"reason": ["Say why the candidate is rejected (e.g. 'not related: cousins')."]}
        )
    candidate = _locked_candidate(candidate_id)
    _check_proposed(candidate, by=by)
    decide(candidate, status=LinkCandidate.Status.REJECTED, by=by, reason=reason.strip())
    return candidate


@transaction.atomic
def candidate_accept(
    *,
    candidate_id: Any,
    by: Any,
    reason: str = "",
    relationship_type: str = "",
    survivor_id: Any = None,
) -> LinkCandidate:
    """Accept a candidate: a relationship is recorded (evidence claimed, source link discovery); a
    duplicate is merged reversibly into one survivor. An A-number conflict is marked reviewed (the
    record itself is corrected by the person edit; nothing is merged silently).
    """
    _require(by, "decide_link_candidates", "Your role cannot decide link candidates.")
    candidate = _locked_candidate(candidate_id)
    _check_proposed(candidate, by=by)
    reason = (reason or "").strip()
    if candidate.kind != LinkCandidate.Kind.A_NUMBER_CONFLICT and candidate.person_b is None:
        raise BusinessRuleError("This candidate names only one person; reject it with a reason.")
    if candidate.kind == LinkCandidate.Kind.RELATIONSHIP:
        relationship = _record_relationship(candidate, by=by, reason=reason, rel_type=relationship_type)
        decide(
            candidate, status=LinkCandidate.Status.ACCEPTED, by=by, reason=reason, result_id=relationship.pk
        )
    elif candidate.kind == LinkCandidate.Kind.DUPLICATE_PERSON:
        pair: dict[str, Any] = {
            str(candidate.person_a_id): candidate.person_a,
            str(candidate.person_b_id): candidate.person_b,
        }
        if survivor_id is not None and str(survivor_id) not in pair:
            raise ValidationFailed({"survivor": ["The survivor must be one of the candidate's two persons."]})
        survivor = (
            pair[str(survivor_id)]
            if survivor_id
            else _default_survivor(candidate.person_a, candidate.person_b)
        )
        merged = candidate.person_b if survivor.pk == candidate.person_a_id else candidate.person_a
        assert merged is not None  # checked above
        merge = person_merge(survivor=survivor, merged=merged, by=by, reason=reason, candidate=candidate)
        decide(candidate, status=LinkCandidate.Status.ACCEPTED, by=by, reason=reason, result_id=merge.pk)
    else:
        if not reason:
            raise ValidationFailed({"reason": ["Say how the A-number conflict was resolved."]})
        decide(candidate, status=LinkCandidate.Status.ACCEPTED, by=by, reason=reason)
    return candidate


def _default_survivor(a: Any, b: Any) -> Any:
    """The record with an A-number, else the one on file first: the one partners most likely hold."""
    if bool(a.a_number) != bool(b.a_number):
        return a if a.a_number else b
    return a if a.created_at <= b.created_at else b


def _record_relationship(candidate: LinkCandidate, *, by: Any, reason: str, rel_type: str) -> Relationship:
    adult, child = candidate.person_a, candidate.person_b
    assert child is not None  # checked by candidate_accept
    _not_merged(adult, child)
    rel_type = rel_type or candidate.suggested_type
    if rel_type not in Relationship.Type.values:
        raise ValidationFailed(
            {
                "type": [
                    f"{rel_type!r} is not a relationship type; "
                    f"use one of {', '.join(Relationship.Type.values)}."
                ]
            }
        )
    values = {"type": rel_type, "evidence": Relationship.Evidence.CLAIMED}
    errors: dict[str, list[str]] = {}
    list(Person.objects.select_for_update().filter(pk__in=[adult.pk, child.pk]).order_by("pk"))
    _relationship_rules(from_person=adult, to_person=child, values=values, errors=errors)
    if errors:
        raise ValidationFailed(errors)
    if Relationship.objects.filter(
        from_person=adult, to_person=child, type=rel_type, withdrawn_at__isnull=True
    ).exists():
        raise BusinessRuleError("This relationship is already recorded; reject the candidate as a duplicate.")
    apprehension_id = (candidate.details or {}).get("apprehension")
    relationship = Relationship(
        from_person=adult,
        to_person=child,
        source=Relationship.Source.LINK_DISCOVERY,
        note=f"Accepted link candidate {candidate.pk}: "
        + "; ".join(candidate.reasons)
        + (f". Analyst: {reason}" if reason else ""),
        apprehension_id=apprehension_id,
        created_by=by,
        **values,
    )
    stamp(relationship, by=by, reason=f"link candidate {candidate.pk} accepted")
    relationship.save()
    return relationship


# --- Reversible merge ------------------------------------------------------------------------


def person_references() -> list[tuple[Any, Any]]:
    """Every (model, FK field) pointing at Person, found through the app registry (any floor).

    History tables are left alone (they record the past as it was), and so are this app's own
    records (candidates and merges name both persons on purpose).
    """
    found = []
    for model in apps.get_models():
        if model._meta.app_label == "linkage" or issubclass(model, HistoricalChanges):
            continue
        for f in model._meta.concrete_fields:
            if f.is_relation and f.related_model is Person:
                found.append((model, f))
    return found


def _person_fields(model: Any) -> list[Any]:
    return [f for f in model._meta.concrete_fields if f.is_relation and f.related_model is Person]


def _unique_sets(model: Any) -> list[tuple[str, tuple[str, ...], Any]]:
    sets = []
    for constraint in model._meta.constraints:
        if isinstance(constraint, models.UniqueConstraint) and constraint.fields:
            sets.append((constraint.name, tuple(constraint.fields), constraint.condition))
    for fields in model._meta.unique_together:
        sets.append(("unique together " + ", ".join(fields), tuple(fields), None))
    for f in model._meta.concrete_fields:
        if f.unique and not f.primary_key:
            sets.append((f"unique {f.name}", (f.name,), None))
    return sets


def _describe(row: Any) -> str:
    return f"{row._meta.verbose_name} {row}"


def _conflicts(rows: list[tuple[Any, Any]], *, target: Any, source: Any) -> list[str]:
    """What moving these (row, field) pairs from `source` to `target` would break."""
    problems = []
    for row, field in rows:
        model = type(row)
        for other in _person_fields(model):
            if other.name != field.name and getattr(row, other.attname) == target.pk:
                problems.append(
                    f"{_describe(row)} links the two records to each other; after the merge it would link "
                    f"{target.full_name} to themself. Withdraw it first."
                )
        for name, fields, condition in _unique_sets(model):
            if field.name not in fields:
                continue
            if condition is not None and not model._default_manager.filter(condition, pk=row.pk).exists():
                continue
            lookup = {f: getattr(row, model._meta.get_field(f).attname) for f in fields if f != field.name}
            lookup[field.attname] = target.pk
            clash = model._default_manager.filter(**lookup).exclude(pk=row.pk)
            if condition is not None:
                clash = clash.filter(condition)
            other = clash.first()
            if other is not None:
                problems.append(
                    f"{_describe(row)} of {source.full_name} and {_describe(other)} of {target.full_name} "
                    f"may exist only once per person ({name}); close or withdraw one of them first."
                )
    return problems


def _one_a_number(*, survivor: Any, merged: Any) -> None:
    """A merge never leaves the person's only A-number on the hidden record, where a look-up by
    A-number would find a record with nothing on it. Two records that each carry an A-number (a
    number mistyped on one, or two A-files for one person) do merge: the survivor keeps its own, the
    other stays on the merged record, which names the survivor (`merged_into`), and the survivor's
    page lists it beside the merged record (never hidden)."""
    if merged.a_number and not survivor.a_number:
        raise BusinessRuleError(
            f"Only the record merged away carries the A-number {merged.a_number}; keep that record as "
            "the survivor, so a look-up by A-number finds the person."
        )


@transaction.atomic
def person_merge(
    *, survivor: Any, merged: Any, by: Any, reason: str = "", candidate: LinkCandidate | None = None
) -> PersonMerge:
    """Point every reference of `merged` at `survivor`, saving each row with history, and record what
    moved so `person_unmerge` can put it back. The merged record stays, marked by this merge.

    Every proposed candidate naming `merged` (but `candidate`, the one accepted) is superseded and
    its question carried to the survivor (carry.py), in this transaction.

    Refuses (BusinessRuleError, HTTP 409) a merge that would break a one-per-person rule (two open
    custody periods, the same apprehension twice...) or link the survivor to itself.
    """
    if survivor.pk == merged.pk:
        raise BusinessRuleError("A record cannot be merged into itself.")
    stale = lock_proposed_naming(merged, besides=candidate)
    locked = {p.pk: p for p in Person.objects.select_for_update().filter(pk__in=[survivor.pk, merged.pk])}
    survivor, merged = locked[survivor.pk], locked[merged.pk]
    _not_merged(survivor, merged)
    _one_a_number(survivor=survivor, merged=merged)
    change = f"merged {merged.pk} into {survivor.pk}" + (f": {reason}" if reason else "")
    # Higher apps settle their one-per-person rules first (e.g. the duplicate's open custody period is
    # closed when the survivor has one); unmerge restores what they changed.
    adjusted: list[dict[str, Any]] = []
    for adjust in merge_adjusters():
        adjusted += adjust(survivor=survivor, merged=merged, by=by, reason=change)
    rows: list[tuple[Any, Any]] = []
    for model, field in person_references():
        for row in (
            model._default_manager.select_for_update().filter(**{field.attname: merged.pk}).order_by("pk")
        ):
            rows.append((row, field))
    problems = _conflicts(rows, target=survivor, source=merged)
    if problems:
        raise BusinessRuleError(
            f"{merged.full_name} cannot be merged into {survivor.full_name}: " + " ".join(problems)
        )
    moved: list[dict[str, Any]] = []
    for row, field in rows:
        setattr(row, field.attname, survivor.pk)
        stamp(row, by=by, reason=change)
        row.save(update_fields=[field.name])
        moved.append({"model": row._meta.label, "pk": str(row.pk), "field": field.name})
    moved += [{**entry, "adjusted": True} for entry in adjusted]
    merge = PersonMerge(
        survivor=survivor, merged=merged, candidate=candidate, moved=moved, reason=reason, created_by=by
    )
    stamp(merge, by=by, reason=change)
    merge.save()
    supersede_for_merge(stale, merge=merge, by=by)
    persons_recorded.send(sender=Person, person_ids=[survivor.pk], source="merge", by=by)
    return merge


@transaction.atomic
def person_unmerge(*, merge_id: Any, by: Any, reason: str) -> Unmerged:
    """Undo a merge exactly: each moved reference goes back to the merged record (history kept).

    Refused (409) when a moved row was pointed elsewhere since, naming it; the candidate becomes
    `unmerged` and its pair is never proposed again. The candidates the merge superseded are
    proposed again, those it carried and nobody decided are superseded (carry.py); the result says
    which, and which carried ones keep an analyst's decision.
    """
    _require(by, "decide_link_candidates", "Your role cannot undo merges.")
    if not (reason or "").strip():
        raise ValidationFailed({"reason": ["Say why the merge is undone (e.g. 'twins, not one person')."]})
    merge = PersonMerge.objects.select_for_update().filter(pk=merge_id).first()
    if merge is None:
        raise NotFound("No merge with this id.")
    if merge.undone_at is not None:
        raise BusinessRuleError(f"This merge was already undone on {merge.undone_at:%Y-%m-%d %H:%M}.")
    later = active_merge_of(merge.survivor_id)
    if later is not None:
        raise BusinessRuleError(
            f"The survivor of this merge ({merge.survivor_id}) was since merged into {later.survivor_id}; "
            "undo that later merge first, then this one."
        )
    superseded, carried = lock_superseded_by(merge)
    change = f"unmerged {merge.merged_id} from {merge.survivor_id}: {reason.strip()}"
    rows = []
    problems = []
    restores = [entry for entry in merge.moved if entry.get("adjusted")]
    for entry in merge.moved:
        if entry.get("adjusted"):
            continue
        model = apps.get_model(entry["model"])
        field = model._meta.get_field(entry["field"])
        row = model._default_manager.select_for_update().filter(pk=entry["pk"]).first()
        if row is None or getattr(row, field.attname) != merge.survivor_id:
            problems.append(f"{entry['model']} {entry['pk']} no longer points at the survivor")
            continue
        rows.append((row, field))
    if problems:
        raise BusinessRuleError("The merge cannot be undone exactly: " + "; ".join(problems) + ".")
    for row, field in rows:
        setattr(row, field.attname, merge.merged_id)
        stamp(row, by=by, reason=change)
        row.save(update_fields=[field.name])
    for entry in restores:  # what the higher apps changed for the merge, put back
        model = apps.get_model(entry["model"])
        row = model._default_manager.select_for_update().get(pk=entry["pk"])
        setattr(row, entry["field"], entry["restore"])
        stamp(row, by=by, reason=change)
        row.save(update_fields=[entry["field"]])
    merge.undone_at = timezone.now()
    merge.undone_by = by
    merge.undo_reason = reason.strip()
    stamp(merge, by=by, reason=change)
    merge.save(update_fields=["undone_at", "undone_by", "undo_reason"])
    if merge.candidate_id:
        candidate = LinkCandidate.objects.select_for_update().get(pk=merge.candidate_id)
        decide(
            candidate, status=LinkCandidate.Status.UNMERGED, by=by, reason=reason.strip(), result_id=merge.pk
        )
    return restore_for_unmerge(superseded, carried, merge=merge, by=by, reason=reason.strip())
