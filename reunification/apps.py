from django.apps import AppConfig


class ReunificationConfig(AppConfig):
    name = "reunification"
    default_auto_field = "django.db.models.BigAutoField"
