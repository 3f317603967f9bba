"""The worklist job through a real Celery worker process on Redis, against the test database."""

import os
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest
from django.conf import settings
from django.db import connection
from django.utils import timezone

from familylink.celery import app
from reunification.models import Notification, Worklist, WorklistItem
from reunification.tasks import build_worklists, flag_due_clocks

from .factories import ordering_scenario

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]

ROOT = Path(__file__).resolve().parents[2]


def _database_url() -> str:
    db = connection.settings_dict
    auth = db["USER"] + (f":{db['PASSWORD']}" if db.get("PASSWORD") else "")
    return f"postgres://{auth}@{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}/{db['NAME']}"


@pytest.fixture
def celery_worker_process():
    """A `celery worker` subprocess on this helper's queue, connected to the TEST database."""
    name = f"reunify-test-{uuid.uuid4().hex[:8]}@localhost"
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "familylink.settings.test",
        "DATABASE_URL": _database_url(),
        "TEST_REDIS_URL": settings.CELERY_BROKER_URL,
        "CELERY_QUEUE": settings.CELERY_TASK_DEFAULT_QUEUE,
    }
    log = (
        (ROOT / "var" / "celery-test-worker.log").open("w") if (ROOT / "var").is_dir() else subprocess.DEVNULL
    )
    proc = subprocess.Popen(
        [
            str(Path(sys.executable).with_name("celery")),
            "-A",
            "familylink",
            "worker",
            "--pool=solo",
            "--loglevel=INFO",
            "--without-gossip",
            "--without-mingle",
            "-Q",
            settings.CELERY_TASK_DEFAULT_QUEUE,
            "-n",
            name,
        ],
        cwd=ROOT,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            assert proc.poll() is None, "the Celery worker exited while starting"
            if app.control.ping(destination=[name], timeout=1.0):
                break
        else:
            pytest.fail("The Celery worker did not answer within 60 seconds.")
        yield name
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def snapshot(day):
    return [
        (i.pk, i.case_id, i.position, i.version, i.updated_at, i.is_overdue)
        for i in WorklistItem.objects.filter(worklist__date=day).order_by("worklist__team", "position")
    ]


def test_build_worklists_task_on_a_real_worker_orders_cases_and_is_idempotent(users, celery_worker_process):
    """The worker builds today's lists in the documented order; running the job again for the same
    day changes nothing (same rows, versions and history)."""
    scenario = ordering_scenario(users)
    day = timezone.localdate()

    first = build_worklists.delay(day.isoformat()).get(timeout=120)

    assert first == {"worklists_created": 2, "items_created": 9}
    ept = WorklistItem.objects.filter(worklist__team="EPT-REUNIFY", worklist__date=day).order_by("position")
    assert [i.case_id for i in ept] == scenario["expected"]
    assert {i.case_id for i in ept if i.is_overdue} == scenario["overdue"]
    assert WorklistItem.history.count() == 9
    before = snapshot(day)

    second = build_worklists.delay(day.isoformat()).get(timeout=120)

    assert second == {"worklists_created": 0, "items_created": 0}
    assert snapshot(day) == before
    assert WorklistItem.history.count() == 9
    assert Worklist.history.count() == Worklist.objects.count() == 2

    alerts = flag_due_clocks.delay().get(timeout=120)
    assert alerts["notifications_created"] == Notification.objects.count() > 0
    assert flag_due_clocks.delay().get(timeout=120)["notifications_created"] == 0
    # Each clock's notice reached the team's coordinator and the station's supervisor, once each,
    # with its history row, the due time on El Paso's clock.
    notes = list(Notification.objects.select_related("recipient", "case"))
    keys = [(n.recipient_id, n.case_id, n.kind, n.clock) for n in notes]
    assert len(keys) == len(set(keys))
    assert {"coordinator", "supervisor"} <= {n.recipient.username for n in notes}
    roles: dict[tuple, set[str]] = {}
    for n in notes:
        key = (n.case.team, n.case_id, n.kind, n.clock)
        roles.setdefault(key, set()).update(g.name for g in n.recipient.groups.all())
    # EPT-REUNIFY has a coordinator; the MCA team has none in this scenario (its supervisor is told).
    assert all(got >= {"coordinator", "supervisor"} for k, got in roles.items() if k[0] == "EPT-REUNIFY")
    assert all("supervisor" in got for got in roles.values())
    assert Notification.history.count() == len(notes)
    assert all(n.message.endswith(("MST.", "MDT.")) for n in notes)
