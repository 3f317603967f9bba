"""The six roles of the API contract and what each may do. Everything not listed is denied."""

from enum import StrEnum


class Role(StrEnum):
    FIELD_AGENT = "field_agent"
    SUPERVISOR = "supervisor"
    HQ_ANALYST = "hq_analyst"
    COORDINATOR = "coordinator"
    AUDITOR = "auditor"
    PARTNER_AGENCY = "partner_agency"


ROLE_LABELS = {
    Role.FIELD_AGENT: "Field agent",
    Role.SUPERVISOR: "Supervisor",
    Role.HQ_ANALYST: "HQ analyst",
    Role.COORDINATOR: "Reunification coordinator",
    Role.AUDITOR: "Auditor",
    Role.PARTNER_AGENCY: "Partner agency",
}

ROLE_CAPABILITIES: dict[Role, list[str]] = {
    Role.FIELD_AGENT: [
        "record_intake",
        "read_persons_station",
        "request_separation",
        "transfer_custody",
    ],
    Role.SUPERVISOR: [
        "record_intake",
        "read_persons_station",
        "request_separation",
        "decide_separation",
        "transfer_custody",
        "report_separated_station",
        "read_cases_station",
        "import_legacy",
    ],
    Role.HQ_ANALYST: [
        "read_persons_all",
        "report_separated_all",
        "read_cases_all",
        "read_history",
        "read_link_candidates",
        "decide_link_candidates",
        "read_events",
        "import_legacy",
    ],
    Role.COORDINATOR: [
        "read_persons_separated",
        "edit_relationship_evidence",
        "transfer_custody",
        "report_separated_all",
        "work_cases",
        "work_worklist",
    ],
    Role.AUDITOR: [
        "read_persons_all",
        "report_separated_all",
        "read_cases_all",
        "read_history",
        "read_access_log",
        "read_link_candidates",
        "read_events",
    ],
    Role.PARTNER_AGENCY: [
        "lookup_persons",
        "transfer_custody",
        "read_case_by_id",
        "read_events",
    ],
}


def user_roles(user) -> set[str]:  # type: ignore[no-untyped-def]
    """The role names of a signed-in user (cached on the user object for the request)."""
    if not getattr(user, "is_authenticated", False):
        return set()
    cached = getattr(user, "_familylink_roles", None)
    if cached is None:
        cached = set(user.groups.values_list("name", flat=True))
        user._familylink_roles = cached
    return cached


def has_capability(user, capability: str) -> bool:  # type: ignore[no-untyped-def]
    """Case work follows the role table only. A superuser configures (Django admin); Django's
    `has_perm` would grant them every capability, so theirs come from the roles they hold."""
    if not getattr(user, "is_authenticated", False):
        return False
    if getattr(user, "is_superuser", False):
        return any(capability in caps for role, caps in ROLE_CAPABILITIES.items() if role in user_roles(user))
    return bool(user.has_perm(f"common.{capability}"))
