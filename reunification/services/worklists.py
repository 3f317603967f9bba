"""Daily worklists: the set-based morning build, claiming, completing, and the clock alerts."""

import functools
import logging
from collections import defaultdict
from datetime import date, datetime
from typing import Any

from django.conf import settings
from django.core.mail import send_mail
from django.db import connection, transaction
from django.utils import timezone

from audit import chain
from familylink.common.clock import wallclock_text
from familylink.common.errors import BusinessRuleError, PermissionDenied, ValidationFailed
from familylink.common.roles import has_capability

from ..clocks import DUE_SOON
from ..models import CaseStep, Notification, ReunificationCase, Team, Worklist, WorklistItem
from ..selectors import OPEN_STATUSES
from ..sql import execute_prepared, history_insert, history_params
from ..teams import team_morning, team_today, team_zone

logger = logging.getLogger(__name__)

# Build order: overdue first, then nearest due (by day), then younger children (an unknown date
# of birth counts as youngest), then longest separated; creation time and id make it total.
ORDER_BY = (
    "is_overdue DESC, due_day ASC NULLS LAST, date_of_birth DESC NULLS FIRST, "
    "occurred_at ASC, case_created_at ASC, case_id ASC"
)


def worklist_reference_time(day: date, team: str | None = None) -> datetime:
    """The moment a team's list for `day` is "as of": its morning hour on that day, in its zone.

    A clock due before it is overdue on that day's list, whenever the build actually runs, so
    the same day always yields the same list.
    """
    return team_morning(team, day)


def today(team: str | None = None) -> date:
    """Today for `team` (its local date); the deployment's local date without a team."""
    return team_today(team) if team else timezone.localdate()


def worklists_build_due(*, now: datetime | None = None) -> dict[str, int]:
    """The hourly job: build each team's list for its local day once its local morning hour has
    come (an El Paso team at 05:00 in El Paso, whatever the server's clock). Idempotent."""
    now = now or timezone.now()
    totals = {"worklists_created": 0, "items_created": 0}
    teams = set(Team.objects.filter(withdrawn_at__isnull=True).values_list("code", flat=True))
    teams |= set(
        ReunificationCase.objects.filter(status__in=OPEN_STATUSES)
        .exclude(team="")
        .values_list("team", flat=True)
    )
    for code in sorted(teams):
        day = team_today(code, now)
        if now < team_morning(code, day):
            continue
        if Worklist.objects.filter(team=code, date=day).exists():
            continue
        counts = worklists_build(day=day, team=code)
        totals = {k: totals[k] + counts[k] for k in totals}
    return totals


