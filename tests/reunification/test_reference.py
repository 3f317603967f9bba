"""Reference data and schedule: the policy and the beat tasks are ensured idempotently; the demo
seeding builds today's worklists without duplicates; administrators edit policies in the admin."""

from datetime import date, timedelta
from io import StringIO

import pytest
from django.core.management import call_command
from django.utils import timezone
from django_celery_beat.models import PeriodicTask

from familylink.common.models import User
from reunification.models import DeadlinePolicy, Worklist, WorklistItem
from reunification.services.policies import BUILD_TASK, FLAG_TASK, ensure_reference
from reunification.teams import team_today

from .factories import approved_separation, years_ago

pytestmark = pytest.mark.django_db


def test_ensure_reference_schedules_the_build_and_the_alerts_hourly(settings):
    """The build job runs every hour and builds each team's list when the team's own local morning
    hour comes (WORKLIST_BUILD_HOUR unless the team sets one); the alert check runs hourly too.
    Ensuring twice creates nothing more, and a policy is never duplicated."""
    ensure_reference()
    ensure_reference()
    build = PeriodicTask.objects.get(task=BUILD_TASK)
    assert (build.crontab.hour, build.crontab.minute) == ("*", "0")
    assert PeriodicTask.objects.get(task=FLAG_TASK).crontab.hour == "*"
    assert PeriodicTask.objects.filter(task__startswith="reunification.").count() == 2
    assert DeadlinePolicy.objects.count() == 1


def test_seed_demo_builds_todays_worklists_idempotently(users):
    """seed_demo (our receiver runs after the lower apps') builds today's lists; twice adds nothing."""
    _, (case,) = approved_separation(users, children=[years_ago(5)])
    call_command("seed_demo", "--no-users", stdout=StringIO())
    items_after_first = WorklistItem.objects.count()
    out = StringIO()
    call_command("seed_demo", "--no-users", stdout=out)
    assert "today's worklists: 0 new, 0 new items; 0 new clock alert(s)" in out.getvalue()
    # "Today" is the team's local day (El Paso's, not UTC's).
    local_today = team_today("EPT-REUNIFY")
    assert Worklist.objects.filter(team="EPT-REUNIFY", date=local_today).count() == 1
    assert WorklistItem.objects.filter(case=case, worklist__date=local_today).count() == 1
    assert WorklistItem.objects.count() == items_after_first
    assert DeadlinePolicy.objects.count() == 1


def test_deadline_policy_admin_edit_recomputes_open_cases(client, users):
    """An administrator edits the policy in the Django admin: open cases get the new due times,
    with history naming the admin; the admin offers no deletion."""
    admin = User.objects.create_superuser("root", "root@example.org", "admin-password-123")
    separated_at = timezone.now() - timedelta(days=1)
    _, (case,) = approved_separation(users, children=[years_ago(8)], occurred_at=separated_at)
    policy = DeadlinePolicy.objects.get()
    client.force_login(admin)
    url = f"/admin/reunification/deadlinepolicy/{policy.pk}/change/"
    page = client.get(url)
    assert page.status_code == 200 and b"Delete" not in page.content
    response = client.post(
        url,
        {
            "name": policy.name,
            "order_date": "2018-06-26",
            "contact_days": "10",
            "young_child_age": "5",
            "young_child_days": "14",
            "other_days": "45",
            "is_active": "on",
        },
    )
    assert response.status_code == 302
    case.refresh_from_db()
    assert case.reunify_due_at == separated_at + timedelta(days=45)
    assert case.history.first().history_user == admin
    assert policy.history.first().history_change_reason == "edited in admin"
    bad = client.post(
        url,
        {
            "name": "x",
            "order_date": "2018-06-26",
            "contact_days": "0",
            "young_child_age": "5",
            "young_child_days": "14",
            "other_days": "30",
        },
    )
    assert bad.status_code == 200 and b"Give at least 1 day." in bad.content
    assert DeadlinePolicy.objects.get().contact_days == 10
    assert date(2018, 6, 26) == DeadlinePolicy.objects.get().order_date
