"""A merge supersedes the proposed candidates naming the record merged away and carries each question
to the survivor; an unmerge puts both back; nobody decides a superseded candidate."""

import re

import pytest
from django.urls import reverse

from apprehensions.linkage.discovery import candidate_key, discover_links
from apprehensions.linkage.models import LinkCandidate, PersonMerge
from apprehensions.linkage.services import (
    a_number_conflict_file,
    candidate_accept,
    candidate_reject,
    person_merge,
    person_unmerge,
)
from familylink.common.errors import BusinessRuleError

from . import handbuilt

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("_no_inline_pass")]

URL = "/api/v1/link-candidates/"
SUPERSEDED = LinkCandidate.Status.SUPERSEDED
PROPOSED = LinkCandidate.Status.PROPOSED
DECISION_FIELDS = ("status", "decided_at", "decided_by_id", "decision_reason", "result_id")


@pytest.fixture
def _no_inline_pass(settings):
    settings.LINKAGE_INCREMENTAL = "off"


@pytest.fixture
def people(agent):
    """The hand-built set, and the father entered a second time a month later at MCA: his second
    surname dropped, an A-number issued (so this record survives a merge by default)."""
    people = handbuilt.build(agent)
    people |= handbuilt._encounter(
        agent,
        "2018-07-01T10:00:00-06:00",
        "MCA",
        [handbuilt._p("father_again", "Juan Carlos", "Gómez", "", "M", "1985-03-10", a_number="A123123123")],
    )
    discover_links()
    return people


def _candidate(a, b, kind):
    return LinkCandidate.objects.get(kind=kind, person_a__in=[a, b], person_b__in=[a, b])


def _fathers(people):
    return _candidate(people["father_again"], people["father"], LinkCandidate.Kind.DUPLICATE_PERSON)


def _father_son(people):
    return LinkCandidate.objects.get(
        kind=LinkCandidate.Kind.RELATIONSHIP, person_a=people["father"], person_b=people["son"]
    )


def _decision(candidate):
    candidate.refresh_from_db()
    return {f: getattr(candidate, f) for f in DECISION_FIELDS}


def _file(kind, a, b, **extra):
    """A candidate on file as an earlier pass left it (before the records' names were corrected)."""
    details = extra.pop("details", {})
    return LinkCandidate.objects.create(
        kind=kind,
        person_a=a,
        person_b=b,
        suggested_type=extra.pop("suggested_type", "same_person"),
        score=extra.pop("score", 0.8),
        reasons=extra.pop("reasons", ["found by an earlier pass"]),
        details=details,
        key=candidate_key(kind, a.pk, b.pk, details),
        **extra,
    )


def test_person_merge_supersedes_a_relationship_and_carries_it_to_the_survivor(people, users):
    """Is this man the boy's father? Asked about the record merged away, the question is superseded
    (who, when, why, which merge, in its history) and asked about the survivor, scored by discovery
    (the adult still person_a), saying where it came from."""
    father, survivor, son = people["father"], people["father_again"], people["son"]
    question = _father_son(people)
    hq = users["hq_analyst"]

    merge = candidate_accept(candidate_id=_fathers(people).pk, by=hq, reason="same man").merges.get()

    assert (merge.survivor, merge.merged) == (survivor, father)
    question.refresh_from_db()
    carried = LinkCandidate.objects.get(carried_from=question)
    words = "Juan Carlos Gómez Ruiz was merged into Juan Carlos Gómez"
    assert question.status == SUPERSEDED and question.get_status_display() == "Merged away"
    assert (question.decided_by, question.result_id) == (hq, merge.pk) and question.decided_at
    assert (
        question.decision_reason
        == f"{words}; its question about Juan Carlos Gómez is carried to candidate {carried.pk}"
    )
    last = question.history.first()
    assert last.history_user == hq and last.history_change_reason == f"superseded: {question.decision_reason}"

    assert (carried.kind, carried.person_a, carried.person_b) == ("relationship", survivor, son)
    assert carried.status == PROPOSED and carried.suggested_type == "parent"
    assert carried.reasons[0] == f"carried from candidate {question.pk}: {words}"
    assert "same apprehension 2018-06-01 EPT" in carried.reasons  # discovery's own reasons, re-scored
    assert 0.5 <= carried.score <= 1 and carried.details == question.details
    assert carried.key == candidate_key("relationship", survivor.pk, son.pk)
    assert carried.history.get().history_change_reason == carried.reasons[0]
    assert carried.history.get().history_user == hq
    # The nightly pass files nothing more: the survivor's question is on file.
    assert discover_links().created == 0


