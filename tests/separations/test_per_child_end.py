"""A separation ended for one child (`separation_end_for_child`) while a sibling stays separated.

Two sisters and their mother are separated on 11 May 2018 14:00 UTC (factories); the first sister
is reunified on 1 June 12:00, the second later. The as-of answers, the person status, the list
filter and the panels must see the first sister as no longer separated from her end onwards, and
"as the system knew it" before the end was recorded must still count her.
"""

from datetime import UTC, datetime

import pytest
from django.template.loader import render_to_string
from django.test import RequestFactory
from django.utils import timezone
from django.utils.html import strip_tags

from apprehensions.extensions import person_api_fields, person_filters, prefetch_person_api_fields
from apprehensions.models import Person
from familylink.common.errors import BusinessRuleError, ValidationFailed
from separations import services
from separations.models import Separation, SeparationMember
from separations.panels import separation_panel, separation_panel_context
from separations.selectors import separated_children
from separations.signals import separation_ended

from .factories import family, in_effect_separation, request_separation

pytestmark = pytest.mark.django_db

OCCURRED = datetime(2018, 5, 11, 14, 0, tzinfo=UTC)
T1 = datetime(2018, 6, 1, 12, 0, tzinfo=UTC)
T2 = datetime(2018, 6, 5, 12, 0, tzinfo=UTC)


@pytest.fixture
def sisters(ept, users):
    """Two sisters and their mother, separated and in effect."""
    fam = family(children=2, surname="Ramírez")
    separation = in_effect_separation(fam, users["field_agent"], users["supervisor"])
    return fam, separation


@pytest.fixture
def ended_signals():
    """Every `separation_ended` sent during the test: (separation id, outcome)."""
    sent = []

    def receiver(sender, separation, outcome, **kwargs):
        sent.append((separation.pk, outcome))

    separation_ended.connect(receiver, dispatch_uid="test-per-child-end")
    yield sent
    separation_ended.disconnect(dispatch_uid="test-per-child-end")


def _member(separation, person) -> SeparationMember:
    return SeparationMember.objects.get(separation=separation, person=person)


def test_separation_end_for_child_counts_only_the_sibling_from_the_end_on(sisters, users, ended_signals):
    """Before T1 both sisters count; from T1 only the one still separated; the separation stays in
    effect, no `separation_ended` is sent, and the member's end is recorded with who and why."""
    fam, separation = sisters
    first, second = fam.children
    coordinator = users["coordinator"]

    member = services.separation_end_for_child(
        separation_id=separation.pk,
        child_id=first.pk,
        by=coordinator,
        outcome="reunified",
        comment="Released together to sponsor",
        ended_at=T1,
    )

    assert member.ended_at == T1 and member.end_outcome == "reunified"
    latest = _member(separation, first).history.first()
    assert latest.ended_at == T1 and latest.end_outcome == "reunified"
    assert latest.history_user == coordinator
    assert latest.history_change_reason == "ended for this child: reunified: Released together to sponsor"
    assert _member(separation, second).ended_at is None
    separation.refresh_from_db()
    assert separation.status == Separation.Status.IN_EFFECT and separation.ended_at is None
    assert ended_signals == []

    before = separated_children(as_of=datetime(2018, 5, 31, tzinfo=UTC))
    assert sorted(before.child_ids(), key=str) == sorted([first.pk, second.pk], key=str)
    assert before.count() == 2
    at_end = separated_children(as_of=T1)
    assert at_end.child_ids() == [second.pk]
    after = separated_children(as_of=datetime(2018, 6, 2, tzinfo=UTC))
    assert after.count() == 1
    assert [row.child.pk for row in after.page(limit=10)] == [second.pk]
    assert [row.child.pk for row in after.iter_rows()] == [second.pk]
    assert after.summary()[0] == 1
    assert [row.adults for row in after.page(limit=10)] == [[fam.adult]]


