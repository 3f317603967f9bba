"""Every write of the apprehensions layer. Views and the API call these; nothing else writes."""

from .intake import IntakePlan, IntakeResult, apprehension_record, apprehension_validate
from .persons import person_update, relationship_create, relationship_update

__all__ = [
    "IntakePlan",
    "IntakeResult",
    "apprehension_record",
    "apprehension_validate",
    "person_update",
    "relationship_create",
    "relationship_update",
]
