"""Every write of the separations layer: separation transitions and custody transfers."""

from datetime import datetime
from typing import Any
from uuid import UUID

from django.db import IntegrityError, transaction
from django.utils import timezone

from apprehensions.models import FamilyMembership, Person, Relationship, Station
from apprehensions.scoping import is_person_at_station
from familylink.common.errors import BusinessRuleError, PermissionDenied, ValidationFailed
from familylink.common.roles import has_capability

from .models import CustodyPeriod, ReasonCode, Separation, SeparationMember
from .signals import separation_approved, separation_ended


def _linked(child: Person, adult: Person) -> bool:
    """True when the two share a family unit or have a recorded (not withdrawn) relationship."""
    shared_unit = FamilyMembership.objects.filter(
        person=child, family_unit__memberships__person=adult, withdrawn_at__isnull=True
    ).exists()
    if shared_unit:
        return True
    return (
        Relationship.objects.filter(withdrawn_at__isnull=True)
        .filter(from_person__in=[child, adult], to_person__in=[child, adult])
        .exclude(evidence=Relationship.Evidence.DISPROVEN)
        .exists()
    )


def _load_persons(ids: list[Any], field: str, errors: dict[str, list[str]]) -> list[Person]:
    persons = []
    if not ids:
        errors[field] = [f"Name at least one person in {field}."]
        return persons
    for index, raw in enumerate(ids):
        try:
            persons.append(Person.objects.get(pk=UUID(str(raw)), withdrawn_at__isnull=True))
        except (ValueError, Person.DoesNotExist):
            errors[f"{field}[{index}]"] = [
                f"No person with id {raw!r} is on file; pick a person from the records."
            ]
    return persons


@transaction.atomic
def separation_request(
    *,
    requester: Any,
    children: list[Any],
    adults: list[Any],
    reason_code: str,
    occurred_at: datetime,
    narrative: str = "",
    place: str = "",
    change_reason: str = "",
) -> Separation:
    """Record a requested separation (not yet in effect) naming both sides; a supervisor decides it.

    Preconditions: the requester may request separations and every person was encountered at
    the requester's station; each child and adult share a family unit or a recorded relationship.
    """
    if not has_capability(requester, "request_separation"):
        raise PermissionDenied("Your role cannot request a separation.")
    errors: dict[str, list[str]] = {}
    code = ReasonCode.objects.filter(
        code=reason_code, retired_at__isnull=True, withdrawn_at__isnull=True
    ).first()
    if code is None:
        errors["reason_code"] = [f"Unknown or retired reason code {reason_code!r}; choose one from the list."]
    elif code.narrative_required and not narrative.strip():
        errors["narrative"] = [
            f"A narrative is required for reason {code.code}: explain why the family was separated."
        ]
    if occurred_at is None:
        errors["occurred_at"] = ["Give the date and time of the separation."]
    elif occurred_at > timezone.now():
        errors["occurred_at"] = ["The separation time is in the future; enter when it happened."]
    child_persons = _load_persons(children, "children", errors)
    adult_persons = _load_persons(adults, "adults", errors)
    overlap = {p.pk for p in child_persons} & {p.pk for p in adult_persons}
    if overlap:
        errors["adults"] = ["A person cannot be on both sides of a separation."]
    for index, child in enumerate(child_persons):
        if not child.is_minor:
            errors.setdefault(f"children[{index}]", []).append(
                f"{child.full_name} is not a minor; list adults under 'adults'."
            )
    for index, child in enumerate(child_persons):
        for adult in adult_persons:
            if not _linked(child, adult):
                errors.setdefault(f"children[{index}]", []).append(
                    f"{child.full_name} and {adult.full_name} share no family unit or recorded relationship; "
                    "record the relationship first."
                )
    if errors:
        raise ValidationFailed(errors)
    station = Station.objects.filter(code=requester.station).first()
    if station is None:
        raise PermissionDenied("You have no station; only station staff can request separations.")
    for person in [*child_persons, *adult_persons]:
        if not is_person_at_station(person, station.code):
            raise PermissionDenied(f"{person.full_name} was not encountered at your station {station.code}.")
    for child in child_persons:
        already = SeparationMember.objects.filter(
            person=child,
            separation__status__in=[Separation.Status.REQUESTED, Separation.Status.IN_EFFECT],
            separation__members__person__in=adult_persons,
        ).exists()
        if already:
            raise BusinessRuleError(
                f"{child.full_name} already has a requested or in-effect separation from these adults."
            )
    unit = (
        FamilyMembership.objects.filter(
            person=child_persons[0], family_unit__memberships__person=adult_persons[0]
        )
        .values_list("family_unit_id", flat=True)
        .first()
    )
    separation = Separation(
        family_unit_id=unit,
        occurred_at=occurred_at,
        recorded_at=timezone.now(),
        station=station,
        place=place,
        reason_code=code,
        narrative=narrative,
        status=Separation.Status.REQUESTED,
        requested_by=requester,
        created_by=requester,
    )
    separation._change_reason = change_reason or "requested"
    separation._history_user = requester
    separation.save()
    for side, persons in (
        (SeparationMember.Side.CHILD, child_persons),
        (SeparationMember.Side.ADULT, adult_persons),
    ):
        for person in persons:
            member = SeparationMember(separation=separation, person=person, side=side, created_by=requester)
            member._change_reason = change_reason or "requested"
            member._history_user = requester
            member.save()
    return separation


