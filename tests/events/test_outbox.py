"""Every change partners follow writes its event in the change's own transaction, whatever the
write path: services that save(), set-based SQL (worklist claims), bulk inserts (intake)."""

from datetime import date, timedelta

import pytest
from django.db import DatabaseError, connection, transaction
from django.utils import timezone

from apprehensions.models import Person, PersonIdentifier
from apprehensions.services.intake import apprehension_record
from apprehensions.services.persons import person_update
from events.models import Event
from reunification.models import ReunificationCase
from reunification.services import case_close, case_step_update, worklist_claim_next, worklists_build
from reunification.services.policies import policy_recompute
from separations.models import Separation
from separations.services import (
    custody_transfer,
    separation_approve,
    separation_end,
    separation_end_for_child,
    separation_reject,
    separation_request,
)
from tests.reunification.factories import approved_separation, family, ordering_scenario, years_ago

from ..conftest import make_user
from .helpers import recorded, types

pytestmark = pytest.mark.django_db

TICK = [
    ("contact_made", ""),
    ("parentage_verified", "dna"),
    ("parent_located", ""),
    ("background_check", ""),
    ("eligibility_decision", "eligible"),
    ("travel_arranged", ""),
]


def test_custody_transfer_records_custody_transferred_with_old_and_new_agency(users):
    """Each transfer is one `custody.transferred` event on the person: agency and facility [old, new]."""
    kids, _ = family(agent=users["field_agent"], children=[years_ago(8)])
    child = kids[0]
    start = timezone.now() - timedelta(days=2)

    custody_transfer(
        person_id=child.pk, agency="CBP", facility="Ursula", started_at=start, by=users["field_agent"]
    )
    custody_transfer(person_id=child.pk, agency="HHS_ORR", facility="Casa Padre", by=users["partner_agency"])

    events = recorded(type="custody.transferred")
    assert len(events) == 2
    first, second = events
    assert (first.resource_type, first.resource_id, first.person_ids) == ("person", child.pk, [child.pk])
    assert first.changes["agency"] == [None, "CBP"] and first.changes["facility"] == [None, "Ursula"]
    assert second.changes["agency"] == ["CBP", "HHS_ORR"]
    assert second.changes["facility"] == ["Ursula", "Casa Padre"]
    assert first.occurred_at == start
    assert second.position > first.position
    # Rule 2: each event has its history row.
    assert Event.history.filter(id__in=[first.id, second.id], history_type="+").count() == 2


def test_separation_request_approve_and_reject_record_each_step(users):
    """Request → `separation.requested` naming children and adults; approval → `separation.in_effect`
    and one `case.opened` per child; a rejection → `separation.rejected`."""
    kids, adults = family(agent=users["field_agent"], children=[years_ago(4), years_ago(9)])
    supervisor2 = make_user("supervisor2", "supervisor", station="EPT")
    when = timezone.now() - timedelta(days=1)
    separation = separation_request(
        requester=users["field_agent"],
        children=[k.pk for k in kids],
        adults=[a.pk for a in adults],
        reason_code="ZERO_TOLERANCE_PROSECUTION",
        occurred_at=when,
        narrative="Adult referred for prosecution",
    )
    requested = recorded(resource_id=separation.pk)
    assert types(requested) == ["separation.requested"]
    changes = requested[0].changes
    assert changes["status"] == [None, "requested"]
    assert changes["reason_code"] == [None, "ZERO_TOLERANCE_PROSECUTION"]
    assert changes["station"] == [None, "EPT"]
    assert sorted(changes["children"][1]) == sorted(str(k.pk) for k in kids)
    assert changes["adults"][1] == [str(adults[0].pk)]
    assert set(requested[0].person_ids) == {*[k.pk for k in kids], adults[0].pk}

    separation_approve(separation_id=separation.pk, approver=users["supervisor"])

    approved = recorded(resource_id=separation.pk)
    assert types(approved) == ["separation.requested", "separation.in_effect"]
    assert approved[1].changes == {"status": ["requested", "in_effect"]}
    opened = recorded(type="case.opened")
    cases = ReunificationCase.objects.filter(separation=separation)
    assert {e.resource_id for e in opened} == {c.pk for c in cases} and len(opened) == 2
    for event in opened:
        case = cases.get(pk=event.resource_id)
        assert event.resource_type == "reunification_case"
        assert event.changes["child"] == [None, str(case.child_id)]
        assert set(event.person_ids) == {case.child_id, adults[0].pk}
    # The case events come after the approval that opened them.
    assert min(e.position for e in opened) > approved[1].position

    other_kids, other_adults = family(agent=users["field_agent"], children=[years_ago(6)])
    second = separation_request(
        requester=users["field_agent"],
        children=[other_kids[0].pk],
        adults=[other_adults[0].pk],
        reason_code="PRIOR_REMOVAL",
        occurred_at=when,
    )
    separation_reject(separation_id=second.pk, approver=supervisor2, comment="Not documented")
    assert types(recorded(resource_id=second.pk)) == ["separation.requested", "separation.rejected"]


