"""`separated_children(as_of, known_at)` on a hand-built timeline with controlled history dates.

Each record is written by real saves; `_history_date` sets when the system learnt each version
(simple-history honours it), so "as the system knew it at T" is exact.

Timeline (June 2018, UTC):
- A: child A from adult A, happened 1st 10:00, entered 1st 11:00, approved 1st 12:00, in effect.
- H: the same child A from a second adult (father), happened 4th 08:00, approved 4th 09:00.
- B: LATE ENTRY: happened 5th 09:00, entered only on the 8th 09:00, approved 8th 10:00.
- C: CORRECTED: entered 3rd 08:00 saying it happened 3rd 07:00, approved 3rd 09:00; on the
     12th 08:00 occurred_at corrected to the 10th 07:00.
- D: ENDED: happened 2nd 10:00, approved 2nd 12:00, ended 15th 12:00 (recorded 15th 13:00).
- E: requested on the 4th, never decided. F: rejected on the 4th.
- G: WITHDRAWN: happened 6th 10:00, approved 6th 11:00, withdrawn as entered in error 9th 12:00.
- K: at station YUM: happened 2nd 09:00, approved 2nd 10:00.
"""

import uuid
from datetime import UTC, datetime

import pytest

from familylink.common.errors import ValidationFailed
from separations.models import ReasonCode, Separation, SeparationMember
from separations.selectors import parse_instant, separated_children

from .factories import family, relate, request_separation

pytestmark = pytest.mark.django_db


def t(day: int, hour: int = 0, minute: int = 0) -> datetime:
    return datetime(2018, 6, day, hour, minute, tzinfo=UTC)


def _save(obj, when: datetime, reason: str, user, **fields):
    for name, value in fields.items():
        setattr(obj, name, value)
    obj._history_date = when
    obj._change_reason = reason
    obj._history_user = user
    obj.save()
    return obj


def build(
    *, station, children, adults, occurred, entered, requester, reason="ZERO_TOLERANCE_PROSECUTION", pk=None
):
    separation = _save(
        Separation(
            id=pk or uuid.uuid4(),
            station=station,
            reason_code=ReasonCode.objects.get(code=reason),
            occurred_at=occurred,
            recorded_at=entered,
            requested_by=requester,
            status=Separation.Status.REQUESTED,
        ),
        entered,
        "requested",
        requester,
    )
    for side, persons in (("child", children), ("adult", adults)):
        for person in persons:
            _save(
                SeparationMember(separation=separation, person=person, side=side),
                entered,
                "requested",
                requester,
            )
    return separation


def approve(separation, when, supervisor):
    return _save(
        separation,
        when,
        "approved",
        supervisor,
        status=Separation.Status.IN_EFFECT,
        decided_by=supervisor,
        decided_at=when,
    )


@pytest.fixture
def timeline(ept, yum, users):
    agent, supervisor = users["field_agent"], users["supervisor"]
    fa, fb, fc, fd, fe, ff, fg = (family(surname=s) for s in "ABCDEFG")
    fk = family(surname="K", station="YUM")
    father = family(children=0, surname="A", unit=False).adult
    relate(father, fa.child)

    a = approve(
        build(
            station=ept,
            children=[fa.child],
            adults=[fa.adult],
            occurred=t(1, 10),
            entered=t(1, 11),
            requester=agent,
        ),
        t(1, 12),
        supervisor,
    )
    h = approve(
        build(
            station=ept,
            children=[fa.child],
            adults=[father],
            occurred=t(4, 8),
            entered=t(4, 8, 30),
            requester=agent,
            reason="CRIMINAL_HISTORY",
        ),
        t(4, 9),
        supervisor,
    )
    b = approve(
        build(
            station=ept,
            children=[fb.child],
            adults=[fb.adult],
            occurred=t(5, 9),
            entered=t(8, 9),
            requester=agent,
        ),
        t(8, 10),
        supervisor,
    )
    c = approve(
        build(
            station=ept,
            children=[fc.child],
            adults=[fc.adult],
            occurred=t(3, 7),
            entered=t(3, 8),
            requester=agent,
        ),
        t(3, 9),
        supervisor,
    )
    _save(c, t(12, 8), "corrected: processing log", agent, occurred_at=t(10, 7))
    d = approve(
        build(
            station=ept,
            children=[fd.child],
            adults=[fd.adult],
            occurred=t(2, 10),
            entered=t(2, 11),
            requester=agent,
        ),
        t(2, 12),
        supervisor,
    )
    _save(
        d,
        t(15, 13),
        "ended: reunified",
        supervisor,
        status=Separation.Status.ENDED,
        ended_at=t(15, 12),
        end_outcome="reunified",
    )
    build(
        station=ept,
        children=[fe.child],
        adults=[fe.adult],
        occurred=t(4, 10),
        entered=t(4, 11),
        requester=agent,
    )
    f = build(
        station=ept,
        children=[ff.child],
        adults=[ff.adult],
        occurred=t(4, 10),
        entered=t(4, 11),
        requester=agent,
    )
    _save(f, t(4, 12), "rejected", supervisor, status=Separation.Status.REJECTED, decided_by=supervisor)
    g = approve(
        build(
            station=ept,
            children=[fg.child],
            adults=[fg.adult],
            occurred=t(6, 10),
            entered=t(6, 10),
            requester=agent,
        ),
        t(6, 11),
        supervisor,
    )
    _save(
        g,
        t(9, 12),
        "withdrawn: entered in error",
        supervisor,
        withdrawn_at=t(9, 12),
        withdrawn_by=supervisor,
        withdrawn_reason="entered in error",
    )
    k = approve(
        build(
            station=yum,
            children=[fk.child],
            adults=[fk.adult],
            occurred=t(2, 9),
            entered=t(2, 9),
            requester=agent,
        ),
        t(2, 10),
        supervisor,
    )
    return {
        "A": fa.child.pk, "B": fb.child.pk, "C": fc.child.pk, "D": fd.child.pk, "E": fe.child.pk,
        "F": ff.child.pk, "G": fg.child.pk, "K": fk.child.pk, "separations": {"A": a, "H": h, "B": b, "K": k},
    }  # fmt: skip


