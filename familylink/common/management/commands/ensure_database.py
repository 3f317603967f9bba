from typing import Any

import psycopg2
from django.conf import settings
from django.core.management.base import BaseCommand, CommandError
from psycopg2 import sql

EXTENSIONS = ("pg_trgm", "unaccent", "fuzzystrmatch")


def _connect(credentials: dict[str, Any], dbname: str) -> Any:
    return psycopg2.connect(
        dbname=dbname,
        host=credentials.get("HOST") or None,
        port=credentials.get("PORT") or None,
        user=credentials.get("USER") or None,
        password=credentials.get("PASSWORD") or None,
    )


class Command(BaseCommand):
    help = (
        "Create the two database roles (owner, app), the database named by DATABASE_URL owned by the "
        "owner, and the extensions FamilyLink needs, if missing. Connects as DATABASE_ADMIN_URL."
    )

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument("--roles-only", action="store_true", help="create or fix the two roles only")

    def handle(self, *args: Any, **options: Any) -> None:
        roles = settings.DATABASE_ROLES
        owner, app = roles["owner"], roles["app"]
        name = settings.DATABASES["default"]["NAME"]
        try:
            admin = _connect(roles["admin"], "postgres")
        except psycopg2.OperationalError as exc:
            raise CommandError(
                f"Cannot reach PostgreSQL as the administrator of DATABASE_ADMIN_URL ({exc}). "
                "Start PostgreSQL, or set DATABASE_ADMIN_URL to a superuser (see .env.example)."
            ) from exc
        admin.autocommit = True
        with admin.cursor() as cur:
            if owner["USER"] == app["USER"]:
                raise CommandError(
                    "DATABASE_URL and DATABASE_OWNER_URL name the same role; "
                    "the app must not run as the owner."
                )
            # The owner creates the test databases, so it may create databases; neither role is a superuser.
            self._ensure_role(cur, owner, "NOSUPERUSER CREATEDB NOCREATEROLE NOREPLICATION NOBYPASSRLS")
            self._ensure_role(
                cur, app, "NOSUPERUSER NOCREATEDB NOCREATEROLE NOREPLICATION NOBYPASSRLS NOINHERIT"
            )
            if options["roles_only"]:
                self.stdout.write(f"Roles {owner['USER']} (owner) and {app['USER']} (app) ready.")
                return
            cur.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name])
            if cur.fetchone() is None:
                cur.execute(
                    sql.SQL("CREATE DATABASE {} OWNER {}").format(
                        sql.Identifier(name), sql.Identifier(owner["USER"])
                    )
                )
                self.stdout.write(f"Created database {name}.")
            else:
                cur.execute(
                    sql.SQL("ALTER DATABASE {} OWNER TO {}").format(
                        sql.Identifier(name), sql.Identifier(owner["USER"])
                    )
                )
        admin.close()
        conn = _connect(roles["admin"], name)
        conn.autocommit = True
        with conn.cursor() as cur:
            for ext in EXTENSIONS:
                cur.execute(sql.SQL("CREATE EXTENSION IF NOT EXISTS {}").format(sql.Identifier(ext)))
            moved = self._hand_objects_to_owner(cur, str(owner["USER"]))
        conn.close()
        if moved:
            self.stdout.write(f"Handed {moved} existing tables, sequences and functions to {owner['USER']}.")
        self.stdout.write(
            f"Database {name} ready with {', '.join(EXTENSIONS)}; "
            f"owner {owner['USER']}, app role {app['USER']}."
        )

    def _ensure_role(self, cur: Any, credentials: dict[str, Any], attributes: str) -> None:
        role = credentials["USER"]
        cur.execute("SELECT rolsuper FROM pg_roles WHERE rolname = %s", [role])
        row = cur.fetchone()
        if row is not None and row[0]:
            # Altering it would strip a superuser of its rights (the administrator's own, often).
            raise CommandError(
                f"The role {role} named for FamilyLink is a PostgreSQL superuser; it was left unchanged. "
                "Point DATABASE_URL and DATABASE_OWNER_URL at roles of FamilyLink's own "
                "(familylink_app and familylink_owner, see .env.example)."
            )
        if row is None:
            cur.execute(sql.SQL("CREATE ROLE {} LOGIN " + attributes).format(sql.Identifier(role)))
            self.stdout.write(f"Created role {role}.")
        else:
            cur.execute(sql.SQL("ALTER ROLE {} LOGIN " + attributes).format(sql.Identifier(role)))
        if credentials.get("PASSWORD"):
            cur.execute(
                sql.SQL("ALTER ROLE {} PASSWORD %s").format(sql.Identifier(role)), [credentials["PASSWORD"]]
            )

    def _hand_objects_to_owner(self, cur: Any, owner: str) -> int:
        """A database made before the two roles existed: its tables, sequences, functions go to the owner."""
        cur.execute(
            """
            SELECT format('ALTER %%s %%s OWNER TO %%I',
                          CASE c.relkind WHEN 'S' THEN 'SEQUENCE' WHEN 'v' THEN 'VIEW' ELSE 'TABLE' END,
                          c.oid::regclass, %s)
            FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
            WHERE n.nspname = 'public' AND c.relkind IN ('r', 'p', 'v', 'S')
              AND pg_get_userbyid(c.relowner) <> %s
              AND NOT (c.relkind = 'S' AND EXISTS (
                  SELECT 1 FROM pg_depend d WHERE d.objid = c.oid AND d.deptype IN ('a', 'i')))
            UNION ALL
            SELECT format('ALTER FUNCTION %%s OWNER TO %%I', p.oid::regprocedure, %s)
            FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace
            WHERE n.nspname = 'public' AND pg_get_userbyid(p.proowner) <> %s
              AND NOT EXISTS (SELECT 1 FROM pg_depend d WHERE d.objid = p.oid AND d.deptype = 'e')
            """,
            [owner, owner, owner, owner],
        )
        statements = [row[0] for row in cur.fetchall()]
        for statement in statements:
            cur.execute(statement)
        return len(statements)