@transaction.atomic
def worklists_build(*, day: date, team: str | None = None, by: Any = None) -> dict[str, int]:
    """Build the day's worklist of every team (or of `team`) from its open cases, in SQL.

    One INSERT … SELECT per table, each writing its history rows in the same statement.
    Idempotent: a case already on the day's list is skipped (ON CONFLICT DO NOTHING); cases
    opened since an earlier build are appended after the items already there.
    """
    now = timezone.now()
    params: dict[str, Any] = {
        "day": day,
        "team": team or None,
        "now": now,
        "by": getattr(by, "pk", None),
        "hour": settings.WORKLIST_BUILD_HOUR,
        "tz": settings.TIME_ZONE,
        "open": list(OPEN_STATUSES),
        **history_params(when=now, reason=f"worklist built for {day.isoformat()}", user=by),
    }
    case_t = ReunificationCase._meta.db_table
    list_t = Worklist._meta.db_table
    item_t = WorklistItem._meta.db_table
    team_t = Team._meta.db_table
    with connection.cursor() as cursor:
        # One build at a time, so positions appended by a second build never interleave.
        cursor.execute("SELECT pg_advisory_xact_lock(hashtext('reunification.worklists_build'))")
        # JIT compiles this plan (its estimate passes jit_optimize_above_cost once a few days' items
        # are on file) in ~0.4 s, longer than the query then saves: this build is no analytic scan.
        cursor.execute("SET LOCAL jit = off")
        chain.batch_links(cursor)  # up to 100,000 history rows: their audit links a statement at a time
        cursor.execute(
            f"""
            WITH teams AS (
                SELECT DISTINCT c.team FROM {case_t} c
                WHERE c.status = ANY(%(open)s) AND c.withdrawn_at IS NULL AND c.team <> ''
                  AND (%(team)s::text IS NULL OR c.team = %(team)s)
            ), ins AS (
                INSERT INTO {list_t} (id, created_at, updated_at, created_by_id, version, withdrawn_at,
                                      withdrawn_by_id, withdrawn_reason, team, date, built_at)
                SELECT gen_random_uuid(), %(now)s, %(now)s, %(by)s, 1, NULL, NULL, '', t.team, %(day)s,
                       %(now)s
                FROM teams t
                ON CONFLICT ON CONSTRAINT worklist_team_date_unique DO NOTHING
                RETURNING *
            )
            {history_insert(Worklist, "ins", history_type="+")}
            RETURNING id
            """,  # noqa: S608 - identifiers come from model metadata; values are parameters
            params,
        )
        created = [str(row[0]) for row in cursor.fetchall()]
        worklists_created = len(created)
        params["created"] = created
        cursor.execute(
            f"""
            WITH lists AS MATERIALIZED (
                -- Materialized: the last position is computed once per list, not once per case.
                SELECT w.id, w.team,
                       -- A list the statement above just created has no items: nothing to look
                       -- up. (Asked of every list, max() was planned as a scan of every item of
                       -- every day: 0.31 s at 1.9 million items, growing with each day.)
                       CASE WHEN w.id = ANY(%(created)s::uuid[]) THEN 0
                            ELSE COALESCE((SELECT max(i.position) FROM {item_t} i
                                           WHERE i.worklist_id = w.id), 0) END AS last_position,
                       -- The team's zone and morning hour: overdue as of its own morning.
                       COALESCE(t.timezone, %(tz)s) AS tz,
                       ((%(day)s::date + make_interval(hours => COALESCE(t.morning_hour, %(hour)s)))
                           AT TIME ZONE COALESCE(t.timezone, %(tz)s)) AS reference
                FROM {list_t} w
                LEFT JOIN {team_t} t ON t.code = w.team
                WHERE w.date = %(day)s AND w.withdrawn_at IS NULL
                  AND (%(team)s::text IS NULL OR w.team = %(team)s)
            ), candidates AS (
                SELECT l.id AS worklist_id, l.last_position, c.id AS case_id, c.next_step, c.due_at,
                       (c.due_at IS NOT NULL AND c.due_at < l.reference) AS is_overdue,
                       (c.due_at AT TIME ZONE l.tz)::date AS due_day,
                       p.date_of_birth, s.occurred_at, c.created_at AS case_created_at
                FROM lists l
                JOIN {case_t} c ON c.team = l.team
                JOIN apprehensions_person p ON p.id = c.child_id
                JOIN separations_separation s ON s.id = c.separation_id
                WHERE c.status = ANY(%(open)s) AND c.withdrawn_at IS NULL
                  -- Not on the day's list yet. On the first build of the day the list is empty
                  -- (last position 0) and nothing is looked up: as an anti-join the planner read
                  -- every item of every earlier day (13-14 s with 1.7 million items on file against
                  -- 4.5-5 s without; docs/benchmarks.md), a cost that grew with each day of history.
                  -- On a later build of the day (cases opened since) the OR keeps it a subplan: one
                  -- probe of the (worklist, case) unique index per case, whatever the statistics say.
                  AND (l.last_position = 0
                       OR NOT EXISTS (SELECT 1 FROM {item_t} e
                                      WHERE e.worklist_id = l.id AND e.case_id = c.id))
            ), ranked AS (
                SELECT candidates.*,
                       last_position + row_number() OVER (PARTITION BY worklist_id ORDER BY {ORDER_BY})
                           AS position
                FROM candidates
            ), ins AS (
                INSERT INTO {item_t} (id, created_at, updated_at, created_by_id, version, withdrawn_at,
                                      withdrawn_by_id, withdrawn_reason, worklist_id, case_id, position,
                                      next_step, due_at, is_overdue, claimed_by_id, claimed_at,
                                      completed_by_id, completed_at)
                SELECT gen_random_uuid(), %(now)s, %(now)s, %(by)s, 1, NULL, NULL, '', worklist_id, case_id,
                       position, next_step, due_at, is_overdue, NULL, NULL, NULL, NULL
                FROM ranked
                ON CONFLICT ON CONSTRAINT worklist_item_case_unique DO NOTHING
                RETURNING *
            )
            {history_insert(WorklistItem, "ins", history_type="+")}
            """,  # noqa: S608 - identifiers come from model metadata; values are parameters
            params,
        )
        items_created = cursor.rowcount
        if items_created:
            # The first claims of the morning must reach the new rows through the partial index
            # at once: with stale statistics the planner takes a 100,000-row list for empty and
            # sorts it on every claim. (Own inserts count in ANALYZE inside this transaction.) The
            # app role does not own the table, and PostgreSQL skips an ANALYZE by a non-owner with
            # a mere warning: a SECURITY DEFINER function runs it as the owner (migration 0009).
            cursor.execute("SELECT reunification_analyze_worklist_items()")
    return {"worklists_created": worklists_created, "items_created": items_created}


