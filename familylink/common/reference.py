"""Reference data that migrations seed (roles, reason codes...), re-creatable on demand.

Each app registers an idempotent `ensure` function in its AppConfig.ready(). Transactional tests
empty the database between tests, so their fixture calls `ensure_all()` to put it back.
"""

from collections.abc import Callable

_ENSURERS: list[Callable[[], None]] = []


def register(fn: Callable[[], None]) -> Callable[[], None]:
    if fn not in _ENSURERS:
        _ENSURERS.append(fn)
    return fn


def ensure_all() -> None:
    for fn in _ENSURERS:
        fn()


def ensure_roles() -> None:
    """The six groups with exactly their capabilities (same as migration common.0002)."""
    from django.contrib.auth.models import Group, Permission
    from django.contrib.contenttypes.models import ContentType

    from .models import Capability
    from .roles import ROLE_CAPABILITIES

    content_type, _ = ContentType.objects.get_or_create(app_label="common", model="capability")
    labels = dict(Capability._meta.permissions)
    for role, capabilities in ROLE_CAPABILITIES.items():
        group, _ = Group.objects.get_or_create(name=str(role))
        perms = [
            Permission.objects.get_or_create(
                content_type=content_type, codename=c, defaults={"name": labels[c]}
            )[0]
            for c in capabilities
        ]
        group.permissions.set(perms)
