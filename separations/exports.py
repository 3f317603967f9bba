"""Columns of the separations exports (audit.exports does the streaming and the access log)."""

from typing import Any

from audit.exports import Column


def _side(separation: Any, side: str) -> list[str]:
    return [m.person.full_name for m in separation.live_members if m.side == side]


def _ids(separation: Any, side: str) -> list[str]:
    return [str(m.person_id) for m in separation.live_members if m.side == side]


SEPARATION_COLUMNS = [
    Column("separation_id", lambda s: s.pk),
    Column("status", lambda s: s.status),
    Column("occurred_at", lambda s: s.occurred_at),
    Column("recorded_at", lambda s: s.recorded_at),
    Column("station", lambda s: s.station.code),
    Column("reason_code", lambda s: s.reason_code.code),
    Column("reason_category", lambda s: s.reason_code.category),
    Column("children", lambda s: _side(s, "child")),
    Column("child_ids", lambda s: _ids(s, "child")),
    Column("adults", lambda s: _side(s, "adult")),
    Column("adult_ids", lambda s: _ids(s, "adult")),
    Column("requested_by", lambda s: s.requested_by.get_username()),
    Column("decided_by", lambda s: s.decided_by.get_username() if s.decided_by_id else ""),
    Column("ended_at", lambda s: s.ended_at),
    Column("end_outcome", lambda s: s.end_outcome),
]


def with_live_members(queryset: Any) -> Any:
    """The separations with `live_members` (their members not withdrawn, with the persons)."""
    from django.db.models import Prefetch

    from .models import SeparationMember

    return queryset.prefetch_related(
        Prefetch(
            "members",
            queryset=SeparationMember.objects.filter(withdrawn_at__isnull=True).select_related("person"),
            to_attr="live_members",
        )
    )


def separation_records(separation: Any) -> list[Any]:
    """What an exported separation row holds: the separation and each person named on it."""
    return [separation, *(m.person for m in separation.live_members)]


REPORT_COLUMNS = [
    Column("child_id", lambda r: r.child.pk),
    Column("child_name", lambda r: r.child.full_name),
    Column("child_a_number", lambda r: r.child.a_number),
    Column("child_date_of_birth", lambda r: r.child.date_of_birth),
    Column("separated_since", lambda r: r.since),
    Column("days_separated", lambda r: r.days_separated),
    Column("reason_codes", lambda r: [x.code for x in r.reasons]),
    Column("reason_categories", lambda r: sorted({x.category for x in r.reasons})),
    Column("adults", lambda r: [a.full_name for a in r.adults]),
    Column("adult_a_numbers", lambda r: [a.a_number or "" for a in r.adults]),
    Column("child_now_agency", lambda r: r.child_custody.agency if r.child_custody else ""),
    Column("child_now_facility", lambda r: r.child_custody.facility if r.child_custody else ""),
    Column("stations", lambda r: sorted({s.station.code for s in r.separations})),
    Column("separation_ids", lambda r: [str(s.pk) for s in r.separations]),
]
