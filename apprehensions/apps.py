from django.apps import AppConfig


class ApprehensionsConfig(AppConfig):
    name = "apprehensions"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from familylink.common.signals import demo_seed_requested

        from . import demo

        demo_seed_requested.connect(demo.seed, dispatch_uid="apprehensions-demo")
