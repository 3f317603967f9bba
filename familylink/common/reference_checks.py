"""References checked once per statement instead of once per row, for the tables an import fills.

Django declares every foreign key `DEFERRABLE INITIALLY DEFERRED`, so PostgreSQL checks each new
row's references at COMMIT, one row at a time, taking a key-share lock on every parent row: about
a million checks for a 10,000-row legacy sheet (docs/benchmarks.md, "Legacy spreadsheet import").
For the fields named here the model declares `db_constraint=False` and the migration adds
`CheckReferencesPerStatement`: an AFTER INSERT and an AFTER UPDATE trigger per table, FOR EACH
STATEMENT over the statement's new rows, that refuse (SQLSTATE 23503, foreign_key_violation, the
code PostgreSQL's own foreign keys raise) a row naming a parent that does not exist. A NULL
reference is allowed (nullable fields only). The check needs no lock on the parent: parents are
never deleted (rule 1: the triggers of familylink/common/no_delete.py refuse DELETE on every
table, the app role may not TRUNCATE), so an insert or an update of a child is the only way a
reference can break, and both are checked.

One difference from the deferred keys: the check runs at the end of the statement, so a
transaction must write a parent before its children (as every service does).

The triggers and their function belong to the migration role (the owner), like the tables: the
app role can neither drop nor disable them.
"""

from collections.abc import Sequence
from typing import Any

from django.db import models
from django.db.migrations.operations.base import Operation


def checked_reference(to: Any, **kwargs: Any) -> models.ForeignKey:
    """A reference to a case record that is never deleted (PROTECT) with no foreign-key constraint:
    the app's migration adds `CheckReferencesPerStatement` for it (tests/common/test_reference_checks.py
    fails for any such field left unchecked)."""
    return models.ForeignKey(to, on_delete=models.PROTECT, db_constraint=False, **kwargs)


def function_name(table: str) -> str:
    return f"{table}_refs_check"


def trigger_names(table: str) -> tuple[str, str]:
    return f"{table}_refs_ins", f"{table}_refs_upd"


def _quote(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _literal(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def check_sql(model: type[models.Model], field_names: Sequence[str]) -> str:
    """CREATE FUNCTION and its two statement triggers checking `field_names`' references of `model`."""
    table = model._meta.db_table
    checks = []
    for name in field_names:
        field = model._meta.get_field(name)
        if not isinstance(field, models.ForeignKey):
            raise TypeError(f"{model._meta.label}.{name} is not a foreign key")
        if getattr(field, "db_constraint", True):
            raise ValueError(
                f"{model._meta.label}.{name} still has its foreign-key constraint (db_constraint=True): "
                "checking it per statement as well would only add work."
            )
        column, parent_column = field.column, field.target_field.column
        if column is None or parent_column is None:
            raise TypeError(f"{model._meta.label}.{name} has no column")
        parent_model = field.related_model
        if not isinstance(parent_model, type):  # "self" not yet resolved: never, in a migration state
            raise TypeError(f"{model._meta.label}.{name}'s parent model is not resolved")
        parent = parent_model._meta.db_table
        not_null = f"n.{_quote(column)} IS NOT NULL AND " if field.null else ""
        message = (
            f"{table}.{column} must reference an existing row of {parent} (no {parent}.{parent_column} = %s)."
        )
        # Identifiers from the model's own metadata, quoted; no user input reaches this SQL.
        checks.append(
            f"""
    SELECT n.{_quote(column)}::text INTO missing FROM new_rows n
     WHERE {not_null}NOT EXISTS (
        SELECT 1 FROM {_quote(parent)} p WHERE p.{_quote(parent_column)} = n.{_quote(column)})
     LIMIT 1;
    IF FOUND THEN
        RAISE EXCEPTION USING
            ERRCODE = 'foreign_key_violation',
            MESSAGE = format({_literal(message)}, missing),
            TABLE = {_literal(table)},
            COLUMN = {_literal(column)};
    END IF;"""  # noqa: S608
        )
    function = function_name(table)
    on_insert, on_update = trigger_names(table)
    # One index probe of the parent's key per new row (a nested-loop anti join), whatever the sizes:
    # PL/pgSQL plans each query once per session, and a join that reads the whole parent table or
    # its whole key index would do so at every statement. On the 10,000-row import (docs/
    # benchmarks.md) the 14 functions took 2.8 s with only sequential scans off, 0.95 s with hash
    # and merge joins off too (the checks against persons: 0.81 s -> 0.07 s for relationships).
    return f"""
CREATE OR REPLACE FUNCTION {_quote(function)}() RETURNS trigger
LANGUAGE plpgsql
SET enable_seqscan = off
SET enable_mergejoin = off
SET enable_hashjoin = off AS $$
DECLARE
    missing text;
BEGIN{"".join(checks)}
    RETURN NULL;
END;
$$;
CREATE OR REPLACE TRIGGER {_quote(on_insert)} AFTER INSERT ON {_quote(table)}
    REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT
    EXECUTE FUNCTION {_quote(function)}();
CREATE OR REPLACE TRIGGER {_quote(on_update)} AFTER UPDATE ON {_quote(table)}
    REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT
    EXECUTE FUNCTION {_quote(function)}();
"""


def drop_sql(model: type[models.Model]) -> str:
    table = model._meta.db_table
    on_insert, on_update = trigger_names(table)
    return f"""
DROP TRIGGER IF EXISTS {_quote(on_insert)} ON {_quote(table)};
DROP TRIGGER IF EXISTS {_quote(on_update)} ON {_quote(table)};
DROP FUNCTION IF EXISTS {_quote(function_name(table))}();
"""


class CheckReferencesPerStatement(Operation):
    """Migration operation: the statement triggers checking `fields` of `model_name`.

    The SQL is built from the model as the migration state has it at this point (table, columns,
    parent tables), after the AlterFields that set `db_constraint=False`; reversing drops the
    triggers and the function (the AlterFields' reversal puts the constraints back). A table
    already checked gets one function for all its fields: `fields` lists them all, and `replaces`
    the ones checked before, which reversing checks again.
    """

    reduces_to_sql = True
    reversible = True

    def __init__(self, model_name: str, fields: Sequence[str], replaces: Sequence[str] | None = None) -> None:
        self.model_name = model_name
        self.fields = list(fields)
        self.replaces = list(replaces) if replaces else None

    def deconstruct(self) -> tuple[str, list[Any], dict[str, Any]]:
        kwargs: dict[str, Any] = {"model_name": self.model_name, "fields": self.fields}
        if self.replaces:
            kwargs["replaces"] = self.replaces
        return self.__class__.__name__, [], kwargs

    def state_forwards(self, app_label: str, state: Any) -> None:
        pass

    def database_forwards(self, app_label: str, schema_editor: Any, from_state: Any, to_state: Any) -> None:
        model = to_state.apps.get_model(app_label, self.model_name)
        if self.allow_migrate_model(schema_editor.connection.alias, model):
            schema_editor.execute(check_sql(model, self.fields), params=None)

    def database_backwards(self, app_label: str, schema_editor: Any, from_state: Any, to_state: Any) -> None:
        model = from_state.apps.get_model(app_label, self.model_name)
        if self.allow_migrate_model(schema_editor.connection.alias, model):
            sql = check_sql(model, self.replaces) if self.replaces else drop_sql(model)
            schema_editor.execute(sql, params=None)

    def describe(self) -> str:
        return f"Check {self.model_name}'s references ({', '.join(self.fields)}) once per statement"

    @property
    def migration_name_fragment(self) -> str:
        return f"{self.model_name.lower()}_references_per_statement"
