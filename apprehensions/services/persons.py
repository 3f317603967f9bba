"""Edits after intake: a person's identity fields, and relationships recorded or re-evidenced later."""

from collections.abc import Mapping
from typing import Any
from uuid import UUID

from django.db import IntegrityError, transaction
from django.db.models import Q
from django.utils import timezone

from familylink.common.errors import BusinessRuleError, PermissionDenied, StaleVersionError, ValidationFailed
from familylink.common.roles import has_capability

from ..models import Person, Relationship
from ..selectors import can_edit_person, can_edit_relationship_evidence
from ..visibility import Action, can_act_for_any, is_person_visible, persons_visible_to
from .conflicts import (
    EDIT_FIX,
    a_number_conflict_noted,
    out_of_scope_a_number_message,
    reports_a_number_conflicts,
)
from .inputs import PersonFields, RelationshipFields, not_a_person_on_file, not_editable_message
from .rules import (
    Errors,
    ParentGraph,
    add_error,
    check_age_gap,
    clean_person_fields,
    clean_relationship_codes,
    clean_text,
)

RELATIONSHIP_EVIDENCE_FIELDS = ("evidence", "note", "document_kind", "document_number")
RELATIONSHIP_FIELDS = ("type", *RELATIONSHIP_EVIDENCE_FIELDS)


def _check_version(instance: Any, expected_version: int | None) -> None:
    if expected_version is not None and instance.version != expected_version:
        raise StaleVersionError(
            f"This record is at version {instance.version}, you edited version {expected_version}; "
            "read it again and reapply your change."
        )


def _change_reason(text: str | None, default: str, errors: Errors) -> str:
    reason = clean_text(text, label="Change reason", max_length=100, path="change_reason", errors=errors)
    return reason or default


@reports_a_number_conflicts
@transaction.atomic
def person_update(
    *,
    person_id: UUID,
    user: Any,
    changes: PersonFields,
    change_reason: str = "",
    expected_version: int | None = None,
) -> Person:
    """Change the identity fields in `changes` (own station), keeping the age rules and A-number uniqueness.

    Raises PermissionDenied out of scope, StaleVersionError when `expected_version` is not current,
    ValidationFailed naming each field at fault.
    """
    person = Person.objects.select_for_update().get(pk=person_id)
    if not can_edit_person(user, person):
        raise PermissionDenied(
            "You edit persons encountered at your own station only; this person was not encountered there."
        )
    _check_version(person, expected_version)
    errors: Errors = {}
    on = timezone.localdate()
    if person.first_encountered_at is not None:
        on = person.first_encountered_at.date()
    cleaned = clean_person_fields(
        changes, prefix="", errors=errors, on=on, today=timezone.localdate(), partial=True
    )
    reason = _change_reason(change_reason, "person edited", errors)
    if cleaned.get("a_number") and cleaned["a_number"] != person.a_number:
        holder = Person.objects.filter(a_number=cleaned["a_number"]).exclude(pk=person.pk).first()
        if holder is not None and not is_person_visible(user, holder, by_identifier=False):
            add_error(
                errors,
                "a_number",
                out_of_scope_a_number_message(cleaned["a_number"], fix=EDIT_FIX),
            )
            a_number_conflict_noted(
                a_number=cleaned["a_number"],
                existing_person=holder,
                attempted_by=user,
                context="person_edit",
                other_person=person,
            )
        elif holder is not None:
            add_error(
                errors,
                "a_number",
                f"A-number {cleaned['a_number']} is already on file for {holder.full_name}; one A-number "
                "never belongs to two people. Check the number, or report the conflict to HQ.",
            )
    if "date_of_birth" in cleaned and cleaned["date_of_birth"] is not None:
        dob = cleaned["date_of_birth"]
        for rel in Relationship.objects.filter(
            Q(from_person=person) | Q(to_person=person), withdrawn_at__isnull=True
        ).select_related("from_person", "to_person"):
            older, younger = rel.from_person, rel.to_person
            check_age_gap(
                rel_type=rel.type,
                older_name=older.full_name,
                older_dob=dob if older.pk == person.pk else older.date_of_birth,
                younger_name=younger.full_name,
                younger_dob=dob if younger.pk == person.pk else younger.date_of_birth,
                path="date_of_birth",
                errors=errors,
            )
    if errors:
        raise ValidationFailed(errors)
    changed = [name for name, value in cleaned.items() if getattr(person, name) != value]
    if not changed:
        return person
    for name in changed:
        setattr(person, name, cleaned[name])
    person._change_reason = reason
    person._history_user = user
    try:
        with transaction.atomic():
            person.save(update_fields=changed)
    except IntegrityError as exc:
        raise BusinessRuleError(
            "Another person was given this A-number at the same moment; check it."
        ) from exc
    return person