def test_person_merge_carries_a_duplicate_question_rescored(people, users):
    """Is this the same woman? Asked about the record merged away (an earlier pass), it is asked about
    the survivor with discovery's score of that pair; called without a candidate (any caller)."""
    a, b = people["dup1_a"], people["dup1_b"]
    earlier = _file(LinkCandidate.Kind.DUPLICATE_PERSON, people["cousin_a"], b)

    merge = person_merge(survivor=a, merged=b, by=users["hq_analyst"], reason="same woman")

    earlier.refresh_from_db()
    carried = LinkCandidate.objects.get(carried_from=earlier)
    assert (earlier.status, earlier.result_id) == (SUPERSEDED, merge.pk)
    assert (carried.person_a, carried.person_b, carried.kind) == (people["cousin_a"], a, "duplicate_person")
    assert (
        carried.reasons[0]
        == f"carried from candidate {earlier.pk}: Maria Perez was merged into María José Pérez Núñez"
    )
    assert "different dates of birth (2011-03-04 / 1988-04-02)" in carried.reasons  # re-scored, not copied
    assert carried.score < 0.5 and carried.status == PROPOSED
    # The duplicate candidate between the two merged records is only superseded.
    between = _candidate(a, b, LinkCandidate.Kind.DUPLICATE_PERSON)
    assert between.status == SUPERSEDED and not between.carried.exists()
    assert "it was about these two records, now one" in between.decision_reason


def test_person_merge_carries_a_number_conflicts_with_the_holder_first(people, users):
    """An A-number conflict is carried as it stands, the survivor in the merged record's place:
    person_a still the side that holds the number; one between the two merged records is only
    superseded."""
    a, b = people["dup2_a"], people["dup2_b"]  # A098765432 and A098765423 (digits swapped)
    agent = users["field_agent"]
    held_by_b = a_number_conflict_file(
        a_number=b.a_number,
        existing_person=b,
        attempted_by=agent,
        context="intake",
        entered={"given_names": "Rosa"},
    )
    asked_by_b = a_number_conflict_file(
        a_number="A555000111",
        existing_person=people["mother"],
        other_person=b,
        attempted_by=agent,
        context="intake",
    )
    between = a_number_conflict_file(
        a_number=a.a_number, existing_person=a, other_person=b, attempted_by=agent
    )

    merge = candidate_accept(candidate_id=_candidate(a, b, "duplicate_person").pk, by=users["hq_analyst"])

    for conflict, pair in ((held_by_b, (a, None)), (asked_by_b, (people["mother"], a))):
        conflict.refresh_from_db()
        carried = LinkCandidate.objects.get(carried_from=conflict)
        assert conflict.status == SUPERSEDED and conflict.result_id == merge.merges.get().pk
        assert (carried.person_a, carried.person_b) == pair
        assert carried.details == conflict.details and carried.score == conflict.score
        assert carried.reasons[1:] == conflict.reasons
        assert carried.key == candidate_key(
            "a_number_conflict", pair[0].pk, getattr(pair[1], "pk", None), conflict.details
        )
    between.refresh_from_db()
    assert between.status == SUPERSEDED and not between.carried.exists()


