"""Worklist services in-process: the set-based build (order, idempotency, history), claiming,
completing, and the clock alerts (in-app and email, once per clock)."""

import uuid
from datetime import timedelta

import pytest
from django.core import mail
from django.core.management import call_command
from django.db import IntegrityError, transaction
from django.utils import timezone

from familylink.common.errors import BusinessRuleError
from reunification.models import Notification, Worklist, WorklistItem
from reunification.services import (
    case_close,
    clocks_flag,
    worklist_claim_next,
    worklist_item_claim,
    worklist_item_complete,
    worklists_build,
)

from ..conftest import make_user
from .factories import approved_separation, ordering_scenario, years_ago

pytestmark = pytest.mark.django_db


def ept_items(day):
    return list(
        WorklistItem.objects.filter(worklist__team="EPT-REUNIFY", worklist__date=day).order_by("position")
    )


def test_worklists_build_orders_overdue_then_due_then_younger_then_longest_separated(users):
    """Each team's list holds its open cases only, in the documented order, with history rows."""
    scenario = ordering_scenario(users)
    day = timezone.localdate()

    counts = worklists_build(day=day)

    items = ept_items(day)
    assert [i.case_id for i in items] == scenario["expected"]
    assert [i.position for i in items] == list(range(1, 9))
    assert {i.case_id for i in items if i.is_overdue} == scenario["overdue"]
    assert items[0].next_step == "contact_made" and items[-1].next_step == "parentage_verified"
    assert counts == {"worklists_created": 2, "items_created": 9}
    mca = WorklistItem.objects.get(worklist__team="MCA-REUNIFY")
    assert mca.case_id == scenario["other_team"].pk
    for item in items:
        history = item.history.get()
        assert history.history_type == "+" and history.position == item.position
        assert history.history_change_reason == f"worklist built for {day.isoformat()}"
    assert Worklist.objects.get(team="EPT-REUNIFY", date=day).history.count() == 1


def test_worklists_build_again_changes_nothing_and_appends_new_cases(users):
    """A second build of the same day writes nothing; a case opened since is appended at the end."""
    ordering_scenario(users)
    day = timezone.localdate()
    worklists_build(day=day)
    before = [(i.pk, i.position, i.version, i.updated_at) for i in ept_items(day)]

    assert worklists_build(day=day) == {"worklists_created": 0, "items_created": 0}
    assert [(i.pk, i.position, i.version, i.updated_at) for i in ept_items(day)] == before
    assert WorklistItem.history.count() == 9

    _, (late,) = approved_separation(
        users, children=[years_ago(1)], occurred_at=timezone.now() - timedelta(days=30)
    )
    call_command("build_worklists", "--date", day.isoformat())
    items = ept_items(day)
    assert [(i.pk, i.position, i.version, i.updated_at) for i in items[:-1]] == before
    assert items[-1].case_id == late.pk and items[-1].position == 9


def test_worklists_build_analyzes_the_new_items_although_the_app_role_does_not_own_the_table(users):
    """The build's statistics refresh really runs as the app (it connects as familylink_app, which
    does not own the table; PostgreSQL skips such an ANALYZE with a mere warning): afterwards the
    planner's statistics of the items' list column name the new list."""
    from django.db import connection

    ordering_scenario(users)
    day = timezone.localdate()
    with connection.cursor() as cursor:
        cursor.execute("SELECT current_user, pg_get_userbyid(relowner) FROM pg_class WHERE relname = %s",
                       ["reunification_worklistitem"])  # fmt: skip
        user, owner = cursor.fetchone()
    assert user != owner  # the test runs as the app role, like production

    worklists_build(day=day)

    listed = str(Worklist.objects.get(team="EPT-REUNIFY", date=day).pk)  # 8 items: a common value
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT most_common_vals::text FROM pg_stats "
            "WHERE tablename = 'reunification_worklistitem' AND attname = 'worklist_id'"
        )
        row = cursor.fetchone()
    assert row is not None and row[0] is not None
    assert listed in row[0].strip("{}").split(",")


