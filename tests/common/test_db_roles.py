"""Least privilege: connected as the app role (what web, worker and beat use), an attacker inside the
app cannot delete, truncate, rewrite history, change the schema or switch the triggers off."""

import psycopg2
import pytest
from django.conf import settings
from django.core.management import CommandError, call_command
from django.db import connection

from familylink.common.db_roles import restricted_tables
from familylink.common.no_delete import TRIGGER_NAME, protected_tables
from tests.db import connect_as

pytestmark = pytest.mark.django_db


def _refused(conn, statement: str) -> str:
    """Run `statement` in a savepoint-free transaction that is rolled back; return the error it raised."""
    try:
        with conn.cursor() as cursor:
            cursor.execute(statement)
    except psycopg2.Error as exc:
        conn.rollback()
        return str(exc)
    conn.rollback()
    pytest.fail(f"the app role was allowed: {statement}")


def test_the_suite_and_the_app_run_as_the_app_role():
    """Tests connect as DATABASE_URL's role, as the app does; it is neither a superuser nor an owner."""
    app_role = settings.DATABASE_ROLES["app"]["USER"]
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT current_user, rolsuper, rolcreatedb, rolcreaterole "
            "FROM pg_roles WHERE rolname = current_user"
        )
        user, is_super, createdb, createrole = cursor.fetchone()
        cursor.execute(
            "SELECT count(*) FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
            "WHERE n.nspname = 'public' "
            "AND c.relowner = (SELECT oid FROM pg_roles WHERE rolname = current_user)"
        )
        owned = cursor.fetchone()[0]
    assert user == app_role
    assert (is_super, createdb, createrole, owned) == (False, False, False, 0)


def test_app_role_cannot_delete_or_truncate_any_familylink_table():
    tables = protected_tables()
    assert len(tables) >= 40
    with connect_as("app") as app:
        for table in tables:
            assert "permission denied" in _refused(app, f'DELETE FROM "{table}" WHERE false'), table
            assert "permission denied" in _refused(app, f'TRUNCATE "{table}" CASCADE'), table


def test_app_role_cannot_update_history_access_log_or_chain():
    restricted = restricted_tables()
    for expected in (
        "apprehensions_historicalperson",
        "audit_accesslog",
        "audit_chainlink",
        "audit_chaincheckpoint",
    ):
        assert expected in restricted
    history = [t for t in restricted if "historical" in t]
    assert len(history) >= 20
    with connect_as("app") as app:
        for table in restricted:
            with app.cursor() as cursor:
                cursor.execute(
                    "SELECT a.attname FROM pg_attribute a WHERE a.attrelid = %s::regclass AND a.attnum > 0 "
                    "AND NOT a.attisdropped ORDER BY a.attnum LIMIT 1",
                    [table],
                )
                column = cursor.fetchone()[0]
            assert "permission denied" in _refused(app, f'UPDATE "{table}" SET "{column}" = "{column}"'), (
                table
            )


def test_app_role_cannot_change_the_schema_or_switch_triggers_off():
    with connect_as("app") as app:
        statements = [
            "ALTER TABLE apprehensions_person ADD COLUMN attacker text",
            f"ALTER TABLE apprehensions_historicalperson DISABLE TRIGGER {TRIGGER_NAME}",
            "ALTER TABLE apprehensions_historicalperson DISABLE TRIGGER ALL",
            f"DROP TRIGGER {TRIGGER_NAME} ON apprehensions_historicalperson",
            "DROP TRIGGER familylink_audit_chain ON apprehensions_historicalperson",
            "DROP TABLE audit_accesslog",
            "CREATE TABLE attacker (id int)",
            "CREATE OR REPLACE FUNCTION familylink_refuse_delete() RETURNS trigger LANGUAGE plpgsql "
            "AS $$ BEGIN RETURN NULL; END $$",
            "SET session_replication_role = replica",
            "SET familylink.allow_truncate = 'on'; TRUNCATE audit_historicalaccesslog",
        ]
        for statement in statements:
            error = _refused(app, statement)
            assert "permission denied" in error or "must be owner" in error, (statement, error)


