"""Rule 1 in the database: PostgreSQL refuses DELETE (and TRUNCATE) on every FamilyLink table.

After every `migrate`, a statement-level trigger is put on each table of FamilyLink's own
apps, history tables included, so a table added later is covered the moment it exists and
even a DELETE that matches no row is refused. TRUNCATE is refused too, except on a
connection that sets `familylink.allow_truncate=on`: only the test settings do, so that
transactional tests can empty the database between tests.
"""

from typing import Any

from django.apps import apps
from django.db import connections

FAMILYLINK_APP_LABELS = ("common", "audit", "apprehensions", "separations", "reunification", "linkage")

# Join tables of Django's auth relations: changing a user's roles removes rows here.
# They are access configuration, not case data; the user record itself is protected.
EXEMPT_TABLES = frozenset({"common_user_groups", "common_user_user_permissions"})

TRIGGER_NAME = "familylink_no_hard_delete"

FUNCTION_SQL = """
CREATE OR REPLACE FUNCTION familylink_refuse_delete() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'TRUNCATE' AND current_setting('familylink.allow_truncate', true) = 'on' THEN
        RETURN NULL;
    END IF;
    RAISE EXCEPTION USING
        ERRCODE = 'restrict_violation',
        MESSAGE = format('FamilyLink rule 1: nothing is hard-deleted (%s on table %s refused).',
                         TG_OP, TG_TABLE_NAME),
        HINT = 'Withdraw the record with a status change; who, when and why are kept in its history.';
END;
$$;
"""


def protected_tables(using: str = "default") -> list[str]:
    """Every table of FamilyLink's own apps that exists in the database, less the exempt joins."""
    with connections[using].cursor() as cursor:
        existing = set(connections[using].introspection.table_names(cursor))
    tables = set()
    for model in apps.get_models(include_auto_created=True):
        if model._meta.app_label in FAMILYLINK_APP_LABELS and model._meta.managed:
            tables.add(model._meta.db_table)
    return sorted((tables & existing) - EXEMPT_TABLES)


def install(using: str = "default") -> list[str]:
    """Create the refusing function and a trigger on each protected table (idempotent)."""
    tables = protected_tables(using)
    with connections[using].cursor() as cursor:
        cursor.execute(FUNCTION_SQL)
        for table in tables:
            cursor.execute(
                f'CREATE OR REPLACE TRIGGER {TRIGGER_NAME} BEFORE DELETE OR TRUNCATE ON "{table}" '
                "FOR EACH STATEMENT EXECUTE FUNCTION familylink_refuse_delete()"
            )
    return tables


def protect_tables_after_migrate(sender: Any, using: str = "default", **kwargs: Any) -> None:
    if sender.label == "common":
        install(using)
