from django.apps import AppConfig


class ApprehensionsConfig(AppConfig):
    name = "apprehensions"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from familylink.common import navigation
        from familylink.common.signals import demo_seed_requested

        from . import demo

        demo_seed_requested.connect(demo.seed, dispatch_uid="apprehensions-demo")
        navigation.register("Record apprehension", "apprehensions:intake", "record_intake", order=10)
        navigation.register(
            "Apprehensions",
            "apprehensions:apprehension_list",
            "read_persons_station",
            "read_persons_all",
            order=20,
        )
        navigation.register(
            "Persons",
            "apprehensions:person_list",
            "read_persons_station",
            "read_persons_all",
            "read_persons_separated",
            order=30,
        )
        navigation.register("Follow-ups", "apprehensions:documents_not_named", "read_persons_all", order=35)
