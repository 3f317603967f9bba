"""The per-day series equals a day-by-day loop over the as-of selector, on the hand-built
timeline of tests/separations/test_selectors.py (late entry, correction, end, withdrawal, two
stations, a child in two separations), as the records stand now and as the system knew it then."""

from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from familylink.common.errors import ValidationFailed
from reports.series import day_end, parse_range, separated_series
from separations.models import CustodyPeriod, Separation, SeparationMember
from separations.selectors import separated_children
from tests.separations.factories import family
from tests.separations.test_selectors import _save, approve, build, t, timeline  # noqa: F401 - the shared fixture

pytestmark = pytest.mark.django_db

FIRST, LAST = date(2018, 5, 30), date(2018, 6, 20)


@pytest.fixture
def history(timeline, users):  # noqa: F811 - the imported fixture
    """The timeline, plus child K reunified on its own on the 9th (recorded the 10th)."""
    member = SeparationMember.objects.get(separation=timeline["separations"]["K"], person=timeline["K"])
    _save(
        member, t(10, 8), "child reunified", users["supervisor"], ended_at=t(9, 12), end_outcome="reunified"
    )
    return timeline


def _days():
    return [FIRST + timedelta(days=i) for i in range((LAST - FIRST).days + 1)]


@pytest.mark.parametrize("known_at", [None, t(3, 8, 30), t(8, 9), t(9, 12), t(10, 9), t(12, 8), t(15, 13)])
@pytest.mark.parametrize("tz", ["UTC", "America/Denver"])
def test_separated_series_equals_the_as_of_selector_day_by_day(history, known_at, tz):
    """Each day's count, and its counts by station and by reason category, are what
    `separated_children(as_of=<end of that local day>, known_at=)` answers; the count alone
    (no splits asked) is the same."""
    series = separated_series(date_from=FIRST, date_to=LAST, known_at=known_at, tz=tz)
    bare = separated_series(date_from=FIRST, date_to=LAST, known_at=known_at, tz=tz, splits=())
    assert [d.count for d in bare.days] == [d.count for d in series.days]
    assert [d.date for d in series.days] == _days()
    zone = ZoneInfo(tz)
    nonzero = 0
    for day in series.days:
        as_of = day_end(day.date, zone)
        assert day.end == as_of
        expected = separated_children(as_of=as_of, known_at=known_at)
        count, _, by_category = expected.summary()
        assert day.count == count, day.date
        assert day.by_category == by_category, day.date
        by_station = {
            code: n
            for code in ("EPT", "YUM")
            if (n := separated_children(as_of=as_of, known_at=known_at, station=code).count())
        }
        assert day.by_station == by_station, day.date
        nonzero += bool(count)
    assert nonzero > 5  # the history is not empty in this window


def test_separated_series_for_one_station_and_counts_a_child_once(history):
    """A station's series counts its separations only; child A, separated from two adults from the
    4th, counts once."""
    series = separated_series(date_from=FIRST, date_to=LAST, station="YUM", tz="UTC")
    counts = {d.date: d.count for d in series.days}
    assert counts[date(2018, 6, 1)] == 0
    assert counts[date(2018, 6, 2)] == 1  # K, from the 2nd 09:00
    assert counts[date(2018, 6, 9)] == 0  # K reunified on the 9th at 12:00
    ept = {
        d.date: d.count for d in separated_series(date_from=FIRST, date_to=LAST, station="EPT", tz="UTC").days
    }
    assert ept[date(2018, 6, 5)] == 3  # A (two separations, once), D, B (happened the 5th)


