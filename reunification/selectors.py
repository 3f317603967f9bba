"""Reads of the reunification layer, scoped per the contract's table of who may see what.

| role | reunification cases |
| supervisor | read, own station (the separation's station) |
| hq_analyst, auditor | read all |
| coordinator | read and work, own team |
| partner_agency | read by id |
"""

from datetime import date
from typing import Any

from django.db.models import Count, Exists, OuterRef, Prefetch, Q, QuerySet

from familylink.common.roles import has_capability

from .models import CaseAdult, CaseStep, Notification, ReunificationCase, Worklist, WorklistItem

OPEN_STATUSES = (ReunificationCase.Status.OPEN, ReunificationCase.Status.IN_PROGRESS)


def team_for_station(station_code: str) -> str:
    """A station's reunification team: its cases are worked by team "<station>-REUNIFY"."""
    return f"{station_code}-REUNIFY" if station_code else ""


def case_queryset() -> QuerySet[ReunificationCase]:
    return (
        ReunificationCase.objects.filter(withdrawn_at__isnull=True)
        .select_related("child", "separation", "separation__station", "assigned_to", "policy")
        .prefetch_related(
            Prefetch("steps", queryset=CaseStep.objects.select_related("done_by")),
            Prefetch("case_adults", queryset=CaseAdult.objects.select_related("person")),
        )
    )


NO_CASES = Q(pk__in=[])


def _scope_q(user: Any, *, by_id: bool) -> Q:
    """The cases `user` may read as a Q: `Q()` all, `NO_CASES` none (one meaning, as for persons)."""
    if not getattr(user, "is_authenticated", False):
        return NO_CASES
    if has_capability(user, "read_cases_all") or (by_id and has_capability(user, "read_case_by_id")):
        return Q()
    q: Q | None = None
    if has_capability(user, "work_cases") and user.team:
        q = Q(team=user.team)
    if has_capability(user, "read_cases_station") and user.station:
        station_q = Q(separation__station__code=user.station)
        q = station_q if q is None else q | station_q
    return NO_CASES if q is None else q


def team_case_persons_q(user: Any) -> Q:
    """Person Q: the child or an adult of a (not withdrawn) case of the user's team; no one without a team.

    Registered in ready() as the coordinator's scope for acting on persons (relationship evidence,
    custody): the contract's "for their cases".
    """
    team = str(getattr(user, "team", "") or "")
    if not team:
        return Q(pk__in=[])
    cases = ReunificationCase.objects.filter(team=team, withdrawn_at__isnull=True)
    return Q(Exists(cases.filter(child=OuterRef("pk")))) | Q(
        Exists(
            CaseAdult.objects.filter(
                person=OuterRef("pk"),
                withdrawn_at__isnull=True,
                case__team=team,
                case__withdrawn_at__isnull=True,
            )
        )
    )


def can_list_cases(user: Any) -> bool:
    return _scope_q(user, by_id=False) != NO_CASES


def cases_visible_to(user: Any, *, by_id: bool = False) -> QuerySet[ReunificationCase]:
    """Cases `user` may read; `by_id=True` also admits partner agencies (who read one case by id)."""
    q = _scope_q(user, by_id=by_id)
    if q == NO_CASES:
        return ReunificationCase.objects.none()
    return case_queryset().filter(q)


def can_read_case(user: Any, case: ReunificationCase) -> bool:
    return cases_visible_to(user, by_id=True).filter(pk=case.pk).exists()


def can_work_case(user: Any, case: ReunificationCase) -> bool:
    """Coordinators work the cases of their own team."""
    return bool(has_capability(user, "work_cases") and user.team and user.team == case.team)


def can_reassign_case(user: Any, case: ReunificationCase) -> bool:
    """Supervisors reassign the cases of their own station's team."""
    return bool(
        has_capability(user, "read_cases_station")
        and user.station
        and user.station == case.separation.station.code
    )


def supervised_team(user: Any) -> str:
    if has_capability(user, "read_cases_station") and user.station:
        return team_for_station(user.station)
    return ""


def person_cases(person: Any, user: Any) -> list[ReunificationCase]:
    """The cases `user` may read in which `person` is the child or one of the adults."""
    q = _scope_q(user, by_id=False)
    if q == NO_CASES:
        return []
    return list(
        case_queryset()
        .filter(q)
        .filter(Q(child=person) | Q(case_adults__person=person, case_adults__withdrawn_at__isnull=True))
        .distinct()
        .order_by("-created_at")
    )


def worklist_for(team: str, day: date) -> Worklist | None:
    if not team:
        return None
    return Worklist.objects.filter(team=team, date=day, withdrawn_at__isnull=True).first()


def worklist_items(worklist: Worklist) -> QuerySet[WorklistItem]:
    return (
        WorklistItem.objects.filter(worklist=worklist, withdrawn_at__isnull=True)
        .select_related("case", "case__child", "claimed_by", "completed_by", "case__assigned_to")
        .order_by("position")
    )


def my_claimed_items(user: Any, worklist: Worklist) -> QuerySet[WorklistItem]:
    """Items `user` claimed on this worklist and has not completed, top of the list first."""
    return worklist_items(worklist).filter(claimed_by=user, completed_at__isnull=True)


def worklist_progress(worklist: Worklist) -> dict[str, int]:
    """Counts for a team's day: items, claimed, completed, still waiting, overdue at build."""
    counts = WorklistItem.objects.filter(worklist=worklist, withdrawn_at__isnull=True).aggregate(
        total=Count("id"),
        claimed=Count("id", filter=Q(claimed_by__isnull=False, completed_at__isnull=True)),
        completed=Count("id", filter=Q(completed_at__isnull=False)),
        waiting=Count(
            "id",
            filter=Q(claimed_by__isnull=True, completed_at__isnull=True, case__status__in=OPEN_STATUSES),
        ),
        overdue=Count("id", filter=Q(is_overdue=True)),
    )
    return {k: int(v or 0) for k, v in counts.items()}


def worklist_progress_by_coordinator(worklist: Worklist) -> list[dict[str, Any]]:
    rows = (
        WorklistItem.objects.filter(worklist=worklist, claimed_by__isnull=False, withdrawn_at__isnull=True)
        .values("claimed_by__id", "claimed_by__username", "claimed_by__first_name", "claimed_by__last_name")
        .annotate(
            claimed=Count("id", filter=Q(completed_at__isnull=True)),
            completed=Count("id", filter=Q(completed_at__isnull=False)),
        )
        .order_by("claimed_by__username")
    )
    return [
        {
            "username": r["claimed_by__username"],
            "name": f"{r['claimed_by__first_name']} {r['claimed_by__last_name']}".strip()
            or r["claimed_by__username"],
            "claimed": r["claimed"],
            "completed": r["completed"],
        }
        for r in rows
    ]


def team_coordinators(team: str) -> QuerySet[Any]:
    from familylink.common.models import User

    return User.objects.filter(team=team, is_active=True, groups__name="coordinator").order_by("username")


def notifications_for(user: Any) -> QuerySet[Notification]:
    return Notification.objects.filter(recipient=user, withdrawn_at__isnull=True).select_related(
        "case", "case__child"
    )
