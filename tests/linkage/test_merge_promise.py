"""The merge promise end to end: one survivor carries every reference, the merged record leads there
and takes no new writes, one person keeps one A-number, and an unmerge restores exactly."""

import threading

import pytest
from django.db import connection, transaction
from django.urls import reverse
from django.utils import timezone

from apprehensions.linkage.models import LinkCandidate, PersonMerge
from apprehensions.linkage.services import (
    candidate_accept,
    candidate_reject,
    person_merge,
    person_references,
    person_unmerge,
)
from apprehensions.models import Person
from familylink.common.errors import BusinessRuleError, DomainError
from reunification.models import ReunificationCase
from separations.models import CustodyPeriod
from separations.selectors import separated_children
from separations.services import custody_transfer
from tests.separations.factories import StationFactory, family, in_effect_separation

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("_no_inline_pass")]


@pytest.fixture
def _no_inline_pass(settings):
    settings.LINKAGE_INCREMENTAL = "off"


def references(*persons: Person) -> dict[tuple[str, str, str], str]:
    """Every row of every table whose person column names one of `persons`, and which one."""
    ids = [p.pk for p in persons]
    found = {}
    for model, field in person_references():
        rows = model._default_manager.filter(**{f"{field.attname}__in": ids}).values_list("pk", field.attname)
        for pk, value in rows:
            found[(model._meta.label, field.name, str(pk))] = str(value)
    return found


def _adult(a_number: str | None = None) -> Person:
    person = family(children=0).adult
    if a_number:
        person.a_number = a_number
        person.save()
    return person


def _duplicate_candidate(a: Person, b: Person) -> LinkCandidate:
    return LinkCandidate.objects.create(
        kind=LinkCandidate.Kind.DUPLICATE_PERSON,
        person_a=a,
        person_b=b,
        suggested_type="same_person",
        score=0.9,
        reasons=["same name and birth date"],
        key=f"dup:{min(str(a.pk), str(b.pk))}:{max(str(a.pk), str(b.pk))}",
    )


def test_two_records_with_different_a_numbers_merge_and_both_stay_visible(users, client, api_client_for):
    """A number mistyped on one record (transposed digits), or two A-files for one person: the records
    merge (the duplicate's purpose), the survivor keeps its A-number, and the other is not hidden:
    it stays on the merged record, which names its survivor, and the survivor's page lists it."""
    StationFactory(code="EPT")
    a, b = _adult("A012345678"), _adult("A012345687")

    person_merge(survivor=a, merged=b, by=users["hq_analyst"], reason="transposed digits")

    a.refresh_from_db()
    b.refresh_from_db()
    assert (a.a_number, b.a_number) == ("A012345678", "A012345687")
    client.force_login(users["hq_analyst"])
    page = client.get(reverse("apprehensions:person", args=[a.pk])).content.decode()
    assert 'data-testid="merged-a-number">A012345687<' in page
    found = api_client_for("hq_analyst").get(f"/api/v1/persons/{b.pk}/").json()
    assert found["a_number"] == "A012345687" and found["merged_into"] == str(a.pk)


def test_person_merge_refuses_a_survivor_without_the_a_number(users, api_client_for):
    """Keeping the record without an A-number would leave the person's A-number on the hidden record:
    a partner's look-up by A-number would find a record with no custody and no case."""
    StationFactory(code="EPT")
    a, b = _adult(), _adult("A012345678")
    candidate = _duplicate_candidate(a, b)

    response = api_client_for("hq_analyst").post(
        f"/api/v1/link-candidates/{candidate.pk}/accept/", {"survivor": str(a.pk)}, format="json"
    )

    assert response.status_code == 409, response.content
    assert "A012345678" in str(response.json()) and "survivor" in str(response.json())
    candidate.refresh_from_db()
    assert candidate.status == LinkCandidate.Status.PROPOSED and not PersonMerge.objects.exists()
    # The default survivor is the A-number holder, so accepting without a choice merges.
    ok = api_client_for("hq_analyst").post(
        f"/api/v1/link-candidates/{candidate.pk}/accept/", {}, format="json"
    )
    assert ok.status_code == 200, ok.content
    assert PersonMerge.objects.get().survivor == b


