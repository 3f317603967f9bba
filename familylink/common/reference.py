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
    """The six groups with exactly their capabilities (what migrations 0002/0003 do)."""
    from django.apps import apps

    from .migrations_support import sync_roles

    sync_roles(apps, None)
