"""Reunification cases: opened when a separation is approved, worked step by step, closed.

Closing a case as reunified ends the separation for that child (and the separation itself once
its last child's separation has ended) and records the new custody of the child and the
adult(s), in the same transaction.
"""

from datetime import datetime
from typing import Any

from django.db import transaction
from django.utils import timezone

from apprehensions.services.bulk import insert_with_history, new_instance
from familylink.common.clock import wallclock_text
from familylink.common.errors import BusinessRuleError, PermissionDenied, StaleVersionError, ValidationFailed
from separations.models import CustodyPeriod, Separation, SeparationMember
from separations.services import custody_transfer, separation_end_for_child

from ..clocks import compute_clocks
from ..models import CLOSE_CASE, STEP_ORDER, CaseAdult, CaseStep, ReunificationCase, WorklistItem
from ..selectors import OPEN_STATUSES, can_reassign_case, can_work_case, team_for_station
from ..teams import ensure_team
from .policies import applicable_policy

Step = CaseStep.Step
Status = ReunificationCase.Status
Outcome = ReunificationCase.Outcome

# A custody transfer's fields as case_close names them.
CUSTODY_TO_CLOSE_FIELDS = {
    "started_at": "reunified_at",
    "agency": "custody_agency",
    "facility": "custody_facility",
}

# Steps a coordinator ticks; "reunified" is recorded by closing the case as reunified.
TICKABLE_STEPS = [s for s in STEP_ORDER if s != Step.REUNIFIED]


def _save(obj: Any, by: Any, reason: str, **kwargs: Any) -> None:
    obj._change_reason = reason
    obj._history_user = by
    obj.save(**kwargs)


def _derive(case: ReunificationCase, steps: dict[str, CaseStep]) -> None:
    """Set the case's next step and next due time from its checklist and clocks."""
    eligibility = steps.get(Step.ELIGIBILITY_DECISION)
    if not case.is_open:
        case.next_step, case.due_at = "", None
        return
    if (
        eligibility is not None
        and eligibility.is_done
        and eligibility.method != CaseStep.Eligibility.ELIGIBLE
    ):
        case.next_step = CLOSE_CASE
    else:
        case.next_step = next((s for s in STEP_ORDER if not steps[s].is_done), Step.REUNIFIED)
    pending = [case.reunify_due_at]
    if not steps[Step.CONTACT_MADE].is_done:
        pending.append(case.contact_due_at)
    dues = [d for d in pending if d is not None]
    case.due_at = min(dues) if dues else None


def _lock_case(case_id: Any) -> ReunificationCase:
    try:
        return (
            ReunificationCase.objects.select_for_update(of=("self",))
            .select_related("separation", "separation__station", "child")
            .get(pk=case_id, withdrawn_at__isnull=True)
        )
    except (ReunificationCase.DoesNotExist, ValueError, TypeError) as exc:
        raise ValidationFailed({"case": [f"No reunification case with id {case_id!r}."]}) from exc


def _check_version(obj: Any, expected_version: int | None) -> None:
    if expected_version is not None and int(expected_version) != obj.version:
        raise StaleVersionError(
            f"This record changed since you opened it (version {expected_version}, now {obj.version}); "
            "reload it and apply your change again."
        )


@transaction.atomic
def cases_open_for_separation(*, separation: Separation, by: Any) -> list[ReunificationCase]:
    """Open one case per child of a just-approved separation (handler of `separation_approved`).

    Team: the separation's station + "-REUNIFY"; clocks from the applicable deadline policy;
    the adults and a seven-step checklist with each case. Idempotent per (separation, child).
    """
    policy = applicable_policy()
    members = list(
        SeparationMember.objects.filter(separation=separation, withdrawn_at__isnull=True).select_related(
            "person"
        )
    )
    adults = [m.person for m in members if m.side == SeparationMember.Side.ADULT]
    team = team_for_station(separation.station.code)
    ensure_team(team)
    reason = "opened on separation approval"
    opened = []
    for member in members:
        if member.side != SeparationMember.Side.CHILD:
            continue
        child = member.person
        if ReunificationCase.objects.filter(separation=separation, child=child).exists():
            continue
        case = ReunificationCase(
            child=child,
            separation=separation,
            team=team,
            policy=policy,
            status=Status.OPEN,
            next_step=STEP_ORDER[0],
            created_by=by,
        )
        if policy is not None:
            clocks = compute_clocks(
                policy=policy, separated_at=separation.occurred_at, date_of_birth=child.date_of_birth
            )
            case.clock_start = clocks.clock_start
            case.contact_due_at = clocks.contact_due_at
            case.reunify_due_at = clocks.reunify_due_at
            case.due_at = min(clocks.contact_due_at, clocks.reunify_due_at)
        _save(case, by, reason)
        # New rows with their history rows, two statements per table (a sheet import opens thousands).
        insert_with_history(
            CaseAdult,
            [CaseAdult(case=case, person=adult, created_by=by) for adult in adults],
            user=by,
            reason=reason,
        )
        insert_with_history(
            CaseStep,
            [CaseStep(case=case, step=step, created_by=by) for step in STEP_ORDER],
            user=by,
            reason=reason,
        )
        opened.append(case)
    return opened


