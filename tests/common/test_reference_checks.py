"""References checked once per statement (familylink/common/reference_checks.py) instead of by
PostgreSQL's per-row deferred foreign keys: on every table that does it, an INSERT or an UPDATE
naming a parent that does not exist is refused (foreign_key_violation), a valid one passes, and the
app role can neither drop nor switch off the triggers. Run as the app role, as every test is."""

import uuid
from typing import Any

import psycopg2
import pytest
from django.apps import apps
from django.db import DatabaseError, IntegrityError, connection, models, transaction

from familylink.common.no_delete import FAMILYLINK_APP_LABELS
from familylink.common.reference_checks import function_name, trigger_names
from legacy.models import ImportRecord, ImportRow
from legacy.services import import_file
from tests.apprehensions.factories import station
from tests.legacy.sheets import as_csv
from tests.reunification.factories import approved_separation, years_ago

pytestmark = pytest.mark.django_db


def checked_references() -> list[tuple[type[models.Model], models.ForeignKey]]:
    """Every foreign key of FamilyLink's models declared without a database constraint: each must be
    checked per statement. Of a history table, only `history_user` (`user_db_constraint=False`, the
    models written in bulk): the other keys a history row copies are its record's, never checked
    again. (WorklistItem's two keys have their own hand-written trigger, migration 0006 of
    reunification, and their own test in tests/reunification/test_worklists.py.)"""
    found = []
    for model in apps.get_models():
        if model._meta.app_label not in FAMILYLINK_APP_LABELS:
            continue
        if model._meta.label == "reunification.WorklistItem":
            continue
        for field in model._meta.concrete_fields:
            if _is_history(model) and field.name != "history_user":
                continue
            if isinstance(field, models.ForeignKey) and not field.db_constraint:
                found.append((model, field))
    return found


def _is_history(model: type[models.Model]) -> bool:
    return model.__name__.startswith("Historical")


REFERENCES = checked_references()
TABLES = sorted({model._meta.db_table for model, _ in REFERENCES})


def test_the_import_tables_are_checked_per_statement():
    """The keys of the tables a legacy import fills (docs/benchmarks.md) are among them."""
    checked = {f"{model._meta.db_table}.{field.column}" for model, field in REFERENCES}
    for expected in (
        "apprehensions_apprehensionperson.person_id",
        "apprehensions_familymembership.family_unit_id",
        "apprehensions_relationship.to_person_id",
        "separations_separationmember.separation_id",
        "separations_custodyperiod.person_id",
        "reunification_casestep.case_id",
        "reunification_caseadult.case_id",
        "reunification_reunificationcase.separation_id",
        "legacy_importrow.batch_id",
        "legacy_importrecord.row_id",
        # Their authors, and their history rows' (users are never deleted either).
        "apprehensions_person.created_by_id",
        "separations_custodyperiod.recorded_by_id",
        "reunification_casestep.done_by_id",
        "legacy_importrecord.withdrawn_by_id",
        "legacy_historicalimportrecord.history_user_id",
        "reunification_historicalcasestep.history_user_id",
    ):
        assert expected in checked
    assert len(TABLES) >= 28


def test_each_table_has_both_triggers_and_no_constraint_left():
    """In the catalog: the two statement triggers on each table, owned (with their function) by the
    owner role; no foreign-key constraint left on those columns; their indexes kept."""
    with connection.cursor() as cursor:
        cursor.execute(
            """SELECT c.relname, t.tgname, pg_get_userbyid(p.proowner), t.tgenabled
               FROM pg_trigger t JOIN pg_class c ON c.oid = t.tgrelid JOIN pg_proc p ON p.oid = t.tgfoid
               WHERE NOT t.tgisinternal AND t.tgname LIKE '%%_refs_%%'"""
        )
        triggers = {(table, name): (owner, enabled) for table, name, owner, enabled in cursor.fetchall()}
        for model, field in REFERENCES:
            table = model._meta.db_table
            for name in trigger_names(table):
                owner, enabled = triggers[(table, name)]
                assert owner != connection.settings_dict["USER"], (table, name)
                assert enabled == "O", (table, name)
            cursor.execute(
                """SELECT count(*) FROM pg_constraint k JOIN pg_attribute a
                     ON a.attrelid = k.conrelid AND a.attnum = ANY (k.conkey)
                   WHERE k.contype = 'f' AND k.conrelid = %s::regclass AND a.attname = %s""",
                [table, field.column],
            )
            assert cursor.fetchone()[0] == 0, (table, field.column)
            if field.db_index:
                cursor.execute(
                    """SELECT count(*) FROM pg_index i JOIN pg_attribute a
                         ON a.attrelid = i.indrelid AND a.attnum = i.indkey[0]
                       WHERE i.indrelid = %s::regclass AND a.attname = %s""",
                    [table, field.column],
                )
                assert cursor.fetchone()[0] >= 1, f"{table}.{field.column} lost its index"


@pytest.fixture
def filled(users):
    """Rows in every checked table, written by the services (valid inserts, so the triggers let
    them through): a small legacy sheet imported, and a separation requested and approved."""
    for code in ("EPT", "MCA"):
        station(code)
    counts_before = {table: _count(table) for table in TABLES}
    batch = import_file(content=as_csv(), filename="el-paso.csv", by=users["hq_analyst"])
    approved_separation(users, children=[years_ago(6)])
    assert ImportRow.objects.filter(batch=batch).exists()
    assert ImportRecord.objects.filter(row__batch=batch).exists()
    return counts_before


