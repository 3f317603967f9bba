"""The nightly full discovery pass, registered with django-celery-beat (idempotent)."""

from django.conf import settings

from familylink.common.schedule import ensure_periodic_task

TASK_NAME = "Link discovery (nightly)"
TASK = "linkage.discover_links"


def ensure_beat_schedule() -> None:
    """Run `linkage.discover_links` daily at LINK_DISCOVERY_HOUR; an admin's disabling is kept."""
    ensure_periodic_task(name=TASK_NAME, task=TASK, minute="30", hour=str(settings.LINK_DISCOVERY_HOUR))