def _relationship_rules(
    *,
    from_person: Person,
    to_person: Person,
    values: Mapping[str, Any],
    errors: Errors,
    exclude_id: Any = None,
) -> None:
    if from_person.pk == to_person.pk:
        add_error(
            errors,
            "to",
            f"A person cannot be related to themself ({from_person.full_name}); choose another person.",
        )
        return
    rel_type = values.get("type")
    if not rel_type:
        return
    check_age_gap(
        rel_type=rel_type,
        older_name=from_person.full_name,
        older_dob=from_person.date_of_birth,
        younger_name=to_person.full_name,
        younger_dob=to_person.date_of_birth,
        path="non_field_errors",
        errors=errors,
    )
    if rel_type == Relationship.Type.PARENT:
        if exclude_id is not None:
            graph = ParentGraph(loader=lambda ids: _children_without(ids, exclude_id))
        else:
            graph = ParentGraph()
        if graph.would_cycle(from_person.pk, to_person.pk):
            add_error(
                errors,
                "non_field_errors",
                f"{from_person.full_name} cannot be parent of {to_person.full_name}: {to_person.full_name} "
                f"is already recorded as an ancestor of {from_person.full_name}, which would make a cycle "
                "of parent links. Check the direction (from is the parent).",
            )
    duplicate = Relationship.objects.filter(
        from_person=from_person, to_person=to_person, type=rel_type, withdrawn_at__isnull=True
    )
    if exclude_id is not None:
        duplicate = duplicate.exclude(pk=exclude_id)
    if duplicate.exists():
        add_error(
            errors,
            "non_field_errors",
            f"{from_person.full_name} is already recorded as {Relationship.Type(rel_type).label.lower()} of "
            f"{to_person.full_name}; update that relationship instead.",
        )


def _children_without(ids: Any, exclude_id: Any) -> dict[Any, set[Any]]:
    result: dict[Any, set[Any]] = {}
    rows = (
        Relationship.objects.filter(
            from_person_id__in=list(ids), type=Relationship.Type.PARENT, withdrawn_at__isnull=True
        )
        .exclude(evidence=Relationship.Evidence.DISPROVEN)
        .exclude(pk=exclude_id)
        .values_list("from_person_id", "to_person_id")
    )
    for parent, child in rows:
        result.setdefault(parent, set()).add(child)
    return result