def _count(table: str) -> int:
    with connection.cursor() as cursor:
        cursor.execute(f'SELECT count(*) FROM "{table}"')
        return cursor.fetchone()[0]


def _bogus(field: models.ForeignKey) -> Any:
    return uuid.uuid4() if isinstance(field.target_field, models.UUIDField) else 2_147_483_647


def _refused(sql: str, params: list[Any], table: str, column: str) -> None:
    with pytest.raises(IntegrityError) as excinfo, transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(sql, params)
    cause = excinfo.value.__cause__
    assert isinstance(cause, psycopg2.Error)
    assert cause.pgcode == "23503"  # foreign_key_violation
    assert f"{table}.{column} must reference an existing row of" in str(excinfo.value)
    assert cause.diag.table_name == table and cause.diag.column_name == column


@pytest.mark.parametrize(
    ("model", "field"), REFERENCES, ids=[f"{m._meta.db_table}.{f.column}" for m, f in REFERENCES]
)
def test_a_reference_to_a_missing_parent_is_refused(filled, model, field):
    table, column = model._meta.db_table, field.column
    key = model._meta.pk.column
    # A valid INSERT passed: the services wrote this table's rows with the trigger in place.
    assert _count(table) > filled[table], f"the scenario wrote no row into {table}"
    with connection.cursor() as cursor:
        # A row naming a parent if there is one (no record of the scenario is withdrawn, say).
        cursor.execute(f'SELECT "{key}" FROM "{table}" ORDER BY "{column}" IS NULL, created_at DESC LIMIT 1')
        row_id = cursor.fetchone()[0]

    if _is_history(model):
        # History is never updated: the app role may not (tests/common/test_db_roles.py).
        refused = pytest.raises(DatabaseError, match="permission denied")
        with refused, transaction.atomic(), connection.cursor() as cursor:
            cursor.execute(
                f'UPDATE "{table}" SET "{column}" = %s WHERE "{key}" = %s', [_bogus(field), row_id]
            )
    else:
        # UPDATE: to its own (existing) parent passes, the trigger having run; to a missing one is refused.
        with transaction.atomic(), connection.cursor() as cursor:
            cursor.execute(f'UPDATE "{table}" SET "{column}" = "{column}" WHERE id = %s', [row_id])
            assert cursor.rowcount == 1
        _refused(
            f'UPDATE "{table}" SET "{column}" = %s WHERE id = %s', [_bogus(field), row_id], table, column
        )

    # INSERT: a copy of that row under a new id naming a missing parent is refused. (So that no
    # unique index refuses it first, the copy is withdrawn, its unique nullable fields are emptied
    # and its first other reference names the parent of another row, an existing one; in a unique
    # constraint that does not hold the tested column, a field of its own is changed too.)
    other = next((f for m, f in REFERENCES if m is model and f.column != column and not f.null), None)
    shifted = {
        next((name for name in c.fields if not model._meta.get_field(name).is_relation), None)
        for c in model._meta.constraints
        if isinstance(c, models.UniqueConstraint) and c.fields and field.name not in c.fields
    }
    columns, values, params = [], [], []
    for f in model._meta.concrete_fields:
        columns.append(f'"{f.column}"')
        if f.name in shifted:
            integer = isinstance(f, models.IntegerField)
            values.append(f'"{f.column}" + 1000000' if integer else f"\"{f.column}\" || '~'")
        elif other is not None and f.column == other.column:
            another = f'SELECT x."{f.column}" FROM "{table}" x WHERE x."{f.column}" <> "{table}"."{f.column}"'
            values.append(f'COALESCE(({another} LIMIT 1), "{f.column}")')
        elif f.primary_key and isinstance(f, models.AutoField):  # a history row's: the next number
            columns.pop()
        elif f.primary_key:
            values.append("%s")
            params.append(uuid.uuid4())
        elif f.column == column:
            values.append("%s")
            params.append(_bogus(field))
        elif f.name == "withdrawn_at":
            values.append("now()")
        elif f.unique and f.null:
            values.append("NULL")
        else:
            values.append(f'"{f.column}"')
    params.append(row_id)
    copy = f'INSERT INTO "{table}" ({", ".join(columns)}) SELECT {", ".join(values)} FROM "{table}" WHERE "{key}" = %s'  # noqa: E501
    count = _count(table)
    _refused(copy, params, table, column)
    assert _count(table) == count


@pytest.mark.parametrize("table", TABLES)
def test_the_app_role_cannot_drop_or_disable_the_checks(table):
    on_insert, _ = trigger_names(table)
    for statement in (
        f'ALTER TABLE "{table}" DISABLE TRIGGER "{on_insert}"',
        f'DROP TRIGGER "{on_insert}" ON "{table}"',
        f'DROP FUNCTION "{function_name(table)}"() CASCADE',
        f'ALTER TABLE "{table}" DISABLE TRIGGER ALL',
    ):
        refused = pytest.raises(DatabaseError, match="must be owner")
        with refused, transaction.atomic(), connection.cursor() as cursor:
            cursor.execute(statement)