def _require_worker(user: Any) -> None:
    if not has_capability(user, "work_worklist") or not user.team:
        raise PermissionDenied("Only a coordinator with a team works a worklist.")


_ITEM_COLUMNS = [f.column for f in WorklistItem._meta.concrete_fields]
_ITEM_ATTNAMES = [f.attname for f in WorklistItem._meta.concrete_fields]


@functools.cache
def _claim_sql(picked: str) -> str:
    """One statement that claims the item chosen by CTE `picked` and writes every consequence:
    the item's claim, the case assigned to the claimer (and in progress), and both history rows.
    One round trip keeps a claim short while coordinators claim concurrently. Built once per
    `picked` (cached): composing the history INSERTs from the models cost a claim ~1 ms of CPU."""
    item_t = WorklistItem._meta.db_table
    case_t = ReunificationCase._meta.db_table
    return f"""
        WITH picked AS ({picked}),
        item_upd AS (
            UPDATE {item_t} i
            SET claimed_by_id = %(user)s, claimed_at = %(now)s, version = i.version + 1, updated_at = %(now)s
            FROM picked WHERE i.id = picked.id
            RETURNING i.*
        ),
        item_hist AS ({history_insert(WorklistItem, "item_upd", history_type="~")}),
        case_upd AS (
            UPDATE {case_t} c
            SET assigned_to_id = %(user)s,
                status = CASE WHEN c.status = 'open' THEN 'in_progress' ELSE c.status END,
                version = c.version + 1, updated_at = %(now)s
            FROM item_upd
            WHERE c.id = item_upd.case_id
              AND (c.assigned_to_id IS DISTINCT FROM %(user)s OR c.status = 'open')
            RETURNING c.*
        ),
        case_hist AS ({history_insert(ReunificationCase, "case_upd", history_type="~")})
        SELECT {", ".join(f'item_upd."{c}"' for c in _ITEM_COLUMNS)} FROM item_upd
    """  # noqa: S608 - identifiers come from model metadata; values are parameters


def _claim(
    picked: str, params: dict[str, Any], user: Any, reason: str, *, prepared: str | None = None
) -> WorklistItem | None:
    now = timezone.now()
    params = {**params, "user": user.pk, "now": now, **history_params(when=now, reason=reason, user=user)}
    with connection.cursor() as cursor:
        if prepared:  # the hot path: planned once per database session
            execute_prepared(cursor, prepared, _claim_sql(picked), params)
        else:
            cursor.execute(_claim_sql(picked), params)
        row = cursor.fetchone()
    if row is None:
        return None
    # The claimed row as the statement returned it: no second query on the hot path.
    return WorklistItem.from_db(connection.alias, _ITEM_ATTNAMES, list(row))


