"""Celery tasks: they take dates, call a service and return its counts. No logic here."""

from datetime import date

from celery import shared_task

from .services import clocks_flag, worklists_build, worklists_build_due


@shared_task(name="reunification.build_worklists")
def build_worklists(day: str | None = None) -> dict[str, int]:
    """Build every team's worklist for `day` (YYYY-MM-DD); without a day, each team whose local
    morning hour has come gets its list for its local day (run hourly). Idempotent."""
    return worklists_build(day=date.fromisoformat(day)) if day else worklists_build_due()


@shared_task(name="reunification.flag_due_clocks")
def flag_due_clocks() -> dict[str, int]:
    """Notify coordinators and supervisors of clocks due within 48 hours or overdue. Idempotent."""
    return clocks_flag()