def cases_open_for_separations(
    *, separations: list[Separation], by: Any, members: list[SeparationMember] | None = None
) -> list[ReunificationCase]:
    """`cases_open_for_separation` for many just-recorded separations at once, set-based.

    The same cases (one per child, the station's team, the applicable policy's clocks, the adults
    and the seven-step checklist, idempotent per (separation, child)) with their history rows, in
    a handful of statements whatever the number (handler of `separations_imported`: a sheet import).
    `members`: the separations' members as just written, with their persons (else read here).
    """
    if not separations:
        return []
    policy = applicable_policy()
    ids = [s.pk for s in separations]
    if members is None:
        members = list(
            SeparationMember.objects.filter(separation_id__in=ids, withdrawn_at__isnull=True).select_related(
                "person"
            )
        )
    else:
        members = [m for m in members if m.withdrawn_at is None]
    already = set(
        ReunificationCase.objects.filter(separation_id__in=ids).values_list("separation_id", "child_id")
    )
    by_separation: dict[Any, list[SeparationMember]] = {}
    for m in members:
        by_separation.setdefault(m.separation_id, []).append(m)
    reason = "opened on separation approval"
    teams: dict[str, str] = {}
    cases: list[ReunificationCase] = []
    adults_rows: list[CaseAdult] = []
    steps: list[CaseStep] = []
    for separation in separations:
        code = separation.station.code
        if code not in teams:
            teams[code] = team_for_station(code)
            ensure_team(teams[code])
        mine = by_separation.get(separation.pk, [])
        adults = [m.person for m in mine if m.side == SeparationMember.Side.ADULT]
        for member in mine:
            if member.side != SeparationMember.Side.CHILD or (separation.pk, member.person_id) in already:
                continue
            already.add((separation.pk, member.person_id))
            case = new_instance(
                ReunificationCase,
                child=member.person,
                separation=separation,
                team=teams[code],
                policy=policy,
                status=Status.OPEN,
                next_step=STEP_ORDER[0],
                created_by=by,
            )
            if policy is not None:
                clocks = compute_clocks(
                    policy=policy,
                    separated_at=separation.occurred_at,
                    date_of_birth=member.person.date_of_birth,
                )
                case.clock_start = clocks.clock_start
                case.contact_due_at = clocks.contact_due_at
                case.reunify_due_at = clocks.reunify_due_at
                case.due_at = min(clocks.contact_due_at, clocks.reunify_due_at)
            cases.append(case)
            adults_rows.extend(
                new_instance(CaseAdult, case=case, person=adult, created_by=by) for adult in adults
            )
            steps.extend(new_instance(CaseStep, case=case, step=step, created_by=by) for step in STEP_ORDER)
    insert_with_history(ReunificationCase, cases, user=by, reason=reason)
    insert_with_history(CaseAdult, adults_rows, user=by, reason=reason)
    insert_with_history(CaseStep, steps, user=by, reason=reason)
    return cases