def test_worklist_claim_next_hands_out_the_top_item_and_assigns_the_case(users):
    """Claim next gives the top unclaimed item of an open case, assigns the case, never twice."""
    scenario = ordering_scenario(users)
    day = timezone.localdate()
    worklists_build(day=day)
    coordinator = users["coordinator"]
    colleague = make_user("colleague", "coordinator", team="EPT-REUNIFY")

    first = worklist_claim_next(user=coordinator, day=day)
    second = worklist_claim_next(user=colleague, day=day)

    assert first.case_id == scenario["expected"][0] and first.claimed_by == coordinator
    assert second.case_id == scenario["expected"][1] and second.claimed_by == colleague
    first.case.refresh_from_db()
    assert first.case.assigned_to == coordinator and first.case.status == "in_progress"
    with pytest.raises(BusinessRuleError, match="already claimed by"):
        worklist_item_claim(item_id=first.pk, user=colleague)
    # A case closed after the build is skipped.
    case_close(case_id=scenario["expected"][2], by=coordinator, outcome="parent_released", note="Released")
    third = worklist_claim_next(user=colleague, day=day)
    assert third.case_id == scenario["expected"][3]


@pytest.mark.django_db(transaction=True)
def test_worklist_claim_next_is_prepared_once_per_session_and_survives_a_rollback_and_a_new_connection(users):
    """The hot claim runs as a server-side prepared statement: planned once per database session,
    still there after a rolled-back transaction, prepared again on a new connection; every claim
    hands out the next item with its history row."""
    from django.db import connection

    scenario = ordering_scenario(users)
    day = timezone.localdate()
    worklists_build(day=day)
    coordinator = users["coordinator"]

    def prepared() -> list[str]:
        with connection.cursor() as cursor:
            cursor.execute("SELECT name FROM pg_prepared_statements WHERE name LIKE 'familylink_%%'")
            return [row[0] for row in cursor.fetchall()]

    first = worklist_claim_next(user=coordinator, day=day)
    assert prepared() == ["familylink_claim_next"]
    with pytest.raises(RuntimeError), transaction.atomic():
        worklist_claim_next(user=coordinator, day=day)
        raise RuntimeError("roll the claim back")
    second = worklist_claim_next(user=coordinator, day=day)
    connection.close()
    third = worklist_claim_next(user=coordinator, day=day)
    assert prepared() == ["familylink_claim_next"]

    assert [first.case_id, second.case_id, third.case_id] == scenario["expected"][:3]
    claims = WorklistItem.history.filter(history_change_reason="claimed (next)")
    assert sorted(claims.values_list("id", flat=True)) == sorted([first.pk, second.pk, third.pk])


@pytest.mark.django_db(transaction=True)
def test_worklist_claim_next_without_prepared_statements_behind_a_transaction_pooler(users, settings):
    """DATABASE_PREPARED_STATEMENTS off (PgBouncer in transaction mode): the same claims, and no
    statement is prepared on the connection."""
    from django.db import connection

    settings.DATABASE_PREPARED_STATEMENTS = False
    connection.close()  # a session with nothing prepared yet
    scenario = ordering_scenario(users)
    day = timezone.localdate()
    worklists_build(day=day)

    first = worklist_claim_next(user=users["coordinator"], day=day)
    second = worklist_claim_next(user=users["coordinator"], day=day)

    assert [first.case_id, second.case_id] == scenario["expected"][:2]
    with connection.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM pg_prepared_statements")
        assert cursor.fetchone()[0] == 0


def test_worklist_item_complete_only_by_the_claimer(users):
    """Completing needs a claim by the same coordinator; a second completion is refused."""
    ordering_scenario(users)
    day = timezone.localdate()
    worklists_build(day=day)
    colleague = make_user("colleague", "coordinator", team="EPT-REUNIFY")
    item = ept_items(day)[0]
    with pytest.raises(BusinessRuleError, match="Claim this item"):
        worklist_item_complete(item_id=item.pk, user=users["coordinator"])
    worklist_item_claim(item_id=item.pk, user=users["coordinator"])
    with pytest.raises(BusinessRuleError, match="only they can complete"):
        worklist_item_complete(item_id=item.pk, user=colleague)
    done = worklist_item_complete(item_id=item.pk, user=users["coordinator"])
    assert done.completed_by == users["coordinator"] and done.completed_at is not None
    assert [h.history_change_reason for h in done.history.order_by("history_id")] == [
        f"worklist built for {day.isoformat()}",
        "claimed",
        "completed",
    ]
    with pytest.raises(BusinessRuleError, match="already completed"):
        worklist_item_complete(item_id=item.pk, user=users["coordinator"])


