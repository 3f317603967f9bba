"""Deadline policies: the seeded court order, edits by administrators, and the clocks they drive."""

from typing import Any

from django.conf import settings
from django.db import connection, transaction
from django.utils import timezone

from ..clocks import order_starts_at
from ..models import CaseStep, DeadlinePolicy, ReunificationCase
from ..reference import MS_L_POLICY
from ..sql import history_insert, history_params

BUILD_TASK = "reunification.build_worklists"
FLAG_TASK = "reunification.flag_due_clocks"
BUILD_TASK_NAME = "Reunification: build the day's worklists"
FLAG_TASK_NAME = "Reunification: flag clocks due within 48 hours or overdue"


def applicable_policy() -> DeadlinePolicy | None:
    """The policy new cases follow: the active one with the latest order."""
    return (
        DeadlinePolicy.objects.filter(is_active=True, withdrawn_at__isnull=True)
        .order_by("-order_date", "-created_at")
        .first()
    )


def ensure_deadline_policy() -> None:
    """Seed the Ms. L. v. ICE policy when no policy exists at all (idempotent; edits are kept)."""
    if DeadlinePolicy.objects.exists():
        return
    policy = DeadlinePolicy(**MS_L_POLICY)
    policy._change_reason = "reference data"
    policy.save()


def ensure_beat_schedule() -> None:
    """The morning worklist build at WORKLIST_BUILD_HOUR and the hourly clock check (idempotent).

    An administrator may disable either task in the admin; that choice is kept.
    """
    from familylink.common.schedule import ensure_periodic_task

    # Hourly: each team's list is built when its own local morning hour comes.
    ensure_periodic_task(name=BUILD_TASK_NAME, task=BUILD_TASK, minute="0", hour="*")
    ensure_periodic_task(name=FLAG_TASK_NAME, task=FLAG_TASK, minute="15", hour="*")


def ensure_reference() -> None:
    ensure_deadline_policy()
    ensure_beat_schedule()


@transaction.atomic
def deadline_policy_save(*, policy: DeadlinePolicy, by: Any, change_reason: str = "") -> int:
    """Save a new or edited policy, then recompute the clocks of its open cases (history kept).

    Returns how many cases got new due times.
    """
    adding = policy._state.adding
    if adding and by is not None and getattr(by, "pk", None):
        policy.created_by = by
    policy._change_reason = change_reason or ("policy created" if adding else "policy edited")
    policy._history_user = by
    policy.save()
    return policy_recompute(policy=policy, by=by, reason=f"clocks recomputed: {policy.name}")


_RECOMPUTE_FILTER = """
    c.status IN ('open', 'in_progress') AND c.withdrawn_at IS NULL
    AND (c.policy_id = %(policy)s OR (c.policy_id IS NULL AND %(attach)s))
"""


def policy_recompute(*, policy: DeadlinePolicy, by: Any, reason: str) -> int:
    """Recompute the clocks of every open case under `policy` in one statement, with history rows.

    Open cases that have no policy yet join the policy when it is the applicable one. The same
    arithmetic as clocks.compute_clocks, in SQL, so 100,000 open cases take seconds, not minutes.
    """
    applicable = applicable_policy()
    params = {
        "policy": str(policy.pk),
        "attach": applicable is not None and applicable.pk == policy.pk,
        "order_start": order_starts_at(policy.order_date),
        "tz": settings.TIME_ZONE,
        "contact_days": policy.contact_days,
        "young_age": policy.young_child_age,
        "young_days": policy.young_child_days,
        "other_days": policy.other_days,
        "contact_step": CaseStep.Step.CONTACT_MADE.value,
        **history_params(when=timezone.now(), reason=reason, user=by),
    }
    case_table = ReunificationCase._meta.db_table
    with transaction.atomic(), connection.cursor() as cursor:
        # Lock first: a checklist update waiting on a case commits before the clocks are read.
        cursor.execute(
            f"SELECT count(*) FROM (SELECT c.id FROM {case_table} c WHERE {_RECOMPUTE_FILTER} FOR UPDATE) x",  # noqa: S608
            params,
        )
        cursor.execute(
            f"""
            WITH computed AS (
                SELECT c.id, GREATEST(s.occurred_at, %(order_start)s) AS clock_start,
                       p.date_of_birth AS dob,
                       EXISTS (SELECT 1 FROM {CaseStep._meta.db_table} st
                               WHERE st.case_id = c.id AND st.step = %(contact_step)s
                                 AND st.done_at IS NOT NULL) AS contact_done
                FROM {case_table} c
                JOIN separations_separation s ON s.id = c.separation_id
                JOIN apprehensions_person p ON p.id = c.child_id
                WHERE {_RECOMPUTE_FILTER}
            ), due AS (
                SELECT id, clock_start, contact_done,
                       clock_start + make_interval(days => %(contact_days)s) AS contact_due,
                       clock_start + make_interval(days => CASE
                           WHEN dob IS NULL
                             OR date_part('year', age((clock_start AT TIME ZONE %(tz)s)::date, dob))
                                < %(young_age)s
                           THEN %(young_days)s ELSE %(other_days)s END) AS reunify_due
                FROM computed
            ), upd AS (
                UPDATE {case_table} c
                SET policy_id = %(policy)s, clock_start = d.clock_start,
                    contact_due_at = d.contact_due, reunify_due_at = d.reunify_due,
                    due_at = CASE WHEN d.contact_done THEN d.reunify_due
                                  ELSE LEAST(d.contact_due, d.reunify_due) END,
                    version = c.version + 1, updated_at = %(history_date)s
                FROM due d
                WHERE c.id = d.id
                  AND ROW(c.policy_id, c.clock_start, c.contact_due_at, c.reunify_due_at)
                      IS DISTINCT FROM ROW(%(policy)s::uuid, d.clock_start, d.contact_due, d.reunify_due)
                RETURNING c.*
            )
            {history_insert(ReunificationCase, "upd", history_type="~")}
            """,  # noqa: S608 - identifiers come from model metadata; values are parameters
            params,
        )
        return cursor.rowcount