@transaction.atomic
def cases_reclock_for_separation(*, separation: Separation, by: Any, reason: str) -> int:
    """Recompute the clocks of the separation's open cases from its (corrected) time, each saved
    with history; a case whose clocks do not move is left alone. Returns how many moved."""
    moved = 0
    cases = (
        ReunificationCase.objects.select_for_update(of=("self",))
        .select_related("child", "policy")
        .filter(separation=separation, status__in=OPEN_STATUSES, withdrawn_at__isnull=True)
        .order_by("pk")
    )
    for case in cases:
        policy = case.policy or applicable_policy()
        if policy is None:
            continue
        clocks = compute_clocks(
            policy=policy, separated_at=separation.occurred_at, date_of_birth=case.child.date_of_birth
        )
        before = (case.clock_start, case.contact_due_at, case.reunify_due_at)
        if before == (clocks.clock_start, clocks.contact_due_at, clocks.reunify_due_at):
            continue
        case.policy = policy
        case.clock_start = clocks.clock_start
        case.contact_due_at = clocks.contact_due_at
        case.reunify_due_at = clocks.reunify_due_at
        _derive(case, {s.step: s for s in case.steps.all()})
        _save(case, by, reason)
        moved += 1
    return moved


def _validate_method(step: str, method: str) -> str:
    method = (method or "").strip()
    if step == Step.PARENTAGE_VERIFIED:
        if method not in CaseStep.ParentageMethod.values:
            raise ValidationFailed(
                {"method": ["Say how parentage was verified: documents or DNA test (documents, dna)."]}
            )
    elif step == Step.ELIGIBILITY_DECISION:
        if method not in CaseStep.Eligibility.values:
            raise ValidationFailed(
                {
                    "method": [
                        "Record the decision: eligible, or the ineligibility reason ("
                        + ", ".join(CaseStep.Eligibility.values)
                        + ")."
                    ]
                }
            )
    elif method:
        raise ValidationFailed({"method": [f"The step '{step}' takes no method; use the note instead."]})
    return method


@transaction.atomic
def case_step_update(
    *,
    case_id: Any,
    step: str,
    done: bool,
    by: Any,
    method: str = "",
    note: str = "",
    expected_version: int | None = None,
    change_reason: str = "",
) -> ReunificationCase:
    """Tick (or untick) one checklist step of an open case, with who and when.

    Preconditions: `by` works the case's team; parentage needs how (documents/DNA); the
    eligibility decision needs eligible or an ineligibility reason. `expected_version` is the
    step's version the user saw (stale → StaleVersionError).
    """
    case = _lock_case(case_id)
    if not can_work_case(by, case):
        raise PermissionDenied("Only a coordinator of this case's team can work its checklist.")
    if not case.is_open:
        raise BusinessRuleError(f"This case is {case.get_status_display().lower()}; its checklist is closed.")
    if step not in STEP_ORDER:
        raise ValidationFailed({"step": [f"Unknown step {step!r}; use one of {', '.join(STEP_ORDER)}."]})
    if step == Step.REUNIFIED:
        raise BusinessRuleError("The 'Reunified' step is recorded by closing the case as reunified.")
    steps = {s.step: s for s in CaseStep.objects.select_for_update().filter(case=case)}
    row = steps[step]
    _check_version(row, expected_version)
    reason = change_reason or f"{step} {'done' if done else 'undone'}"
    if done:
        method = _validate_method(step, method)
        if not row.is_done:
            row.done_at = timezone.now()
            row.done_by = by
        row.method = method
        row.note = note.strip()
    else:
        if not row.is_done:
            raise BusinessRuleError(f"The step '{row.get_step_display()}' is not done; nothing to undo.")
        row.done_at = None
        row.done_by = None
        row.method = ""
        row.note = note.strip() or row.note
    _save(row, by, reason)
    before = (case.next_step, case.due_at, case.status)
    if case.status == Status.OPEN:
        case.status = Status.IN_PROGRESS
    _derive(case, steps)
    if (case.next_step, case.due_at, case.status) != before:
        _save(case, by, reason, update_fields=["next_step", "due_at", "status"])
    return case


def _complete_open_items(case: ReunificationCase, by: Any, now: datetime) -> None:
    """A case closed while on a worklist: the items claimed for it are done too."""
    for item in WorklistItem.objects.select_for_update().filter(
        case=case, claimed_by__isnull=False, completed_at__isnull=True
    ):
        item.completed_at = now
        item.completed_by = by
        _save(item, by, f"case closed ({case.status})", update_fields=["completed_at", "completed_by"])