def test_clocks_flag_notifies_coordinator_and_supervisor_once(users, django_capture_on_commit_callbacks):
    """Overdue and due-soon clocks notify the team's coordinators (the assignee once assigned) and
    the station's supervisor, in-app and by email; a re-run adds nothing and sends nothing."""
    users["coordinator"].email = "carla@example.org"
    users["coordinator"].save()
    users["supervisor"].email = "sam@example.org"
    users["supervisor"].save()
    now = timezone.now()
    # Contact due in 1 day (due soon); reunification in 5 days (not yet).
    _, (soon,) = approved_separation(users, children=[years_ago(3)], occurred_at=now - timedelta(days=9))
    # Contact due 5 days ago and reunification 1 day ago: both overdue.
    _, (late,) = approved_separation(users, children=[years_ago(3)], occurred_at=now - timedelta(days=15))
    # Far from due: nothing.
    approved_separation(users, children=[years_ago(9)], occurred_at=now - timedelta(days=1))

    with django_capture_on_commit_callbacks(execute=True):
        result = clocks_flag(now=now)

    notes = Notification.objects.all()
    assert result == {"notifications_created": 6, "recipients": 2}
    assert {(n.recipient.username, n.case_id, n.clock, n.kind) for n in notes} == {
        (who, case, clock, kind)
        for who in ("coordinator", "supervisor")
        for case, clock, kind in (
            (soon.pk, "contact", "due_soon"),
            (late.pk, "contact", "overdue"),
            (late.pk, "reunify", "overdue"),
        )
    }
    message = notes.get(recipient=users["coordinator"], case=soon, clock="contact").message
    assert message.startswith("Due within 48 hours: contact between child and parent for Nino0")
    assert all(n.history.count() == 1 for n in notes)
    assert sorted(m.to[0] for m in mail.outbox) == ["carla@example.org", "sam@example.org"]
    assert "3 reunification clock(s)" in mail.outbox[0].subject

    with django_capture_on_commit_callbacks(execute=True):
        again = clocks_flag(now=now)
    assert again == {"notifications_created": 0, "recipients": 0}
    assert Notification.objects.count() == 6
    assert len(mail.outbox) == 2


def test_worklist_items_must_reference_an_existing_case_and_list(users):
    """The per-statement reference check (in place of row-by-row foreign keys) refuses an item
    naming a case or a worklist that does not exist, on insert and on update."""
    approved_separation(users, children=[years_ago(6)])
    worklists_build(day=timezone.localdate())
    item = WorklistItem.objects.get()

    with pytest.raises(IntegrityError, match="must reference an existing"), transaction.atomic():
        WorklistItem(worklist=item.worklist, case_id=uuid.uuid4(), position=2).save()
    with pytest.raises(IntegrityError, match="must reference an existing"), transaction.atomic():
        item.worklist_id = uuid.uuid4()
        item.save()
    assert WorklistItem.objects.count() == 1


def test_worklist_item_claim_conflict_names_the_claim_time_on_the_teams_clock(users):
    """'Already claimed … at' gives the time on the team's wall clock with its zone (as every other
    message does), whatever zone the request runs in: an El Paso coordinator reads MST, not UTC."""
    from familylink.common.clock import wallclock_text
    from reunification.teams import team_zone

    ordering_scenario(users)
    day = timezone.localdate()
    worklists_build(day=day)
    colleague = make_user("colleague", "coordinator", team="EPT-REUNIFY")
    item = WorklistItem.objects.get(worklist__team="EPT-REUNIFY", position=1)
    claimed = worklist_item_claim(item_id=item.pk, user=users["coordinator"])
    zone = team_zone("EPT-REUNIFY")
    assert str(zone) == "America/Denver"

    with timezone.override("UTC"), pytest.raises(BusinessRuleError) as excinfo:
        worklist_item_claim(item_id=item.pk, user=colleague)

    expected = wallclock_text(claimed.claimed_at, zone)
    assert expected.endswith(("MST", "MDT"))
    assert str(excinfo.value).endswith(f" at {expected}.")


def test_clocks_flag_names_a_child_with_one_surname_as_every_page_does(users):
    """A child with no second surname is named 'Nino0 Familia…' in the alert, as on every page
    (Person.full_name), not with a stray space before the comma."""
    now = timezone.now()
    _, (case,) = approved_separation(users, children=[years_ago(3)], occurred_at=now - timedelta(days=9))
    assert case.child.second_surname == ""

    clocks_flag(now=now)

    message = Notification.objects.get(recipient=users["coordinator"], case=case, clock="contact").message
    assert f"for {case.child.full_name}, due " in message