def test_separation_end_records_each_child_then_the_separation_and_closes_cases(users):
    """Ending a separation as a whole: `separation.child_ended` for each child, `separation.ended`,
    and `case.closed` for the cases its handler closes."""
    separation, cases = approved_separation(users, children=[years_ago(4), years_ago(9)])
    recorded()
    mark = Event.objects.order_by("-position").values_list("position", flat=True).first()

    separation_end(separation_id=separation.pk, by=users["supervisor"], outcome="recorded_in_error")

    events = [e for e in recorded() if e.position > mark]
    assert sorted(types(events)) == sorted(
        ["separation.child_ended", "separation.child_ended", "separation.ended", "case.closed", "case.closed"]
    )
    ended = next(e for e in events if e.type == "separation.ended")
    assert ended.changes["status"] == ["in_effect", "ended"]
    assert ended.changes["end_outcome"] == [None, "recorded_in_error"]
    children = {e.person_ids[0] for e in events if e.type == "separation.child_ended"}
    assert children == {c.child_id for c in cases}
    closed = [e for e in events if e.type == "case.closed"]
    assert {e.changes["status"][1] for e in closed} == {"closed"}
    assert {e.changes["outcome"][1] for e in closed} == {"separation_ended"}


def test_separation_end_for_child_records_that_child_only_until_the_last(users):
    """Ending for one child: `separation.child_ended` for that child and its case closed; the
    separation stays in effect (no `separation.ended`) until its last child."""
    separation, cases = approved_separation(users, children=[years_ago(4), years_ago(9)])
    first, second = cases
    recorded()
    mark = Event.objects.order_by("-position").values_list("position", flat=True).first()

    separation_end_for_child(
        separation_id=separation.pk, child_id=first.child_id, by=users["supervisor"], outcome="closed"
    )

    events = [e for e in recorded() if e.position > mark]
    assert types(events) == ["separation.child_ended", "case.closed"]
    assert events[0].changes["child"] == [None, str(first.child_id)]
    assert events[0].person_ids == [first.child_id]
    assert events[1].resource_id == first.pk

    separation_end_for_child(
        separation_id=separation.pk, child_id=second.child_id, by=users["supervisor"], outcome="reunified"
    )
    events = [e for e in recorded() if e.position > mark]
    assert types(events)[2:] == ["separation.child_ended", "case.closed", "separation.ended"]
    assert events[4].changes["end_outcome"] == [None, "closed"]


def test_case_work_records_status_change_and_closure_with_custody_and_separation_end(users):
    """Casework: the first ticked step → `case.status_changed` (open → in_progress); closing as
    reunified → `case.closed`, the custody transfers of child and adult, and the separation's end."""
    separation, (case,) = approved_separation(users, children=[years_ago(7)])
    coordinator = users["coordinator"]
    recorded()
    mark = Event.objects.order_by("-position").values_list("position", flat=True).first()

    for step, method in TICK:
        case_step_update(case_id=case.pk, step=step, done=True, method=method, by=coordinator)
    assert types([e for e in recorded() if e.position > mark]) == ["case.status_changed"]
    status_event = recorded(type="case.status_changed")[0]
    assert status_event.changes == {"status": ["open", "in_progress"]}

    case_close(case_id=case.pk, by=coordinator, outcome="reunified", custody_agency="RELEASED")

    events = [e for e in recorded() if e.position > mark + 1]
    assert sorted(types(events)) == sorted(
        [
            "case.closed",
            "custody.transferred",
            "custody.transferred",
            "separation.child_ended",
            "separation.ended",
        ]
    )
    closed = next(e for e in events if e.type == "case.closed")
    assert closed.changes == {"status": ["in_progress", "reunified"], "outcome": [None, "reunified"]}
    assert closed.resource_id == case.pk
    assert types(events)[0] == "case.closed"  # in the order the changes were made
    moved = {e.resource_id for e in events if e.type == "custody.transferred"}
    assert moved == {
        case.child_id,
        *separation.members.filter(side="adult").values_list("person_id", flat=True),
    }


