"""Rule 3 for the separations layer: every view of a child's record is logged."""

from collections.abc import Iterable
from typing import Any

from simple_history.utils import bulk_create_with_history

from audit.models import AccessLog
from audit.services import access_log_record


def log_person_views(
    *, user: Any, persons: Iterable[Any], channel: str, path: str, action: str = "view"
) -> None:
    """One access-log row per person shown (with history), written in one round trip."""
    authenticated = user if getattr(user, "is_authenticated", False) else None
    entries = [
        AccessLog(
            user=authenticated,
            created_by=authenticated,
            object_type=person._meta.label_lower,
            object_id=str(person.pk),
            action=action,
            channel=channel,
            path=path[:255],
            is_minor_record=bool(getattr(person, "is_minor", False)),
        )
        for person in {p.pk: p for p in persons}.values()
    ]
    if entries:
        bulk_create_with_history(entries, AccessLog, default_user=authenticated, default_change_reason=action)


def log_separation_view(*, user: Any, separation: Any, channel: str, path: str) -> None:
    """A separation names children: log the separation and each person on it."""
    members = getattr(separation, "live_members", None)
    if members is None:
        members = separation.members.filter(withdrawn_at__isnull=True).select_related("person")
    access_log_record(
        user=user,
        obj=separation,
        channel=channel,
        path=path,
        is_minor_record=any(m.side == "child" for m in members),
    )
    log_person_views(user=user, persons=[m.person for m in members], channel=channel, path=path)
