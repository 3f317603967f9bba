"""Each team has a time zone: its worklist day is its local day, built at its local morning hour."""

from datetime import UTC, date, datetime, timedelta

import pytest
from django.utils import timezone

from reunification.models import Team, Worklist
from reunification.services import worklists_build_due
from reunification.teams import team_morning, team_today, team_zone

from .factories import approved_separation, years_ago

pytestmark = pytest.mark.django_db


def test_team_zone_comes_from_its_station_and_is_kept_on_the_team(users):
    """A case opened at EPT creates team EPT-REUNIFY in El Paso's zone, with history."""
    approved_separation(users, children=[years_ago(6)])
    team = Team.objects.get(code="EPT-REUNIFY")
    assert team.timezone == "America/Denver"
    assert team.history.count() == 1
    assert str(team_zone("EPT-REUNIFY")) == "America/Denver"


def test_worklist_day_follows_the_teams_zone_across_utc_midnight(users):
    """At 00:30 UTC on 30 Nov it is still 29 Nov, 17:30, in El Paso: the team's day is the 29th
    (the old UTC day switched at 17:00 local). The 30th's list is built at 05:00 El Paso time
    (12:00 UTC), not at midnight UTC; a San Diego team's an hour later in UTC."""
    approved_separation(users, children=[years_ago(6)], occurred_at=timezone.now() - timedelta(days=2))
    Team.objects.create(code="SDC-REUNIFY", name="San Diego", timezone="America/Los_Angeles")
    evening = datetime(2026, 11, 30, 0, 30, tzinfo=UTC)
    assert team_today("EPT-REUNIFY", evening) == date(2026, 11, 29)
    assert team_today("EPT-REUNIFY", datetime(2026, 11, 30, 6, 59, tzinfo=UTC)) == date(2026, 11, 29)
    assert team_today("EPT-REUNIFY", datetime(2026, 11, 30, 7, 0, tzinfo=UTC)) == date(2026, 11, 30)
    assert team_morning("EPT-REUNIFY", date(2026, 11, 30)) == datetime(2026, 11, 30, 12, 0, tzinfo=UTC)

    worklists_build_due(now=datetime(2026, 11, 30, 11, 59, tzinfo=UTC))
    assert not Worklist.objects.filter(date=date(2026, 11, 30)).exists()
    worklists_build_due(now=datetime(2026, 11, 30, 12, 0, tzinfo=UTC))
    assert list(Worklist.objects.filter(date=date(2026, 11, 30)).values_list("team", flat=True)) == [
        "EPT-REUNIFY"
    ]
    assert team_morning("SDC-REUNIFY", date(2026, 11, 30)) == datetime(2026, 11, 30, 13, 0, tzinfo=UTC)


def test_my_queue_today_keeps_the_local_day_after_utc_midnight(client, users, monkeypatch):
    """The coordinator's queue at 18:00 in El Paso (01:00 UTC the next day) is still today's list."""
    approved_separation(users, children=[years_ago(6)], occurred_at=timezone.now() - timedelta(days=2))
    local_evening = datetime(2026, 11, 30, 1, 0, tzinfo=UTC)  # 29 Nov, 18:00 MST
    worklists_build_due(now=datetime(2026, 11, 29, 12, 0, tzinfo=UTC))
    assert Worklist.objects.filter(team="EPT-REUNIFY", date=date(2026, 11, 29)).exists()
    monkeypatch.setattr("django.utils.timezone.now", lambda: local_evening)
    client.force_login(users["coordinator"])
    html = client.get("/reunification/queue/").content.decode()
    assert "Sunday 29 November 2026" in html
    assert "not built yet" not in html


def test_team_day_and_morning_across_the_fall_back_change(users):
    """El Paso falls back on 1 Nov 2026 (02:00 MDT → 01:00 MST): that local day lasts 25 hours,
    its 05:00 list is built at 12:00 UTC. A team whose morning hour (01:00) happens twice that
    day has one morning: the list's "overdue" (computed in SQL) and the time the build is due
    (Python) agree on which 01:00 it is, so a case due between the two is treated alike."""
    from reunification.models import WorklistItem
    from reunification.services import worklist_reference_time, worklists_build

    _, [case] = approved_separation(
        users, children=[years_ago(6)], occurred_at=datetime(2026, 10, 20, 15, 0, tzinfo=UTC)
    )
    assert team_today("EPT-REUNIFY", datetime(2026, 11, 1, 5, 59, tzinfo=UTC)) == date(2026, 10, 31)
    assert team_today("EPT-REUNIFY", datetime(2026, 11, 1, 6, 0, tzinfo=UTC)) == date(2026, 11, 1)
    assert team_today("EPT-REUNIFY", datetime(2026, 11, 2, 6, 59, tzinfo=UTC)) == date(2026, 11, 1)
    assert team_today("EPT-REUNIFY", datetime(2026, 11, 2, 7, 0, tzinfo=UTC)) == date(2026, 11, 2)
    assert team_morning("EPT-REUNIFY", date(2026, 11, 1)) == datetime(2026, 11, 1, 12, 0, tzinfo=UTC)
    assert team_morning("EPT-REUNIFY", date(2026, 10, 31)) == datetime(2026, 10, 31, 11, 0, tzinfo=UTC)

    team = Team.objects.get(code="EPT-REUNIFY")
    team.morning_hour = 1
    team.save()
    day = date(2026, 11, 1)
    morning = worklist_reference_time(day, "EPT-REUNIFY")
    case.due_at = datetime(2026, 11, 1, 7, 30, tzinfo=UTC)  # 01:30 MDT, before the second 01:00
    case.save()

    worklists_build(day=day, team="EPT-REUNIFY")

    item = WorklistItem.objects.get(case=case, worklist__date=day)
    assert item.is_overdue == (case.due_at < morning)


@pytest.mark.parametrize(
    ("day", "hour"),
    [(date(2026, 11, 1), 1), (date(2027, 3, 14), 2), (date(2026, 11, 1), 5), (date(2027, 3, 14), 0)],
)
def test_team_morning_is_the_moment_postgresql_reads_for_the_same_local_hour(users, day, hour):
    """On both change days, at an hour that happens twice, is skipped or is ordinary, the morning
    the Python side waits for is the one the SQL build measures "overdue" against."""
    from django.db import connection

    team = Team.objects.create(
        code="EPT-REUNIFY", name="El Paso", timezone="America/Denver", morning_hour=hour
    )
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT (%s::date + make_interval(hours => %s)) AT TIME ZONE %s", [day, hour, team.timezone]
        )
        (expected,) = cursor.fetchone()
    assert team_morning("EPT-REUNIFY", day) == expected
