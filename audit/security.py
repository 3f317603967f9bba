"""Security events in the access log: sign-in, sign-out, failed sign-ins and lockouts, denied requests,
role changes and token revocations, each with who did it (rule 3 and issue 11: everything an auditor asks)."""

from typing import Any

from django.contrib.auth.models import Group
from simple_history.models import HistoricalRecords

from .models import AccessLog


def _actor() -> Any:
    """The signed-in user of the request being served, if any (simple-history keeps the request)."""
    request = getattr(HistoricalRecords.context, "request", None)
    user = getattr(request, "user", None)
    return user if getattr(user, "is_authenticated", False) else None


def _path() -> str:
    request = getattr(HistoricalRecords.context, "request", None)
    return (getattr(request, "path", "") or "")[:255]


def security_event_record(
    *,
    action: str,
    user: Any = None,
    subject: Any = None,
    detail: str = "",
    path: str = "",
    channel: str = "web",
) -> AccessLog:
    """Append one security event; `user` is who acted, `subject` the account it concerned."""
    actor = user if getattr(user, "is_authenticated", False) else None
    entry = AccessLog(
        user=actor,
        created_by=actor,
        object_type="common.user",
        object_id=str(getattr(subject, "pk", "") or ""),
        action=action[:32],
        channel=channel,
        path=(path or _path())[:255],
        detail=detail,
    )
    entry.save()
    return entry


def on_logged_in(sender: Any, request: Any, user: Any, **kwargs: Any) -> None:
    security_event_record(action="sign_in", user=user, subject=user, path=getattr(request, "path", ""))


def on_logged_out(sender: Any, request: Any, user: Any, **kwargs: Any) -> None:
    if user is not None:
        security_event_record(action="sign_out", user=user, subject=user, path=getattr(request, "path", ""))


def on_login_failed(sender: Any, credentials: dict[str, Any], request: Any = None, **kwargs: Any) -> None:
    username = str(credentials.get("username", ""))[:150]
    security_event_record(
        action="sign_in_failed", detail=f"username {username!r}", path=getattr(request, "path", "") or ""
    )


def on_locked_out(sender: Any, request: Any = None, username: str = "", **kwargs: Any) -> None:
    security_event_record(
        action="locked_out",
        detail=f"username {username!r} locked out",
        path=getattr(request, "path", "") or "",
    )


def on_roles_changed(
    sender: Any, instance: Any, action: str, pk_set: Any, reverse: bool, **kwargs: Any
) -> None:
    """User↔group changes, from either side, with who made them and which roles."""
    if action == "pre_clear":
        users = [instance] if not reverse else list(instance.user_set.all())
        for user in users:
            names = sorted(user.groups.values_list("name", flat=True)) if not reverse else [instance.name]
            if names:
                _record_roles(user, "role_removed", names)
        return
    if action not in ("post_add", "post_remove") or not pk_set:
        return
    verb = "role_granted" if action == "post_add" else "role_removed"
    if not reverse:
        names = sorted(Group.objects.filter(pk__in=pk_set).values_list("name", flat=True))
        _record_roles(instance, verb, names)
    else:
        from django.contrib.auth import get_user_model

        for user in get_user_model().objects.filter(pk__in=pk_set):
            _record_roles(user, verb, [instance.name])


def _record_roles(user: Any, verb: str, names: list[str]) -> None:
    actor = _actor()
    by = f" by {actor.username}" if actor is not None else " (no signed-in user: a command or migration)"
    word = "granted to" if verb == "role_granted" else "removed from"
    security_event_record(
        action=verb, user=actor, subject=user, detail=f"{', '.join(names)} {word} {user.username}{by}"
    )


def on_token_deleted(sender: Any, instance: Any, **kwargs: Any) -> None:
    actor = _actor()
    owner = instance.user
    security_event_record(
        action="token_revoked",
        user=actor,
        subject=owner,
        detail=f"API token of {owner.username} revoked or replaced"
        + (f" by {actor.username}" if actor else ""),
    )


def connect() -> None:
    from axes.signals import user_locked_out
    from django.contrib.auth import get_user_model
    from django.contrib.auth.signals import user_logged_in, user_logged_out, user_login_failed
    from django.db.models.signals import m2m_changed, post_delete
    from rest_framework.authtoken.models import Token

    user_logged_in.connect(on_logged_in, dispatch_uid="audit-sign-in")
    user_logged_out.connect(on_logged_out, dispatch_uid="audit-sign-out")
    user_login_failed.connect(on_login_failed, dispatch_uid="audit-sign-in-failed")
    user_locked_out.connect(on_locked_out, dispatch_uid="audit-locked-out")
    m2m_changed.connect(on_roles_changed, sender=get_user_model().groups.through, dispatch_uid="audit-roles")
    post_delete.connect(on_token_deleted, sender=Token, dispatch_uid="audit-token-revoked")