def test_separation_end_for_child_as_known_before_the_end_was_recorded(sisters, users):
    """As the system knew it before the end was entered, both sisters were still separated at any
    as_of; as known after, only the sibling from T1 on."""
    fam, separation = sisters
    first, second = fam.children
    known_before = timezone.now()
    services.separation_end_for_child(
        separation_id=separation.pk,
        child_id=first.pk,
        by=users["coordinator"],
        outcome="reunified",
        ended_at=T1,
    )
    known_after = timezone.now()
    as_of = datetime(2018, 6, 2, tzinfo=UTC)

    then = separated_children(as_of=as_of, known_at=known_before)
    assert sorted(then.child_ids(), key=str) == sorted([first.pk, second.pk], key=str)
    assert then.count() == 2
    assert {row.child.pk for row in then.page(limit=10)} == {first.pk, second.pk}
    later = separated_children(as_of=as_of, known_at=known_after)
    assert later.child_ids() == [second.pk]
    assert [row.child.pk for row in later.page(limit=10)] == [second.pk]
    assert separated_children(as_of=datetime(2018, 5, 31, tzinfo=UTC), known_at=known_after).count() == 2


def test_separation_end_for_child_last_child_ends_the_separation_once(sisters, users, ended_signals):
    """The second sister's end ends the separation: status ended, at the LATEST child end (T2 even
    though the second end is dated earlier), outcome reunified, `separation_ended` sent once."""
    fam, separation = sisters
    first, second = fam.children
    services.separation_end_for_child(
        separation_id=separation.pk,
        child_id=first.pk,
        by=users["coordinator"],
        outcome="reunified",
        ended_at=T2,
    )
    services.separation_end_for_child(
        separation_id=separation.pk,
        child_id=second.pk,
        by=users["coordinator"],
        outcome="reunified",
        ended_at=T1,
    )

    separation.refresh_from_db()
    assert separation.status == Separation.Status.ENDED
    assert separation.ended_at == T2
    assert separation.end_outcome == "reunified"
    assert separation.ended_by == users["coordinator"]
    assert separation.history.first().status == Separation.Status.ENDED
    assert ended_signals == [(separation.pk, "reunified")]
    assert _member(separation, first).ended_at == T2
    assert _member(separation, second).ended_at == T1
    assert separated_children(as_of=datetime(2018, 6, 2, tzinfo=UTC)).child_ids() == [first.pk]
    assert separated_children(as_of=datetime(2018, 6, 6, tzinfo=UTC)).count() == 0


def test_separation_end_for_child_closed_outcome_when_not_every_child_was_reunified(
    sisters, users, ended_signals
):
    """One sister reunified, the other closed with another outcome: the separation ends `closed`."""
    fam, separation = sisters
    services.separation_end_for_child(
        separation_id=separation.pk, child_id=fam.children[0].pk, by=users["coordinator"], outcome="reunified"
    )
    services.separation_end_for_child(
        separation_id=separation.pk, child_id=fam.children[1].pk, by=users["coordinator"], outcome="closed"
    )
    separation.refresh_from_db()
    assert separation.status == Separation.Status.ENDED and separation.end_outcome == "closed"
    assert ended_signals == [(separation.pk, "closed")]


def test_separation_end_for_child_refuses_what_it_cannot_end(sisters, users):
    """Not a child of it (the mother, a stranger), already ended for the child, a requested
    separation, an end before the separation, 'recorded in error': each refused, nothing written."""
    fam, separation = sisters
    by = users["coordinator"]
    with pytest.raises(ValidationFailed) as err:
        services.separation_end_for_child(
            separation_id=separation.pk, child_id=fam.adult.pk, by=by, outcome="reunified"
        )
    assert list(err.value.errors) == ["child"]
    stranger = family(surname="Otra").child
    with pytest.raises(ValidationFailed):
        services.separation_end_for_child(
            separation_id=separation.pk, child_id=stranger.pk, by=by, outcome="reunified"
        )
    with pytest.raises(ValidationFailed) as err:
        services.separation_end_for_child(
            separation_id=separation.pk,
            child_id=fam.child.pk,
            by=by,
            outcome="reunified",
            ended_at=datetime(2018, 5, 1, tzinfo=UTC),
        )
    assert list(err.value.errors) == ["ended_at"]
    with pytest.raises(ValidationFailed) as err:
        services.separation_end_for_child(
            separation_id=separation.pk, child_id=fam.child.pk, by=by, outcome="recorded_in_error"
        )
    assert list(err.value.errors) == ["outcome"]
    assert not SeparationMember.objects.filter(separation=separation, ended_at__isnull=False).exists()

    services.separation_end_for_child(
        separation_id=separation.pk, child_id=fam.child.pk, by=by, outcome="reunified"
    )
    with pytest.raises(BusinessRuleError, match="already ended for this child"):
        services.separation_end_for_child(
            separation_id=separation.pk, child_id=fam.child.pk, by=by, outcome="closed"
        )
    assert _member(separation, fam.child).history.count() == 2

    other = family(surname="Pendiente")
    requested = request_separation(other, users["field_agent"])
    with pytest.raises(BusinessRuleError, match="in-effect"):
        services.separation_end_for_child(
            separation_id=requested.pk, child_id=other.child.pk, by=by, outcome="reunified"
        )


