"""Demo data of the reunification layer: the deadline policy and today's worklists.

Runs after the apprehensions and separations demo receivers (INSTALLED_APPS order), so the cases
their approved separations opened are on today's lists. Idempotent.
"""

from typing import Any

from .services import worklists_build
from .services.policies import ensure_reference
from .services.worklists import today


def seed(sender: Any, scale: int | None = None, stdout: Any = None, **kwargs: Any) -> None:
    ensure_reference()
    counts = worklists_build(day=today())
    if stdout is not None:
        stdout.write(
            f"Reunification: deadline policy ready; today's worklists: {counts['worklists_created']} new, "
            f"{counts['items_created']} new items."
        )
