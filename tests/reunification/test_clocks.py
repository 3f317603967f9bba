"""Deadline clocks: the Ms. L. v. ICE rule, per child age, and recomputation when a policy changes."""

from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from django.utils import timezone

from reunification.clocks import age_on, compute_clocks, order_starts_at
from reunification.models import DeadlinePolicy, ReunificationCase
from reunification.services import deadline_policy_save, policy_recompute

from .factories import approved_separation, years_ago

pytestmark = pytest.mark.django_db

UTC = ZoneInfo("UTC")


def ms_l() -> DeadlinePolicy:
    return DeadlinePolicy.objects.get(order_date=date(2018, 6, 26))


def test_ms_l_policy_is_seeded_by_migration():
    """The migration seeds the court order: 10 days contact, under 5 in 14 days, others in 30."""
    policy = ms_l()
    assert (policy.contact_days, policy.young_child_age, policy.young_child_days, policy.other_days) == (
        10,
        5,
        14,
        30,
    )
    assert policy.is_active
    assert policy.history.count() == 1


def test_cases_open_for_separation_gives_a_4_and_a_6_year_old_their_clocks(users):
    """Two children on one separation after the order: both must have contact within 10 days;
    the 4-year-old is due reunified in 14 days, the 6-year-old in 30, from the separation."""
    separated_at = timezone.now() - timedelta(days=2)
    separation, cases = approved_separation(
        users, children=[years_ago(4), years_ago(6)], occurred_at=separated_at
    )
    four, six = cases
    assert four.child.date_of_birth > six.child.date_of_birth
    for case in (four, six):
        assert case.clock_start == separated_at
        assert case.contact_due_at == separated_at + timedelta(days=10)
        assert case.due_at == case.contact_due_at
        assert case.policy == ms_l()
    assert four.reunify_due_at == separated_at + timedelta(days=14)
    assert six.reunify_due_at == separated_at + timedelta(days=30)


def test_cases_open_for_separation_before_the_order_count_from_the_order(users):
    """Separated on 1 June 2018, before the order of 26 June: the clocks start at the order, so the
    4-year-old is due on 10 July 2018 and the 6-year-old on 26 July 2018 (the court's dates)."""
    separated_at = datetime(2018, 6, 1, 14, 0, tzinfo=ZoneInfo("America/Denver"))
    on_order_day = date(2018, 6, 26)
    _, (four, six) = approved_separation(
        users,
        children=[years_ago(4, on=on_order_day), years_ago(6, on=on_order_day)],
        occurred_at=separated_at,
    )
    start = datetime(2018, 6, 26, tzinfo=UTC)
    assert four.clock_start == six.clock_start == start
    assert four.contact_due_at == six.contact_due_at == datetime(2018, 7, 6, tzinfo=UTC)
    assert four.reunify_due_at == datetime(2018, 7, 10, tzinfo=UTC)
    assert six.reunify_due_at == datetime(2018, 7, 26, tzinfo=UTC)


def test_deadline_policy_save_recomputes_open_cases_and_keeps_history(users):
    """Changing the policy moves the due times of open cases, each with a history row naming why;
    cases whose clocks do not change get no new history row; closed cases keep their clocks."""
    separated_at = timezone.now() - timedelta(days=2)
    _, (four, six) = approved_separation(
        users, children=[years_ago(4), years_ago(6)], occurred_at=separated_at
    )
    _, (closed,) = approved_separation(users, children=[years_ago(3)], occurred_at=separated_at)
    from reunification.services import case_close

    case_close(case_id=closed.pk, by=users["coordinator"], outcome="other", note="Test closure")
    closed.refresh_from_db()
    closed_due = closed.reunify_due_at
    four_history, six_history = four.history.count(), six.history.count()

    policy = ms_l()
    policy.young_child_days = 20
    changed = deadline_policy_save(policy=policy, by=users["hq_analyst"], change_reason="court amended")

    assert changed == 1
    four.refresh_from_db()
    six.refresh_from_db()
    closed.refresh_from_db()
    assert four.reunify_due_at == separated_at + timedelta(days=20)
    assert six.reunify_due_at == separated_at + timedelta(days=30)
    assert closed.reunify_due_at == closed_due
    assert four.history.count() == four_history + 1
    assert six.history.count() == six_history
    latest = four.history.first()
    assert latest.history_change_reason.startswith("clocks recomputed")
    assert latest.history_user == users["hq_analyst"]
    assert latest.reunify_due_at == four.reunify_due_at
    assert latest.version == four.version
    assert policy.history.first().history_change_reason == "court amended"

    policy.contact_days = 7
    assert deadline_policy_save(policy=policy, by=users["hq_analyst"]) == 2
    four.refresh_from_db()
    assert four.contact_due_at == separated_at + timedelta(days=7)
    assert four.due_at == four.contact_due_at


def test_policy_recompute_in_sql_agrees_with_python(users):
    """The SQL recomputation and the Python rule agree on edge ages: a recompute of an unchanged
    policy changes no case (5th birthday on the start day, the day before, unknown date of birth,
    29 February)."""
    separated_at = datetime(2020, 3, 1, 3, 0, tzinfo=UTC)
    start_day = date(2020, 3, 1)
    dobs = [
        date(2015, 3, 1),  # 5 today: long clock
        date(2015, 3, 2),  # 5 tomorrow: short clock
        None,  # unknown: short clock
        date(2016, 2, 29),  # 4
        date(2012, 2, 29),  # 8
    ]
    _, cases = approved_separation(users, children=dobs, occurred_at=separated_at)
    by_dob = {c.child.date_of_birth: c for c in cases}
    assert by_dob[date(2015, 3, 1)].reunify_due_at == separated_at + timedelta(days=30)
    assert by_dob[date(2015, 3, 2)].reunify_due_at == separated_at + timedelta(days=14)
    assert by_dob[None].reunify_due_at == separated_at + timedelta(days=14)
    assert age_on(date(2016, 2, 29), start_day) == 4
    before = {c.pk: c.history.count() for c in cases}

    assert policy_recompute(policy=ms_l(), by=None, reason="parity check") == 0
    assert {c.pk: c.history.count() for c in ReunificationCase.objects.filter(pk__in=before)} == before


def test_compute_clocks_counts_from_the_later_of_order_and_separation():
    """Before the order: from the order's day (local time); after: from the separation itself."""
    policy = DeadlinePolicy(
        name="x", order_date=date(2018, 6, 26), contact_days=10, young_child_age=5, young_child_days=14
    )
    policy.other_days = 30
    early = compute_clocks(
        policy=policy, separated_at=datetime(2018, 5, 5, tzinfo=UTC), date_of_birth=date(2010, 1, 1)
    )
    assert early.clock_start == order_starts_at(date(2018, 6, 26))
    assert not early.young_child
    late_start = datetime(2018, 8, 1, 12, tzinfo=UTC)
    late = compute_clocks(policy=policy, separated_at=late_start, date_of_birth=date(2016, 1, 1))
    assert late.clock_start == late_start
    assert late.reunify_due_at == late_start + timedelta(days=14)
    assert late.young_child
