"""A raw connection to the test database as one of the two roles of familylink/common/db_roles.py."""

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import psycopg2
from django.conf import settings
from django.db import connection


@contextmanager
def connect_as(role: str) -> Iterator[Any]:
    """A psycopg2 connection (not autocommit) to the test database as the "owner" or "app" role."""
    credentials = settings.DATABASE_ROLES[role]
    conn = psycopg2.connect(
        dbname=connection.settings_dict["NAME"],
        user=credentials["USER"],
        password=credentials.get("PASSWORD") or None,
        host=credentials.get("HOST") or None,
        port=credentials.get("PORT") or None,
    )
    try:
        yield conn
    finally:
        conn.rollback()
        conn.close()
