"""Set-based writes that keep history (rule 2).

`QuerySet.update()`/`bulk_create()` write no history, and saving 100,000 rows one by one takes
minutes. These helpers build the SQL that writes a batch of rows AND their django-simple-history
rows in one statement: the data-modifying CTE returns the rows it wrote, and the outer INSERT
copies them into the historical table with who, when and why.
"""

import re
from typing import Any

from django.conf import settings
from django.db import models


def _columns(model: type[models.Model]) -> list[str]:
    """The model's columns that its historical table keeps (models may exclude some from history)."""
    tracked = {f.column for f in model.history.model._meta.concrete_fields}  # type: ignore[attr-defined]
    return [str(f.column) for f in model._meta.concrete_fields if f.column in tracked]


def history_table(model: type[models.Model]) -> str:
    return model.history.model._meta.db_table  # type: ignore[attr-defined]


def history_insert(model: type[models.Model], source: str, *, history_type: str) -> str:
    """`INSERT INTO <historical table> … SELECT … FROM <source>` for the rows of CTE `source`.

    Parameters (named): `history_date`, `history_reason`, `history_user`.
    """
    cols = _columns(model)
    quoted = ", ".join(f'"{c}"' for c in cols)
    selected = ", ".join(f'{source}."{c}"' for c in cols)
    # Only identifiers from model metadata are interpolated; every value is a query parameter.
    extra = "history_date, history_change_reason, history_type, history_user_id"
    target = f'"{history_table(model)}" ({quoted}, {extra})'
    values = f"%(history_date)s, %(history_reason)s, '{history_type}', %(history_user)s"
    return f"INSERT INTO {target} SELECT {selected}, {values} FROM {source}"  # noqa: S608


def history_params(*, when: Any, reason: str, user: Any) -> dict[str, Any]:
    return {
        "history_date": when,
        "history_reason": reason,
        "history_user": getattr(user, "pk", None),
    }


_NAMED_PARAMETER = re.compile(r"%\((\w+)\)s")


def execute_prepared(cursor: Any, name: str, sql: str, params: dict[str, Any]) -> None:
    """Run `sql` (named `%(x)s` parameters) as a server-side prepared statement of this database
    session: PostgreSQL parses and plans it once per session instead of on every call (planning
    the claim statement cost more than running it). The statement is prepared on first use on each
    new connection; PREPARE is not undone by a rollback, and lives as long as the session. With
    `DATABASE_PREPARED_STATEMENTS` off (behind a transaction-mode pooler) it is a plain execute."""
    if not getattr(settings, "DATABASE_PREPARED_STATEMENTS", True):
        cursor.execute(sql, params)
        return
    wrapper = cursor.db
    raw = wrapper.connection
    prepared: tuple[Any, dict[str, list[str]]] | None = getattr(wrapper, "_familylink_prepared", None)
    if prepared is None or prepared[0] is not raw:  # a new database session
        prepared = (raw, {})
        wrapper._familylink_prepared = prepared
    order = prepared[1].get(name)
    if order is None:
        order = list(dict.fromkeys(_NAMED_PARAMETER.findall(sql)))
        body = _NAMED_PARAMETER.sub(lambda m: f"${order.index(m.group(1)) + 1}", sql)
        cursor.execute(f"PREPARE {name} AS {body}")
        prepared[1][name] = order
    placeholders = ", ".join(["%s"] * len(order))
    cursor.execute(f"EXECUTE {name}({placeholders})", [params[key] for key in order])
