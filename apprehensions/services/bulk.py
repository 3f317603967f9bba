"""Insert new rows with their history rows in two statements per table (rule 2, at intake speed).

`bulk_create_with_history` builds one historical model instance per row in Python; for an intake
(a dozen rows in six tables) that costs more than the database work. Here the history rows are
copied by PostgreSQL from the rows just inserted: one INSERT … SELECT per table, with the same
author, change reason and time for the whole intake, exactly as simple-history would write them.
"""

from collections.abc import Sequence
from datetime import datetime
from functools import cache
from typing import Any, NamedTuple
from uuid import UUID

from django.db import DEFAULT_DB_ALIAS, connection, models, router
from django.db.models.base import DEFERRED, ModelState
from django.db.models.fields.related_descriptors import (
    ForeignKeyDeferredAttribute,
    ForwardManyToOneDescriptor,
)
from django.db.models.query_utils import DeferredAttribute
from django.db.models.signals import post_init, pre_init
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
def _insert_plan(model: Any) -> tuple[str, str, list[tuple[Any, str, bool, bool]]]:
    """The INSERT's head and one row's placeholders, and per field: (field, attname, plain, uuid)."""
    fields = [f for f in model._meta.concrete_fields if not f.generated]
    columns = ", ".join(f'"{f.column}"' for f in fields)
    head = f'INSERT INTO "{model._meta.db_table}" ({columns}) VALUES '  # noqa: S608 - model metadata only
    row = "(" + ", ".join(["%s"] * len(fields)) + ")"
    plan = []
    for f in fields:
        special = getattr(f, "auto_now", False) or getattr(f, "auto_now_add", False) or f.has_db_default()
        plain = isinstance(f, _PLAIN_FIELDS) and not special
        uuid = plain and isinstance(f.target_field if f.is_relation else f, models.UUIDField)
        plan.append((f, f.attname, plain, uuid))
    return head, row, plan


def insert_rows(model: Any, objs: Sequence[Any]) -> None:
    """INSERT new model instances (their keys set), as `bulk_create` would write them, the
    values read straight from the instances (prepared by Django only where a type needs it). Like
    `bulk_create`, it writes no history (callers add it) and sends no signals; afterwards the
    instances are saved ones (`_state.adding` False)."""
    head, row, plan = _insert_plan(model)
    params: list[Any] = []
    for obj in objs:
        for field, attname, plain, uuid in plan:
            value = getattr(obj, attname)
            if uuid:
                # As 32 hex digits (Django's form for a database with no uuid type), which the
                # column reads: psycopg2 quotes text in C but a UUID through Python, value by value.
                if value.__class__ is UUID:
                    value = value.hex
            elif not plain or (isinstance(value, datetime) and timezone.is_naive(value)):
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
    alias = connection.alias  # a proxy: read once, not per instance
    for obj in objs:
        obj._state.adding = False
        obj._state.db = alias


class _Key(NamedTuple):
    """A foreign key as `new_instance` assigns an instance to it."""

    field: Any
    model: Any  # the related model (concrete)
    target: str  # the related model's field the key holds (its pk, as a rule)
    plain: bool  # a many-to-one key, Django's own descriptor (see `_relate`)


@cache
def _init_plan(model: Any) -> tuple[list[tuple[str, str, _Key | None, Any, bool]], list[str] | None]:
    """Per concrete field: (attname, name, key, default, call), `default` being the value
    `Field.get_default()` gives every instance or (`call`) the function giving each one; and the
    attnames when `Model.__init__(*values)` only stores the values in the instance (see `_build`)."""
    fields = model._meta.concrete_fields
    plan = []
    for f in fields:
        if f.generated:
            default, call = DEFERRED, False  # computed by the database: Model(**values) leaves it unset
        elif f.has_default() and callable(f.default) or f.has_db_default():
            # uuid4, now(), a database default: a new value each time (a key's default is converted)
            default, call = (f.get_default if f.is_relation or f.has_db_default() else f.default), True
        else:
            default, call = f.get_default(), False  # a constant (None, "", 1 …), as Django returns it
        key = None
        if f.is_relation:
            plain = type(getattr(model, f.name)) is ForwardManyToOneDescriptor and len(f.related_fields) == 1
            key = _Key(f, f.remote_field.model._meta.concrete_model, f.target_field.attname, plain)
        plan.append((f.attname, f.name, key, default, call))
    plain = model.__init__ is models.Model.__init__ and all(
        not f.generated
        and type(getattr(model, f.attname)) in (DeferredAttribute, ForeignKeyDeferredAttribute)
        for f in fields
    )
    return plan, [f.attname for f in fields] if plain else None


def _build(model: Any, args: list[Any], attnames: list[str] | None) -> Any:
    """`model(*args)`, all fields given. Where `Model.__init__` would only store the values in the
    instance's dict (no __init__ of the model's own, plain field descriptors, no pre_init/post_init
    receiver), they are stored directly, in a fifth of the time."""
    if attnames is None or pre_init.has_listeners(model) or post_init.has_listeners(model):
        return model(*args)
    obj = model.__new__(model)
    obj._state = ModelState()
    obj.__dict__.update(zip(attnames, args, strict=True))
    return obj


def _relate(obj: Any, key: _Key, value: Any) -> None:
    """`obj.<key> = value` on a new instance whose key is still None, with the effects of Django's
    descriptor (ForwardManyToOneDescriptor.__set__) when no database router is set: the type
    checked, both instances on one database, the key taken and the instance cached on `obj`.
    Anything else goes through the descriptor itself."""
    state = obj._state
    if value is None:
        state.fields_cache[key.field.name] = None
        return
    if not key.plain or router.routers or not isinstance(value, key.model):
        setattr(obj, key.field.name, value)  # Django's own path (and its message)
        return
    if state.db is None:
        state.db = value._state.db or DEFAULT_DB_ALIAS
    if value._state.db is None:
        value._state.db = state.db
    elif value._state.db != state.db:
        setattr(obj, key.field.name, value)  # the router's refusal, in Django's words
        return
    obj.__dict__[key.field.attname] = getattr(value, key.target)
    state.fields_cache[key.field.name] = value


def new_instance(model: Any, /, **values: Any) -> Any:
    """A new, unsaved `model(**values)`, the same instance built in half the time: values by
    attname (`case_id=`) or by field name (`case=` an instance), every other field its default,
    passed positionally (Model.__init__'s fast path, the one `from_db` takes); a related instance
    is then assigned as `model(**values)` assigns it (checked, its key taken, cached on the new
    one). (`model` is positional-only: a model may have a field of that name, as ImportRecord does.)"""
    plan, attnames = _init_plan(model)
    args = []
    related = []
    for attname, name, key, default, call in plan:
        if attname in values:
            args.append(values.pop(attname))
        elif key is not None and name in values:
            related.append((key, values.pop(name)))
            args.append(None)
        else:
            args.append(default() if call else default)
    if values:
        raise TypeError(f"{model.__name__} has no field {', '.join(sorted(values))}")
    obj = _build(model, args, attnames)
    for key, value in related:
        _relate(obj, key, value)
    return obj


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
