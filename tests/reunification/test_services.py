"""Case services: opening on approval, the checklist, closing (reunified ends the separation and
moves custody, all in one transaction), reassignment, separations ended outside casework."""

from datetime import timedelta
from typing import Any

import pytest
from django.utils import timezone

from familylink.common.errors import BusinessRuleError, PermissionDenied, StaleVersionError, ValidationFailed
from reunification.handlers import on_separations_imported
from reunification.models import CaseAdult, CaseStep, ReunificationCase
from reunification.services import case_close, case_reassign, case_step_update, cases_open_for_separations
from separations.models import CustodyPeriod, Separation, SeparationMember
from separations.selectors import separated_children
from separations.services import (
    PreparedSeparation,
    custody_transfer,
    imported_reason_codes,
    separation_end,
    separation_end_for_child,
    separation_prepare_imported,
    separations_save_imported,
)
from separations.signals import separations_imported

from ..conftest import make_user
from .factories import approved_separation, family, station, years_ago

pytestmark = pytest.mark.django_db

TICK = [
    ("contact_made", ""),
    ("parentage_verified", "dna"),
    ("parent_located", ""),
    ("background_check", ""),
    ("eligibility_decision", "eligible"),
    ("travel_arranged", ""),
]


def tick_all(case, user):
    for step, method in TICK:
        case_step_update(case_id=case.pk, step=step, done=True, method=method, by=user)


def test_cases_open_for_separation_opens_one_case_per_child_with_adults_team_and_checklist(users):
    """Approval opens a case per child: team EPT-REUNIFY, the adults, seven steps, history rows."""
    separation, cases = approved_separation(users, children=[years_ago(4), years_ago(9)], adults=2)

    assert len(cases) == 2
    for case in cases:
        assert case.status == "open" and case.outcome == ""
        assert case.team == "EPT-REUNIFY"
        assert case.next_step == "contact_made"
        assert case.created_by == users["supervisor"]
        assert CaseAdult.objects.filter(case=case).count() == 2
        assert list(case.steps.order_by("created_at").values_list("step", flat=True)) == list(
            CaseStep.Step.values
        )
        assert case.history.count() == 1
        assert case.history.first().history_change_reason == "opened on separation approval"
    assert separation.status == Separation.Status.IN_EFFECT


def test_case_step_update_records_who_and_when_and_moves_the_next_step(users):
    """Ticking contact records who/when, puts the case in progress and moves its next step and due."""
    _, (case,) = approved_separation(users, children=[years_ago(7)])
    coordinator = users["coordinator"]

    case = case_step_update(
        case_id=case.pk, step="contact_made", done=True, by=coordinator, note="Phone call"
    )

    step = case.steps.get(step="contact_made")
    assert step.done_by == coordinator and step.done_at is not None and step.note == "Phone call"
    assert step.history.first().history_user == coordinator
    case.refresh_from_db()
    assert case.status == "in_progress"
    assert case.next_step == "parentage_verified"
    assert case.due_at == case.reunify_due_at


def test_case_step_update_requires_how_parentage_and_eligibility_were_decided(users):
    """Parentage needs documents or DNA; eligibility needs eligible or an ineligibility reason."""
    _, (case,) = approved_separation(users, children=[years_ago(7)])
    with pytest.raises(ValidationFailed) as err:
        case_step_update(case_id=case.pk, step="parentage_verified", done=True, by=users["coordinator"])
    assert "documents" in err.value.errors["method"][0]
    with pytest.raises(ValidationFailed):
        case_step_update(
            case_id=case.pk, step="eligibility_decision", done=True, method="maybe", by=users["coordinator"]
        )
    case = case_step_update(
        case_id=case.pk,
        step="eligibility_decision",
        done=True,
        method="parent_in_custody",
        by=users["coordinator"],
    )
    assert case.next_step == "close_case"
    assert (
        case.steps.get(step="eligibility_decision").method_label()
        == "Ineligible: parent in USMS/jail custody"
    )