@pytest.mark.parametrize("status", ["rejected", "accepted", "proposed"])
def test_person_merge_never_reproposes_a_pair_on_file_about_the_survivor(people, users, status):
    """A rejected (survivor, other) pair is never proposed again, an accepted one not re-proposed, a
    proposed one not doubled: the merged record's question is superseded, pointing at that one."""
    survivor, son, hq = people["father_again"], people["son"], users["hq_analyst"]
    on_file = _file(LinkCandidate.Kind.RELATIONSHIP, survivor, son, suggested_type="parent")
    if status == "rejected":
        candidate_reject(candidate_id=on_file.pk, by=hq, reason="not his son")
    elif status == "accepted":
        candidate_accept(candidate_id=on_file.pk, by=hq, reason="birth certificate")
    before = _decision(on_file)
    question = _father_son(people)

    candidate_accept(candidate_id=_fathers(people).pk, by=hq)

    question.refresh_from_db()
    assert question.status == SUPERSEDED and not question.carried.exists()
    assert f"already asked (candidate {on_file.pk}, {status})" in question.decision_reason
    assert _decision(on_file) == before
    assert LinkCandidate.objects.filter(key=on_file.key).count() == 1


def test_person_merge_does_not_carry_a_question_discovery_never_asks(people, users):
    """The survivor already has a relationship recorded with the boy: discovery never asks about the
    pair, so nothing is carried and the superseded candidate says why."""
    from apprehensions.models import Relationship

    recorded = Relationship(
        from_person=people["father_again"], to_person=people["son"], type="parent", evidence="claimed"
    )
    recorded._history_user = users["supervisor"]
    recorded.save()
    question = _father_son(people)

    candidate_accept(candidate_id=_fathers(people).pk, by=users["hq_analyst"])

    question.refresh_from_db()
    assert question.status == SUPERSEDED and not question.carried.exists()
    assert "not carried to Juan Carlos Gómez: link discovery does not ask it" in question.decision_reason


def _unmerge_scene(people, hq):
    """The fathers merged: the father's question and an A-number conflict superseded and carried; the
    carried conflict rejected since."""
    question = _father_son(people)
    conflict = a_number_conflict_file(
        a_number="A555000111",
        existing_person=people["mother"],
        other_person=people["father"],
        context="intake",
    )
    before = {c.pk: _decision(c) for c in (question, conflict)}
    dup = _fathers(people)
    merge = candidate_accept(candidate_id=dup.pk, by=hq).merges.get()
    carried_conflict = LinkCandidate.objects.get(carried_from=conflict)
    candidate_reject(candidate_id=carried_conflict.pk, by=hq, reason="typo, corrected")
    return dup, merge, question, conflict, before


def test_person_unmerge_restores_candidate_statuses_exactly(people, users):
    """Undoing the merge proposes the superseded candidates again exactly as they were (history kept,
    the unmerge's reason), supersedes the carried ones still proposed, and leaves a carried one an
    analyst decided with its decision, saying which."""
    hq = users["hq_analyst"]
    dup, merge, question, conflict, before = _unmerge_scene(people, hq)
    carried_question = LinkCandidate.objects.get(carried_from=question)
    carried_conflict = LinkCandidate.objects.get(carried_from=conflict)

    unmerged = person_unmerge(merge_id=merge.pk, by=hq, reason="two men")

    assert {c.pk for c in unmerged.proposed_again} == {question.pk, conflict.pk}
    assert [c.pk for c in unmerged.withdrawn] == [carried_question.pk]
    assert [c.pk for c in unmerged.kept] == [carried_conflict.pk]
    assert {c.pk: _decision(c) for c in (question, conflict)} == before
    for candidate in (question, conflict):
        statuses = list(candidate.history.order_by("history_date").values_list("status", flat=True))
        assert statuses == ["proposed", "superseded", "proposed"]
        last = candidate.history.first()
        assert last.history_user == hq and last.history_change_reason == (
            "proposed again: the merge (Juan Carlos Gómez Ruiz was merged into Juan Carlos Gómez) was "
            "undone: two men"
        )
    carried_question.refresh_from_db()
    assert carried_question.status == SUPERSEDED and carried_question.decided_by == hq
    assert carried_question.result_id == merge.pk
    assert carried_question.decision_reason == (
        "the merge it came from was undone (Juan Carlos Gómez Ruiz and Juan Carlos Gómez are two records "
        "again): two men"
    )
    assert _decision(carried_conflict)["status"] == "rejected"
    # Proposed again, the father's question can be decided.
    candidate_reject(candidate_id=question.pk, by=hq, reason="an uncle")


