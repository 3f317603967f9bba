"""The reunification panel of the person page (registered with apprehensions.extensions)."""

from typing import Any

from django.http import HttpRequest

from .clocks import case_clocks, case_priority
from .models import NEXT_STEP_LABELS
from .selectors import person_cases

PANEL_TEMPLATE = "reunification/panels/person_cases.html"


def person_cases_panel(request: HttpRequest, person: Any) -> tuple[str, dict[str, Any]] | None:
    """The reunification cases of a child or parent the viewer may read: status and clocks.

    None (no panel) when the person has no case the viewer may see.
    """
    cases = person_cases(person, request.user)
    if not cases:
        return None
    rows = [
        {
            "case": case,
            "role": "child" if case.child_id == person.pk else "adult",
            "clocks": case_clocks(case),
            "priority": case_priority(case),
            "next_step_label": NEXT_STEP_LABELS.get(case.next_step, ""),
        }
        for case in cases
    ]
    return PANEL_TEMPLATE, {"person": person, "case_rows": rows}
