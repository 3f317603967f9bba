"""The nightly discovery and the incremental pass of a large import through a real Celery worker."""

import time

import pytest
from django.test import override_settings
from django_celery_beat.models import PeriodicTask

from apprehensions.linkage.models import LinkCandidate
from apprehensions.linkage.schedule import TASK, TASK_NAME
from apprehensions.linkage.tasks import discover_links_all
from tests.reunification.test_tasks import celery_worker_process  # noqa: F401 - the fixture

from . import handbuilt

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]


def test_nightly_discovery_on_a_real_worker_files_once(agent, celery_worker_process):  # noqa: F811
    """The beat task is scheduled; the worker files the candidates; a second night files nothing."""
    periodic = PeriodicTask.objects.get(name=TASK_NAME)
    assert periodic.task == TASK and periodic.enabled
    with override_settings(LINKAGE_INCREMENTAL="off"):
        handbuilt.build(agent)

    first = discover_links_all.delay().get(timeout=180)

    assert first["created"] == LinkCandidate.objects.count() == 7
    assert first["relationship"] == 3 and first["duplicate_person"] == 4
    assert discover_links_all.delay().get(timeout=180)["created"] == 0


def test_incremental_pass_on_the_worker_when_configured(agent, celery_worker_process):  # noqa: F811
    """With LINKAGE_INCREMENTAL=celery an intake queues its pass on commit; the worker files it."""
    with override_settings(LINKAGE_INCREMENTAL="off"):
        people = handbuilt.build(agent)
    with override_settings(LINKAGE_INCREMENTAL="celery"):
        again = handbuilt._encounter(
            agent,
            "2019-03-01T10:00:00-06:00",
            "EPT",
            [handbuilt._p("x", "Jose", "Garcia", "Lopez", "M", "1980-01-01")],
        )
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and not LinkCandidate.objects.exists():
        time.sleep(0.5)
    candidate = LinkCandidate.objects.get()
    assert {candidate.person_a_id, candidate.person_b_id} == {again["x"].pk, people["namesake_a"].pk}