def answer(timeline, as_of, known_at=None, station=None) -> set[str]:
    ids = separated_children(as_of=as_of, known_at=known_at, station=station).child_ids()
    names = {v: k for k, v in timeline.items() if k != "separations"}
    return {names[i] for i in ids}


@pytest.mark.parametrize(
    ("as_of", "known_at", "expected"),
    [
        # As the records stand now.
        (t(1, 9, 59), None, set()),
        (t(1, 10), None, {"A"}),  # occurred_at <= as_of is inclusive
        (t(7), None, {"A", "B", "D", "K"}),  # B counts (entered late); C moved to the 10th; G withdrawn
        (t(15, 11), None, {"A", "B", "C", "D", "K"}),
        (t(15, 12), None, {"A", "B", "C", "K"}),  # ended_at is exclusive
        (t(16), None, {"A", "B", "C", "K"}),
        # As the system knew it then.
        (t(7), t(7), {"A", "C", "D", "G", "K"}),  # B not entered yet; C still on the 3rd; G not withdrawn
        (t(7), t(8, 9, 30), {"A", "C", "D", "G", "K"}),  # B entered but only requested
        (t(7), t(9), {"A", "B", "C", "D", "G", "K"}),
        (t(7), t(9, 12), {"A", "B", "C", "D", "K"}),  # withdrawal known at the same instant
        (t(7), t(12, 8), {"A", "B", "D", "K"}),  # correction known: C happened on the 10th
        (t(16), t(15, 12, 30), {"A", "B", "C", "D", "K"}),  # end not yet recorded at 12:30
        (t(16), t(15, 13), {"A", "B", "C", "K"}),
        (t(3, 7, 30), t(3, 8), {"A", "D", "K"}),  # C entered at 08:00 but approved only at 09:00
        (t(3, 7, 30), t(3, 9), {"A", "C", "D", "K"}),
        (t(7), t(1), set()),  # nothing known yet
    ],
)
def test_separated_children_answers_exactly(timeline, as_of, known_at, expected):
    """The exact set of children for each (as_of, known_at) pair of the timeline."""
    assert answer(timeline, as_of, known_at) == expected


def test_separated_children_counts_a_child_once(timeline):
    """Child A is separated from two adults (A and H) but counted once, with both adults listed."""
    result = separated_children(as_of=t(7))
    assert result.count() == 4
    rows = {row.child.pk: row for row in result.page(limit=50)}
    row_a = rows[timeline["A"]]
    assert len(row_a.adults) == 2
    assert {r.code for r in row_a.reasons} == {"ZERO_TOLERANCE_PROSECUTION", "CRIMINAL_HISTORY"}
    assert row_a.since == t(1, 10)
    assert row_a.days_separated == 5
    assert {s.pk for s in row_a.separations} == {
        timeline["separations"]["A"].pk,
        timeline["separations"]["H"].pk,
    }


