"""Least privilege in PostgreSQL: an owner role that migrates, an app role that the app runs as.

- The **owner** (`DATABASE_OWNER_URL`) owns the database and every table, and is the only role that
  runs migrations (`manage.py migrate` switches to it) and empties tables (`manage.py flush`, used by
  the test suite between transactional tests). Its credentials never reach the web, worker or beat.
- The **app** role (`DATABASE_URL`) is what web, worker and beat connect as: not a superuser, not an
  owner, no DDL, no TRUNCATE, no DELETE on FamilyLink's tables, and only INSERT and SELECT on the
  append-only tables (history, access log, audit chain). `session_replication_role`, `ALTER TABLE`
  and `DROP TRIGGER` are out of its reach because it is neither a superuser nor an owner.

`manage.py ensure_database` creates both roles (through `DATABASE_ADMIN_URL`, a superuser used only
for that bootstrap) and the database; the grants below are applied after every `migrate`, so a table
added later is covered the moment it exists.
"""

from collections.abc import Iterator
from contextlib import contextmanager

from django.apps import apps
from django.conf import settings
from django.db import connections

from .no_delete import FAMILYLINK_APP_LABELS

# Framework tables the app must be able to delete from: sessions (sign-out, expiry), sign-in lockout
# records (django-axes resets), API tokens (revocation), beat's schedule, and the user↔role joins.
# None of them is FamilyLink case data; the role joins are audited by the user-admin services.
DELETABLE_TABLE_PREFIXES = ("django_session", "axes_", "authtoken_", "django_celery_beat_")
DELETABLE_TABLES = frozenset({"common_user_groups", "common_user_user_permissions"})


CREDENTIAL_KEYS = ("USER", "PASSWORD", "HOST", "PORT")


@contextmanager
def connected_as(role: str, using: str = "default") -> Iterator[None]:
    """Run the block on `using` connected as the "owner" (or "app") role of `settings.DATABASE_ROLES`.

    The settings dict is shared by every thread's connection, so the switch holds for the block and
    is undone after it; the connection is closed on both sides so it reconnects with the credentials.
    """
    wanted = settings.DATABASE_ROLES[role]
    current = settings.DATABASES[using]
    # Inside a transaction the connection cannot be swapped (tests wrap each test in one): the block
    # then runs on the connection as it is, and a statement its role may not run fails loudly.
    if connections[using].in_atomic_block or all(current.get(k) == wanted.get(k) for k in CREDENTIAL_KEYS):
        yield
        return
    saved = {k: current.get(k) for k in CREDENTIAL_KEYS}
    connections[using].close()
    current.update({k: wanted.get(k) for k in CREDENTIAL_KEYS})
    try:
        yield
    finally:
        connections[using].close()
        current.update(saved)


def restricted_tables() -> dict[str, str]:
    """{table: privileges} of the tables the app role may not update: every history table (INSERT and
    SELECT), and the tables whose model names `db_app_privileges` (the access log, the audit chain)."""
    tables = {}
    for model in apps.get_models():
        if model.__name__.startswith("Historical"):
            tables[model._meta.db_table] = "SELECT, INSERT"
        privileges = getattr(model, "db_app_privileges", None)
        if privileges and model._meta.app_label in FAMILYLINK_APP_LABELS:
            tables[model._meta.db_table] = privileges
    return tables


def apply_grants(using: str = "default") -> None:
    """Grant the app role what it needs and nothing more (idempotent; run by the owner after migrate)."""
    app_role = str(settings.DATABASE_ROLES["app"]["USER"])
    connection = connections[using]
    with connection.cursor() as cursor:
        cursor.execute("SELECT current_user, (SELECT rolsuper FROM pg_roles WHERE rolname = current_user)")
        current_user, is_super = cursor.fetchone()
        cursor.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", [app_role])
        if current_user == app_role or cursor.fetchone() is None:
            return
        existing = set(connection.introspection.table_names(cursor))
        quoted_role = connection.ops.quote_name(app_role)
        cursor.execute(f"GRANT USAGE ON SCHEMA public TO {quoted_role}")
        cursor.execute(f"REVOKE CREATE ON SCHEMA public FROM {quoted_role}")
        cursor.execute(
            "SELECT c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
            "WHERE n.nspname = 'public' AND c.relkind IN ('r', 'p') AND pg_has_role(c.relowner, 'USAGE')"
        )
        owned = {row[0] for row in cursor.fetchall()} if not is_super else existing
        restricted = restricted_tables()
        for table in sorted(owned):
            quoted = connection.ops.quote_name(table)
            cursor.execute(f"REVOKE ALL ON {quoted} FROM {quoted_role}")
            if table in restricted:
                privileges = restricted[table]
            elif table in DELETABLE_TABLES or table.startswith(DELETABLE_TABLE_PREFIXES):
                privileges = "SELECT, INSERT, UPDATE, DELETE"
            else:
                privileges = "SELECT, INSERT, UPDATE"
            cursor.execute(f"GRANT {privileges} ON {quoted} TO {quoted_role}")
        cursor.execute(
            "SELECT c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
            "WHERE n.nspname = 'public' AND c.relkind = 'S' AND pg_has_role(c.relowner, 'USAGE')"
        )
        for (sequence,) in cursor.fetchall():
            quoted = connection.ops.quote_name(sequence)
            cursor.execute(f"GRANT USAGE, SELECT ON SEQUENCE {quoted} TO {quoted_role}")