def test_separated_series_splits_by_the_agency_holding_the_child_that_day(history, users):
    """The agency split follows the child's custody at each day's end; the total is unchanged; the
    children with no custody recorded count under NONE."""
    for agency, start, end in (("CBP", t(1, 10), t(3, 12)), ("HHS_ORR", t(3, 12), None)):
        CustodyPeriod.objects.create(person_id=history["A"], agency=agency, started_at=start, ended_at=end)
    days = {d.date: d for d in separated_series(date_from=FIRST, date_to=LAST, tz="UTC").days}

    def others(day: date) -> dict[str, int]:
        return {"NONE": days[day].count - 1} if days[day].count > 1 else {}

    assert days[date(2018, 6, 1)].by_agency == {"CBP": 1, **others(date(2018, 6, 1))}
    assert days[date(2018, 6, 2)].by_agency == {"CBP": 1, **others(date(2018, 6, 2))}
    assert days[date(2018, 6, 3)].by_agency == {"HHS_ORR": 1, **others(date(2018, 6, 3))}
    assert days[date(2018, 6, 20)].by_agency == {"HHS_ORR": 1, "NONE": 2}
    assert days[date(2018, 6, 20)].count == separated_children(as_of=t(21)).count() == 3  # A, B, C


def test_separated_series_counts_a_separation_at_midnight_on_the_day_before(history):
    """A day's count is taken at its end, inclusive: a separation occurring exactly at local
    midnight counts for the day that ends then (as `occurred_at <= as_of` does)."""
    days = {d.date: d.count for d in separated_series(date_from=FIRST, date_to=LAST, tz="UTC").days}
    assert days[date(2018, 5, 31)] == 0
    midnight = separated_children(as_of=datetime(2018, 6, 1, 10, tzinfo=UTC)).count()
    assert midnight == 1 and days[date(2018, 6, 1)] >= 1


@pytest.mark.parametrize("last", [date(2018, 6, 8), date(2018, 6, 9), date(2018, 6, 10), date(2018, 6, 11)])
@pytest.mark.parametrize("known_at", [None, t(13)])
def test_separated_series_takes_events_at_the_last_day_end_exactly(history, ept, users, last, known_at):
    """A separation (and a custody period) from exactly the end of 9 June to exactly the end of
    11 June UTC: whichever day the range stops at, its last day counts what the as-of selector
    answers at that day's end (occurred_at inclusive, ended_at exclusive), and events at or past
    the last day's end add nothing (the range's edge is tested on the instants themselves)."""
    agent, supervisor = users["field_agent"], users["supervisor"]
    fx = family(surname="X")
    x = approve(
        build(
            station=ept,
            children=[fx.child],
            adults=[fx.adult],
            occurred=t(10),
            entered=t(10, 1),
            requester=agent,
        ),
        t(10, 2),
        supervisor,
    )
    _save(
        x,
        t(12, 9),
        "ended: reunified",
        supervisor,
        status=Separation.Status.ENDED,
        ended_at=t(12),
        end_outcome="reunified",
    )
    CustodyPeriod.objects.create(person_id=fx.child.pk, agency="HHS_ORR", started_at=t(10), ended_at=t(12))
    days = separated_series(date_from=FIRST, date_to=last, known_at=known_at, tz="UTC").days
    assert [d.date for d in days][-1] == last
    for day in days:
        expected = separated_children(as_of=day.end, known_at=known_at)
        assert day.count == expected.count(), day.date
        ids = set(expected.child_ids())
        assert (fx.child.pk in ids) == (date(2018, 6, 9) <= day.date <= date(2018, 6, 10)), day.date
        assert day.by_agency.get("HHS_ORR", 0) == (fx.child.pk in ids), day.date


@pytest.mark.parametrize(
    ("raw_from", "raw_to", "field", "message"),
    [
        ("2018-13-01", "2018-06-01", "from", "not a date"),
        ("2018-06-10", "2018-06-01", "from", "on or before 2018-06-01"),
        ("2000-01-01", "2018-06-01", "from", "at most"),
        ("", "June 1", "to", "use YYYY-MM-DD"),
    ],
)
def test_parse_range_names_the_field_and_the_fix(raw_from, raw_to, field, message):
    with pytest.raises(ValidationFailed) as caught:
        parse_range(raw_from, raw_to, today=date(2018, 6, 30))
    assert message in caught.value.errors[field][0]


