from typing import Any

from django.apps import AppConfig
from django.db.models.signals import post_migrate


def _ensure_after_migrate(sender: Any, using: str = "default", **kwargs: Any) -> None:
    """Keep the beat schedule in step with WORKLIST_BUILD_HOUR at every deploy's migrate."""
    from .services.policies import ensure_beat_schedule

    ensure_beat_schedule()


class ReunificationConfig(AppConfig):
    name = "reunification"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from apprehensions.extensions import register_person_panel
        from apprehensions.visibility import Action, register_action_scope
        from familylink.common import navigation
        from familylink.common.reference import register
        from familylink.common.signals import demo_seed_requested
        from separations.signals import (
            separation_approved,
            separation_child_ended,
            separation_corrected,
            separation_ended,
            separations_imported,
        )

        from . import demo, handlers, panels, selectors
        from .services.policies import ensure_reference

        separation_approved.connect(handlers.on_separation_approved, dispatch_uid="reunification-open-cases")
        separations_imported.connect(
            handlers.on_separations_imported, dispatch_uid="reunification-open-imported"
        )
        separation_corrected.connect(handlers.on_separation_corrected, dispatch_uid="reunification-reclock")
        separation_ended.connect(handlers.on_separation_ended, dispatch_uid="reunification-close-cases")
        separation_child_ended.connect(
            handlers.on_separation_child_ended, dispatch_uid="reunification-close-child-case"
        )
        register(ensure_reference)
        post_migrate.connect(_ensure_after_migrate, sender=self, dispatch_uid="reunification-beat")
        demo_seed_requested.connect(demo.seed, dispatch_uid="reunification-demo")
        register_person_panel(300, panels.person_cases_panel)
        # Coordinators act "for their cases" (contract): persons in their team's reunification cases.
        register_action_scope(
            Action.EDIT_RELATIONSHIP_EVIDENCE,
            ("edit_relationship_evidence", "work_cases"),
            selectors.team_case_persons_q,
            source="reunification",
        )
        register_action_scope(
            Action.TRANSFER_CUSTODY,
            ("transfer_custody", "work_cases"),
            selectors.team_case_persons_q,
            source="reunification",
        )
        from django.db.models.signals import post_save

        from apprehensions.models import Station

        from .models import Team
        from .teams import forget_zones

        post_save.connect(forget_zones, sender=Team, dispatch_uid="reunification-team-zones")
        post_save.connect(forget_zones, sender=Station, dispatch_uid="reunification-station-zones")

        navigation.register("My queue today", "reunification:queue", "work_worklist", order=40)
        navigation.register(
            "Reunification cases",
            "reunification:case_list",
            "work_cases",
            "read_cases_station",
            "read_cases_all",
            order=41,
        )
        navigation.register("Team progress", "reunification:team", "read_cases_station", order=42)
        navigation.register(
            "Notifications", "reunification:notifications", "work_worklist", "read_cases_station", order=43
        )