def test_case_step_update_refuses_other_teams_and_stale_versions(users):
    """A coordinator of another team cannot tick; a stale step version is refused."""
    _, (case,) = approved_separation(users, children=[years_ago(7)])
    other = make_user("other-coordinator", "coordinator", team="YUM-REUNIFY")
    with pytest.raises(PermissionDenied):
        case_step_update(case_id=case.pk, step="contact_made", done=True, by=other)
    with pytest.raises(StaleVersionError):
        case_step_update(
            case_id=case.pk, step="contact_made", done=True, by=users["coordinator"], expected_version=7
        )
    assert not case.steps.get(step="contact_made").is_done


def test_case_close_as_reunified_needs_the_checklist_done(users):
    """Closing as reunified before the checklist is complete names the missing steps; nothing changes."""
    _, (case,) = approved_separation(users, children=[years_ago(7)])
    case_step_update(case_id=case.pk, step="contact_made", done=True, by=users["coordinator"])
    with pytest.raises(BusinessRuleError, match="Parentage verified; Parent located"):
        case_close(case_id=case.pk, by=users["coordinator"], outcome="reunified")
    case.refresh_from_db()
    assert case.status == "in_progress"


def test_case_close_as_reunified_ends_the_separation_and_moves_custody_of_both(users):
    """Reunified: case reunified with who/when, the child and the parent released together (custody
    periods), the separation ended as reunified, all recorded with history."""
    separation, (case,) = approved_separation(users, children=[years_ago(7)])
    adult = case.case_adults.get().person
    custody_transfer(person_id=adult.pk, agency="ICE", facility="Otero", by=users["field_agent"])
    coordinator = users["coordinator"]
    tick_all(case, coordinator)

    case = case_close(
        case_id=case.pk,
        by=coordinator,
        outcome="reunified",
        custody_agency="RELEASED",
        custody_facility="Released together to sponsor in Denver",
    )

    case.refresh_from_db()
    assert case.status == "reunified" and case.outcome == "reunified"
    assert case.closed_by == coordinator and case.closed_at is not None
    assert case.steps.get(step="reunified").done_by == coordinator
    separation.refresh_from_db()
    assert separation.status == Separation.Status.ENDED
    assert separation.end_outcome == "reunified"
    assert separation.history.first().history_user == coordinator
    for person in (case.child, adult):
        current = CustodyPeriod.objects.get(person=person, ended_at__isnull=True)
        assert current.agency == "RELEASED"
        assert current.facility == "Released together to sponsor in Denver"
        assert current.started_at == case.closed_at
    assert CustodyPeriod.objects.get(person=adult, agency="ICE").ended_at == case.closed_at


def test_case_close_as_reunified_is_all_or_nothing(users):
    """If the custody move fails (the adult's custody began after the given time), nothing is kept."""
    separation, (case,) = approved_separation(users, children=[years_ago(7)])
    adult = case.case_adults.get().person
    custody_transfer(person_id=adult.pk, agency="ICE", by=users["field_agent"])
    tick_all(case, users["coordinator"])

    with pytest.raises(ValidationFailed):
        case_close(
            case_id=case.pk,
            by=users["coordinator"],
            outcome="reunified",
            reunified_at=timezone.now() - timedelta(hours=2),
        )

    case.refresh_from_db()
    separation.refresh_from_db()
    assert case.status == "in_progress"
    assert separation.status == Separation.Status.IN_EFFECT
    assert not CustodyPeriod.objects.filter(person=case.child).exists()


def test_case_close_ends_a_multi_child_separation_only_when_every_child_is_reunified(users):
    """Siblings on one separation: the first reunification leaves it in effect, the last ends it."""
    separation, (first, second) = approved_separation(users, children=[years_ago(4), years_ago(9)])
    for case in (first, second):
        tick_all(case, users["coordinator"])
    case_close(case_id=first.pk, by=users["coordinator"], outcome="reunified")
    separation.refresh_from_db()
    assert separation.status == Separation.Status.IN_EFFECT
    case_close(case_id=second.pk, by=users["coordinator"], outcome="reunified")
    separation.refresh_from_db()
    assert separation.status == Separation.Status.ENDED