@pytest.mark.django_db(transaction=True)
def test_migrate_runs_as_the_owner_and_grants_again():
    """`manage.py migrate` switches to the owner (the app role has no DDL) and keeps the grants."""
    call_command("migrate", verbosity=0)
    with connection.cursor() as cursor:
        cursor.execute("SELECT current_user")
        assert cursor.fetchone()[0] == settings.DATABASE_ROLES["app"]["USER"]
        cursor.execute("SELECT has_table_privilege(current_user, 'apprehensions_historicalperson', 'UPDATE')")
        assert cursor.fetchone()[0] is False
        cursor.execute("SELECT has_table_privilege(current_user, 'apprehensions_person', 'UPDATE')")
        assert cursor.fetchone()[0] is True


def test_make_run_connects_as_the_app_role():
    """The settings `make run` uses (no DATABASE_URL set) connect web, worker and beat as the app role,
    and migrations as the owner."""
    import os
    import subprocess
    import sys
    from pathlib import Path

    env = {k: v for k, v in os.environ.items() if not k.startswith("DATABASE_")}
    env["DJANGO_SETTINGS_MODULE"] = "familylink.settings.base"
    code = (
        "import django; django.setup(); from django.conf import settings as s; "
        "print(s.DATABASES['default']['USER'], s.DATABASE_ROLES['owner']['USER'])"
    )
    out = subprocess.run(
        [sys.executable, "-c", code],
        cwd=Path(__file__).resolve().parents[2],
        env=env,
        capture_output=True,
        text=True,
    )
    assert out.stdout.split() == ["familylink_app", "familylink_owner"], out.stderr
    procfile = (Path(__file__).resolve().parents[2] / "Procfile").read_text()
    assert "DATABASE_URL" not in procfile and "DATABASE_OWNER_URL" not in procfile


@pytest.mark.django_db(transaction=True)
def test_check_deploy_warns_when_the_app_connects_as_a_superuser(settings):
    """`check --deploy` names the risk when DATABASE_URL's role is a superuser or owns the tables."""
    from familylink.common.checks import check_database_role

    assert check_database_role(None) == []
    from django.db import connections

    connections["default"].close()
    saved = dict(settings.DATABASES["default"])
    settings.DATABASES["default"].update(settings.DATABASE_ROLES["admin"])
    try:
        warnings = check_database_role(None)
    finally:
        connections["default"].close()
        settings.DATABASES["default"].update(saved)
    assert [w.id for w in warnings] == ["familylink.W001"]
    assert "superuser" in warnings[0].msg


def test_ensure_database_refuses_to_demote_a_superuser_named_as_a_familylink_role(settings):
    """A DATABASE_URL pointed at a superuser (postgres, say) by mistake: ensure_database says so and leaves
    the role as it was, instead of altering it to NOSUPERUSER (which once stripped the administrator)."""
    role = "familylink_test_superuser"
    with connect_as("admin") as admin:
        admin.autocommit = True
        with admin.cursor() as cursor:
            cursor.execute(f"DROP ROLE IF EXISTS {role}")
            cursor.execute(f"CREATE ROLE {role} SUPERUSER LOGIN")
        try:
            roles = {**settings.DATABASE_ROLES, "app": {**settings.DATABASE_ROLES["app"], "USER": role}}
            settings.DATABASE_ROLES = roles
            with pytest.raises(CommandError, match=f"{role} named for FamilyLink is a PostgreSQL superuser"):
                call_command("ensure_database", "--roles-only")
            with admin.cursor() as cursor:
                cursor.execute("SELECT rolsuper, rolinherit FROM pg_roles WHERE rolname = %s", [role])
                assert cursor.fetchone() == (True, True)
        finally:
            with admin.cursor() as cursor:
                cursor.execute(f"DROP ROLE {role}")