@transaction.atomic
def case_close(
    *,
    case_id: Any,
    by: Any,
    outcome: str,
    note: str = "",
    custody_agency: str = CustodyPeriod.Agency.RELEASED,
    custody_facility: str = "",
    reunified_at: datetime | None = None,
    expected_version: int | None = None,
    change_reason: str = "",
) -> ReunificationCase:
    """Close an open case: as reunified (status `reunified`) or with another outcome (`closed`).

    Reunified: every earlier checklist step must be done and the eligibility decision eligible;
    the child and the adult(s) move to the new custody (`custody_agency`, `custody_facility`),
    and the separation ends for this child as reunified (for all of it once its last child's
    has ended; a sibling still apart stays separated, with their case open). Outcome `other`
    (discharged otherwise, explained in the note) ends it for this child as closed; an
    ineligibility outcome leaves the child separated. All in this transaction: if any part fails,
    nothing is recorded.
    """
    case = _lock_case(case_id)
    if not can_work_case(by, case):
        raise PermissionDenied("Only a coordinator of this case's team can close it.")
    _check_version(case, expected_version)
    if not case.is_open:
        raise BusinessRuleError(f"This case is already {case.get_status_display().lower()}.")
    choices = [o for o in Outcome.values if o != Outcome.SEPARATION_ENDED]
    if outcome not in choices:
        raise ValidationFailed({"outcome": [f"Choose an outcome: {', '.join(choices)}."]})
    now = timezone.now()
    steps = {s.step: s for s in CaseStep.objects.select_for_update().filter(case=case)}
    if outcome == Outcome.REUNIFIED:
        when = reunified_at or now
        missing = [steps[s].get_step_display() for s in TICKABLE_STEPS if not steps[s].is_done]
        if missing:
            raise BusinessRuleError(
                "Before closing as reunified, complete these checklist steps: " + "; ".join(missing) + "."
            )
        eligibility = steps[Step.ELIGIBILITY_DECISION]
        if eligibility.method != CaseStep.Eligibility.ELIGIBLE:
            raise BusinessRuleError(
                f"The eligibility decision is '{eligibility.method_label()}'; a case can close as "
                "reunified only when the family is eligible."
            )
        if custody_agency not in CustodyPeriod.Agency.values:
            raise ValidationFailed(
                {
                    "custody_agency": [
                        f"Unknown agency {custody_agency!r}; use one of "
                        f"{', '.join(CustodyPeriod.Agency.values)}."
                    ]
                }
            )
        _check_reunified_at(case, when, now)
        reunified_step = steps[Step.REUNIFIED]
        reunified_step.done_at = when
        reunified_step.done_by = by
        reunified_step.note = note.strip()
        _save(reunified_step, by, change_reason or "reunified")
        case.status = Status.REUNIFIED
        case.closed_at = when
    else:
        if outcome == Outcome.OTHER and not note.strip():
            raise ValidationFailed({"note": ["Explain the outcome 'other' in the note."]})
        case.status = Status.CLOSED
        case.closed_at = now
    case.outcome = outcome
    case.closed_by = by
    case.close_note = note.strip()
    _derive(case, steps)
    reason = change_reason or f"closed: {outcome}"
    _save(case, by, reason)
    _complete_open_items(case, by, now)
    if outcome == Outcome.REUNIFIED:
        _move_custody_together(case, by, agency=custody_agency, facility=custody_facility)
        _end_separation_for_child(case, by)
    elif outcome == Outcome.OTHER:
        # Discharged otherwise (the court report's bucket): the child is no longer separated
        # (DOMAIN.md: a separation ends when reunified or closed with an outcome). An ineligibility
        # outcome is not an end: that child is still in care, apart from the parent.
        _end_separation_for_child(
            case,
            by,
            outcome=Separation.EndOutcome.CLOSED,
            comment=f"Closed with outcome 'other' through reunification case {case.pk}: {case.close_note}",
        )
    return case


def _check_reunified_at(case: ReunificationCase, when: datetime, now: datetime) -> None:
    """A reunification happens after the separation and not in the future (named `reunified_at`)."""
    if when > now:
        raise ValidationFailed({"reunified_at": ["The reunification time is in the future."]})
    separated_at = case.separation.occurred_at
    if when < separated_at:
        zone = case.separation.station
        raise ValidationFailed(
            {
                "reunified_at": [
                    f"The reunification at {wallclock_text(when, zone)} is before the separation at "
                    f"{wallclock_text(separated_at, zone)}; enter when the family was reunified."
                ]
            }
        )