def test_worklist_claim_in_set_based_sql_records_the_case_status_change(users):
    """The worklist claim moves the case to in_progress in one SQL statement (no save(), no signal):
    the trigger still records `case.status_changed`."""
    scenario = ordering_scenario(users)
    day = timezone.localdate()
    worklists_build(day=day)
    recorded()
    mark = Event.objects.order_by("-position").values_list("position", flat=True).first() or 0

    item = worklist_claim_next(user=users["coordinator"], day=day)

    events = [e for e in recorded() if e.position > mark]
    assert item.case_id == scenario["expected"][0]
    assert [(e.type, e.resource_id) for e in events] == [("case.status_changed", item.case_id)]
    assert events[0].changes == {"status": ["open", "in_progress"]}


def test_policy_recompute_changes_no_status_and_records_no_event(users):
    """A deadline-policy recompute rewrites 100,000 cases' clocks, not their status: no events."""
    separation, cases = approved_separation(users, children=[years_ago(4)])
    recorded()
    before = Event.objects.count()
    policy = cases[0].policy
    policy.other_days = policy.other_days + 5
    policy.save()

    policy_recompute(policy=policy, by=users["hq_analyst"], reason="order amended")

    assert len(recorded()) == before


def test_person_a_number_change_records_identifiers_changed(users):
    """Changing a person's A-number → `person.identifiers_changed` with [old, new]; other edits do not."""
    kids, adults = family(agent=users["field_agent"], children=[years_ago(8)])
    adult = adults[0]
    adult.a_number = "A012345678"
    adult.save()
    recorded()
    before = Event.objects.count()

    person_update(person_id=adult.pk, user=users["field_agent"], changes={"a_number": "A-201-234-567"})
    person_update(person_id=adult.pk, user=users["field_agent"], changes={"given_names": "María José"})

    events = recorded()[before:]
    assert types(events) == ["person.identifiers_changed"]
    assert events[0].changes == {"a_number": ["A012345678", "A201234567"]}
    assert (events[0].resource_type, events[0].resource_id) == ("person", adult.pk)


def test_intake_of_a_new_person_records_no_identifier_change(users):
    """Intake inserts persons and identifiers in bulk: a new person's A-number is its creation,
    not a change of identifiers."""
    from tests.reunification.factories import station

    station("EPT")
    apprehension_record(
        user=users["field_agent"],
        occurred_at=timezone.now() - timedelta(hours=3),
        station="EPT",
        persons=[
            {
                "ref": "p1",
                "given_names": "Ana",
                "first_surname": "Pérez",
                "sex": "F",
                "date_of_birth": date(1988, 4, 2),
                "country_of_citizenship": "GT",
                "a_number": "A201234999",
            },
        ],
    )
    assert Person.objects.filter(a_number="A201234999").exists()
    assert recorded(type="person.identifiers_changed") == []


@pytest.mark.django_db(transaction=True)
def test_identifier_added_to_a_person_on_file_records_identifiers_changed(users):
    """An identifier added to (or changed on) a person recorded in an earlier transaction is a change."""
    kids, _ = family(agent=users["field_agent"], children=[years_ago(8)])

    with transaction.atomic():
        identifier = PersonIdentifier(person=kids[0], kind="hhs_case", value="ORR-1234")
        identifier.save()
    with transaction.atomic():
        identifier.value = "ORR-1235"
        identifier.save()

    events = recorded(type="person.identifiers_changed")
    assert [e.changes for e in events] == [
        {"identifiers.hhs_case": [None, "ORR-1234"]},
        {"identifiers.hhs_case": ["ORR-1234", "ORR-1235"]},
    ]
    assert {e.resource_id for e in events} == {kids[0].pk}
    assert events[0].xid < events[1].xid


def test_a_rolled_back_change_leaves_no_event(users):
    """The event is part of the change's transaction: a change rolled back leaves no phantom event."""
    kids, _ = family(agent=users["field_agent"], children=[years_ago(8)])
    recorded()
    before = Event.objects.count()

    with pytest.raises(RuntimeError), transaction.atomic():
        custody_transfer(person_id=kids[0].pk, agency="CBP", by=users["field_agent"])
        connection.check_constraints()  # the event is written...
        assert Event.objects.count() == before + 1
        raise RuntimeError("…and the change fails afterwards")

    assert Event.objects.count() == before == len(recorded())


def test_events_are_never_changed_or_deleted(users):
    """Events are a record: UPDATE and DELETE are refused by PostgreSQL, delete() by the ORM."""
    kids, _ = family(agent=users["field_agent"], children=[years_ago(8)])
    custody_transfer(person_id=kids[0].pk, agency="CBP", by=users["field_agent"])
    event = recorded()[0]
    for statement in ("UPDATE events_event SET type = 'x'", "DELETE FROM events_event"):
        with pytest.raises(DatabaseError), transaction.atomic(), connection.cursor() as cursor:
            cursor.execute(statement)
    with pytest.raises(Exception, match="nothing is hard-deleted"):
        event.delete()
    assert Event.objects.get(pk=event.pk).type == "custody.transferred"
    assert Separation.objects.count() == 0