def test_case_close_reunified_ends_the_separation_for_that_child_only(users, api_client_for):
    """Closing one sibling's case as reunified ends the separation for that child alone: she leaves
    the separated-children answer and the persons API's `separated` list (status `reunified`); her
    sibling stays counted, `separated`, with the case still open; the separation stays in effect."""
    separation, (first, second) = approved_separation(users, children=[years_ago(4), years_ago(9)])
    tick_all(first, users["coordinator"])
    assert set(separated_children(as_of=timezone.now()).child_ids()) == {first.child_id, second.child_id}

    case_close(case_id=first.pk, by=users["coordinator"], outcome="reunified")

    first.refresh_from_db()
    second.refresh_from_db()
    separation.refresh_from_db()
    assert separation.status == Separation.Status.IN_EFFECT
    member = SeparationMember.objects.get(separation=separation, person_id=first.child_id)
    assert member.ended_at == first.closed_at and member.end_outcome == "reunified"
    assert member.history.first().history_user == users["coordinator"]
    assert SeparationMember.objects.get(separation=separation, person_id=second.child_id).ended_at is None
    assert second.status == "open" and second.closed_at is None
    assert separated_children(as_of=timezone.now()).child_ids() == [second.child_id]
    before = first.closed_at - timedelta(seconds=1)
    assert set(separated_children(as_of=before).child_ids()) == {first.child_id, second.child_id}
    hq = api_client_for("hq_analyst")
    listed = {p["id"]: p for p in hq.get("/api/v1/persons/", {"separated": "true"}).json()["results"]}
    assert str(first.child_id) not in listed and str(second.child_id) in listed
    assert listed[str(second.child_id)]["separation_status"] == "separated"
    assert hq.get(f"/api/v1/persons/{first.child_id}/").json()["separation_status"] == "reunified"


def test_separation_ended_as_a_whole_closes_only_the_cases_still_open(users):
    """One sibling reunified through her case, then the separation ended as a whole (closed): the
    sibling's open case closes with it; the reunified case stays reunified."""
    separation, (first, second) = approved_separation(users, children=[years_ago(4), years_ago(9)])
    tick_all(first, users["coordinator"])
    case_close(case_id=first.pk, by=users["coordinator"], outcome="reunified")
    separation_end(separation_id=separation.pk, by=users["supervisor"], outcome="closed")
    first.refresh_from_db()
    second.refresh_from_db()
    assert first.status == "reunified" and first.outcome == "reunified"
    assert second.status == "closed" and second.outcome == ReunificationCase.Outcome.SEPARATION_ENDED
    assert separated_children(as_of=timezone.now()).count() == 0


def test_separation_ended_for_one_child_outside_casework_closes_that_childs_case_only(users):
    """Ending a separation for one sibling directly (not by closing the case) closes only that
    child's case, with history naming who; the sibling's case stays open and the child still counts."""
    separation, (first, second) = approved_separation(users, children=[years_ago(4), years_ago(9)])
    separation_end_for_child(
        separation_id=separation.pk,
        child_id=first.child_id,
        by=users["supervisor"],
        outcome="closed",
        comment="Child released to a relative in the U.S.",
    )
    first.refresh_from_db()
    second.refresh_from_db()
    assert first.status == ReunificationCase.Status.CLOSED and first.closed_by == users["supervisor"]
    assert first.history.first().history_user == users["supervisor"]
    assert second.status == ReunificationCase.Status.OPEN
    separation.refresh_from_db()
    assert separation.status == Separation.Status.IN_EFFECT
    counted = separated_children(as_of=timezone.now()).child_ids()
    assert second.child_id in counted and first.child_id not in counted


