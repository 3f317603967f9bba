"""Separation transitions and custody transfers through the services (rows, history, messages)."""

import re
from datetime import UTC, datetime, timedelta

import pytest
from django.utils import timezone

from familylink.common.errors import BusinessRuleError, PermissionDenied, StaleVersionError, ValidationFailed
from separations import services
from separations.models import CustodyPeriod, Separation, SeparationMember
from separations.signals import separation_approved, separation_ended

from .factories import family, in_effect_separation, relate, request_separation

pytestmark = pytest.mark.django_db

T0 = datetime(2018, 5, 11, 14, 0, tzinfo=UTC)


def test_separation_request_records_both_sides_with_history(fam, users):
    """A request names the child and the adult, keeps the unit, and writes history for all rows."""
    separation = request_separation(fam, users["field_agent"], place="El Paso Station")

    separation.refresh_from_db()
    assert separation.status == Separation.Status.REQUESTED
    assert separation.family_unit_id == fam.unit.pk
    assert separation.station.code == "EPT"
    assert separation.requested_by == users["field_agent"]
    assert separation.reason_code.code == "ZERO_TOLERANCE_PROSECUTION"
    assert separation.occurred_at == T0
    assert separation.recorded_at >= separation.occurred_at
    members = {(m.person_id, m.side) for m in separation.members.all()}
    assert members == {(fam.child.pk, "child"), (fam.adult.pk, "adult")}
    assert separation.history.count() == 1
    assert separation.history.first().history_user == users["field_agent"]
    for member in separation.members.all():
        assert member.history.count() == 1
    # The family unit stays whole.
    assert set(fam.unit.memberships.values_list("person_id", flat=True)) == {fam.child.pk, fam.adult.pk}


def test_separation_request_other_needs_a_narrative(fam, users):
    """OTHER without narrative is refused, naming the narrative field; nothing is saved."""
    with pytest.raises(ValidationFailed) as excinfo:
        request_separation(fam, users["field_agent"], reason_code="OTHER", narrative="  ")
    assert "narrative" in excinfo.value.errors
    assert "required for reason OTHER" in excinfo.value.errors["narrative"][0]
    assert Separation.objects.count() == 0


def test_separation_request_refuses_persons_with_no_link(ept, users):
    """A child and an adult sharing no unit and no relationship cannot be separated from each other."""
    mother = family(children=0, surname="Lopez", unit=False)
    girl = family(adults=0, surname="Ramos", unit=False)
    with pytest.raises(ValidationFailed) as excinfo:
        services.separation_request(
            requester=users["field_agent"],
            children=[girl.child.pk],
            adults=[mother.adult.pk],
            reason_code="CRIMINAL_HISTORY",
            occurred_at=T0,
        )
    assert "share no family unit or recorded relationship" in excinfo.value.errors["children[0]"][0]
    assert Separation.objects.count() == 0


def test_separation_request_accepts_a_recorded_relationship(ept, users):
    """A recorded (not disproven) relationship links them even without a shared unit."""
    mother = family(children=0, surname="Lopez", unit=False)
    girl = family(adults=0, surname="Lopez", unit=False)
    relate(mother.adult, girl.child)
    separation = services.separation_request(
        requester=users["field_agent"],
        children=[girl.child.pk],
        adults=[mother.adult.pk],
        reason_code="CRIMINAL_HISTORY",
        occurred_at=T0,
    )
    assert separation.family_unit_id is None
    assert separation.members.count() == 2


def test_separation_request_disproven_relationship_does_not_link(ept, users):
    """A disproven relationship is no link."""
    mother = family(children=0, surname="Lopez", unit=False)
    girl = family(adults=0, surname="Lopez", unit=False)
    relate(mother.adult, girl.child, evidence="disproven")
    with pytest.raises(ValidationFailed, match="share no family unit"):
        services.separation_request(
            requester=users["field_agent"],
            children=[girl.child.pk],
            adults=[mother.adult.pk],
            reason_code="CRIMINAL_HISTORY",
            occurred_at=T0,
        )


def test_separation_request_hides_persons_of_other_stations(fam, yum_agent):
    """A YUM agent naming EPT persons gets 'no person at your station', not their names."""
    with pytest.raises(ValidationFailed) as excinfo:
        request_separation(fam, yum_agent)
    errors = excinfo.value.errors
    assert set(errors) == {"children[0]", "adults[0]"}
    assert "was encountered at station YUM" in errors["children[0]"][0]
    assert fam.child.given_names not in str(errors)


