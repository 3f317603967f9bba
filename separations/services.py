"""Every write of the separations layer: separation transitions and custody transfers.

Web forms and the API call these same functions, so they cannot drift apart. Each write saves
through the model (history row with who and why); transitions lock the row first.
"""

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from uuid import UUID

from django.db import IntegrityError, transaction
from django.db.models import Exists, OuterRef
from django.utils import timezone

from apprehensions.linkage.services import active_merge_of
from apprehensions.models import FamilyMembership, Person, Relationship, Station
from apprehensions.services.bulk import insert_with_history, insert_with_history_each, new_instance
from apprehensions.visibility import Action, can_act_for_person
from familylink.common.clock import wallclock_text
from familylink.common.errors import (
    BusinessRuleError,
    PermissionDenied,
    StaleVersionError,
    ValidationFailed,
)
from familylink.common.roles import has_capability

from .models import CustodyPeriod, ReasonCode, Separation, SeparationMember
from .signals import (
    separation_approved,
    separation_child_ended,
    separation_corrected,
    separation_ended,
    separations_imported,
)

FACILITY_MAX = int(CustodyPeriod._meta.get_field("facility").max_length or 200)
PLACE_MAX = int(Separation._meta.get_field("place").max_length or 255)
AGENCY_VALUES = frozenset(CustodyPeriod.Agency.values)  # read once: `.values` builds a list each time


def _reason(text: str) -> str:
    """A history change reason on one line (the history column is text: kept whole)."""
    return " ".join((text or "").split())


def _check_time(value: Any, field: str, errors: dict[str, list[str]], *, what: str) -> None:
    if value is None:
        errors[field] = [f"Give the date and time {what}, with its time zone."]
    elif not isinstance(value, datetime):
        errors[field] = ["Enter a date and time, e.g. 2018-06-01T14:00:00-06:00."]
    elif timezone.is_naive(value):
        errors[field] = ["Include the time zone offset, e.g. 2018-06-01T14:00:00-06:00."]
    elif value > timezone.now():
        errors[field] = [f"{wallclock_text(value)} is in the future; enter when it happened."]


def _first_apprehension(person: Person) -> Any:
    """The person's earliest apprehension (None for a person never apprehended)."""
    from apprehensions.models import Apprehension

    return (
        Apprehension.objects.filter(encounters__person=person, withdrawn_at__isnull=True)
        .select_related("station")
        .order_by("occurred_at")
        .first()
    )


def _check_after_apprehension(
    when: Any,
    persons: list[Person],
    field: str,
    errors: dict[str, list[str]],
    *,
    what: str,
    apprehended_at: datetime | None = None,
) -> None:
    """Nothing happens to a person in custody before they were apprehended: say which time.

    `apprehended_at`: a time the caller knows all `persons` were apprehended (an encounter it is
    recording with them): when `when` is not before it, their first apprehension is not after
    `when` either, so there is nothing to look up.
    """
    if field in errors or not isinstance(when, datetime) or timezone.is_naive(when):
        return
    if apprehended_at is not None and when >= apprehended_at:
        return
    for person in persons:
        first = _first_apprehension(person)
        if first is not None and when < first.occurred_at:
            station = first.station
            errors.setdefault(field, []).append(
                f"{what.capitalize()} at {wallclock_text(when, station)} is before {person.full_name} was "
                f"apprehended at {wallclock_text(first.occurred_at, station)} ({station.code}); "
                "enter a time after the apprehension."
            )


def _linked(child: Person, adult: Person) -> bool:
    """True when the two share a family unit or have a recorded relationship that is not disproven."""
    adult_in_unit = FamilyMembership.objects.filter(
        family_unit=OuterRef("family_unit"), person=adult, withdrawn_at__isnull=True
    )
    shared_unit = (
        FamilyMembership.objects.filter(
            person=child, withdrawn_at__isnull=True, family_unit__withdrawn_at__isnull=True
        )
        .filter(Exists(adult_in_unit))
        .exists()
    )
    if shared_unit:
        return True
    return (
        Relationship.objects.filter(withdrawn_at__isnull=True)
        .filter(from_person__in=[child, adult], to_person__in=[child, adult])
        .exclude(evidence=Relationship.Evidence.DISPROVEN)
        .exists()
    )


def shared_family_unit_id(persons: list[Person]) -> Any:
    """The id of a family unit every one of `persons` belongs to, or None."""
    if not persons:
        return None
    units = None
    for person in persons:
        ids = set(
            FamilyMembership.objects.filter(
                person=person, withdrawn_at__isnull=True, family_unit__withdrawn_at__isnull=True
            ).values_list("family_unit_id", flat=True)
        )
        units = ids if units is None else units & ids
    return sorted(units, key=str)[0] if units else None


