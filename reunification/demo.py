"""Demo data of the reunification layer: the deadline policy and today's worklists.

Runs after the apprehensions and separations demo receivers (INSTALLED_APPS order), so the cases
their approved separations opened are on today's lists. Idempotent.
"""

from typing import Any

from .models import Team
from .services import clocks_flag, worklists_build
from .services.policies import ensure_reference
from .services.worklists import today
from .teams import ensure_team


def seed(sender: Any, scale: int | None = None, stdout: Any = None, **kwargs: Any) -> None:
    ensure_reference()
    from apprehensions.models import Station

    for station in Station.objects.all():
        ensure_team(f"{station.code}-REUNIFY")
    counts = {"worklists_created": 0, "items_created": 0}
    for code in Team.objects.values_list("code", flat=True):
        # Each team's own local today.
        built = worklists_build(day=today(code), team=code)
        counts = {k: counts[k] + built[k] for k in counts}
    # The demo shows the alerts the hourly job would raise: due within 48 hours and overdue.
    alerts = clocks_flag()
    if stdout is not None:
        stdout.write(
            f"Reunification: deadline policy ready; today's worklists: {counts['worklists_created']} new, "
            f"{counts['items_created']} new items; {alerts['notifications_created']} new clock alert(s)."
        )