def test_separated_children_station_scope(timeline):
    """A station's answer has only its own separations."""
    assert answer(timeline, t(7), station="YUM") == {"K"}
    assert answer(timeline, t(7), station="EPT") == {"A", "B", "D"}
    assert answer(timeline, t(7), t(7), station="EPT") == {"A", "C", "D", "G"}
    assert answer(timeline, t(7), station="SDC") == set()


def test_separated_children_pages_longest_separated_first(timeline):
    """Pages follow the separation start; the counts split by agency and reason category."""
    result = separated_children(as_of=t(16))
    first = result.page(limit=2)
    second = result.page(offset=2, limit=2)
    assert [r.child.pk for r in first] == [timeline["A"], timeline["K"]]
    assert [r.child.pk for r in second] == [timeline["B"], timeline["C"]]
    assert [r.child.pk for r in result.iter_rows(chunk=3)] == [r.child.pk for r in first + second]
    assert result.by_custody_agency() == {"NONE": 4}
    assert result.by_reason_category() == {"policy": 4, "child_welfare": 1}


def test_separated_children_from_services_matches_history(fam, users):
    """A separation made through the services is unknown before it was entered, known after."""
    from django.utils import timezone

    from separations import services

    before = timezone.now()
    separation = request_separation(fam, users["field_agent"])
    services.separation_approve(separation_id=separation.pk, approver=users["supervisor"])
    as_of = datetime(2018, 6, 1, tzinfo=UTC)
    assert separated_children(as_of=as_of).child_ids() == [fam.child.pk]
    assert separated_children(as_of=as_of, known_at=timezone.now()).child_ids() == [fam.child.pk]
    assert separated_children(as_of=as_of, known_at=before).child_ids() == []


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("2018-06-20T09:00:00-06:00", datetime(2018, 6, 20, 15, 0, tzinfo=UTC)),
        ("2018-06-20T09:00:00Z", datetime(2018, 6, 20, 9, 0, tzinfo=UTC)),
        ("2018-06-20T09:00:00 00:00", datetime(2018, 6, 20, 9, 0, tzinfo=UTC)),  # '+' sent unescaped
    ],
)
def test_parse_instant_reads_offsets(raw, expected):
    assert parse_instant(raw, "as_of") == expected


@pytest.mark.parametrize("raw", ["2018-06-20T09:00:00", "yesterday", "2018-13-40T00:00:00Z", "2018-06-20"])
def test_parse_instant_names_the_parameter(raw):
    """A naive or malformed time is a ValidationFailed naming the parameter."""
    with pytest.raises(ValidationFailed) as excinfo:
        parse_instant(raw, "known_at")
    assert list(excinfo.value.errors) == ["known_at"]


@pytest.fixture
def crowd(ept, users):
    """Nine children; five tied at the 2nd, whose separation ids run opposite to their own ids
    (so a window cutting through the tie would pick the wrong child); child 0 is also in a late
    second separation (from its father)."""
    from .factories import PersonFactory

    agent, supervisor = users["field_agent"], users["supervisor"]
    times = [t(1), t(2), t(2), t(2), t(2), t(2), t(5), t(6), t(6)]
    fams = []
    for i, occurred in enumerate(times):
        fam = family(surname=f"C{i}", children=0)
        child = PersonFactory(id=uuid.UUID(int=1000 - i), is_minor=True, given_names=f"Child{i}")
        fam.children.append(child)
        fams.append(fam)
        approve(
            build(station=ept, children=[child], adults=[fam.adult], occurred=occurred, entered=occurred,
                  requester=agent, pk=uuid.UUID(int=i + 1)),
            occurred,
            supervisor,
        )  # fmt: skip
    father = family(children=0, surname="C0", unit=False).adult
    late = approve(
        build(
            station=ept,
            children=[fams[0].child],
            adults=[father],
            occurred=t(7),
            entered=t(7),
            requester=agent,
        ),
        t(7),
        supervisor,
    )
    return fams, father, late


@pytest.mark.parametrize("known_at", [None, t(20)])
def test_separated_children_first_pages_match_the_full_order(crowd, monkeypatch, known_at):
    """The first-page shortcut (reading only the earliest separations) gives the exact full order,
    across ties at the window's edge and when the window must widen."""
    from separations import selectors

    answer = separated_children(as_of=t(10), known_at=known_at)
    full = answer.ordered_children()
    assert len(full) == 9
    monkeypatch.setattr(selectors, "FIRST_WINDOW_EXTRA", 0)
    for offset in range(0, 9):
        for limit in (1, 2, 3, 5):
            assert answer.ordered_children(offset=offset, limit=limit) == full[offset : offset + limit]


