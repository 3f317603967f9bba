from typing import Any

from .models import AccessLog


def access_log_record(
    *,
    user: Any,
    obj: Any,
    action: str = "view",
    channel: str = "web",
    path: str = "",
    is_minor_record: bool = False,
) -> AccessLog:
    """Append one access-log row for `user` reading `obj` (rule 3: every view of a child's record)."""
    entry = AccessLog(
        user=user if getattr(user, "is_authenticated", False) else None,
        created_by=user if getattr(user, "is_authenticated", False) else None,
        object_type=obj._meta.label_lower,
        object_id=str(obj.pk),
        action=action,
        channel=channel,
        path=path[:255],
        is_minor_record=is_minor_record,
    )
    entry.save()
    return entry