def test_separated_series_refuses_an_unknown_station_or_zone(history):
    with pytest.raises(ValidationFailed, match="station"):
        separated_series(date_from=FIRST, date_to=LAST, station="XXX")
    with pytest.raises(ValidationFailed) as caught:
        separated_series(date_from=FIRST, date_to=LAST, tz="Mars/Olympus")
    assert "tz" in caught.value.errors


def test_a_zone_name_too_long_for_a_file_is_refused_by_name_not_a_500(users, api_client_for):
    """`?tz=` of 300 letters: ZoneInfo raises OSError (file name too long), once a 500; now 400 on
    `tz` with the fix, quoting only the start of what was sent."""
    response = api_client_for("hq_analyst").get(
        "/api/v1/reports/separated-children/series/",
        {"from": "2018-06-01", "to": "2018-06-05", "tz": "A" * 300},
    )
    assert response.status_code == 400, response.content
    message = response.json()["tz"][0]
    assert "use a name like America/Denver" in message and "A" * 41 not in message


def test_agency_split_adds_up_to_the_count_children_without_custody_under_none(history, users):
    """A child with no custody recorded at a day's end was left out of the agency split, so the
    dashboard's agency chart did not add up to the total and disagreed with the as-of report
    (which counts them under NONE). Each day's agency split now adds up to its count."""
    CustodyPeriod.objects.create(person_id=history["A"], agency="HHS_ORR", started_at=t(3, 12))
    series = separated_series(date_from=FIRST, date_to=LAST, tz="UTC")
    for day in series.days:
        assert sum(day.by_agency.values()) == day.count, day.date
    last = series.days[-1]
    as_of_report = separated_children(as_of=last.end).by_custody_agency()
    assert last.by_agency == as_of_report == {"HHS_ORR": 1, "NONE": 2}


@pytest.mark.parametrize("known_at", [None, t(8, 9), t(12, 8)])
def test_each_split_figure_is_the_count_of_the_list_it_links_to(history, users, known_at):
    """The dashboard links each split figure to the as-of list narrowed the same way: that list's
    count is the figure, day by day, for every station, reason category and custody agency
    (NONE included), as now known and as known then."""
    CustodyPeriod.objects.create(person_id=history["A"], agency="CBP", started_at=t(1, 10), ended_at=t(3, 12))
    CustodyPeriod.objects.create(person_id=history["A"], agency="HHS_ORR", started_at=t(3, 12))
    CustodyPeriod.objects.create(person_id=history["B"], agency="ICE", started_at=t(5, 12))
    series = separated_series(date_from=FIRST, date_to=LAST, known_at=known_at, tz="UTC")
    seen = {"category": set(), "agency": set()}
    for day in series.days:
        for category in ("policy", "child_welfare"):
            listed = separated_children(as_of=day.end, known_at=known_at, category=category)
            assert listed.count() == day.by_category.get(category, 0), (day.date, category)
            seen["category"] |= {category} if listed.count() else set()
        for agency in ("CBP", "ICE", "HHS_ORR", "NONE"):
            listed = separated_children(as_of=day.end, known_at=known_at, agency=agency)
            assert listed.count() == day.by_agency.get(agency, 0), (day.date, agency)
            assert len(listed.page(limit=50)) == listed.count()
            seen["agency"] |= {agency} if listed.count() else set()
    assert len(seen["category"]) == 2 and seen["agency"] >= {"CBP", "HHS_ORR", "NONE"}


def test_an_unknown_category_or_agency_is_refused_by_name():
    with pytest.raises(ValidationFailed) as err:
        separated_children(as_of=t(10), category="welfare", agency="FBI")
    assert "policy, child_welfare" in err.value.errors["category"][0]
    assert "'FBI'" in err.value.errors["agency"][0] and "NONE" in err.value.errors["agency"][0]