def test_person_unmerge_supersedes_again_a_candidate_naming_a_record_merged_since(people, users):
    """Proposed again, a candidate naming a record merged away since (the boy merged into another
    record while the fathers were one) is superseded by that later merge at once."""
    hq = users["hq_analyst"]
    question = _father_son(people)
    first = candidate_accept(candidate_id=_fathers(people).pk, by=hq).merges.get()
    later = person_merge(survivor=people["lone_child"], merged=people["son"], by=hq)

    person_unmerge(merge_id=first.pk, by=hq, reason="two men")

    question.refresh_from_db()
    assert (question.status, question.result_id) == (SUPERSEDED, later.pk)
    assert LinkCandidate.objects.get(carried_from=question, person_b=people["lone_child"]).status == PROPOSED


def test_merge_through_the_page_supersedes_and_carries(people, users, client):
    """The web form calls the same service as the API (rule 4): its merge supersedes and carries too."""
    question = _father_son(people)
    dup = _fathers(people)
    client.force_login(users["hq_analyst"])

    response = client.post(f"/link-candidates/{dup.pk}/decide/", {"decision": "accept", "reason": "same man"})

    assert response.status_code == 302
    question.refresh_from_db()
    assert question.status == SUPERSEDED and question.result_id == PersonMerge.objects.get(candidate=dup).pk
    assert LinkCandidate.objects.get(carried_from=question).person_a == people["father_again"]


def test_merge_through_the_api_supersedes_and_carries(people, users, api_client_for):
    question = _father_son(people)
    dup = _fathers(people)

    response = api_client_for("hq_analyst").post(
        f"{URL}{dup.pk}/accept/", {"reason": "same man"}, format="json"
    )

    assert response.status_code == 200, response.content
    question.refresh_from_db()
    assert question.status == SUPERSEDED and question.decided_by == users["hq_analyst"]
    assert LinkCandidate.objects.get(carried_from=question).person_a == people["father_again"]


def test_deciding_a_superseded_candidate_is_refused_saying_where_the_question_went(
    people, users, api_client_for, client
):
    """Service, API and page refuse (409) both decisions on a superseded candidate, saying who was
    merged into whom and which candidate asks the question now."""
    hq = users["hq_analyst"]
    question = _father_son(people)
    candidate_accept(candidate_id=_fathers(people).pk, by=hq)
    carried = LinkCandidate.objects.get(carried_from=question)
    before = _decision(question)
    said = (
        "superseded: Juan Carlos Gómez Ruiz was merged into Juan Carlos Gómez, so a link to Juan Carlos "
        f"Gómez Ruiz can no longer be accepted or rejected. The same question about Juan Carlos Gómez is "
        f"candidate {carried.pk} (proposed): decide that one."
    )

    for decide in (candidate_accept, candidate_reject):
        with pytest.raises(BusinessRuleError) as refused:
            decide(candidate_id=question.pk, by=hq, reason="father")
        assert said in str(refused.value)
    api = api_client_for("hq_analyst")
    for action in ("accept", "reject"):
        response = api.post(f"{URL}{question.pk}/{action}/", {"reason": "father"}, format="json")
        assert response.status_code == 409 and said in response.json()["detail"]
    client.force_login(hq)
    for decision in ("accept", "reject"):
        page = client.post(
            f"/link-candidates/{question.pk}/decide/", {"decision": decision, "reason": "father"}
        )
        assert page.status_code == 409
        html = page.content.decode()
        assert 'data-testid="decision-error"' in html and f"candidate {carried.pk} (proposed)" in html
        assert reverse("linkage:candidate", args=[carried.pk]) in html
    assert _decision(question) == before


