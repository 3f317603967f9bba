"""Role-aware navigation. Each app registers its pages in its AppConfig.ready();
the header shows a user only the pages their role may open."""

from dataclasses import dataclass

from django.http import HttpRequest
from django.urls import NoReverseMatch, reverse

from .roles import has_capability


@dataclass(frozen=True)
class NavItem:
    label: str
    url_name: str
    capabilities: tuple[str, ...]
    order: int = 100


_REGISTRY: dict[str, NavItem] = {}


def register(label: str, url_name: str, *capabilities: str, order: int = 100) -> None:
    """Show `label` → `url_name` to users holding any of `capabilities` (none: every signed-in user)."""
    _REGISTRY[url_name] = NavItem(label, url_name, capabilities, order)


def navigation_for(request: HttpRequest) -> list[dict[str, object]]:
    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated:
        return []
    items = []
    for item in sorted(_REGISTRY.values(), key=lambda i: (i.order, i.label)):
        if item.capabilities and not any(has_capability(user, c) for c in item.capabilities):
            continue
        try:
            url = reverse(item.url_name)
        except NoReverseMatch:
            continue
        current = request.path == url or (url != "/" and request.path.startswith(url))
        items.append({"label": item.label, "url": url, "current": current})
    return items


# Home pages by role: apps register `fn(user) -> url | None`; the first URL answered is the
# user's home (the dashboard for HQ analysts and supervisors); none: the link-card page.
_HOMES: list = []


def register_home(fn) -> None:  # type: ignore[no-untyped-def]
    if fn not in _HOMES:
        _HOMES.append(fn)


def home_url_for(user) -> str | None:  # type: ignore[no-untyped-def]
    for fn in _HOMES:
        url = fn(user)
        if url:
            return url
    return None