def test_separation_end_whole_ends_the_children_not_yet_ended(sisters, users, ended_signals):
    """Ending the whole separation sets the end on every child not ended on their own; a child
    already ended keeps her own end. The signal is sent once."""
    fam, separation = sisters
    first, second = fam.children
    services.separation_end_for_child(
        separation_id=separation.pk,
        child_id=first.pk,
        by=users["coordinator"],
        outcome="reunified",
        ended_at=T1,
    )
    services.separation_end(
        separation_id=separation.pk, by=users["supervisor"], outcome="closed", ended_at=T2
    )

    separation.refresh_from_db()
    assert separation.status == Separation.Status.ENDED and separation.ended_at == T2
    assert (_member(separation, first).ended_at, _member(separation, first).end_outcome) == (T1, "reunified")
    assert (_member(separation, second).ended_at, _member(separation, second).end_outcome) == (T2, "closed")
    assert _member(separation, second).history.first().history_user == users["supervisor"]
    assert _member(separation, fam.adult).ended_at is None
    assert ended_signals == [(separation.pk, "closed")]


def test_separation_end_for_child_person_status_filter_and_panels(sisters, users):
    """The reunified sister is `reunified` and not `separated=true`; her sister and their mother
    still are; her panel lists the separation as past, the mother's shows only the sister apart."""
    fam, separation = sisters
    first, second = fam.children
    services.separation_end_for_child(
        separation_id=separation.pk,
        child_id=first.pk,
        by=users["coordinator"],
        outcome="reunified",
        ended_at=T1,
    )
    status = {f.name: f for f in person_api_fields()}["separation_status"].fn
    fresh = lambda p: Person.objects.get(pk=p.pk)  # noqa: E731
    assert status(fresh(first), None) == "reunified"
    assert status(fresh(second), None) == "separated"
    assert status(fresh(fam.adult), None) == "separated"
    listed = {p.pk: p for p in prefetch_person_api_fields(Person.objects.all())}
    assert status(listed[first.pk], None) == "reunified"
    assert status(listed[second.pk], None) == "separated"
    separated = person_filters()["separated"]
    assert set(separated(Person.objects.all(), "true")) == {second, fam.adult}
    assert first in set(separated(Person.objects.all(), "false"))

    request = RequestFactory().get("/persons/x/")
    request.user = users["hq_analyst"]
    child_context = separation_panel_context(request, fresh(first))
    assert child_context["in_effect"] == [] and len(child_context["past"]) == 1
    assert child_context["past"][0]["ended_at"] == T1
    template, context = separation_panel(request, fresh(first))
    text = " ".join(strip_tags(render_to_string(template, context, request=request)).split())
    assert "Ended" in text and "Reunified" in text
    adult_context = separation_panel_context(request, fresh(fam.adult))
    (entry,) = adult_context["in_effect"]
    assert [o["person"] for o in entry["others"]] == [second]
    assert [m.person for m in entry["others_ended"]] == [first]
    template, context = separation_panel(request, fresh(fam.adult))
    text = " ".join(strip_tags(render_to_string(template, context, request=request)).split())
    assert "Separated from 1 child since" in text
    assert f"{first.full_name}: separation ended" in text