def test_superseded_candidate_page_says_what_happened_and_leads_on(people, users, client):
    """The page of a superseded candidate links the survivor and the carried candidate, offers no
    decision; after the unmerge, the carried candidate's page leads back to the original."""
    hq = users["hq_analyst"]
    question = _father_son(people)
    dup = _fathers(people)
    candidate_accept(candidate_id=dup.pk, by=hq)
    carried = LinkCandidate.objects.get(carried_from=question)
    client.force_login(users["auditor"])

    html = client.get(f"/link-candidates/{question.pk}/").content.decode()
    story = html.split('data-testid="superseded"', 1)[1].split("</section>", 1)[0]
    assert "Juan Carlos Gómez Ruiz was merged into Juan Carlos Gómez on" in re.sub(r"<[^>]+>", "", story)
    assert reverse("apprehensions:person", args=[people["father_again"].pk]) in story
    assert reverse("linkage:candidate", args=[carried.pk]) in story
    assert 'data-testid="decision-form"' not in html
    html = client.get(f"/link-candidates/{carried.pk}/").content.decode()
    assert reverse("linkage:candidate", args=[question.pk]) in html.split('data-testid="carried-from"', 1)[1]

    client.force_login(hq)
    undone = client.post(f"/link-candidates/{dup.pk}/unmerge/", {"reason": "two men"}, follow=True)
    shown = " ".join(str(m) for m in undone.context["messages"])
    assert "1 candidate naming Juan Carlos Gómez Ruiz is proposed again" in shown
    assert "1 candidate carried to Juan Carlos Gómez is withdrawn" in shown
    html = client.get(f"/link-candidates/{carried.pk}/").content.decode()
    story = html.split('data-testid="superseded"', 1)[1].split("</section>", 1)[0]
    assert "the merge it came from was undone" in story
    assert reverse("linkage:candidate", args=[question.pk]) in story


def test_unmerge_page_says_which_carried_decisions_stand(people, users, client):
    hq = users["hq_analyst"]
    question = _father_son(people)
    dup = _fathers(people)
    candidate_accept(candidate_id=dup.pk, by=hq)
    carried = LinkCandidate.objects.get(carried_from=question)
    candidate_accept(candidate_id=carried.pk, by=hq, reason="father, per the agent")
    client.force_login(hq)

    undone = client.post(f"/link-candidates/{dup.pk}/unmerge/", {"reason": "two men"}, follow=True)

    shown = " ".join(str(m) for m in undone.context["messages"])
    assert (
        "1 candidate carried to Juan Carlos Gómez was already decided and keeps its decision "
        "(Juan Carlos Gómez and Luis Gómez Pérez: accepted)"
    ) in shown
    assert _decision(carried)["status"] == "accepted"


def test_queue_and_api_list_superseded_only_when_asked(people, users, client, api_client_for):
    """The queue page keeps its default (proposed); both filters take `superseded`."""
    question = _father_son(people)
    candidate_accept(candidate_id=_fathers(people).pk, by=users["hq_analyst"])
    client.force_login(users["hq_analyst"])

    default = client.get("/link-candidates/")
    assert question not in default.context["page"].object_list
    asked = client.get("/link-candidates/", {"status": "superseded"})
    assert list(asked.context["page"].object_list) == [question]
    assert '<option value="superseded" selected>Merged away</option>' in asked.content.decode()

    api = api_client_for("auditor")
    rows = api.get(URL, {"status": "superseded"}).json()["results"]
    assert [r["id"] for r in rows] == [str(question.pk)]
    carried = LinkCandidate.objects.get(carried_from=question)
    question.refresh_from_db()
    assert rows[0]["superseded"] == {
        "merge": str(question.result_id),
        "merged": str(people["father"].pk),
        "survivor": str(people["father_again"].pk),
        "carried_to": str(carried.pk),
        "merge_undone": False,
    }
    proposed = api.get(URL, {"status": "proposed"}).json()["results"]
    assert str(question.pk) not in {r["id"] for r in proposed}
    assert {r["carried_from"] for r in proposed if r["id"] == str(carried.pk)} == {str(question.pk)}


