from django.apps import AppConfig


class AuditConfig(AppConfig):
    name = "audit"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from familylink.common import navigation

        navigation.register("Access log", "audit:access_log", "read_access_log", order=90)