def _load_persons(
    ids: Any, field: str, station_code: str, errors: dict[str, list[str]], *, requester: Any
) -> list[Person]:
    """The persons named in `ids`, each encountered at `station_code`; problems go to `errors`.

    A person of another station gets the same message as an unknown id, so a request cannot be
    used to learn who is on file elsewhere.
    """
    persons: list[Person] = []
    if not isinstance(ids, list | tuple) or not ids:
        errors[field] = [
            "Choose at least one child who is separated."
            if field == "children"
            else "Choose at least one adult the children are separated from."
        ]
        return persons
    seen: set[UUID] = set()
    for index, raw in enumerate(ids):
        try:
            pk = UUID(str(getattr(raw, "pk", raw)))
        except ValueError:
            errors[f"{field}[{index}]"] = [f"{str(raw)[:60]!r} is not a person id."]
            continue
        if pk in seen:
            errors[f"{field}[{index}]"] = ["This person is listed twice."]
            continue
        seen.add(pk)
        person = Person.objects.filter(pk=pk, withdrawn_at__isnull=True).first()
        if person is None or not can_act_for_person(requester, person, Action.REQUEST_SEPARATION):
            errors[f"{field}[{index}]"] = [
                f"No person with id {pk} was encountered at station {station_code}; "
                "pick a person from the records."
            ]
            continue
        persons.append(person)
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
    family_unit: Any = None,
    change_reason: str = "",
) -> Separation:
    """Record a requested separation (not yet in effect) naming both sides; a supervisor decides it.

    Preconditions: the requester may request separations and every person was encountered at
    the requester's station; each child and adult share a family unit or a recorded relationship.
    Side effects: the separation and one member row per person, each with a history row.
    """
    if not has_capability(requester, "request_separation"):
        raise PermissionDenied("Your role cannot request a separation.")
    station = Station.objects.filter(code=requester.station, withdrawn_at__isnull=True).first()
    if station is None:
        raise PermissionDenied("You have no station; only station staff can request separations.")
    errors: dict[str, list[str]] = {}
    narrative = (narrative or "").strip()
    place = (place or "").strip()
    code = ReasonCode.objects.filter(
        code=(reason_code or "").strip().upper(), retired_at__isnull=True, withdrawn_at__isnull=True
    ).first()
    if not (reason_code or "").strip():
        errors["reason_code"] = ["Choose the reason for the separation."]
    elif code is None:
        errors["reason_code"] = [
            f"Unknown or retired reason code {str(reason_code)[:60]!r}; choose one from the list."
        ]
    elif code.narrative_required and not narrative:
        errors["narrative"] = [
            f"A narrative is required for reason {code.code}: explain why the family was separated."
        ]
    _check_time(occurred_at, "occurred_at", errors, what="the separation happened")
    if len(place) > PLACE_MAX:
        errors["place"] = [f"Keep the place under {PLACE_MAX} characters."]
    child_persons = _load_persons(children, "children", station.code, errors, requester=requester)
    adult_persons = _load_persons(adults, "adults", station.code, errors, requester=requester)
    _check_after_apprehension(
        occurred_at, [*child_persons, *adult_persons], "occurred_at", errors, what="the separation"
    )
    overlap = {p.pk for p in child_persons} & {p.pk for p in adult_persons}
    if overlap:
        errors.setdefault("adults", []).append("A person cannot be on both sides of a separation.")
    for index, child in enumerate(child_persons):
        if not child.is_minor:
            errors.setdefault(f"children[{index}]", []).append(
                f"{child.full_name} is not a minor; list adults under 'adults'."
            )
    for index, child in enumerate(child_persons):
        for adult in adult_persons:
            if adult.pk != child.pk and not _linked(child, adult):
                errors.setdefault(f"children[{index}]", []).append(
                    f"{child.full_name} and {adult.full_name} share no family unit or recorded "
                    "relationship; record the relationship first."
                )
    unit_id = None
    if family_unit is not None:
        try:
            unit_id = UUID(str(getattr(family_unit, "pk", family_unit)))
        except ValueError:
            errors["family_unit"] = ["Not a family unit id."]
        else:
            members = set(
                FamilyMembership.objects.filter(
                    family_unit_id=unit_id, withdrawn_at__isnull=True
                ).values_list("person_id", flat=True)
            )
            outside = [p.full_name for p in [*child_persons, *adult_persons] if p.pk not in members]
            if not members:
                errors["family_unit"] = ["No such family unit."]
            elif outside:
                errors["family_unit"] = [f"Not in this family unit: {', '.join(outside)}."]
    if errors:
        raise ValidationFailed(errors)
    if unit_id is None:
        unit_id = shared_family_unit_id([*child_persons, *adult_persons]) or shared_family_unit_id(
            [child_persons[0], adult_persons[0]]
        )
    open_statuses = [Separation.Status.REQUESTED, Separation.Status.IN_EFFECT]
    for child in child_persons:
        already = (
            Separation.objects.filter(status__in=open_statuses, withdrawn_at__isnull=True)
            .filter(members__person=child, members__side=SeparationMember.Side.CHILD)
            .filter(members__person__in=adult_persons, members__side=SeparationMember.Side.ADULT)
            .first()
        )
        if already is not None:
            raise BusinessRuleError(
                f"{child.full_name} already has "
                f"{'an in-effect' if already.status == Separation.Status.IN_EFFECT else 'a requested'} "
                f"separation from these adults ({already.pk}); decide or end that one first."
            )
    why = _reason(change_reason or "requested")
    separation = Separation(
        family_unit_id=unit_id,
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
    separation._change_reason = why
    separation._history_user = requester
    separation.save()
    for side, persons in (
        (SeparationMember.Side.CHILD, child_persons),
        (SeparationMember.Side.ADULT, adult_persons),
    ):
        for person in persons:
            member = SeparationMember(separation=separation, person=person, side=side, created_by=requester)
            member._change_reason = why
            member._history_user = requester
            member.save()
    return separation


def _imported_separation(
    *,
    by: Any,
    station: Station,
    children: list[Person],
    adults: list[Person],
    reason_code: str,
    occurred_at: datetime,
    narrative: str = "",
    place: str = "",
    family_unit: Any = None,
    provenance: str,
    ended_at: datetime | None = None,
    codes: dict[str, ReasonCode] | None = None,
    linked: bool = False,
) -> tuple[Separation, list[SeparationMember], str]:
    """Validate an imported separation and build it (unsaved) with its members; see below."""
    errors: dict[str, list[str]] = {}
    narrative = (narrative or "").strip()
    wanted = (reason_code or "").strip().upper()
    if codes is not None:
        code = codes.get(wanted)
    else:
        code = ReasonCode.objects.filter(
            code=wanted, retired_at__isnull=True, withdrawn_at__isnull=True
        ).first()
    if code is None:
        errors["reason_code"] = [f"Unknown or retired reason code {str(reason_code or '')[:60]!r}."]
    elif code.narrative_required and not narrative:
        errors["narrative"] = [f"A narrative is required for reason {code.code}."]
    _check_time(occurred_at, "occurred_at", errors, what="the separation happened")
    if ended_at is not None:
        _check_time(ended_at, "ended_at", errors, what="the separation ended")
        if "ended_at" not in errors and "occurred_at" not in errors and ended_at < occurred_at:
            errors["ended_at"] = ["The separation cannot end before it happened."]
    if not children or not adults:
        errors["children" if not children else "adults"] = ["Name at least one child and one adult."]
    for index, child in enumerate(children):
        for adult in adults:
            if adult.pk == child.pk:
                errors.setdefault("adults", []).append("A person cannot be on both sides of a separation.")
            elif not linked and not _linked(child, adult):
                errors.setdefault(f"children[{index}]", []).append(
                    f"{child.full_name} and {adult.full_name} share no family unit or recorded relationship."
                )
    if errors:
        raise ValidationFailed(errors)
    why = _reason(f"imported: {provenance}")
    separation = new_instance(
        Separation,
        family_unit_id=getattr(family_unit, "pk", family_unit),
        occurred_at=occurred_at,
        recorded_at=timezone.now(),
        station=station,
        place=(place or "").strip()[:PLACE_MAX],
        reason_code=code,
        narrative=narrative,
        status=Separation.Status.IN_EFFECT,
        requested_by=by,
        decision_comment=f"Imported from a field spreadsheet ({provenance}); not approved in FamilyLink.",
        source=Separation.Source.LEGACY_IMPORT,
        created_by=by,
    )
    members = [
        new_instance(SeparationMember, separation=separation, person=person, side=side, created_by=by)
        for side, persons in (
            (SeparationMember.Side.CHILD, children),
            (SeparationMember.Side.ADULT, adults),
        )
        for person in persons
    ]
    return separation, members, why


@transaction.atomic
def separation_record_imported(
    *,
    by: Any,
    station: Station,
    children: list[Person],
    adults: list[Person],
    reason_code: str,
    occurred_at: datetime,
    narrative: str = "",
    place: str = "",
    family_unit: Any = None,
    provenance: str,
    ended_at: datetime | None = None,
) -> Separation:
    """Record a separation made before FamilyLink, from a field spreadsheet: in effect as of its date.

    Not a decision: the separation was made (and, if at all, approved) outside FamilyLink, so it is
    recorded in effect with `by` (the uploader) as requester and no approver, `source` legacy_import,
    and `provenance` (batch and row) in its decision comment and history. `separation_approved`
    is sent so reunification opens its cases like any other; with `ended_at` it is then ended as
    reunified (the cases close). The caller (the `legacy` app) has checked `by` may import and
    has matched the persons; the same rules as a request hold: a reason code (OTHER with a
    narrative), both sides named, each child and adult linked by a family unit or relationship.
    Many at once, in a handful of statements: `separation_prepare_imported` + `separations_save_imported`.
    """
    separation, members, why = _imported_separation(
        by=by,
        station=station,
        children=children,
        adults=adults,
        reason_code=reason_code,
        occurred_at=occurred_at,
        narrative=narrative,
        place=place,
        family_unit=family_unit,
        provenance=provenance,
        ended_at=ended_at,
    )
    separation._change_reason = why
    separation._history_user = by
    separation.save()
    insert_with_history(SeparationMember, members, user=by, reason=why)
    separation_approved.send(sender=Separation, separation=separation, approver=by)
    if ended_at is not None:
        _end_whole(
            separation,
            by=by,
            outcome=Separation.EndOutcome.REUNIFIED,
            comment=f"Reunified per the field spreadsheet ({provenance}).",
            ended_at=ended_at,
        )
    return separation


@dataclass
class PreparedSeparation:
    """An imported separation validated and built, not yet written (see `separations_save_imported`)."""

    separation: Separation
    members: list[SeparationMember]
    reason: str


def imported_reason_codes() -> dict[str, ReasonCode]:
    """The reason codes an imported separation may name, by code (read once per chunk)."""
    return {c.code: c for c in ReasonCode.objects.filter(retired_at__isnull=True, withdrawn_at__isnull=True)}


def separation_prepare_imported(
    *,
    by: Any,
    station: Station,
    children: list[Person],
    adults: list[Person],
    reason_code: str,
    occurred_at: datetime,
    narrative: str = "",
    family_unit: Any = None,
    provenance: str,
    codes: dict[str, ReasonCode],
    linked: bool = False,
) -> PreparedSeparation:
    """Validate an imported separation in effect (no end) exactly as `separation_record_imported` does.

    Writes nothing; raises ValidationFailed. `linked`: the caller has just recorded the children and
    adults in one family unit (the link check needs no query). Write it with `separations_save_imported`.
    """
    separation, members, why = _imported_separation(
        by=by,
        station=station,
        children=children,
        adults=adults,
        reason_code=reason_code,
        occurred_at=occurred_at,
        narrative=narrative,
        family_unit=family_unit,
        provenance=provenance,
        codes=codes,
        linked=linked,
    )
    return PreparedSeparation(separation, members, why)


def separations_save_imported(prepared: list[PreparedSeparation], *, by: Any) -> None:
    """Write prepared imported separations (in effect) and their members with history, set-based.

    `separations_imported` is sent once for all of them: reunification opens their cases like
    `separation_approved` does for one, with the same clocks.
    """
    if not prepared:
        return
    insert_with_history_each(
        Separation, [p.separation for p in prepared], user=by, reasons=[p.reason for p in prepared]
    )
    members = [m for p in prepared for m in p.members]
    insert_with_history_each(
        SeparationMember, members, user=by, reasons=[p.reason for p in prepared for _ in p.members]
    )
    separations_imported.send(
        sender=Separation, separations=[p.separation for p in prepared], members=members, by=by
    )


def _lock(separation_id: Any) -> Separation:
    # `of=("self",)`: lock the separation row only, never the station row every approval joins.
    try:
        pk = UUID(str(getattr(separation_id, "pk", separation_id)))
        return (
            Separation.objects.select_for_update(of=("self",))
            .select_related("station", "reason_code")
            .get(pk=pk)
        )
    except (Separation.DoesNotExist, ValueError) as exc:
        raise ValidationFailed({"separation": [f"No separation with id {str(separation_id)[:60]}."]}) from exc


def _check_version(separation: Separation, expected_version: int | None) -> None:
    if expected_version is not None and expected_version != separation.version:
        raise StaleVersionError(
            f"The separation is at version {separation.version}, not {expected_version}; read it again."
        )


def _lock_for_decision(separation_id: Any, decider: Any, expected_version: int | None = None) -> Separation:
    if not has_capability(decider, "decide_separation"):
        raise PermissionDenied("Only a supervisor can approve or reject a separation.")
    separation = _lock(separation_id)
    if decider.pk == separation.requested_by_id:
        raise PermissionDenied(
            "The person who requested a separation cannot approve or reject it; "
            "another supervisor of the station decides."
        )
    if decider.station != separation.station.code:
        raise PermissionDenied(
            f"This separation was requested at station {separation.station.code}; "
            "a supervisor of that station decides it."
        )
    if separation.withdrawn_at is not None:
        raise BusinessRuleError("This separation was withdrawn; there is nothing to decide.")
    if separation.status != Separation.Status.REQUESTED:
        raise BusinessRuleError(
            f"Only a requested separation can be decided (it is {separation.get_status_display().lower()})."
        )
    _check_version(separation, expected_version)
    return separation


@transaction.atomic
def separation_approve(
    *,
    separation_id: Any,
    approver: Any,
    comment: str = "",
    expected_version: int | None = None,
    change_reason: str = "",
) -> Separation:
    """Put a requested separation into effect (a supervisor of its station, not the requester).

    `change_reason` (the API contract's name for why) stands in for an empty `comment`.
    `separation_approved` handlers (reunification opens one case per child) run in this transaction.
    """
    separation = _lock_for_decision(separation_id, approver, expected_version)
    comment = (comment or "").strip() or (change_reason or "").strip()
    separation.status = Separation.Status.IN_EFFECT
    separation.decided_by = approver
    separation.decided_at = timezone.now()
    separation.decision_comment = comment
    separation._change_reason = _reason(f"approved: {comment}" if comment else "approved")
    separation._history_user = approver
    separation.save(update_fields=["status", "decided_by", "decided_at", "decision_comment"])
    separation_approved.send(sender=Separation, separation=separation, approver=approver)
    return separation


@transaction.atomic
def separation_reject(
    *,
    separation_id: Any,
    approver: Any,
    comment: str = "",
    expected_version: int | None = None,
    change_reason: str = "",
) -> Separation:
    """Reject a requested separation (a supervisor of its station, not the requester); say why,
    in `comment` or the API contract's `change_reason`."""
    separation = _lock_for_decision(separation_id, approver, expected_version)
    comment = (comment or "").strip() or (change_reason or "").strip()
    if not comment:
        raise ValidationFailed({"comment": ["Say why the separation is rejected."]})
    separation.status = Separation.Status.REJECTED
    separation.decided_by = approver
    separation.decided_at = timezone.now()
    separation.decision_comment = comment
    separation._change_reason = _reason(f"rejected: {comment}")
    separation._history_user = approver
    separation.save(update_fields=["status", "decided_by", "decided_at", "decision_comment"])
    return separation


def _check_end(separation: Separation, outcome: str, ended_at: datetime | None, *, what: str) -> datetime:
    """The end time (default now) of an in-effect separation, or the error saying what is wrong."""
    if separation.status != Separation.Status.IN_EFFECT or separation.withdrawn_at is not None:
        raise BusinessRuleError(
            f"Only an in-effect separation can end (it is {separation.get_status_display().lower()})."
        )
    if outcome not in Separation.EndOutcome.values:
        raise ValidationFailed({"outcome": [f"Choose one of: {', '.join(Separation.EndOutcome.values)}."]})
    errors: dict[str, list[str]] = {}
    ended_at = ended_at or timezone.now()
    _check_time(ended_at, "ended_at", errors, what=what)
    if not errors and ended_at < separation.occurred_at:
        errors["ended_at"] = [
            f"The end is before the separation happened ({separation.occurred_at.isoformat()})."
        ]
    if errors:
        raise ValidationFailed(errors)
    return ended_at


def _end_member(member: SeparationMember, *, ended_at: datetime, outcome: str, by: Any, reason: str) -> None:
    member.ended_at = ended_at
    member.end_outcome = outcome
    member._change_reason = reason
    member._history_user = by
    member.save(update_fields=["ended_at", "end_outcome"])


def _end_whole(
    separation: Separation, *, by: Any, outcome: str, comment: str, ended_at: datetime
) -> Separation:
    """End a locked, checked separation: its children not yet ended end with it; signal once."""
    comment = (comment or "").strip()
    reason = _reason(f"ended: {outcome}" + (f": {comment}" if comment else ""))
    for member in SeparationMember.objects.select_for_update().filter(
        separation=separation,
        side=SeparationMember.Side.CHILD,
        withdrawn_at__isnull=True,
        ended_at__isnull=True,
    ):
        _end_member(member, ended_at=ended_at, outcome=outcome, by=by, reason=reason)
    separation.status = Separation.Status.ENDED
    separation.ended_at = ended_at
    separation.ended_by = by
    separation.end_outcome = outcome
    separation.end_comment = comment
    separation._change_reason = reason
    separation._history_user = by
    separation.save(update_fields=["status", "ended_at", "ended_by", "end_outcome", "end_comment"])
    separation_ended.send(sender=Separation, separation=separation, outcome=outcome, by=by)
    return separation


@transaction.atomic
def separation_end(
    *, separation_id: Any, by: Any, outcome: str, comment: str = "", ended_at: datetime | None = None
) -> Separation:
    """End an in-effect separation with an outcome (e.g. reunified); `separation_ended` handlers follow.

    Every child not already ended on their own (`separation_end_for_child`) ends with it, at the
    same time and with the same outcome. The caller (reunification casework) has checked `by`
    may do this; the end time defaults to now.
    """
    separation = _lock(separation_id)
    ended_at = _check_end(separation, outcome, ended_at, what="the separation ended")
    return _end_whole(separation, by=by, outcome=outcome, comment=comment, ended_at=ended_at)


@transaction.atomic
def separation_end_for_child(
    *,
    separation_id: Any,
    child_id: Any,
    by: Any,
    outcome: str,
    comment: str = "",
    ended_at: datetime | None = None,
) -> SeparationMember:
    """End an in-effect separation for one of its children (e.g. reunified) while siblings stay.

    The child's member row records when and how (with a history row). When it was the last child
    still separated, the separation itself ends (`separation_end` logic, `separation_ended` sent
    once): at the latest child end, outcome reunified when every child was reunified, else closed.
    The caller (reunification casework) has checked `by` may do this; the end time defaults to now.
    """
    separation = _lock(separation_id)
    if outcome == Separation.EndOutcome.RECORDED_IN_ERROR:
        raise ValidationFailed(
            {
                "outcome": [
                    "A child named in error is not an end: withdraw the separation or correct its "
                    "members; end a child's separation as reunified or closed."
                ]
            }
        )
    ended_at = _check_end(separation, outcome, ended_at, what="the child's separation ended")
    try:
        child_pk = UUID(str(getattr(child_id, "pk", child_id)))
    except ValueError as exc:
        raise ValidationFailed({"child": [f"{str(child_id)[:60]!r} is not a person id."]}) from exc
    children = list(
        SeparationMember.objects.select_for_update()
        .filter(separation=separation, side=SeparationMember.Side.CHILD, withdrawn_at__isnull=True)
        .order_by("pk")
    )
    member = next((m for m in children if m.person_id == child_pk), None)
    if member is None:
        raise ValidationFailed({"child": [f"Person {child_pk} is not a child of this separation."]})
    if member.ended_at is not None:
        raise BusinessRuleError(
            f"The separation already ended for this child ({member.ended_at.isoformat()}, "
            f"{member.get_end_outcome_display().lower()})."
        )
    comment = (comment or "").strip()
    _end_member(
        member,
        ended_at=ended_at,
        outcome=outcome,
        by=by,
        reason=_reason(f"ended for this child: {outcome}" + (f": {comment}" if comment else "")),
    )
    separation_child_ended.send(
        sender=Separation, separation=separation, child=member.person, outcome=outcome, by=by
    )
    if all(m.ended_at is not None for m in children):
        last = max(m.ended_at for m in children)
        everyone_reunified = all(m.end_outcome == Separation.EndOutcome.REUNIFIED for m in children)
        _end_whole(
            separation,
            by=by,
            outcome=Separation.EndOutcome.REUNIFIED if everyone_reunified else Separation.EndOutcome.CLOSED,
            comment=comment or "Every child's separation has ended.",
            ended_at=last,
        )
    return member


@transaction.atomic
def separation_correct(
    *,
    separation_id: Any,
    by: Any,
    change_reason: str,
    occurred_at: datetime | None = None,
    place: str | None = None,
    narrative: str | None = None,
    reason_code: str | None = None,
    expected_version: int | None = None,
) -> Separation:
    """Correct the recorded facts of a separation (when, where, why) after the fact; say why.

    Station staff of the separation's station only. The old values stay in history, so reports
    "as the system knew it" before the correction still answer with them.
    """
    if not (has_capability(by, "request_separation") or has_capability(by, "decide_separation")):
        raise PermissionDenied("Your role cannot correct a separation.")
    separation = _lock(separation_id)
    if by.station != separation.station.code:
        raise PermissionDenied(
            f"Only staff of station {separation.station.code} can correct this separation."
        )
    if separation.withdrawn_at is not None or separation.status == Separation.Status.REJECTED:
        raise BusinessRuleError("A rejected or withdrawn separation cannot be corrected.")
    _check_version(separation, expected_version)
    errors: dict[str, list[str]] = {}
    if not (change_reason or "").strip():
        errors["change_reason"] = ["Say why the record is corrected."]
    changed: list[str] = []
    if occurred_at is not None:
        _check_time(occurred_at, "occurred_at", errors, what="the separation happened")
        first_end = min(
            (
                e
                for e in [
                    separation.ended_at,
                    *SeparationMember.objects.filter(
                        separation=separation, withdrawn_at__isnull=True, ended_at__isnull=False
                    ).values_list("ended_at", flat=True),
                ]
                if e is not None
            ),
            default=None,
        )
        if first_end and "occurred_at" not in errors and occurred_at > first_end:
            errors["occurred_at"] = ["The separation cannot have happened after it ended."]
        members = Person.objects.filter(
            separation_memberships__separation=separation, separation_memberships__withdrawn_at__isnull=True
        ).distinct()
        _check_after_apprehension(occurred_at, list(members), "occurred_at", errors, what="the separation")
        separation.occurred_at = occurred_at
        changed.append("occurred_at")
    if place is not None:
        if len(place.strip()) > PLACE_MAX:
            errors["place"] = [f"Keep the place under {PLACE_MAX} characters."]
        separation.place = place.strip()
        changed.append("place")
    if reason_code is not None:
        code = ReasonCode.objects.filter(
            code=reason_code.strip().upper(), retired_at__isnull=True, withdrawn_at__isnull=True
        ).first()
        if code is None:
            errors["reason_code"] = [f"Unknown or retired reason code {reason_code[:60]!r}."]
        else:
            separation.reason_code = code
            changed.append("reason_code")
    if narrative is not None:
        separation.narrative = narrative.strip()
        changed.append("narrative")
    if separation.reason_code.narrative_required and not separation.narrative:
        errors["narrative"] = [f"A narrative is required for reason {separation.reason_code.code}."]
    if not changed and not errors:
        errors["non_field_errors"] = ["Nothing to correct: send at least one field to change."]
    if errors:
        raise ValidationFailed(errors)
    separation._change_reason = _reason(f"corrected: {change_reason}")
    separation._history_user = by
    separation.save(update_fields=changed)
    separation_corrected.send(
        sender=Separation, separation=separation, changed=changed, by=by, change_reason=change_reason
    )
    return separation


@transaction.atomic
def separation_withdraw(*, separation_id: Any, by: Any, reason: str) -> Separation:
    """Withdraw a separation entered in error (kept, marked with who, when, why); reports then skip it.

    A requested separation may be withdrawn by its requester or a supervisor of the station; an
    in-effect or ended one by a supervisor of the station only.
    """
    separation = _lock(separation_id)
    if not (reason or "").strip():
        raise ValidationFailed({"reason": ["Say why the separation is withdrawn."]})
    if separation.withdrawn_at is not None:
        raise BusinessRuleError("This separation is already withdrawn.")
    is_supervisor = has_capability(by, "decide_separation") and by.station == separation.station.code
    is_requester = by.pk == separation.requested_by_id and separation.status == Separation.Status.REQUESTED
    if not (is_supervisor or is_requester):
        raise PermissionDenied(
            "Only the requester (before a decision) or a station supervisor can withdraw it."
        )
    separation.withdrawn_at = timezone.now()
    separation.withdrawn_by = by
    separation.withdrawn_reason = reason.strip()
    separation._change_reason = _reason(f"withdrawn: {reason}")
    separation._history_user = by
    separation.save(update_fields=["withdrawn_at", "withdrawn_by", "withdrawn_reason"])
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

    The caller has checked that `by` may transfer this person (separations.policies). Concurrent
    transfers of one person are serialised by a row lock on the person; the partial unique index
    `custody_one_open_period` makes a second open period impossible regardless.
    """
    errors: dict[str, list[str]] = {}
    agency = (agency or "").strip().upper()
    facility = (facility or "").strip()
    if not agency:
        errors["agency"] = ["Choose the agency that now has custody."]
    elif agency not in AGENCY_VALUES:
        errors["agency"] = [
            f"Unknown agency {agency[:30]!r}; use one of {', '.join(CustodyPeriod.Agency.values)}."
        ]
    if len(facility) > FACILITY_MAX:
        errors["facility"] = [f"Keep the facility name under {FACILITY_MAX} characters."]
    now_is_the_time = started_at is None
    started_at = started_at or timezone.now()
    _check_time(started_at, "started_at", errors, what="the transfer happened")
    person = None
    try:
        pk = UUID(str(getattr(person_id, "pk", person_id)))
    except ValueError:
        errors["person"] = [f"{str(person_id)[:60]!r} is not a person id."]
    else:
        person = Person.objects.select_for_update().filter(pk=pk, withdrawn_at__isnull=True).first()
        if person is None:
            errors["person"] = [f"No person with id {pk} is on file."]
        elif (merge := active_merge_of(person.pk)) is not None:
            # The row lock above waits for a merge in progress; a second open period on the record
            # merged away would give the one human two current locations.
            errors["person"] = [
                f"This record was merged into person {merge.survivor_id} (one person entered twice); "
                "record the custody change on that record."
            ]
            person = None
    if person is not None:
        _check_after_apprehension(started_at, [person], "started_at", errors, what="the custody change")
    if errors:
        raise ValidationFailed(errors)
    if now_is_the_time:
        # "Now" is read after the person's row lock: a transfer that waited for a concurrent one
        # starts after it, never (spuriously) before it.
        started_at = timezone.now()
    current = CustodyPeriod.objects.filter(
        person=person, ended_at__isnull=True, withdrawn_at__isnull=True
    ).first()
    why = _reason(change_reason or f"custody transfer to {agency}")
    if current is not None:
        if started_at < current.started_at:
            raise ValidationFailed(
                {
                    "started_at": [
                        f"The current custody ({current.agency}) began {wallclock_text(current.started_at)}; "
                        "a transfer cannot be earlier."
                    ]
                }
            )
        current.ended_at = started_at
        current._change_reason = why
        current._history_user = by
        current.save(update_fields=["ended_at"])
    period = CustodyPeriod(
        person=person, agency=agency, facility=facility, started_at=started_at, recorded_by=by, created_by=by
    )
    period._change_reason = why
    period._history_user = by
    try:
        with transaction.atomic():
            period.save()
    except IntegrityError as exc:
        raise BusinessRuleError(
            "Another custody transfer for this person was recorded at the same time; retry."
        ) from exc
    return period


def custody_prepare_transfer(
    *,
    person: Person,
    agency: str,
    facility: str,
    started_at: datetime,
    by: Any,
    current: CustodyPeriod | None,
    change_reason: str,
    apprehended_at: datetime | None = None,
) -> tuple[CustodyPeriod, str]:
    """Validate a dated transfer as `custody_transfer` does and build the next period (unsaved).

    `current`: the person's open period (on file, or prepared earlier and not yet written). The
    caller ends it at `started_at` and writes both with `custody_transfers_save`. Raises
    ValidationFailed like `custody_transfer`. `apprehended_at`: the time of an encounter of the
    person the caller is recording (perhaps not written yet); spares the first-apprehension look-up
    when the transfer is not before it.
    """
    errors: dict[str, list[str]] = {}
    agency = (agency or "").strip().upper()
    facility = (facility or "").strip()
    if not agency:
        errors["agency"] = ["Choose the agency that now has custody."]
    elif agency not in AGENCY_VALUES:
        errors["agency"] = [
            f"Unknown agency {agency[:30]!r}; use one of {', '.join(CustodyPeriod.Agency.values)}."
        ]
    if len(facility) > FACILITY_MAX:
        errors["facility"] = [f"Keep the facility name under {FACILITY_MAX} characters."]
    _check_time(started_at, "started_at", errors, what="the transfer happened")
    _check_after_apprehension(
        started_at, [person], "started_at", errors, what="the custody change", apprehended_at=apprehended_at
    )
    if errors:
        raise ValidationFailed(errors)
    if current is not None and started_at < current.started_at:
        raise ValidationFailed(
            {
                "started_at": [
                    f"The current custody ({current.agency}) began {wallclock_text(current.started_at)}; "
                    "a transfer cannot be earlier."
                ]
            }
        )
    period = new_instance(
        CustodyPeriod,
        person=person,
        agency=agency,
        facility=facility,
        started_at=started_at,
        recorded_by=by,
        created_by=by,
    )
    return period, _reason(change_reason or f"custody transfer to {agency}")


def _custody_close_sql(by_person: bool = False) -> str:
    tracked = {f.column for f in CustodyPeriod.history.model._meta.concrete_fields}
    cols = [f.column for f in CustodyPeriod._meta.concrete_fields if f.column in tracked]
    quoted = ", ".join(f'"{c}"' for c in cols)
    selected = ", ".join(f'u."{c}"' for c in cols)
    table = CustodyPeriod._meta.db_table
    history = CustodyPeriod.history.model._meta.db_table
    # By person: the period open now (not withdrawn), if it began by then.
    match = (
        "c.person_id = v.id AND c.withdrawn_at IS NULL AND c.started_at <= v.ended_at"
        if by_person
        else "c.id = v.id"
    )
    # Identifiers from model metadata only; every value is a parameter.
    return (
        "WITH v AS (SELECT * FROM unnest(%(ids)s::uuid[], %(ends)s::timestamptz[], %(reasons)s::text[]) "  # noqa: S608
        "AS v(id, ended_at, reason)), "
        f'u AS (UPDATE "{table}" c SET ended_at = v.ended_at, version = c.version + 1, '
        f"updated_at = %(now)s FROM v WHERE {match} AND c.ended_at IS NULL RETURNING c.*, v.reason) "
        f'INSERT INTO "{history}" ({quoted}, history_date, history_change_reason, history_type, '
        f"history_user_id) SELECT {selected}, %(now)s, u.reason, '~', %(user)s FROM u"
    )


def custody_transfers_save(
    *,
    closing: list[tuple[Any, datetime, str]],
    opening: list[tuple[CustodyPeriod, str]],
    by: Any,
    closing_open_of: Sequence[tuple[Any, datetime, str]] = (),
) -> None:
    """End the periods on file in `closing` (id, ended_at, reason) and insert `opening` (period,
    reason), each with its history row, in three statements (after `custody_prepare_transfer`).
    `closing_open_of` (person id, ended_at, reason) ends whatever period is open for the person
    when this runs: the one intake opened with an encounter written in the same flush, whose id the
    caller did not know. The partial unique index `custody_one_open_period` still makes a second
    open period impossible."""
    from django.db import connection

    for rows, by_person in ((closing, False), (closing_open_of, True)):
        if not rows:
            continue
        with connection.cursor() as cursor:
            cursor.execute(
                _custody_close_sql(by_person),
                {
                    "ids": [str(c[0]) for c in rows],
                    "ends": [c[1] for c in rows],
                    "reasons": [c[2] for c in rows],
                    "now": timezone.now(),
                    "user": by.pk if getattr(by, "is_authenticated", False) else None,
                },
            )
    insert_with_history_each(CustodyPeriod, [p for p, _ in opening], user=by, reasons=[r for _, r in opening])


def custody_open_at_apprehension(
    sender: Any, *, apprehension: Any, person_ids: list[Any], by: Any, reason: str, **kwargs: Any
) -> int:
    """Everyone apprehended is in CBP custody at the apprehension's station from that moment, unless
    a custody period is already open for them (a person on file in ICE custody stays there).
    Connected to `apprehension_recorded`; runs in the intake's transaction. Returns how many opened."""
    return custody_open_at_apprehensions(sender, encounters=[(apprehension, person_ids, reason)], by=by)


def custody_open_at_apprehensions(
    sender: Any, *, encounters: list[tuple[Any, list[Any], str]], by: Any, **kwargs: Any
) -> int:
    """`custody_open_at_apprehension` for encounters written together (`apprehensions_recorded`, an
    import's chunk), in their order: one look-up and one insert with history for all of them."""
    all_ids = {pid for _, person_ids, _ in encounters for pid in person_ids}
    if not all_ids:
        return 0
    already = set(
        CustodyPeriod.objects.filter(
            person_id__in=all_ids, ended_at__isnull=True, withdrawn_at__isnull=True
        ).values_list("person_id", flat=True)
    )
    periods: list[CustodyPeriod] = []
    reasons: list[str] = []
    for apprehension, person_ids, reason in encounters:
        station = apprehension.station
        for pid in dict.fromkeys(person_ids):
            if pid in already:
                continue
            already.add(pid)
            periods.append(
                new_instance(
                    CustodyPeriod,
                    person_id=pid,
                    agency=CustodyPeriod.Agency.CBP,
                    facility=f"{station.code} – {station.name}"[:FACILITY_MAX],
                    started_at=apprehension.occurred_at,
                    recorded_by=by,
                    created_by=by,
                )
            )
            reasons.append(f"{reason}: in CBP custody at {station.code}")
    insert_with_history_each(CustodyPeriod, periods, user=by, reasons=reasons)
    return len(periods)


def custody_settle_for_merge(*, survivor: Any, merged: Any, by: Any, reason: str) -> list[dict[str, Any]]:
    """Before a duplicate is merged: when both records have an open custody period, the one that began
    earlier is closed when the later one began (the person's latest recorded move stands, whichever
    record it was entered on; on a tie, the survivor's). Returns what an unmerge must reopen
    (apprehensions.extensions.register_merge_adjuster)."""
    periods = {
        p.person_id: p
        for p in CustodyPeriod.objects.select_for_update().filter(
            person__in=[survivor.pk, merged.pk], ended_at__isnull=True, withdrawn_at__isnull=True
        )
    }
    mine, theirs = periods.get(survivor.pk), periods.get(merged.pk)
    if mine is None or theirs is None:
        return []
    older, newer = (mine, theirs) if mine.started_at < theirs.started_at else (theirs, mine)
    older.ended_at = newer.started_at
    older._change_reason = _reason(f"closed: {reason}")
    older._history_user = by
    older.save(update_fields=["ended_at"])
    return [{"model": CustodyPeriod._meta.label, "pk": str(older.pk), "field": "ended_at", "restore": None}]