def _lock_for_decision(separation_id: Any, decider: Any) -> Separation:
    separation = Separation.objects.select_for_update().select_related("station").get(pk=separation_id)
    if not has_capability(decider, "decide_separation"):
        raise PermissionDenied("Only a supervisor can approve or reject a separation.")
    if decider.pk == separation.requested_by_id:
        raise PermissionDenied("The person who requested a separation cannot approve or reject it.")
    if decider.station != separation.station.code:
        raise PermissionDenied(
            f"This separation was requested at station {separation.station.code}; "
            "a supervisor of that station decides it."
        )
    if separation.status != Separation.Status.REQUESTED:
        raise BusinessRuleError(f"Only a requested separation can be decided (it is {separation.status}).")
    return separation


@transaction.atomic
def separation_approve(*, separation_id: Any, approver: Any, comment: str = "") -> Separation:
    """Put a requested separation into effect; `separation_approved` handlers run in this transaction."""
    separation = _lock_for_decision(separation_id, approver)
    separation.status = Separation.Status.IN_EFFECT
    separation.decided_by = approver
    separation.decided_at = timezone.now()
    separation.decision_comment = comment
    separation._change_reason = f"approved: {comment}" if comment else "approved"
    separation._history_user = approver
    separation.save(update_fields=["status", "decided_by", "decided_at", "decision_comment"])
    separation_approved.send(sender=Separation, separation=separation, approver=approver)
    return separation


@transaction.atomic
def separation_reject(*, separation_id: Any, approver: Any, comment: str) -> Separation:
    """Reject a requested separation; the comment saying why is required."""
    if not comment or not comment.strip():
        raise ValidationFailed({"comment": ["Say why the separation is rejected."]})
    separation = _lock_for_decision(separation_id, approver)
    separation.status = Separation.Status.REJECTED
    separation.decided_by = approver
    separation.decided_at = timezone.now()
    separation.decision_comment = comment
    separation._change_reason = f"rejected: {comment}"
    separation._history_user = approver
    separation.save(update_fields=["status", "decided_by", "decided_at", "decision_comment"])
    return separation


@transaction.atomic
def separation_end(
    *, separation_id: Any, by: Any, outcome: str, comment: str = "", ended_at: datetime | None = None
) -> Separation:
    """End an in-effect separation with an outcome (e.g. reunified); `separation_ended` handlers follow."""
    separation = Separation.objects.select_for_update().get(pk=separation_id)
    if separation.status != Separation.Status.IN_EFFECT:
        raise BusinessRuleError(f"Only an in-effect separation can end (it is {separation.status}).")
    if outcome not in Separation.EndOutcome.values:
        raise ValidationFailed({"outcome": [f"Choose one of: {', '.join(Separation.EndOutcome.values)}."]})
    ended_at = ended_at or timezone.now()
    if ended_at < separation.occurred_at:
        raise ValidationFailed({"ended_at": ["The end is before the separation happened."]})
    separation.status = Separation.Status.ENDED
    separation.ended_at = ended_at
    separation.end_outcome = outcome
    separation.end_comment = comment
    separation._change_reason = f"ended: {outcome}"
    separation._history_user = by
    separation.save(update_fields=["status", "ended_at", "end_outcome", "end_comment"])
    separation_ended.send(sender=Separation, separation=separation, outcome=outcome, by=by)
    return separation


@transaction.atomic
def custody_transfer(
    *,
    person_id: Any,
    agency: str,
    facility: str = "",
    started_at: datetime | None = None,
    by: Any,
    change_reason: str = "",
) -> CustodyPeriod:
    """Close the person's open custody period and open the next one, atomically.

    Concurrent transfers of one person are serialised by a row lock on the person; the partial
    unique index `custody_one_open_period` makes a second open period impossible regardless.
    """
    errors: dict[str, list[str]] = {}
    if agency not in CustodyPeriod.Agency.values:
        errors["agency"] = [
            f"Unknown agency {agency!r}; use one of {', '.join(CustodyPeriod.Agency.values)}."
        ]
    started_at = started_at or timezone.now()
    if started_at > timezone.now():
        errors["started_at"] = ["The transfer time is in the future; enter when it happened."]
    try:
        person = Person.objects.select_for_update().get(pk=person_id)
    except (Person.DoesNotExist, ValueError, TypeError):
        errors["person"] = [f"No person with id {person_id!r} is on file."]
        person = None
    if errors:
        raise ValidationFailed(errors)
    current = CustodyPeriod.objects.filter(
        person=person, ended_at__isnull=True, withdrawn_at__isnull=True
    ).first()
    if current is not None:
        if started_at < current.started_at:
            raise ValidationFailed(
                {
                    "started_at": [
                        f"The current custody began {current.started_at:%Y-%m-%d %H:%M}; "
                        "a transfer cannot be earlier."
                    ]
                }
            )
        current.ended_at = started_at
        current._change_reason = change_reason or "custody transfer: period closed"
        current._history_user = by
        current.save(update_fields=["ended_at"])
    period = CustodyPeriod(
        person=person, agency=agency, facility=facility, started_at=started_at, recorded_by=by, created_by=by
    )
    period._change_reason = change_reason or "custody transfer"
    period._history_user = by
    try:
        with transaction.atomic():
            period.save()
    except IntegrityError as exc:
        raise BusinessRuleError(
            "Another custody transfer for this person was recorded at the same time; retry."
        ) from exc
    return period
