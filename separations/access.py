"""Rule 3 for the separations layer: every view of a child's record is logged."""

from collections.abc import Iterable
from typing import Any

from audit.services import access_log_record, access_log_record_many


def _log(*, user: Any, objects: Iterable[tuple[Any, bool]], channel: str, path: str, action: str) -> None:
    """One access-log row per (object, is_minor_record), with history, in one round trip."""
    access_log_record_many(user=user, records=objects, action=action, channel=channel, path=path)


def log_person_views(
    *, user: Any, persons: Iterable[Any], channel: str, path: str, action: str = "view"
) -> None:
    """One access-log row per person shown."""
    unique = {p.pk: p for p in persons}.values()
    _log(
        user=user,
        objects=[(p, bool(getattr(p, "is_minor", False))) for p in unique],
        channel=channel,
        path=path,
        action=action,
    )


def log_separations_viewed(*, user: Any, separations: Iterable[Any], channel: str, path: str) -> None:
    """A list of separations (with `live_members`): each separation and each person on them."""
    separations = list(separations)
    _log(
        user=user,
        objects=[(s, any(m.side == "child" for m in s.live_members)) for s in separations],
        channel=channel,
        path=path,
        action="list",
    )
    log_person_views(
        user=user,
        persons=[m.person for s in separations for m in s.live_members],
        channel=channel,
        path=path,
        action="list",
    )


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
