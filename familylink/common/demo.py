"""Demo users: one per role, named after it (API contract, Commands)."""

from typing import Any

from django.conf import settings
from django.contrib.auth.models import Group

from .models import User
from .roles import Role

DEMO_USERS: list[dict[str, Any]] = [
    {
        "username": "field_agent",
        "role": Role.FIELD_AGENT,
        "first_name": "Fiona",
        "last_name": "Field",
        "station": "EPT",
    },
    {
        "username": "supervisor",
        "role": Role.SUPERVISOR,
        "first_name": "Samuel",
        "last_name": "Super",
        "station": "EPT",
    },
    {"username": "hq_analyst", "role": Role.HQ_ANALYST, "first_name": "Hana", "last_name": "Quinn"},
    {
        "username": "coordinator",
        "role": Role.COORDINATOR,
        "first_name": "Carla",
        "last_name": "Cordero",
        "team": "EPT-REUNIFY",
    },
    {"username": "auditor", "role": Role.AUDITOR, "first_name": "Audrey", "last_name": "Tor"},
    {"username": "partner_agency", "role": Role.PARTNER_AGENCY, "first_name": "Pat", "last_name": "Orr"},
]


def ensure_demo_users(*, password: str | None = None) -> list[User]:
    """Create (or refresh) the demo users with the demo password; idempotent."""
    password = password or settings.FAMILYLINK_DEMO_PASSWORD
    users = []
    for spec in DEMO_USERS:
        user = User.objects.filter(username=spec["username"]).first() or User(username=spec["username"])
        user.first_name = spec["first_name"]
        user.last_name = spec["last_name"]
        user.email = f"{spec['username']}@familylink.example"
        user.station = spec.get("station", "")
        user.team = spec.get("team", "")
        user.is_active = True
        user.set_password(password)
        user._change_reason = "seed_demo"
        user.save()
        user.groups.set([Group.objects.get(name=str(spec["role"]))])
        users.append(user)
    admin = User.objects.filter(username="admin").first() or User(username="admin")
    admin.is_staff = admin.is_superuser = True
    admin.email = "admin@familylink.example"
    admin.set_password(password)
    admin._change_reason = "seed_demo"
    admin.save()
    users.append(admin)
    return users
