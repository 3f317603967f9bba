from collections.abc import Iterable
from typing import Any

from simple_history.utils import bulk_create_with_history

from .models import AccessLog


def access_log_record(
    *,
    user: Any,
    obj: Any,
    action: str = "view",
    channel: str = "web",
    path: str = "",
    is_minor_record: bool = False,
    detail: str = "",
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
        detail=detail,
    )
    entry.save()
    return entry


def access_log_record_many(
    *,
    user: Any,
    records: Iterable[Any],
    action: str = "view",
    channel: str = "web",
    path: str = "",
) -> int:
    """One access-log row per record shown, written set-based: one INSERT for the rows and one for
    their history (the audit-chain trigger links each row). Returns how many rows were written.

    `records` holds model instances (a person is marked `is_minor_record` from its `is_minor`),
    `(instance, is_minor_record)` pairs, or `audit.exports.Record`s. A record given twice is logged
    once: exactly one row per record per view. Call it inside the transaction that read the rows."""
    authenticated = user if getattr(user, "is_authenticated", False) else None
    seen: set[tuple[str, str]] = set()
    entries = []
    for item in records:
        object_type, object_id, minor = _identity(item)
        if (object_type, object_id) in seen:
            continue
        seen.add((object_type, object_id))
        entries.append(
            AccessLog(
                user=authenticated,
                created_by=authenticated,
                object_type=object_type,
                object_id=object_id,
                action=action,
                channel=channel,
                path=path[:255],
                is_minor_record=minor,
            )
        )
    if entries:
        bulk_create_with_history(entries, AccessLog, default_user=authenticated, default_change_reason=action)
    return len(entries)


def _identity(item: Any) -> tuple[str, str, bool]:
    """(object_type, object_id, is_minor_record) of a record as access_log_record_many takes it."""
    if isinstance(item, tuple):
        obj, minor = item
        return obj._meta.label_lower, str(obj.pk), bool(minor)
    if hasattr(item, "object_type"):  # audit.exports.Record
        return item.object_type, item.object_id, bool(item.is_minor_record)
    return item._meta.label_lower, str(item.pk), bool(getattr(item, "is_minor", False))


def audit_checkpoint_record(
    *, reports: list[Any] | None = None, extra_problems: list[str] | None = None
) -> Any:
    """Verify every audit chain (unless `reports` are given) and record a signed checkpoint of their heads."""
    from . import chain
    from .models import ChainCheckpoint

    if reports is None:
        reports = chain.verify()
    problems = [p for r in reports for p in r.problems] + list(extra_problems or [])
    heads = chain.heads_of(reports)
    checkpoint = ChainCheckpoint(
        heads=heads, signature=chain.sign(heads), verified=not problems, problems=problems
    )
    checkpoint.save()
    return checkpoint