def test_case_close_with_another_outcome_keeps_the_separation(users):
    """Closed as ineligible (parent removed): the case closes with that outcome; the child is still
    separated, so the separation stays in effect. 'Other' needs a note."""
    separation, (case,) = approved_separation(users, children=[years_ago(7)])
    with pytest.raises(ValidationFailed) as err:
        case_close(case_id=case.pk, by=users["coordinator"], outcome="other")
    assert "note" in err.value.errors
    case = case_close(
        case_id=case.pk, by=users["coordinator"], outcome="parent_removed", note="Removed 07/02"
    )
    assert case.status == "closed" and case.outcome == "parent_removed" and case.due_at is None
    separation.refresh_from_db()
    assert separation.status == Separation.Status.IN_EFFECT
    with pytest.raises(BusinessRuleError, match="already closed"):
        case_close(case_id=case.pk, by=users["coordinator"], outcome="other", note="again")


def test_case_close_as_other_discharges_the_child_and_ends_their_separation(users):
    """'Other' (released to a sponsor, turned 18...) is the court report's "discharged otherwise":
    the child's separation ends (closed) with the note, so the separated-children count and the
    court report agree; a sibling's case and separation go on."""
    separation, (case, sibling) = approved_separation(users, children=[years_ago(7), years_ago(9)])
    case_close(case_id=case.pk, by=users["coordinator"], outcome="other", note="Released to an aunt")
    member = SeparationMember.objects.get(separation=separation, person_id=case.child_id)
    assert member.end_outcome == Separation.EndOutcome.CLOSED and member.ended_at is not None
    assert "Released to an aunt" in member.history.first().history_change_reason
    assert member.history.first().history_user == users["coordinator"]
    counted = separated_children(as_of=timezone.now()).child_ids()
    assert case.child_id not in counted and sibling.child_id in counted
    sibling.refresh_from_db()
    separation.refresh_from_db()
    assert sibling.status == ReunificationCase.Status.OPEN
    assert separation.status == Separation.Status.IN_EFFECT


def test_case_reassign_moves_the_case_to_another_team_coordinator(users):
    """The station's supervisor reassigns; only coordinators of the case's team may receive it."""
    _, (case,) = approved_separation(users, children=[years_ago(7)])
    colleague = make_user("colleague", "coordinator", team="EPT-REUNIFY")
    outsider = make_user("outsider", "coordinator", team="YUM-REUNIFY")
    with pytest.raises(PermissionDenied):
        case_reassign(case_id=case.pk, to_user=colleague, by=users["coordinator"])
    with pytest.raises(ValidationFailed):
        case_reassign(case_id=case.pk, to_user=outsider, by=users["supervisor"])
    case = case_reassign(case_id=case.pk, to_user=colleague, by=users["supervisor"])
    assert case.assigned_to == colleague
    assert case.history.first().history_user == users["supervisor"]


def test_cases_close_for_ended_separation_closes_open_cases(users):
    """A separation ended outside casework (recorded in error) closes its open cases with that outcome."""
    separation, (case,) = approved_separation(users, children=[years_ago(7)])
    separation_end(separation_id=separation.pk, by=users["supervisor"], outcome="recorded_in_error")
    case.refresh_from_db()
    assert case.status == "closed" and case.outcome == ReunificationCase.Outcome.SEPARATION_ENDED
    assert case.closed_by == users["supervisor"]


