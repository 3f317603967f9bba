from django.apps import AppConfig


class LinkageConfig(AppConfig):
    """Link discovery, the analysts' review queue and reversible merges (apprehensions floor)."""

    name = "apprehensions.linkage"
    label = "linkage"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from . import receivers

        receivers.connect()