# The top unclaimed item of an open case on the team's list for the day, skipping rows other
# coordinators hold locked at this instant (they are being claimed). The list's id comes from a
# scalar subquery so the planner walks the partial index (worklist, position) and stops at the
# first free row, instead of sorting every open item of every list.
_NEXT_ITEM = f"""
    SELECT i.id
    FROM {WorklistItem._meta.db_table} i
    JOIN {ReunificationCase._meta.db_table} c ON c.id = i.case_id
    WHERE i.worklist_id = (SELECT w.id FROM {Worklist._meta.db_table} w
                           WHERE w.team = %(team)s AND w.date = %(day)s AND w.withdrawn_at IS NULL)
      AND i.claimed_by_id IS NULL AND i.completed_at IS NULL AND i.withdrawn_at IS NULL
      AND c.status = ANY(%(open)s)
    ORDER BY i.position
    LIMIT 1
    FOR UPDATE OF i SKIP LOCKED
"""  # noqa: S608 - identifiers come from model metadata; values are parameters


def worklist_claim_next(*, user: Any, day: date, change_reason: str = "") -> WorklistItem | None:
    """Claim the top unclaimed item of the user's team's list for `day`; None when none is left.

    `SELECT … FOR UPDATE SKIP LOCKED`: concurrent coordinators each get a different item and
    never wait on one another; an item is never handed to two people. The claim is ONE statement
    (claim, case assignment and both history rows), so it is atomic by itself: outside a caller's
    transaction it runs and commits in one round trip (no BEGIN and COMMIT of their own), which
    is most of what a claim costs beyond the statement when eight coordinators claim at once.
    """
    _require_worker(user)
    params = {"team": user.team, "day": day, "open": list(OPEN_STATUSES)}
    reason = _with_reason("claimed (next)", change_reason)
    return _claim(_NEXT_ITEM, params, user, reason, prepared="familylink_claim_next")


def _lock_item(item_id: Any) -> WorklistItem:
    try:
        return (
            WorklistItem.objects.select_for_update(of=("self",))
            .select_related("worklist", "case", "claimed_by")
            .get(pk=item_id, withdrawn_at__isnull=True)
        )
    except (WorklistItem.DoesNotExist, ValueError, TypeError) as exc:
        raise ValidationFailed({"item": [f"No worklist item with id {item_id!r}."]}) from exc


def _with_reason(step: str, change_reason: str) -> str:
    """The history reason of a worklist step: the step, then the caller's reason when given."""
    why = " ".join((change_reason or "").split())
    return f"{step}: {why}" if why else step


def _who(user: Any) -> str:
    return (user.get_full_name() or user.username) if user is not None else "someone"


@transaction.atomic
def worklist_item_claim(*, item_id: Any, user: Any, change_reason: str = "") -> WorklistItem:
    """Claim one item of the user's team's list; an item already claimed is refused (409)."""
    _require_worker(user)
    item = _lock_item(item_id)
    if item.worklist.team != user.team:
        raise PermissionDenied("This item is on another team's worklist.")
    if item.completed_at is not None:
        raise BusinessRuleError("This item is already completed.")
    if item.claimed_by_id is not None:
        who = "you" if item.claimed_by_id == user.pk else _who(item.claimed_by)
        at = wallclock_text(item.claimed_at, team_zone(item.worklist.team))
        raise BusinessRuleError(f"This item was already claimed by {who} at {at}.")
    if not item.case.is_open:
        raise BusinessRuleError(f"The case is {item.case.get_status_display().lower()}; nothing to work.")
    reason = _with_reason("claimed", change_reason)
    claimed = _claim("SELECT %(item)s::uuid AS id", {"item": str(item.pk)}, user, reason)
    if claimed is None:  # cannot happen: the item is locked above and was unclaimed
        raise BusinessRuleError("This item could not be claimed; reload the worklist.")
    return claimed


@transaction.atomic
def worklist_item_complete(*, item_id: Any, user: Any, change_reason: str = "") -> WorklistItem:
    """Mark the user's claimed item done for the day."""
    _require_worker(user)
    item = _lock_item(item_id)
    if item.worklist.team != user.team:
        raise PermissionDenied("This item is on another team's worklist.")
    if item.completed_at is not None:
        raise BusinessRuleError("This item is already completed.")
    if item.claimed_by_id is None:
        raise BusinessRuleError("Claim this item before completing it.")
    if item.claimed_by_id != user.pk:
        raise BusinessRuleError(
            f"This item is claimed by {_who(item.claimed_by)}; only they can complete it."
        )
    item.completed_by = user
    item.completed_at = timezone.now()
    item._change_reason = _with_reason("completed", change_reason)
    item._history_user = user
    item.save(update_fields=["completed_by", "completed_at"])
    return item