def _move_custody_together(case: ReunificationCase, by: Any, *, agency: str, facility: str) -> None:
    """The child and the case's adults move to the custody given on closing, from its close time."""
    links = case.case_adults.filter(withdrawn_at__isnull=True).select_related("person")
    for person in [case.child, *(link.person for link in links)]:
        try:
            custody_transfer(
                person_id=person.pk,
                agency=agency,
                facility=facility.strip(),
                started_at=case.closed_at,
                by=by,
                change_reason=f"reunified (case {case.pk})",
            )
        except ValidationFailed as exc:
            # Named by the fields of the close, which the page and the API client sent.
            raise ValidationFailed(
                {CUSTODY_TO_CLOSE_FIELDS.get(k, k): v for k, v in exc.errors.items()}
            ) from exc


def _end_separation_for_child(
    case: ReunificationCase,
    by: Any,
    *,
    outcome: str = Separation.EndOutcome.REUNIFIED,
    comment: str = "",
) -> None:
    """The separation ends for this child (reunified, or closed); siblings still apart stay separated.

    `separation_end_for_child` ends the separation itself when this was its last child, and its
    `separation_ended` handler then finds no open case of a reunified child to close.
    """
    separation = Separation.objects.select_for_update().get(pk=case.separation_id)
    if separation.status != Separation.Status.IN_EFFECT or separation.withdrawn_at is not None:
        return
    member = SeparationMember.objects.filter(
        separation=separation,
        person_id=case.child_id,
        side=SeparationMember.Side.CHILD,
        withdrawn_at__isnull=True,
    ).first()
    if member is None or member.ended_at is not None:
        return
    separation_end_for_child(
        separation_id=separation.pk,
        child_id=case.child_id,
        by=by,
        outcome=outcome,
        comment=comment or f"Reunified through reunification case {case.pk}",
        ended_at=max(case.closed_at or timezone.now(), separation.occurred_at),
    )


@transaction.atomic
def case_reassign(*, case_id: Any, to_user: Any, by: Any, change_reason: str = "") -> ReunificationCase:
    """Assign an open case to another coordinator of its team (a supervisor of its station).

    A claim on the case's worklist item that is still being worked moves to the new coordinator.
    """
    case = _lock_case(case_id)
    if not can_reassign_case(by, case):
        raise PermissionDenied("Only a supervisor of this case's station can reassign it.")
    if not case.is_open:
        raise BusinessRuleError(f"This case is {case.get_status_display().lower()}; it cannot be reassigned.")
    if (
        to_user is None
        or not to_user.is_active
        or to_user.team != case.team
        or not to_user.groups.filter(name="coordinator").exists()
    ):
        raise ValidationFailed({"assigned_to": [f"Choose an active coordinator of team {case.team}."]})
    if case.assigned_to_id == to_user.pk:
        return case
    reason = change_reason or f"reassigned to {to_user.username}"
    case.assigned_to = to_user
    _save(case, by, reason, update_fields=["assigned_to"])
    now = timezone.now()
    for item in WorklistItem.objects.select_for_update().filter(
        case=case, claimed_by__isnull=False, completed_at__isnull=True
    ):
        item.claimed_by = to_user
        item.claimed_at = now
        _save(item, by, reason, update_fields=["claimed_by", "claimed_at"])
    return case


@transaction.atomic
def cases_close_for_ended_separation(
    *, separation: Separation, outcome: str, by: Any, child_id: Any = None
) -> int:
    """A separation ended outside casework (e.g. recorded in error): its open cases close with it.

    With `child_id`, only that child's case: the separation ended for one child, siblings go on.
    """
    count = 0
    cases = ReunificationCase.objects.select_for_update().filter(
        separation=separation, status__in=OPEN_STATUSES
    )
    if child_id is not None:
        cases = cases.filter(child_id=child_id)
    for case in cases:
        steps = {s.step: s for s in case.steps.all()}
        if outcome == Separation.EndOutcome.REUNIFIED:
            case.status, case.outcome = Status.REUNIFIED, Outcome.REUNIFIED
        else:
            case.status, case.outcome = Status.CLOSED, Outcome.SEPARATION_ENDED
        case.closed_at = separation.ended_at or timezone.now()
        case.closed_by = by
        case.close_note = f"The separation ended ({outcome}) outside casework."
        _derive(case, steps)
        _save(case, by, f"separation ended: {outcome}")
        _complete_open_items(case, by, timezone.now())
        count += 1
    return count