def test_unmerge_api_says_what_became_of_the_candidates(people, users, api_client_for):
    """The API's unmerge answer lists the candidates proposed again, the carried ones withdrawn and the
    carried ones whose decision stands (additions clients may ignore)."""
    dup, merge, question, conflict, _ = _unmerge_scene(people, users["hq_analyst"])
    carried = {c.carried_from_id: c.pk for c in LinkCandidate.objects.filter(carried_from__isnull=False)}

    response = api_client_for("hq_analyst").post(
        f"{URL}{dup.pk}/unmerge/", {"reason": "two men"}, format="json"
    )

    assert response.status_code == 200, response.content
    body = response.json()
    assert body["status"] == "unmerged" and body["merge"] == str(merge.pk)
    assert body["candidates_proposed_again"] == sorted([str(question.pk), str(conflict.pk)])
    assert body["carried_candidates_withdrawn"] == [str(carried[question.pk])]
    assert body["carried_candidates_kept"] == [str(carried[conflict.pk])]


def test_nightly_pass_supersedes_candidates_filed_while_the_merge_ran(people, users, agent):
    """A pass that committed while a merge ran (or a candidate from before merges superseded any)
    leaves proposed candidates naming the record merged away: the nightly full pass supersedes them,
    with the merge and why in their history, and carries each question it would ask to the survivor."""
    father, survivor, son = people["father"], people["father_again"], people["son"]
    merge = candidate_accept(candidate_id=_fathers(people).pk, by=users["hq_analyst"], reason="same man")
    merge = merge.merges.get()
    third = handbuilt._encounter(
        agent,
        "2018-08-01T10:00:00-06:00",
        "MCA",
        [handbuilt._p("third", "Juan Carlos", "Gomez", "Ruiz", "M", "1985-03-10")],
    )["third"]
    late_twin = _file(LinkCandidate.Kind.DUPLICATE_PERSON, father, third)
    late_son = _file(LinkCandidate.Kind.DUPLICATE_PERSON, son, father)

    result = discover_links()

    assert result.superseded == 2
    for late in (late_twin, late_son):
        late.refresh_from_db()
        assert (late.status, late.result_id, late.decided_by) == (SUPERSEDED, merge.pk, None)
        assert late.decision_reason.startswith("Juan Carlos Gómez Ruiz was merged into Juan Carlos Gómez;")
        assert late.history.first().history_change_reason == f"superseded: {late.decision_reason}"
    carried = LinkCandidate.objects.get(carried_from=late_twin)
    assert {carried.person_a, carried.person_b} == {survivor, third} and carried.status == PROPOSED
    assert (
        carried.reasons[0]
        == f"carried from candidate {late_twin.pk}: " + late_twin.decision_reason.split(";")[0]
    )
    # Father and son were encountered together: discovery never asks whether they are one human.
    assert "not carried to Juan Carlos Gómez" in late_son.decision_reason
    assert not LinkCandidate.objects.filter(carried_from=late_son).exists()
    assert not LinkCandidate.objects.filter(status=PROPOSED).filter(person_a=father).exists()
    assert not LinkCandidate.objects.filter(status=PROPOSED).filter(person_b=father).exists()
    assert discover_links().superseded == 0