def test_custody_transfer_refuses_a_record_merged_away(users, api_client_for):
    """A partner holding the merged record's id reports custody: the one human would have two
    current locations. It is refused, naming the record it was merged into."""
    StationFactory(code="EPT")
    a, b = _adult(), _adult()
    person_merge(survivor=a, merged=b, by=users["hq_analyst"])

    response = api_client_for("partner_agency").post(
        "/api/v1/custody-transfers/",
        {"person": str(b.pk), "agency": "ICE", "facility": "Otero"},
        format="json",
    )

    assert response.status_code == 400, response.content
    assert f"merged into person {a.pk}" in response.json()["person"][0]
    assert not CustodyPeriod.objects.filter(person=b, ended_at__isnull=True).exists()
    # The survivor takes it.
    period = custody_transfer(person_id=a.pk, agency="ICE", facility="Otero", by=users["partner_agency"])
    assert period.person_id == a.pk


def test_persons_api_marks_a_record_merged_away(users, api_client_for):
    """Search and the record itself say that a merged record is not a second live person."""
    StationFactory(code="EPT")
    a, b = _adult(), _adult()
    merge = person_merge(survivor=a, merged=b, by=users["hq_analyst"])
    client = api_client_for("hq_analyst")

    listed = {r["id"]: r for r in client.get("/api/v1/persons/", {"q": b.full_name}).json()["results"]}
    assert listed[str(b.pk)]["merged_into"] == str(a.pk)
    assert listed[str(a.pk)]["merged_into"] is None
    assert client.get(f"/api/v1/persons/{b.pk}/").json()["merged_into"] == str(a.pk)

    person_unmerge(merge_id=merge.pk, by=users["hq_analyst"], reason="two people")
    assert client.get(f"/api/v1/persons/{b.pk}/").json()["merged_into"] is None


def test_person_unmerge_in_the_wrong_order_names_the_later_merge(users):
    """A into B, then B into C: undoing A-B first is refused with what to do (undo B-C first); in the
    right order both undo and every reference of all three is exactly as before."""
    StationFactory(code="EPT")
    a, b, c = _adult(), _adult(), _adult()
    for person in (a, b, c):
        custody_transfer(person_id=person.pk, agency="CBP", facility="Ursula", by=users["supervisor"])
    before = references(a, b, c)
    hq = users["hq_analyst"]
    first = person_merge(survivor=b, merged=a, by=hq)
    second = person_merge(survivor=c, merged=b, by=hq)
    assert set(references(a, b, c).values()) == {str(c.pk)}
    assert CustodyPeriod.objects.filter(person=c, ended_at__isnull=True).count() == 1
    with pytest.raises(BusinessRuleError, match="merged into"):
        person_merge(survivor=a, merged=c, by=hq)  # a is merged away

    with pytest.raises(BusinessRuleError, match=f"since merged into {c.pk}; undo that later merge first"):
        person_unmerge(merge_id=first.pk, by=hq, reason="wrong order")

    person_unmerge(merge_id=second.pk, by=hq, reason="b and c are two people")
    person_unmerge(merge_id=first.pk, by=hq, reason="a and b are two people")
    assert references(a, b, c) == before
    assert all(CustodyPeriod.objects.filter(person=p, ended_at__isnull=True).count() == 1 for p in (a, b, c))


def test_separated_children_count_once_after_merge_as_known_then_and_after_unmerge(users):
    """A child entered twice and separated under both records: two before the merge, one after (the
    merged record's rows moved), two again as known before the merge, two after the unmerge.
    Records made after the merge that name the survivor stay with it on unmerge (stated rule)."""
    StationFactory(code="EPT")
    f1, f2 = family(), family()
    in_effect_separation(f1, users["field_agent"], users["supervisor"])
    in_effect_separation(f2, users["field_agent"], users["supervisor"])
    before = references(f1.child, f2.child)
    assert separated_children(as_of=timezone.now()).count() == 2
    known_before = timezone.now()

    merge = person_merge(survivor=f1.child, merged=f2.child, by=users["hq_analyst"])
    assert separated_children(as_of=timezone.now()).child_ids() == [f1.child.pk]
    assert separated_children(as_of=timezone.now(), known_at=known_before).count() == 2
    assert not ReunificationCase.objects.filter(child=f2.child).exists()
    later = custody_transfer(person_id=f1.child.pk, agency="HHS_ORR", facility="Casa", by=users["supervisor"])

    person_unmerge(merge_id=merge.pk, by=users["hq_analyst"], reason="two children")
    later.refresh_from_db()
    assert later.person_id == f1.child.pk
    after = {k: v for k, v in references(f1.child, f2.child).items() if k[2] != str(later.pk)}
    assert after == before
    assert separated_children(as_of=timezone.now()).count() == 2


