from django.apps import AppConfig


class SeparationsConfig(AppConfig):
    name = "separations"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from apprehensions.visibility import register_read_scope
        from familylink.common import navigation
        from familylink.common.reference import register
        from familylink.common.signals import demo_seed_requested

        from . import demo, policies
        from .panels import register_person_extensions
        from .reference import ensure_reason_codes

        register(ensure_reason_codes)
        from apprehensions.extensions import register_merge_adjuster

        from .services import custody_settle_for_merge

        register_merge_adjuster(custody_settle_for_merge)
        # Coordinators read "persons in any separation" (contract): one visibility policy, scope from here.
        register_read_scope("read_persons_separated", policies.in_any_separation_q, source="separations")
        from apprehensions.signals import apprehension_recorded, apprehensions_recorded

        from .services import custody_open_at_apprehension, custody_open_at_apprehensions

        apprehension_recorded.connect(custody_open_at_apprehension, dispatch_uid="separations-cbp-custody")
        apprehensions_recorded.connect(
            custody_open_at_apprehensions, dispatch_uid="separations-cbp-custody-many"
        )
        register_person_extensions()
        navigation.register(
            "Separations",
            "separations:list",
            "request_separation",
            "decide_separation",
            "report_separated_all",
            order=30,
        )
        navigation.register("Approval queue", "separations:queue", "decide_separation", order=31)
        navigation.register(
            "Separated children",
            "separations:report",
            "report_separated_station",
            "report_separated_all",
            order=32,
        )
        demo_seed_requested.connect(demo.seed, dispatch_uid="separations-demo")
