from typing import Any

from django.apps import AppConfig
from django.db.models.signals import post_migrate


def _after_migrate(sender: Any, using: str = "default", **kwargs: Any) -> None:
    """Install the outbox triggers and the dispatcher's beat schedule (both idempotent)."""
    from .services import ensure_beat_schedule
    from .triggers import install

    install(using)
    ensure_beat_schedule()


class EventsConfig(AppConfig):
    """The change feed and webhooks: the top floor, reading every app and imported by none."""

    name = "events"
    verbose_name = "Change feed and webhooks"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        post_migrate.connect(_after_migrate, sender=self, dispatch_uid="events-after-migrate")
