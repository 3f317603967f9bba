"""Rule 1 in the database: every FamilyLink table refuses DELETE; every model keeps history."""

import psycopg2
import pytest
from django.apps import apps
from django.db import connection, transaction
from django.db.utils import DatabaseError

from familylink.common.errors import HardDeleteError
from familylink.common.models import User
from familylink.common.no_delete import EXEMPT_TABLES, FAMILYLINK_APP_LABELS, TRIGGER_NAME
from tests.db import connect_as

pytestmark = pytest.mark.django_db

PREFIXES = tuple(f"{label}_" for label in FAMILYLINK_APP_LABELS)


def catalog_tables() -> list[str]:
    """Every table of FamilyLink's apps, read from PostgreSQL's catalog (not from the models)."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT tablename FROM pg_tables WHERE schemaname = 'public' ORDER BY tablename")
        names = [row[0] for row in cursor.fetchall()]
    return [n for n in names if n.startswith(PREFIXES) and n not in EXEMPT_TABLES]


def test_catalog_lists_the_apps_tables():
    """The catalog query finds the tables of every app, history tables included."""
    tables = catalog_tables()
    for expected in (
        "apprehensions_person",
        "apprehensions_historicalperson",
        "separations_separation",
        "reunification_reunificationcase",
        "audit_accesslog",
        "common_user",
    ):
        assert expected in tables
    assert len(tables) >= 40


def test_delete_is_refused_on_every_table():
    """A DELETE matching no row is refused on each table: the app role has no DELETE privilege, and
    even the owner role (migrations) meets the trigger naming rule 1."""
    for table in catalog_tables():
        for statement in (f'DELETE FROM "{table}" WHERE false', f'DELETE FROM "{table}"'):
            with (
                pytest.raises(DatabaseError, match="permission denied"),
                transaction.atomic(),
                connection.cursor() as cursor,
            ):
                cursor.execute(statement)
    with connect_as("owner") as owner:
        for table in catalog_tables():
            for statement in (f'DELETE FROM "{table}" WHERE false', f'DELETE FROM "{table}"'):
                with pytest.raises(psycopg2.Error) as excinfo, owner.cursor() as cursor:
                    cursor.execute(statement)
                owner.rollback()
                assert "FamilyLink rule 1: nothing is hard-deleted" in str(excinfo.value), table


def test_truncate_is_refused_to_the_app_role():
    """TRUNCATE is refused to the app role; only the owner (`manage.py flush`, tests) may empty tables."""
    with (
        pytest.raises(DatabaseError, match="permission denied"),
        transaction.atomic(),
        connection.cursor() as cursor,
    ):
        cursor.execute('TRUNCATE "apprehensions_person" CASCADE')


def test_every_table_has_the_trigger():
    """The trigger is on each table, so a table added later without it fails here."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT c.relname FROM pg_trigger t JOIN pg_class c ON c.oid = t.tgrelid WHERE t.tgname = %s",
            [TRIGGER_NAME],
        )
        protected = {row[0] for row in cursor.fetchall()}
    missing = sorted(set(catalog_tables()) - protected)
    assert missing == []


def test_every_model_has_history():
    """Every concrete model of FamilyLink's apps is tracked by django-simple-history."""
    untracked = []
    for model in apps.get_models():
        if model._meta.app_label not in FAMILYLINK_APP_LABELS or not model._meta.managed:
            continue
        if model.__name__.startswith("Historical"):
            continue
        if getattr(model, "audit_trail", False):  # the audit chain itself: append-only, never updated
            continue
        if not hasattr(model, "history"):
            untracked.append(model._meta.label)
    assert untracked == []


def test_orm_delete_raises_a_clear_error():
    """Model.delete() and QuerySet.delete() refuse, and so does a history-less QuerySet.update()."""
    user = User.objects.create(username="someone")
    with pytest.raises(HardDeleteError, match="nothing is hard-deleted"):
        user.delete()
    from apprehensions.models import Station

    station = Station(code="TST", name="Test")
    station.save()
    with pytest.raises(HardDeleteError, match="nothing is hard-deleted"):
        station.delete()
    with pytest.raises(HardDeleteError, match="nothing is hard-deleted"):
        Station.objects.filter(code="TST").delete()
    with pytest.raises(HardDeleteError, match="writes no history"):
        Station.objects.filter(code="TST").update(name="x")
    assert Station.objects.filter(code="TST").exists()


def test_withdraw_keeps_the_record_with_who_when_why():
    """Withdrawing is a status change recorded in history, never a deletion."""
    from apprehensions.models import Station

    admin = User.objects.create(username="admin-x")
    station = Station(code="WDR", name="To withdraw")
    station.save()
    station.withdraw(by=admin, reason="Opened by mistake")
    station.refresh_from_db()
    assert station.is_withdrawn and station.withdrawn_by == admin
    latest = station.history.first()
    assert latest.history_change_reason == "withdrawn: Opened by mistake"
    assert latest.history_user == admin
    assert station.history.count() == 2
