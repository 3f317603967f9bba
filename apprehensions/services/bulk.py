"""Insert new rows with their history rows in two statements per table (rule 2, at intake speed).

`bulk_create_with_history` builds one historical model instance per row in Python; for an intake
(a dozen rows in six tables) that costs more than the database work. Here the history rows are
copied by PostgreSQL from the rows just inserted: one INSERT … SELECT per table, with the same
author, change reason and time for the whole intake, exactly as simple-history would write them.
"""

from collections.abc import Sequence
from datetime import datetime
from functools import cache
from typing import Any

from django.db import connection, models
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


# Field types whose Python values psycopg2 adapts as they are (Django's per-value preparation, run
# by `bulk_create` for every field of every row, was a third of a sheet import's Python time).
_PLAIN_FIELDS = (
    models.UUIDField,
    models.CharField,
    models.TextField,
    models.BooleanField,
    models.IntegerField,
    models.DateField,  # DateTimeField too (a subclass): aware values only, checked per value
    models.ForeignKey,
)


@cache
def _insert_plan(model: Any) -> tuple[str, str, list[tuple[Any, str, bool]]]:
    """The INSERT's head and one row's placeholders, and per field: (field, attname, plain)."""
    fields = [f for f in model._meta.concrete_fields if not f.generated]
    columns = ", ".join(f'"{f.column}"' for f in fields)
    head = f'INSERT INTO "{model._meta.db_table}" ({columns}) VALUES '  # noqa: S608 - model metadata only
    row = "(" + ", ".join(["%s"] * len(fields)) + ")"
    plan = []
    for f in fields:
        special = getattr(f, "auto_now", False) or getattr(f, "auto_now_add", False) or f.has_db_default()
        plain = isinstance(f, _PLAIN_FIELDS) and not special
        plan.append((f, f.attname, plain))
    return head, row, plan


def insert_rows(model: Any, objs: Sequence[Any]) -> None:
    """INSERT new model instances (their keys set), as `bulk_create` would write them, the
    values read straight from the instances (prepared by Django only where a type needs it). Like
    `bulk_create`, it writes no history (callers add it) and sends no signals; afterwards the
    instances are saved ones (`_state.adding` False)."""
    head, row, plan = _insert_plan(model)
    params: list[Any] = []
    for obj in objs:
        for field, attname, plain in plan:
            value = getattr(obj, attname)
            if not plain or (isinstance(value, datetime) and timezone.is_naive(value)):
                value = field.pre_save(obj, True)
                if hasattr(value, "resolve_expression"):  # a database default: Django's own path
                    model._default_manager.bulk_create(objs)  # history-safe: callers add it
                    return
                value = field.get_db_prep_save(value, connection)
            params.append(value)
    with connection.cursor() as cursor:
        # In batches of ~60,000 values, as bulk_create does, so one statement stays a few megabytes.
        per_batch = max(1, 60_000 // len(plan))
        for start in range(0, len(objs), per_batch):
            count = min(per_batch, len(objs) - start)
            cursor.execute(
                head + ", ".join([row] * count), params[start * len(plan) : (start + count) * len(plan)]
            )
    for obj in objs:
        obj._state.adding = False
        obj._state.db = connection.alias


@cache
def _init_plan(model: Any) -> list[tuple[str, str, Any]]:
    return [(f.attname, f.name, f) for f in model._meta.concrete_fields]


def new_instance(model: Any, /, **values: Any) -> Any:
    """A new, unsaved `model(**values)` for the bulk writers, built in a third of the time: values
    by attname (`case_id=`) or by field name (`case=` an instance, whose key is taken), every other
    field its default, all passed positionally (Model.__init__'s fast path, the one `from_db`
    takes). Unlike `model(case=case)` the related instance is not cached on the new one. (`model`
    is positional-only: a model may have a field of that name, as ImportRecord does.)"""
    args = []
    for attname, name, field in _init_plan(model):
        if attname in values:
            args.append(values.pop(attname))
        elif name in values:
            related = values.pop(name)
            if related is not None and not isinstance(related, field.remote_field.model):
                raise ValueError(f"{model.__name__}.{name} must be a {field.remote_field.model.__name__}")
            args.append(None if related is None else related.pk)
        else:
            args.append(field.get_default())
    if values:
        raise TypeError(f"{model.__name__} has no field {', '.join(sorted(values))}")
    return model(*args)


def insert_with_history(model: Any, objs: Sequence[Any], *, user: Any, reason: str) -> None:
    """Insert `objs` (new, with their UUIDs set) and one "created" history row each."""
    if not objs:
        return
    insert_rows(model, objs)  # history-safe: history rows inserted just below
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
    insert_rows(model, objs)  # history-safe: history rows inserted just below
    user_id = user.pk if getattr(user, "is_authenticated", False) else None
    with connection.cursor() as cursor:
        cursor.execute(
            _history_sql_reasons(model),
            [timezone.now(), "+", user_id, [obj.pk for obj in objs], list(reasons)],
        )