def test_separated_children_page_row_lists_every_separation_of_the_child(crowd, monkeypatch):
    """A child first in the list has both separations, the late one beyond the first window."""
    from separations import selectors

    fams, father, late = crowd
    monkeypatch.setattr(selectors, "FIRST_WINDOW_EXTRA", 0)
    for known_at in (None, t(20)):
        first = separated_children(as_of=t(10), known_at=known_at).page(limit=1)[0]
        assert first.child.pk == fams[0].child.pk
        assert {a.pk for a in first.adults} == {fams[0].adult.pk, father.pk}
        assert [s.pk for s in first.separations][-1] == late.pk
        assert first.since == t(1)
    # Before the late separation was known, only the first one is listed.
    early = separated_children(as_of=t(10), known_at=t(6, 12)).page(limit=1)[0]
    assert {a.pk for a in early.adults} == {fams[0].adult.pk}


def _person(pk):
    from apprehensions.models import Person

    return Person.objects.get(pk=pk)


def _open_custody(person, agency, when):
    from separations.models import CustodyPeriod

    return _save(CustodyPeriod(person=person, agency=agency, started_at=when), when, "custody", None)


def _row_facts(row):
    return (
        row.child.pk,
        row.since,
        row.days_separated,
        [a.pk for a in row.adults],
        [r.code for r in row.reasons],
        [s.pk for s in row.separations],
        row.child_custody.pk if row.child_custody else None,
        {k: v.pk if v else None for k, v in row.adult_custody.items()},
    )


def _separate_answers(answer):
    """The summary as the separate reads give it: the count query, and the categories and custody of
    every row of the full listing."""
    from collections import Counter

    rows = list(answer.iter_rows())
    by_agency = Counter(row.child_custody.agency if row.child_custody else "NONE" for row in rows)
    by_category = Counter(c for row in rows for c in {r.category for r in row.reasons})
    return answer.count(), dict(by_agency), dict(by_category), rows


@pytest.mark.parametrize(
    ("as_of", "known_at"),
    [
        (t(7), None),
        (t(16), None),
        (t(7), t(7)),
        (t(7), t(9)),
        (t(7), t(12, 8)),
        (t(16), t(15, 12, 30)),
        (t(7), t(1)),
    ],
)
def test_report_gives_the_summary_and_page_of_the_separate_reads_in_one_pass(timeline, as_of, known_at):
    """`report()` (one statement: summary and page together) equals the separate count, listing,
    custody and reason-category reads, as the records stand now and as known then, page by page."""
    _open_custody(_person(timeline["A"]), "HHS_ORR", t(1, 12))
    _open_custody(_person(timeline["B"]), "CBP", t(5, 10))
    answer = separated_children(as_of=as_of, known_at=known_at)
    count, by_agency, by_category, rows = _separate_answers(answer)
    for limit in (1, 2, 50):
        for offset in range(0, max(count, 1), limit):
            report = answer.report(offset=offset, limit=limit)
            assert (report.count, report.by_agency, report.by_category) == (count, by_agency, by_category)
            assert [_row_facts(r) for r in report.rows] == [
                _row_facts(r) for r in rows[offset : offset + limit]
            ]
    assert answer.summary() == (count, by_agency, by_category)
    assert answer.report(offset=count + 10, limit=5).rows == []


def test_report_summary_hand_counted(timeline):
    """The figures themselves, counted by hand from the timeline: at the 7th as recorded now, A
    (two separations, policy and child welfare), B, D and K; as known on the 7th, A, C, D, G, K
    (B not entered yet, G not yet withdrawn), and A's second separation (H, child welfare) known."""
    _open_custody(_person(timeline["A"]), "HHS_ORR", t(1, 12))
    _open_custody(_person(timeline["K"]), "CBP", t(2, 10))
    now = separated_children(as_of=t(7)).report(limit=2)
    assert now.count == 4
    assert now.by_agency == {"NONE": 2, "CBP": 1, "HHS_ORR": 1}
    assert now.by_category == {"policy": 4, "child_welfare": 1}
    assert [r.child.pk for r in now.rows] == [timeline["A"], timeline["K"]]
    assert now.rows[0].child_custody.agency == "HHS_ORR"
    then = separated_children(as_of=t(7), known_at=t(7)).report(offset=4, limit=2)
    assert then.count == 5
    assert then.by_agency == {"NONE": 3, "CBP": 1, "HHS_ORR": 1}
    assert then.by_category == {"policy": 5, "child_welfare": 1}
    assert [r.child.pk for r in then.rows] == [timeline["G"]]