@pytest.mark.django_db(transaction=True)
def test_candidate_accept_and_reject_racing_decide_once(users):
    """Two analysts press accept and reject on one candidate at once: exactly one decision lands, the
    other is told it was already decided; at most one merge exists."""
    StationFactory(code="EPT")
    a, b = _adult(), _adult()
    candidate = _duplicate_candidate(a, b)
    barrier = threading.Barrier(3)
    outcomes: list[str] = []

    def run(action):
        barrier.wait()
        try:
            action()
            outcomes.append("ok")
        except DomainError as exc:
            outcomes.append(str(exc))
        finally:
            connection.close()

    actions = [
        lambda: candidate_accept(candidate_id=candidate.pk, by=users["hq_analyst"], reason="same"),
        lambda: candidate_accept(candidate_id=candidate.pk, by=users["hq_analyst"], reason="same"),
        lambda: candidate_reject(candidate_id=candidate.pk, by=users["hq_analyst"], reason="twins"),
    ]
    threads = [threading.Thread(target=run, args=(act,)) for act in actions]
    for t in threads:
        t.start()
    for t in threads:
        t.join()

    assert outcomes.count("ok") == 1, outcomes
    assert all("already decided" in o for o in outcomes if o != "ok")
    candidate.refresh_from_db()
    assert PersonMerge.objects.count() == (1 if candidate.status == "accepted" else 0)


@pytest.mark.django_db(transaction=True)
def test_person_merge_refuses_while_a_candidate_naming_the_record_is_being_decided(users):
    """The merge supersedes the record's proposed candidates; one an analyst is deciding at that moment
    (its row locked) refuses the merge at once with a 409 to retry, instead of waiting on a lock the
    other analyst's merge may wait on in turn (two duplicates of one record accepted at once)."""
    StationFactory(code="EPT")
    a, b, c = _adult(), _adult(), _adult()
    deciding = _duplicate_candidate(b, c)
    held, release = threading.Event(), threading.Event()

    def decide_slowly():
        try:
            with transaction.atomic():
                LinkCandidate.objects.select_for_update().get(pk=deciding.pk)
                held.set()
                release.wait(10)
        finally:
            connection.close()

    thread = threading.Thread(target=decide_slowly)
    thread.start()
    try:
        assert held.wait(10)
        with pytest.raises(BusinessRuleError, match="being decided at this moment; try the merge again"):
            person_merge(survivor=a, merged=b, by=users["hq_analyst"])
    finally:
        release.set()
        thread.join()

    assert not PersonMerge.objects.exists()
    person_merge(survivor=a, merged=b, by=users["hq_analyst"])
    deciding.refresh_from_db()
    assert deciding.status == LinkCandidate.Status.SUPERSEDED


@pytest.mark.django_db(transaction=True)
def test_overlapping_merges_at_once_leave_one_chain(users):
    """A into B and B into A at once (the same pair from two screens): one wins, the other is refused;
    every reference ends on one record."""
    StationFactory(code="EPT")
    a, b = _adult(), _adult()
    barrier = threading.Barrier(2)
    outcomes: list[str] = []

    def run(survivor, merged):
        barrier.wait()
        try:
            person_merge(survivor=survivor, merged=merged, by=users["hq_analyst"])
            outcomes.append("ok")
        except DomainError as exc:
            outcomes.append(str(exc))
        finally:
            connection.close()

    threads = [threading.Thread(target=run, args=pair) for pair in ((a, b), (b, a))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()

    assert outcomes.count("ok") == 1, outcomes
    merge = PersonMerge.objects.get()
    assert set(references(a, b).values()) == {str(merge.survivor_id)}