def test_separation_request_checks_each_field(fam, users):
    """Bad ids, duplicates, an adult as child, a future or naive time are each named."""
    with pytest.raises(ValidationFailed) as excinfo:
        services.separation_request(
            requester=users["field_agent"],
            children=[fam.adult.pk, "not-a-uuid", fam.adult.pk],
            adults=[],
            reason_code="NO_SUCH_CODE",
            occurred_at=timezone.now() + timedelta(days=1),
        )
    errors = excinfo.value.errors
    assert "is not a minor" in errors["children[0]"][0]
    assert "is not a person id" in errors["children[1]"][0]
    assert "listed twice" in errors["children[2]"][0]
    assert "Choose at least one adult" in errors["adults"][0]
    assert "Unknown or retired reason code" in errors["reason_code"][0]
    assert "in the future" in errors["occurred_at"][0]
    # On the wall clock with its zone, as every time is shown (was the raw ISO text).
    assert re.match(r"\d{4}-\d\d-\d\d \d\d:\d\d \S+ is in the future", errors["occurred_at"][0])
    with pytest.raises(ValidationFailed) as excinfo:
        request_separation(fam, users["field_agent"], occurred_at=datetime(2018, 5, 11, 14, 0))
    assert "time zone" in excinfo.value.errors["occurred_at"][0]


def test_separation_request_refuses_a_retired_code(fam, users):
    """A retired reason code cannot be used for new separations."""
    from separations.models import ReasonCode

    code = ReasonCode.objects.get(code="GANG_AFFILIATION")
    code.retired_at = timezone.now()
    code.save()
    with pytest.raises(ValidationFailed, match="retired"):
        request_separation(fam, users["field_agent"], reason_code="GANG_AFFILIATION")


def test_separation_request_refuses_a_second_open_request(fam, users):
    """The same child and adults cannot have two open separations (409)."""
    request_separation(fam, users["field_agent"])
    with pytest.raises(BusinessRuleError, match="already has a requested separation"):
        request_separation(fam, users["field_agent"])
    assert Separation.objects.count() == 1


def test_separation_request_names_an_in_effect_separation_in_plain_words(fam, users):
    """A request repeating one already in effect says so in a readable sentence ('an in-effect
    separation', not 'a in effect separation')."""
    in_effect_separation(fam, users["field_agent"], users["supervisor"])
    with pytest.raises(BusinessRuleError, match="already has an in-effect separation from these adults"):
        request_separation(fam, users["field_agent"])


def test_separation_request_refused_to_roles_without_the_capability(fam, users):
    """HQ analysts, coordinators, auditors and partners cannot request."""
    for role in ("hq_analyst", "coordinator", "auditor", "partner_agency"):
        with pytest.raises(PermissionDenied):
            request_separation(fam, users[role])
    assert Separation.objects.count() == 0


def test_separation_approve_rejects_the_requester(fam, users):
    """The supervisor who requested a separation cannot also approve it."""
    separation = request_separation(fam, users["supervisor"])

    with pytest.raises(PermissionDenied, match="cannot approve"):
        services.separation_approve(separation_id=separation.pk, approver=users["supervisor"])

    separation.refresh_from_db()
    assert separation.status == Separation.Status.REQUESTED
    assert separation.history.count() == 1


def test_separation_approve_needs_a_supervisor_of_the_station(fam, users, yum_supervisor):
    """A field agent or a supervisor of another station cannot approve."""
    separation = request_separation(fam, users["field_agent"])
    with pytest.raises(PermissionDenied, match="Only a supervisor"):
        services.separation_approve(separation_id=separation.pk, approver=users["field_agent"])
    with pytest.raises(PermissionDenied, match="station EPT"):
        services.separation_approve(separation_id=separation.pk, approver=yum_supervisor)
    separation.refresh_from_db()
    assert separation.status == Separation.Status.REQUESTED


def test_separation_approve_puts_it_in_effect_and_signals(fam, users):
    """Approval sets status, decider, time and comment, writes history and sends the signal."""
    received = []

    def handler(sender, separation, approver, **kwargs):
        received.append((separation.pk, approver.pk, separation.status))

    separation_approved.connect(handler)
    try:
        separation = request_separation(fam, users["field_agent"])
        services.separation_approve(
            separation_id=separation.pk,
            approver=users["supervisor"],
            comment="Prosecution referral confirmed",
        )
    finally:
        separation_approved.disconnect(handler)
    separation.refresh_from_db()
    assert separation.status == Separation.Status.IN_EFFECT
    assert separation.decided_by == users["supervisor"]
    assert separation.decided_at is not None
    assert separation.decision_comment == "Prosecution referral confirmed"
    assert separation.version == 2
    latest = separation.history.first()
    assert latest.history_change_reason == "approved: Prosecution referral confirmed"
    assert latest.history_user == users["supervisor"]
    assert received == [(separation.pk, users["supervisor"].pk, "in_effect")]


