"""Celery beat's periodic tasks, kept in the database scheduler by each app's reference data."""

from django.conf import settings


def ensure_periodic_task(*, name: str, task: str, minute: str, hour: str) -> None:
    """Create or re-point one crontab periodic task (idempotent). An administrator may disable it in the
    admin; that choice is kept."""
    from django_celery_beat.models import CrontabSchedule, PeriodicTask

    spec = {
        "minute": minute,
        "hour": hour,
        "day_of_week": "*",
        "day_of_month": "*",
        "month_of_year": "*",
        "timezone": settings.TIME_ZONE,
    }
    schedule = CrontabSchedule.objects.filter(**spec).first() or CrontabSchedule.objects.create(**spec)
    periodic = PeriodicTask.objects.filter(name=name).first()
    if periodic is None:
        PeriodicTask.objects.create(name=name, task=task, crontab=schedule, enabled=True)
    elif periodic.task != task or periodic.crontab_id != schedule.pk or periodic.interval_id:
        periodic.task = task
        periodic.crontab = schedule
        periodic.interval = None
        periodic.save()
