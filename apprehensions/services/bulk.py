"""Insert new rows with their history rows in two statements per table (rule 2, at intake speed).

`bulk_create_with_history` builds one historical model instance per row in Python; for an intake
(a dozen rows in six tables) that costs more than the database work. Here the history rows are
copied by PostgreSQL from the rows just inserted: one INSERT … SELECT per table, with the same
author, change reason and time for the whole intake, exactly as simple-history would write them.
"""

from collections.abc import Sequence
from functools import cache
from typing import Any

from django.db import connection
from django.utils import timezone

_HISTORY_ONLY = ("history_id", "history_date", "history_change_reason", "history_type", "history_user_id")


@cache
def _history_sql(model: Any) -> str:
    history_model = model.history.model
    columns = [f.column for f in history_model._meta.concrete_fields if f.column not in _HISTORY_ONLY]
    listed = ", ".join(f'"{c}"' for c in columns)
    # Table and column names come from the models, never from input; values are parameters.
    return (
        f'INSERT INTO "{history_model._meta.db_table}" ({listed}, history_date, history_change_reason, '  # noqa: S608
        f"history_type, history_user_id) "
        f'SELECT {listed}, %s, %s, %s, %s FROM "{model._meta.db_table}" '
        f'WHERE "{model._meta.pk.column}" = ANY(%s)'
    )


def insert_with_history(model: Any, objs: Sequence[Any], *, user: Any, reason: str) -> None:
    """Insert `objs` (new, with their UUIDs set) and one "created" history row each."""
    if not objs:
        return
    model._default_manager.bulk_create(objs)  # history-safe: history rows inserted just below
    user_id = user.pk if getattr(user, "is_authenticated", False) else None
    with connection.cursor() as cursor:
        cursor.execute(_history_sql(model), [timezone.now(), reason, "+", user_id, [obj.pk for obj in objs]])


@cache
def _history_sql_reasons(model: Any) -> str:
    history_model = model.history.model
    columns = [f.column for f in history_model._meta.concrete_fields if f.column not in _HISTORY_ONLY]
    listed = ", ".join(f'"{c}"' for c in columns)
    selected = ", ".join(f't."{c}"' for c in columns)
    pk = model._meta.pk.column
    # Identifiers from model metadata only; ids and reasons are array parameters.
    return (
        f'INSERT INTO "{history_model._meta.db_table}" ({listed}, history_date, history_change_reason, '  # noqa: S608
        f"history_type, history_user_id) "
        f"SELECT {selected}, %s, r.reason, %s, %s "
        f'FROM "{model._meta.db_table}" t JOIN unnest(%s::uuid[], %s::text[]) AS r(id, reason) '
        f'ON t."{pk}" = r.id'
    )


def insert_with_history_each(model: Any, objs: Sequence[Any], *, user: Any, reasons: Sequence[str]) -> None:
    """Like `insert_with_history`, with each row's own change reason (`reasons[i]` for `objs[i]`)."""
    if not objs:
        return
    model._default_manager.bulk_create(objs)  # history-safe: history rows inserted just below
    user_id = user.pk if getattr(user, "is_authenticated", False) else None
    with connection.cursor() as cursor:
        cursor.execute(
            _history_sql_reasons(model),
            [timezone.now(), "+", user_id, [obj.pk for obj in objs], list(reasons)],
        )