def test_separation_approve_twice_is_a_conflict(fam, users, second_supervisor):
    """A decided separation cannot be decided again (409)."""
    separation = in_effect_separation(fam, users["field_agent"], users["supervisor"])
    with pytest.raises(BusinessRuleError, match="Only a requested separation"):
        services.separation_reject(separation_id=separation.pk, approver=second_supervisor, comment="no")


def test_separation_approve_with_a_stale_version(fam, users):
    """A decision made on an old version of the request is refused."""
    separation = request_separation(fam, users["field_agent"])
    with pytest.raises(StaleVersionError):
        services.separation_approve(
            separation_id=separation.pk, approver=users["supervisor"], expected_version=7
        )


def test_separation_reject_needs_a_comment(fam, users):
    """Rejecting without saying why is refused; with a comment it is rejected and kept."""
    separation = request_separation(fam, users["field_agent"])
    with pytest.raises(ValidationFailed) as excinfo:
        services.separation_reject(separation_id=separation.pk, approver=users["supervisor"], comment=" ")
    assert "comment" in excinfo.value.errors
    long_comment = "Parentage documents show the adult is the mother; no basis to separate. " * 4
    services.separation_reject(
        separation_id=separation.pk, approver=users["supervisor"], comment=long_comment
    )
    separation.refresh_from_db()
    assert separation.status == Separation.Status.REJECTED
    assert separation.decision_comment == long_comment.strip()
    assert separation.history.first().history_change_reason == f"rejected: {separation.decision_comment}"


def test_separation_end_records_how_it_ended(fam, users):
    """Ending sets time, who, outcome and comment, and sends `separation_ended`."""
    received = []

    def handler(sender, separation, outcome, by, **kwargs):
        received.append((outcome, by.pk))

    separation = in_effect_separation(fam, users["field_agent"], users["supervisor"])
    separation_ended.connect(handler)
    try:
        ended_at = datetime(2018, 7, 20, 12, 0, tzinfo=UTC)
        services.separation_end(
            separation_id=separation.pk,
            by=users["coordinator"],
            outcome="reunified",
            comment="Reunified at Port Isabel",
            ended_at=ended_at,
        )
    finally:
        separation_ended.disconnect(handler)
    separation.refresh_from_db()
    assert separation.status == Separation.Status.ENDED
    assert separation.ended_at == ended_at
    assert separation.ended_by == users["coordinator"]
    assert separation.end_outcome == "reunified"
    assert received == [("reunified", users["coordinator"].pk)]
    with pytest.raises(BusinessRuleError):
        services.separation_end(separation_id=separation.pk, by=users["coordinator"], outcome="reunified")


def test_separation_end_cannot_precede_the_separation(fam, users):
    separation = in_effect_separation(fam, users["field_agent"], users["supervisor"])
    with pytest.raises(ValidationFailed, match="before the separation happened"):
        services.separation_end(
            separation_id=separation.pk,
            by=users["supervisor"],
            outcome="closed",
            ended_at=T0 - timedelta(days=1),
        )
    with pytest.raises(ValidationFailed, match="Choose one of"):
        services.separation_end(separation_id=separation.pk, by=users["supervisor"], outcome="lost")


def test_separation_correct_keeps_the_old_value_in_history(fam, users):
    """Correcting occurred_at needs a reason; the previous value stays in history."""
    separation = in_effect_separation(fam, users["field_agent"], users["supervisor"])
    with pytest.raises(ValidationFailed, match="Say why"):
        services.separation_correct(
            separation_id=separation.pk, by=users["field_agent"], change_reason="", place="x"
        )
    corrected = T0 + timedelta(hours=3)
    services.separation_correct(
        separation_id=separation.pk,
        by=users["field_agent"],
        occurred_at=corrected,
        change_reason="Time taken from the processing log",
    )
    separation.refresh_from_db()
    assert separation.occurred_at == corrected
    versions = list(separation.history.order_by("history_date").values_list("occurred_at", flat=True))
    assert versions == [T0, T0, corrected]
    assert separation.history.first().history_change_reason == "corrected: Time taken from the processing log"