@transaction.atomic
def relationship_create(
    *,
    user: Any,
    from_person: UUID | None,
    to_person: UUID | None,
    type: str,
    evidence: str = Relationship.Evidence.CLAIMED,
    note: str = "",
    document_kind: str = "",
    document_number: str = "",
    change_reason: str = "",
    source: str = Relationship.Source.API,
) -> Relationship:
    """Record a relationship between two persons on file; at least one was encountered at the user's station.

    `from_person` is the parent/guardian/grandparent of `to_person` (the contract's `from` and `to`).
    Refuses a self-relationship, a parent less than 12 years older than the child, a cycle of parent
    links and a duplicate of an active relationship (ValidationFailed naming the field).
    """
    if not has_capability(user, "record_intake"):
        raise PermissionDenied("Your role cannot record relationships.")
    errors: Errors = {}
    fields: RelationshipFields = {
        "type": type,
        "evidence": evidence,
        "note": note,
        "document_kind": document_kind,
        "document_number": document_number,
    }
    values = clean_relationship_codes(fields, prefix="", errors=errors)
    reason = _change_reason(change_reason, "relationship recorded", errors)
    persons: dict[str, Person] = {}
    # A person out of the user's scope gets the same answer as an unknown id (no one revealed).
    visible = persons_visible_to(user).filter(withdrawn_at__isnull=True)
    for end, pid in (("from", from_person), ("to", to_person)):
        person = visible.filter(pk=pid).first() if pid else None
        if person is None:
            add_error(errors, end, not_a_person_on_file(str(pid) if pid else None))
        else:
            persons[end] = person
    if len(persons) == 2:
        if not can_act_for_any(user, list(persons.values()), Action.EDIT_PERSON):
            raise PermissionDenied(
                "You record relationships for persons encountered at your own station; neither person was."
            )
        # Lock both persons (in id order) so two concurrent writes cannot build a cycle between them.
        list(
            Person.objects.select_for_update().filter(pk__in=[p.pk for p in persons.values()]).order_by("pk")
        )
        _relationship_rules(
            from_person=persons["from"], to_person=persons["to"], values=values, errors=errors
        )
    if errors:
        raise ValidationFailed(errors)
    rel = Relationship(
        from_person=persons["from"], to_person=persons["to"], source=source, created_by=user, **values
    )
    rel._change_reason = reason
    rel._history_user = user
    try:
        with transaction.atomic():
            rel.save()
    except IntegrityError as exc:
        raise BusinessRuleError(
            "The same relationship was recorded at the same moment by someone else."
        ) from exc
    return rel


def relationship_editable_fields(user: Any, rel: Relationship) -> tuple[str, ...]:
    """What `user` may change of `rel`: field agents everything (own station), coordinators the evidence
    (for their team's cases); nothing otherwise."""
    if has_capability(user, "record_intake") and (
        can_edit_person(user, rel.from_person) or can_edit_person(user, rel.to_person)
    ):
        return RELATIONSHIP_FIELDS
    if can_edit_relationship_evidence(user, rel):
        return RELATIONSHIP_EVIDENCE_FIELDS
    return ()


@transaction.atomic
def relationship_update(
    *,
    relationship_id: UUID,
    user: Any,
    changes: RelationshipFields,
    change_reason: str = "",
    expected_version: int | None = None,
) -> Relationship:
    """Change the fields in `changes` (field agents: own station; coordinators: evidence only).

    The same rules as when it was recorded apply to the result.
    """
    rel = (
        Relationship.objects.select_for_update()
        .select_related("from_person", "to_person")
        .get(pk=relationship_id)
    )
    allowed = relationship_editable_fields(user, rel)
    if not allowed:
        raise PermissionDenied("You cannot change this relationship (out of your station or cases).")
    _check_version(rel, expected_version)
    errors: Errors = {}
    for name in changes:
        if name not in allowed:
            add_error(errors, name, not_editable_message(name, allowed))
    values = clean_relationship_codes(changes, prefix="", errors=errors, partial=True)
    reason = _change_reason(change_reason, "relationship updated", errors)
    merged = {
        "type": values.get("type", rel.type),
        "evidence": values.get("evidence", rel.evidence),
        "document_kind": values.get("document_kind", rel.document_kind),
    }
    if "type" in values and values["type"] != rel.type and "type" not in errors:
        _relationship_rules(
            from_person=rel.from_person,
            to_person=rel.to_person,
            values=merged,
            errors=errors,
            exclude_id=rel.pk,
        )
    if errors:
        raise ValidationFailed(errors)
    changed = [name for name, value in values.items() if getattr(rel, name) != value]
    if not changed:
        return rel
    for name in changed:
        setattr(rel, name, values[name])
    rel._change_reason = reason
    rel._history_user = user
    rel.save(update_fields=changed)
    return rel
