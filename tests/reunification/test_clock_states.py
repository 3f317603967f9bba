"""Clock states: met on time, met late (by how long), missed, pending; the same on pages and in the API."""

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from django.db.models import OuterRef, Subquery
from django.utils import timezone

from reunification.clocks import (
    MET_LATE,
    MET_ON_TIME,
    MISSED,
    NOT_RUNNING,
    PENDING,
    clock_state,
    clock_state_expression,
)
from reunification.models import CaseStep, ReunificationCase
from reunification.services import case_step_update

from .factories import approved_separation, years_ago

UTC = ZoneInfo("UTC")
DUE = datetime(2018, 7, 6, 12, 0, tzinfo=UTC)
NOW = datetime(2026, 11, 30, 12, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("met_at", "stopped_at", "now", "state", "late_by", "due_soon"),
    [
        (DUE - timedelta(days=1), None, NOW, MET_ON_TIME, None, False),
        (DUE, None, NOW, MET_ON_TIME, None, False),
        (
            datetime(2026, 1, 2, 12, 0, tzinfo=UTC),
            None,
            NOW,
            MET_LATE,
            datetime(2026, 1, 2, 12, 0, tzinfo=UTC) - DUE,
            False,
        ),
        (None, None, NOW, MISSED, NOW - DUE, False),
        (None, None, DUE - timedelta(days=3), PENDING, None, False),
        (None, None, DUE - timedelta(hours=47), PENDING, None, True),
        # Met after the moment asked about: not yet met then.
        (DUE + timedelta(days=1), None, DUE - timedelta(hours=1), PENDING, None, True),
        # Closed otherwise before the due time: the clock stopped; after it: missed by then.
        (None, DUE - timedelta(days=2), NOW, NOT_RUNNING, None, False),
        (None, DUE + timedelta(days=2), NOW, MISSED, timedelta(days=2), False),
    ],
)
def test_clock_state_names_each_state(met_at, stopped_at, now, state, late_by, due_soon):
    """A clock due 2018-07-06 and done in 2026 is met late, by how long; open past due is missed."""
    result = clock_state(due_at=DUE, met_at=met_at, now=now, stopped_at=stopped_at)
    assert (result.state, result.late_by, result.due_soon) == (state, late_by, due_soon)


def test_clock_state_label_says_how_late():
    result = clock_state(due_at=DUE, met_at=DUE + timedelta(days=3, hours=4), now=NOW)
    assert result.label == "Met late by 3 days 4 hours"
    assert (
        clock_state(due_at=DUE, met_at=None, now=DUE + timedelta(hours=5)).label == "Missed: 5 hours past due"
    )


@pytest.mark.django_db
def test_clock_met_late_shows_late_on_the_case_page_and_in_the_api(client, users):
    """Contact due 10 days after a separation 40 days ago, made today: the page and the API say
    met late (by 30 days), never a green "Met"; the database expression counts it the same."""
    _, (case,) = approved_separation(
        users, children=[years_ago(8)], occurred_at=timezone.now() - timedelta(days=40)
    )
    case_step_update(case_id=case.pk, step="contact_made", done=True, by=users["coordinator"])
    client.force_login(users["coordinator"])
    html = client.get(f"/reunification/cases/{case.pk}/").content.decode()
    assert "Met late by 30 days" in html
    assert "Met on time" not in html
    body = client.get(f"/api/v1/reunification-cases/{case.pk}/").json()
    contact = next(c for c in body["clocks"] if c["clock"] == "contact")
    assert contact["state"] == "met_late"
    assert 30 * 86400 <= contact["late_by_seconds"] < 31 * 86400
    reunify = next(c for c in body["clocks"] if c["clock"] == "reunify")
    assert reunify["state"] == "missed"

    counted = (
        ReunificationCase.objects.filter(pk=case.pk)
        .annotate(
            contact_done=Subquery(
                CaseStep.objects.filter(case=OuterRef("pk"), step="contact_made").values("done_at")[:1]
            )
        )
        .annotate(
            contact_state=clock_state_expression(
                "contact_due_at", "contact_done", "closed_at", timezone.now()
            )
        )
        .values_list("contact_state", flat=True)
    )
    assert list(counted) == ["met_late"]
