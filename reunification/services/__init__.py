"""Every write of the reunification layer. Views, API, tasks and commands call these."""

from .cases import (
    case_close,
    case_reassign,
    case_step_update,
    cases_close_for_ended_separation,
    cases_open_for_separation,
    cases_open_for_separations,
    cases_reclock_for_separation,
)
from .policies import deadline_policy_save, ensure_beat_schedule, ensure_deadline_policy, policy_recompute
from .worklists import (
    clocks_flag,
    notifications_mark_read,
    worklist_claim_next,
    worklist_item_claim,
    worklist_item_complete,
    worklist_reference_time,
    worklists_build,
    worklists_build_due,
)

__all__ = [
    "case_close",
    "case_reassign",
    "case_step_update",
    "cases_close_for_ended_separation",
    "cases_open_for_separation",
    "cases_open_for_separations",
    "cases_reclock_for_separation",
    "clocks_flag",
    "deadline_policy_save",
    "ensure_beat_schedule",
    "ensure_deadline_policy",
    "notifications_mark_read",
    "policy_recompute",
    "worklist_claim_next",
    "worklist_item_claim",
    "worklist_item_complete",
    "worklist_reference_time",
    "worklists_build",
    "worklists_build_due",
]
