from django.apps import AppConfig


class SeparationsConfig(AppConfig):
    name = "separations"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from familylink.common.reference import register

        from .reference import ensure_reason_codes

        register(ensure_reason_codes)
