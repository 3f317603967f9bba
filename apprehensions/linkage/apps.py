from typing import Any

from django.apps import AppConfig
from django.db.models.signals import post_migrate


def _ensure_after_migrate(sender: Any, **kwargs: Any) -> None:
    from .schedule import ensure_beat_schedule

    ensure_beat_schedule()


class LinkageConfig(AppConfig):
    """Link discovery, the analysts' review queue and reversible merges (apprehensions floor)."""

    name = "apprehensions.linkage"
    label = "linkage"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from apprehensions.extensions import register_person_api_field, register_person_panel
        from familylink.common import navigation
        from familylink.common.signals import demo_seed_requested

        from . import demo, panels, receivers

        receivers.connect()
        demo_seed_requested.connect(demo.seed, dispatch_uid="linkage-demo")
        post_migrate.connect(_ensure_after_migrate, sender=self, dispatch_uid="linkage-beat")
        register_person_panel(5, panels.person_linkage_panel)
        register_person_api_field(
            "merged_into", panels.merged_into_field, prefetch=panels.annotate_merged_into
        )
        navigation.register("Link review", "linkage:queue", "read_link_candidates", order=50)
