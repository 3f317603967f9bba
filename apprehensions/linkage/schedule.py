"""The nightly full discovery pass, registered with django-celery-beat (idempotent)."""

from django.conf import settings

TASK_NAME = "Link discovery (nightly)"
TASK = "linkage.discover_links"


def ensure_beat_schedule() -> None:
    """Run `linkage.discover_links` daily at LINK_DISCOVERY_HOUR; an admin's disabling is kept."""
    from django_celery_beat.models import CrontabSchedule, PeriodicTask

    spec = {
        "minute": "30",
        "hour": str(settings.LINK_DISCOVERY_HOUR),
        "day_of_week": "*",
        "day_of_month": "*",
        "month_of_year": "*",
        "timezone": settings.TIME_ZONE,
    }
    schedule = CrontabSchedule.objects.filter(**spec).first() or CrontabSchedule.objects.create(**spec)
    periodic = PeriodicTask.objects.filter(name=TASK_NAME).first()
    if periodic is None:
        PeriodicTask.objects.create(name=TASK_NAME, task=TASK, crontab=schedule, enabled=True)
    elif periodic.task != TASK or periodic.crontab_id != schedule.pk or periodic.interval_id:
        periodic.task = TASK
        periodic.crontab = schedule
        periodic.interval = None
        periodic.save()
