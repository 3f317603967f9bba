"""Reason codes of the API contract (seeded by migration 0002, re-creatable for tests)."""

from django.utils import timezone

REASON_CODES = [
    (
        "ZERO_TOLERANCE_PROSECUTION",
        "Zero Tolerance prosecution",
        "policy",
        "Adult referred for prosecution under the Zero Tolerance policy (e.g. 8 USC 1325).",
    ),
    ("CRIMINAL_HISTORY", "Criminal history", "child_welfare", "The adult has a criminal history."),
    (
        "PRIOR_REMOVAL",
        "Prior removal / immigration violation",
        "policy",
        "The adult was removed before or has another immigration violation.",
    ),
    (
        "PARENT_IN_CRIMINAL_CUSTODY",
        "Parent in U.S. Marshals or criminal custody",
        "policy",
        "The adult is held by the U.S. Marshals or in criminal custody.",
    ),
    (
        "PARENTAGE_UNVERIFIED",
        "Parentage unverified / fraudulent claim",
        "child_welfare",
        "The claimed relationship could not be verified or was found fraudulent.",
    ),
    ("DANGER_TO_CHILD", "Danger to the child", "child_welfare", "The adult poses a danger to the child."),
    ("PARENT_MEDICAL", "Parent medical (hospitalised)", "child_welfare", "The adult is hospitalised."),
    (
        "COMMUNICABLE_DISEASE",
        "Parent communicable disease",
        "child_welfare",
        "The adult has a communicable disease.",
    ),
    ("GANG_AFFILIATION", "Gang affiliation", "child_welfare", "The adult is affiliated with a gang."),
    ("OTHER", "Other (narrative required)", "policy", "Any other reason; the narrative must explain it."),
]


def ensure_reason_codes() -> None:
    from .models import ReasonCode

    for code, label, category, description in REASON_CODES:
        if not ReasonCode.objects.filter(code=code).exists():
            obj = ReasonCode(
                code=code,
                label=label,
                category=category,
                description=description,
                narrative_required=code == "OTHER",
                created_at=timezone.now(),
            )
            obj._change_reason = "reference data"
            obj.save()
