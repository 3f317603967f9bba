"""`manage.py check --deploy`: the app must not connect as a superuser or as the tables' owner."""

from typing import Any

from django.core.checks import Tags, Warning, register
from django.db import DatabaseError, connections


@register(Tags.security, deploy=True)
def check_database_role(app_configs: Any, **kwargs: Any) -> list[Warning]:
    try:
        with connections["default"].cursor() as cursor:
            cursor.execute(
                "SELECT current_user, rolsuper, (SELECT count(*) FROM pg_class c "
                "JOIN pg_namespace n ON n.oid = c.relnamespace "
                "WHERE n.nspname = 'public' AND c.relowner = r.oid) "
                "FROM pg_roles r WHERE r.rolname = current_user"
            )
            user, is_super, owned = cursor.fetchone()
    except DatabaseError:
        return []  # an unreachable database is reported by the health check, not here
    if is_super:
        return [
            Warning(
                f"DATABASE_URL connects as {user}, a PostgreSQL superuser: it can rewrite or delete the "
                "audit trail.",
                hint="Connect the app as the app role (manage.py ensure_database creates it) and migrate "
                "with DATABASE_OWNER_URL.",
                id="familylink.W001",
            )
        ]
    if owned:
        return [
            Warning(
                f"DATABASE_URL connects as {user}, which owns {owned} tables: it can alter them and switch "
                "their triggers off.",
                hint="Connect the app as the app role; keep the owner for DATABASE_OWNER_URL (migrations).",
                id="familylink.W002",
            )
        ]
    return []