@transaction.atomic
def clocks_flag(*, now: datetime | None = None) -> dict[str, int]:
    """Notify about every clock of an open case due within 48 hours or overdue, once per clock.

    Recipients: the case's coordinator (every coordinator of the team while unassigned) and the
    supervisors of the separation's station. In-app Notification rows (with history) in one
    statement, duplicates refused by the unique constraint; then one email per recipient
    listing the new notices, sent once the transaction commits.
    """
    now = now or timezone.now()
    params: dict[str, Any] = {
        "now": now,
        "soon": now + DUE_SOON,
        "open": list(OPEN_STATUSES),
        "tz": settings.TIME_ZONE,
        "contact_step": CaseStep.Step.CONTACT_MADE.value,
        **history_params(when=now, reason="clock alert", user=None),
    }
    case_t = ReunificationCase._meta.db_table
    step_t = CaseStep._meta.db_table
    note_t = Notification._meta.db_table
    with connection.cursor() as cursor:
        # A backlog can mean a million notices (100,000 overdue cases, 9 recipients each): their
        # history rows linked a statement at a time, 97 s in all against 109 s row by row.
        chain.batch_links(cursor)
        cursor.execute(
            f"""
            WITH clocks AS (
                SELECT c.id AS case_id, c.team, c.assigned_to_id, c.separation_id, c.child_id,
                       'contact' AS clock, c.contact_due_at AS due
                FROM {case_t} c
                WHERE c.status = ANY(%(open)s) AND c.withdrawn_at IS NULL
                  AND c.contact_due_at < %(soon)s
                  AND NOT EXISTS (SELECT 1 FROM {step_t} st WHERE st.case_id = c.id
                                  AND st.step = %(contact_step)s AND st.done_at IS NOT NULL)
                UNION ALL
                SELECT c.id, c.team, c.assigned_to_id, c.separation_id, c.child_id,
                       'reunify', c.reunify_due_at
                FROM {case_t} c
                WHERE c.status = ANY(%(open)s) AND c.withdrawn_at IS NULL
                  AND c.reunify_due_at < %(soon)s
            ), flagged AS (
                SELECT k.*, CASE WHEN k.due < %(now)s THEN 'overdue' ELSE 'due_soon' END AS kind,
                       st.code AS station,
                       concat_ws(' ', NULLIF(p.given_names, ''), NULLIF(p.first_surname, ''),
                                 NULLIF(p.second_surname, '')) AS child_name
                FROM clocks k
                JOIN separations_separation s ON s.id = k.separation_id
                JOIN apprehensions_station st ON st.id = s.station_id
                JOIN apprehensions_person p ON p.id = k.child_id
            ), people AS (
                SELECT u.id, u.team, u.station, g.name AS role
                FROM common_user u
                JOIN common_user_groups ug ON ug.user_id = u.id
                JOIN auth_group g ON g.id = ug.group_id
                WHERE u.is_active AND g.name IN ('coordinator', 'supervisor')
            ), recipients AS (
                SELECT DISTINCT f.case_id, f.clock, f.kind, f.due, f.child_name, f.team, u.id AS recipient_id
                FROM flagged f
                JOIN people u ON (
                    (u.role = 'coordinator' AND (u.id = f.assigned_to_id
                                                 OR (f.assigned_to_id IS NULL AND u.team = f.team)))
                    OR (u.role = 'supervisor' AND u.station = f.station)
                )
            )
            SELECT r.case_id, r.clock, r.kind, r.due, r.child_name, r.team, r.recipient_id
            FROM recipients r
            WHERE NOT EXISTS (SELECT 1 FROM {note_t} n WHERE n.recipient_id = r.recipient_id
                              AND n.case_id = r.case_id AND n.kind = r.kind AND n.clock = r.clock)
            """,  # noqa: S608 - identifiers come from model metadata; values are parameters
            params,
        )
        due = cursor.fetchall()
        # The message shows the due time on the team's clock, with its zone's abbreviation.
        zones: dict[str, Any] = {}
        rows = []
        for case_id, clock, kind, due_at, child_name, team, recipient_id in due:
            zone = zones.setdefault(team, team_zone(team))
            what = "contact between child and parent" if clock == "contact" else "reunification"
            head = "Overdue" if kind == "overdue" else "Due within 48 hours"
            rows.append(
                (
                    recipient_id,
                    case_id,
                    kind,
                    clock,
                    f"{head}: {what} for {child_name}, due {wallclock_text(due_at, zone)}.",
                )
            )
        cursor.execute(
            f"""
            WITH ins AS (
                INSERT INTO {note_t} (id, created_at, updated_at, created_by_id, version, withdrawn_at,
                                      withdrawn_by_id, withdrawn_reason, recipient_id, case_id, kind, clock,
                                      message, read_at)
                SELECT gen_random_uuid(), %(now)s, %(now)s, NULL, 1, NULL, NULL, '', r.recipient_id,
                       r.case_id, r.kind, r.clock, r.message, NULL
                FROM unnest(%(recipients)s::bigint[], %(cases)s::uuid[], %(kinds)s::text[],
                            %(clocks)s::text[],
                            %(messages)s::text[]) AS r(recipient_id, case_id, kind, clock, message)
                ON CONFLICT ON CONSTRAINT notification_once_per_clock DO NOTHING
                RETURNING *
            )
            {history_insert(Notification, "ins", history_type="+")}
            RETURNING id, recipient_id, case_id, message
            """,  # noqa: S608 - identifiers come from model metadata; values are parameters
            {
                **params,
                "recipients": [r[0] for r in rows],
                "cases": [str(r[1]) for r in rows],
                "kinds": [r[2] for r in rows],
                "clocks": [r[3] for r in rows],
                "messages": [r[4] for r in rows],
            },
        )
        created = cursor.fetchall()
    by_recipient: dict[int, list[tuple[Any, str]]] = defaultdict(list)
    for _id, recipient_id, case_id, message in created:
        by_recipient[recipient_id].append((case_id, message))
    transaction.on_commit(lambda: _email_notices(dict(by_recipient)))
    return {"notifications_created": len(created), "recipients": len(by_recipient)}