def test_separation_withdraw_marks_it_never_deletes(fam, users):
    """A request entered in error is withdrawn by its requester; the row stays with who and why."""
    separation = request_separation(fam, users["field_agent"])
    services.separation_withdraw(separation_id=separation.pk, by=users["field_agent"], reason="Wrong family")
    separation.refresh_from_db()
    assert separation.withdrawn_at is not None and separation.withdrawn_by == users["field_agent"]
    assert separation.history.first().history_change_reason == "withdrawn: Wrong family"
    assert Separation.objects.filter(pk=separation.pk).exists()


def test_custody_transfer_closes_the_open_period_and_opens_the_next(fam, users):
    """A transfer ends the current period at the transfer time and opens the new one; history kept."""
    start = datetime(2018, 5, 10, 17, 0, tzinfo=UTC)
    first = services.custody_transfer(
        person_id=fam.child.pk, agency="CBP", facility="Clint", started_at=start, by=users["field_agent"]
    )
    moved = datetime(2018, 5, 12, 9, 0, tzinfo=UTC)
    second = services.custody_transfer(
        person_id=fam.child.pk,
        agency="hhs_orr",
        facility="Casa Padre",
        started_at=moved,
        by=users["partner_agency"],
        change_reason="ORR placement",
    )
    first.refresh_from_db()
    assert first.ended_at == moved
    assert second.agency == "HHS_ORR" and second.ended_at is None
    assert second.recorded_by == users["partner_agency"]
    open_periods = CustodyPeriod.objects.filter(person=fam.child, ended_at__isnull=True)
    assert list(open_periods) == [second]
    assert first.history.count() == 2
    assert first.history.first().history_change_reason == "ORR placement"


def test_custody_transfer_refuses_bad_input(fam, users):
    """Unknown agency, bad person id, a time before the current period are 400s naming the field."""
    services.custody_transfer(
        person_id=fam.adult.pk,
        agency="CBP",
        started_at=datetime(2018, 5, 11, tzinfo=UTC),
        by=users["field_agent"],
    )
    with pytest.raises(ValidationFailed) as excinfo:
        services.custody_transfer(person_id="nope", agency="FBI", by=users["field_agent"])
    assert set(excinfo.value.errors) == {"person", "agency"}
    with pytest.raises(ValidationFailed) as excinfo:
        services.custody_transfer(
            person_id=fam.adult.pk,
            agency="ICE",
            # After the apprehension (10 May 16:15 UTC), before the current period (11 May).
            started_at=datetime(2018, 5, 10, 20, tzinfo=UTC),
            by=users["field_agent"],
        )
    assert "cannot be earlier" in excinfo.value.errors["started_at"][0]
    with pytest.raises(ValidationFailed) as excinfo:
        services.custody_transfer(
            person_id=fam.adult.pk, agency="ICE", facility="x" * 201, by=users["field_agent"]
        )
    assert "facility" in excinfo.value.errors
    assert CustodyPeriod.objects.filter(person=fam.adult).count() == 1


def test_separation_member_rows_have_one_side_each(fam, users):
    separation = request_separation(fam, users["field_agent"])
    assert SeparationMember.objects.filter(separation=separation, side="child").count() == 1
    assert SeparationMember.objects.filter(separation=separation, side="adult").count() == 1


def test_separation_correct_refuses_a_time_before_the_apprehension(fam, users):
    """A correction cannot move the separation before the family was apprehended (the request
    refuses that time too); the message names occurred_at and the apprehension, nothing changes."""
    separation = in_effect_separation(fam, users["field_agent"], users["supervisor"])
    too_early = fam.apprehension.occurred_at - timedelta(hours=2)

    with pytest.raises(ValidationFailed) as excinfo:
        services.separation_correct(
            separation_id=separation.pk,
            by=users["supervisor"],
            occurred_at=too_early,
            change_reason="Time taken from the processing log",
        )

    message = excinfo.value.errors["occurred_at"][0]
    assert "is before" in message and "was apprehended" in message
    separation.refresh_from_db()
    assert separation.occurred_at == T0
    assert separation.history.count() == 2


def test_separation_reject_refuses_the_requester_before_asking_why(fam, users, yum_supervisor):
    """The requester (or a supervisor of another station) rejecting without a comment is told they
    may not decide it (403), not asked for a comment they could never usefully give."""
    separation = request_separation(fam, users["supervisor"])

    for who in (users["supervisor"], yum_supervisor):
        with pytest.raises(PermissionDenied):
            services.separation_reject(separation_id=separation.pk, approver=who, comment="")

    separation.refresh_from_db()
    assert separation.status == Separation.Status.REQUESTED
