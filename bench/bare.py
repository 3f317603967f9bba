"""The benchmarks' bare-SQL side: its own psycopg2 connection to the database Django uses, so that
the bare statements run with no Django, no ORM and no connection state of the app's."""

from typing import Any


def bare_connect(*, autocommit: bool = False) -> Any:
    import psycopg2
    from django.db import connection

    s = connection.settings_dict
    conn = psycopg2.connect(
        dbname=s["NAME"],
        user=s["USER"],
        password=s["PASSWORD"] or None,
        host=s["HOST"] or "127.0.0.1",
        port=s["PORT"] or 5432,
    )
    conn.autocommit = autocommit
    return conn