def _email_notices(by_recipient: dict[int, list[tuple[Any, str]]]) -> None:
    """One email per recipient listing their new clock alerts (after commit; failures logged)."""
    from familylink.common.models import User

    users = {u.pk: u for u in User.objects.filter(pk__in=list(by_recipient))}
    for recipient_id, notices in by_recipient.items():
        user = users.get(recipient_id)
        if user is None or not user.email:
            continue
        lines = [message for _, message in notices[:200]]
        if len(notices) > 200:
            lines.append(f"… and {len(notices) - 200} more: see Notifications in FamilyLink.")
        subject = f"FamilyLink: {len(notices)} reunification clock(s) need attention"
        body = "\n".join(["Clocks due within 48 hours or overdue:", "", *lines])
        try:
            send_mail(subject, body, None, [user.email])
        except Exception:  # noqa: BLE001 - the in-app notice stands; a mail outage must not undo it
            logger.exception("Could not email clock alerts to %s", user.username)


@transaction.atomic
def notifications_mark_read(*, user: Any) -> int:
    """Mark the user's unread notifications read, each with its history row (who, when, "read"),
    in one statement; returns how many. Saved one by one, a coordinator of a team with a backlog
    (the first alert run over 100,000 overdue cases gave each of 8 coordinators ~115,000 notices)
    waited minutes, far past the web server's timeout; this takes seconds (docs/benchmarks.md)."""
    now = timezone.now()
    note_t = Notification._meta.db_table
    with connection.cursor() as cursor:
        chain.batch_links(cursor)  # possibly thousands of history rows: linked a statement at a time
        cursor.execute(
            f"""
            WITH upd AS (
                UPDATE {note_t} n
                SET read_at = %(now)s, version = n.version + 1, updated_at = %(now)s
                WHERE n.recipient_id = %(user)s AND n.read_at IS NULL
                RETURNING n.*
            )
            {history_insert(Notification, "upd", history_type="~")}
            """,  # noqa: S608 - identifiers come from model metadata; values are parameters
            {"now": now, "user": user.pk, **history_params(when=now, reason="read", user=user)},
        )
        return cursor.rowcount