def test_cases_open_for_separations_given_the_members_opens_the_cases_read_back_members_open(users):
    """An import hands reunification the members it has just written (`separations_imported`); the
    cases are the ones opened from the members read back: one per child, its adults, its seven
    steps, the same team and clocks, a history row each."""
    by = users["hq_analyst"]
    when = timezone.now() - timedelta(days=3)

    def prepared() -> PreparedSeparation:
        kids, adults = family(
            agent=users["field_agent"], children=[years_ago(4), years_ago(9)], adults=2, occurred_at=when
        )
        return separation_prepare_imported(
            by=by,
            station=station("EPT"),
            children=kids,
            adults=adults,
            reason_code="ZERO_TOLERANCE_PROSECUTION",
            occurred_at=when,
            provenance="sheet.csv row 2",
            codes=imported_reason_codes(),
            linked=True,
        )

    given, read_back = prepared(), prepared()
    separations_save_imported([given], by=by)  # the handler receives the members written
    separations_imported.disconnect(dispatch_uid="reunification-open-imported")
    try:
        separations_save_imported([read_back], by=by)
    finally:
        separations_imported.connect(on_separations_imported, dispatch_uid="reunification-open-imported")
    cases_open_for_separations(separations=[read_back.separation], by=by)  # members read here

    def opened(prepared: PreparedSeparation) -> list[tuple[Any, ...]]:
        cases = ReunificationCase.objects.filter(separation=prepared.separation).order_by(
            "child__date_of_birth"
        )
        return [
            (
                case.child.date_of_birth,
                case.team,
                case.status,
                case.next_step,
                case.clock_start,
                case.contact_due_at,
                case.reunify_due_at,
                case.due_at,
                sorted(a.person.given_names for a in CaseAdult.objects.filter(case=case)),
                sorted(case.steps.values_list("step", flat=True)),
                case.history.count(),
            )
            for case in cases
        ]

    assert len(opened(given)) == 2 and opened(given)[0][8] == ["Adulto0", "Adulto1"]
    assert opened(given) == opened(read_back)


def test_separation_correct_moves_the_clocks_of_its_open_cases(users):
    """The clocks start at the separation: correcting when it happened moves every open case's
    clock start and due times (with a history row naming the correction), as opening would have."""
    from reunification.clocks import compute_clocks
    from separations.services import separation_correct

    separation, [case] = approved_separation(users, children=[years_ago(9)])
    earlier = separation.occurred_at - timedelta(hours=4)

    separation_correct(
        separation_id=separation.pk,
        by=users["supervisor"],
        occurred_at=earlier,
        change_reason="Time taken from the processing log",
    )

    case.refresh_from_db()
    expected = compute_clocks(
        policy=case.policy, separated_at=earlier, date_of_birth=case.child.date_of_birth
    )
    assert case.clock_start == expected.clock_start == earlier
    assert case.contact_due_at == expected.contact_due_at
    assert case.reunify_due_at == expected.reunify_due_at
    assert case.due_at == expected.contact_due_at
    latest = case.history.order_by("-history_date").first()
    assert "Time taken from the processing log" in latest.history_change_reason


def _refused_close_at(case, by, reunified_at):
    """Close `case` as reunified at `reunified_at`, expecting it refused; the refusal."""
    with pytest.raises(ValidationFailed) as excinfo:
        case_close(case_id=case.pk, by=by, outcome="reunified", reunified_at=reunified_at)
    return excinfo


def test_case_close_reunified_at_before_the_separation_is_refused_by_name(users):
    """A reunification time before the child was separated is refused under `reunified_at` (the
    field the coordinator gave), not recorded as a clock met before it started; nothing changes."""
    separation, (case,) = approved_separation(users, children=[years_ago(7)])
    tick_all(case, users["coordinator"])

    excinfo = _refused_close_at(case, users["coordinator"], separation.occurred_at - timedelta(hours=1))

    assert list(excinfo.value.errors) == ["reunified_at"]
    assert "before the separation" in excinfo.value.errors["reunified_at"][0]
    case.refresh_from_db()
    assert case.status == "in_progress" and case.closed_at is None


def test_case_close_custody_errors_name_the_case_fields(users):
    """The custody move's errors come back under the fields of the close (reunified_at,
    custody_facility), which the page and the API client sent, not the custody transfer's own."""
    separation, (case,) = approved_separation(users, children=[years_ago(7)])
    adult = case.case_adults.get().person
    custody_transfer(person_id=adult.pk, agency="ICE", by=users["field_agent"])
    tick_all(case, users["coordinator"])

    excinfo = _refused_close_at(case, users["coordinator"], timezone.now() - timedelta(hours=2))
    assert list(excinfo.value.errors) == ["reunified_at"]
    assert "a transfer cannot be earlier" in excinfo.value.errors["reunified_at"][0]

    with pytest.raises(ValidationFailed) as excinfo:
        case_close(case_id=case.pk, by=users["coordinator"], outcome="reunified", custody_facility="x" * 250)
    assert list(excinfo.value.errors) == ["custody_facility"]
