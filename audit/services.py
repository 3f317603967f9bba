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
