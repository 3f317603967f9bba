from typing import Any

import psycopg2
from django.conf import settings
from django.core.management.base import BaseCommand, CommandError
from psycopg2 import sql

EXTENSIONS = ("pg_trgm", "unaccent", "fuzzystrmatch")


class Command(BaseCommand):
    help = "Create the database named by DATABASE_URL and the extensions FamilyLink needs, if missing."

    def handle(self, *args: Any, **options: Any) -> None:
        db = settings.DATABASES["default"]
        params = {
            "host": db.get("HOST") or None,
            "port": db.get("PORT") or None,
            "user": db.get("USER") or None,
            "password": db.get("PASSWORD") or None,
        }
        try:
            admin = psycopg2.connect(dbname="postgres", **params)
        except psycopg2.OperationalError as exc:
            raise CommandError(
                f"Cannot reach PostgreSQL at {db.get('HOST')}:{db.get('PORT')} ({exc}). "
                "Start it, or set DATABASE_URL (see .env.example)."
            ) from exc
        admin.autocommit = True
        with admin.cursor() as cur:
            cur.execute("SELECT 1 FROM pg_database WHERE datname = %s", [db["NAME"]])
            if cur.fetchone() is None:
                cur.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(db["NAME"])))
                self.stdout.write(f"Created database {db['NAME']}.")
        admin.close()
        conn = psycopg2.connect(dbname=db["NAME"], **params)
        conn.autocommit = True
        with conn.cursor() as cur:
            for ext in EXTENSIONS:
                cur.execute(sql.SQL("CREATE EXTENSION IF NOT EXISTS {}").format(sql.Identifier(ext)))
        conn.close()
        self.stdout.write(f"Database {db['NAME']} ready with {', '.join(EXTENSIONS)}.")