def test_events_visible_to_scopes_by_the_persons_an_event_concerns(users):
    """Roles that read all persons (or look any up by id) get every event; a role with a narrower
    person scope, if granted the feed, gets only events about persons in its scope; no capability,
    no events."""
    from django.contrib.auth.models import Permission

    from events.selectors import events_visible_to
    from tests.reunification.factories import station

    station("YUM")
    ept_kids, _ = family(agent=users["field_agent"], children=[years_ago(8)], at="EPT")
    yum_kids, _ = family(agent=users["field_agent"], children=[years_ago(8)], at="YUM")
    custody_transfer(person_id=ept_kids[0].pk, agency="CBP", by=users["field_agent"])
    custody_transfer(person_id=yum_kids[0].pk, agency="CBP", by=users["field_agent"])
    everything = {e.pk for e in recorded()}
    assert len(everything) == 2

    for role in ("partner_agency", "hq_analyst", "auditor"):
        assert set(events_visible_to(users[role]).values_list("pk", flat=True)) == everything
    agent = users["field_agent"]
    assert not events_visible_to(agent).exists()  # field agents do not follow the feed
    agent.user_permissions.add(Permission.objects.get(codename="read_events"))
    agent = type(agent).objects.get(pk=agent.pk)  # fresh permission cache
    visible = list(events_visible_to(agent))
    assert [e.person_ids for e in visible] == [[ept_kids[0].pk]]


@pytest.mark.django_db(transaction=True)
def test_every_event_trigger_is_installed_deferred():
    """After migrate, each outbox trigger exists and is deferred to COMMIT (it sees the whole
    transaction), and installing again (every migrate, as the owner role) changes nothing."""
    from django.core.management import call_command

    from events.triggers import TRIGGERS

    call_command("migrate", verbosity=0)
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT tgname, tgrelid::regclass::text, tgdeferrable, tginitdeferred FROM pg_trigger "
            "WHERE tgname LIKE 'fl_event_%%' AND tgname <> 'fl_event_immutable'"
        )
        found = {(name, table): (deferrable, deferred) for name, table, deferrable, deferred in cursor}
    assert found == {(name, table): (True, True) for name, table, *_ in TRIGGERS}


@pytest.mark.django_db
def test_the_outbox_triggers_look_rows_up_by_index_whatever_the_statistics():
    """The functions that look rows up (a separation's members, a case's adults, a person's previous
    custody, a person's creation) run without sequential scans: PL/pgSQL keeps the plan of a
    session's first calls, and one made while the tables were small scanned them whole, 0.3-0.7 ms
    per event by the end of a 10,000-row import (docs/benchmarks.md)."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT proname, proconfig FROM pg_proc WHERE proname = ANY(%s)",
            [
                [
                    "familylink_event_custody",
                    "familylink_event_separation",
                    "familylink_event_case",
                    "familylink_event_identifier",
                ]
            ],
        )
        config = dict(cursor.fetchall())
    assert len(config) == 4
    assert all(settings_ == ["enable_seqscan=off"] for settings_ in config.values()), config


def test_a_merge_and_its_undo_are_person_merged_and_person_unmerged_events(users):
    """A partner holding the merged record's id learns where its records went (`merged_into`
    [old, new] on the merged person, both persons concerned), and that they came back on an undo."""
    from apprehensions.linkage.services import person_merge, person_unmerge

    (survivor,), _ = family(agent=users["field_agent"], children=[years_ago(8)])
    (duplicate,), _ = family(agent=users["field_agent"], children=[years_ago(8)])
    merge = person_merge(survivor=survivor, merged=duplicate, by=users["hq_analyst"], reason="entered twice")

    merged = recorded(type="person.merged")
    assert len(merged) == 1
    assert (merged[0].resource_type, merged[0].resource_id) == ("person", duplicate.pk)
    assert merged[0].changes == {"merged_into": [None, str(survivor.pk)]}
    assert sorted(merged[0].person_ids) == sorted([survivor.pk, duplicate.pk])

    person_unmerge(merge_id=merge.pk, by=users["hq_analyst"], reason="two children after all")
    undone = recorded(type="person.unmerged")
    assert len(undone) == 1 and undone[0].changes == {"merged_into": [str(survivor.pk), None]}
    assert len(recorded(type="person.merged")) == 1
