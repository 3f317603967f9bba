"""The tamper-evident audit chain: what the app writes verifies clean; what even the owner rewrites,
removes, reorders or slips in outside the chain is named by `verify_audit_chain`."""

import json
import subprocess
import sys
import threading
from pathlib import Path

import pytest
from django.core.management import call_command
from django.db import connection

from apprehensions.models import Person, Station
from audit import chain
from audit.models import AccessLog, ChainCheckpoint, ChainLink
from audit.services import access_log_record, audit_checkpoint_record
from tests.db import connect_as

pytestmark = pytest.mark.django_db(transaction=True)

ROOT = Path(__file__).resolve().parents[2]
PERSON_HISTORY = "apprehensions_historicalperson"


def _person(name: str = "Ana") -> Person:
    person = Person(given_names=name, first_surname="Pérez", sex="F")
    person._change_reason = "test"
    person.save()
    return person


def _edit(person: Person, given_names: str) -> None:
    person.given_names = given_names
    person._change_reason = "test edit"
    person.save()


def _run_verify(*extra: str) -> subprocess.CompletedProcess:
    """`manage.py verify_audit_chain` in its own process, against the test database."""
    db = connection.settings_dict
    env = {
        "PATH": "/usr/bin:/bin",
        "DJANGO_SETTINGS_MODULE": "familylink.settings.test",
        "DATABASE_URL": f"postgres://{db['USER']}@{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}/"
        + db["NAME"],
    }
    return subprocess.run(
        [sys.executable, "manage.py", "verify_audit_chain", *extra],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


def _owner_execute(*statements: str) -> None:
    """Each statement committed on its own, as the owner role."""
    with connect_as("owner") as owner:
        owner.autocommit = True
        with owner.cursor() as cursor:
            for statement in statements:
                cursor.execute(statement)


def test_chain_links_every_history_and_access_log_row_and_verifies_clean(users):
    """Each history row and access-log row written by the app gets the next link; nothing is broken."""
    person = _person()
    _edit(person, "Ana María")
    access_log_record(user=users["hq_analyst"], obj=person)

    history_ids = sorted(str(h) for h in person.history.values_list("history_id", flat=True))
    links = ChainLink.objects.filter(table_name=PERSON_HISTORY, row_pk__in=history_ids)
    assert links.count() == 2
    assert ChainLink.objects.filter(table_name=AccessLog._meta.db_table).count() == AccessLog.objects.count()
    links = ChainLink.objects.filter(table_name=PERSON_HISTORY).order_by("seq")
    seqs = list(links.values_list("seq", flat=True))
    assert seqs == list(range(1, len(seqs) + 1))

    reports = chain.verify()
    assert [p for r in reports for p in r.problems] == []
    result = _run_verify()
    assert result.returncode == 0, result.stderr
    assert "verified clean" in result.stdout


def test_verify_names_a_history_row_the_owner_altered(users):
    """An UPDATE of one history row, even by the owner with the privilege, is named with its row."""
    person = _person()
    _edit(person, "Ana María")
    victim = person.history.order_by("history_id").first()
    _owner_execute(
        f"UPDATE {PERSON_HISTORY} SET given_names = 'Someone Else' WHERE history_id = {victim.history_id}"
    )

    result = _run_verify()

    assert result.returncode == 1
    assert f"{PERSON_HISTORY}: row history_id={victim.history_id}" in result.stderr
    assert "was changed after it was written" in result.stderr


def test_verify_catches_a_removed_row(users):
    """A history row deleted by the owner (after switching the no-delete trigger off) is named."""
    person = _person()
    _edit(person, "Ana María")
    victim = person.history.order_by("history_id").first()
    _owner_execute(
        f"ALTER TABLE {PERSON_HISTORY} DISABLE TRIGGER familylink_no_hard_delete",
        f"DELETE FROM {PERSON_HISTORY} WHERE history_id = {victim.history_id}",
        f"ALTER TABLE {PERSON_HISTORY} ENABLE TRIGGER familylink_no_hard_delete",
    )

    result = _run_verify()

    assert result.returncode == 1
    assert f"row history_id={victim.history_id}" in result.stderr and "was removed" in result.stderr


def test_verify_catches_two_links_reordered(users):
    """Swapping the order of two links breaks the chain at the first of them."""
    person = _person()
    _edit(person, "Ana María")
    _edit(person, "Ana Lucía")
    first, second = ChainLink.objects.filter(table_name=PERSON_HISTORY).order_by("-seq")[:2][::-1]
    _owner_execute(
        f"UPDATE audit_chainlink SET seq = -1 WHERE id = {first.id}",
        f"UPDATE audit_chainlink SET seq = {first.seq} WHERE id = {second.id}",
        f"UPDATE audit_chainlink SET seq = {second.seq} WHERE id = {first.id}",
    )

    reports = {r.table: r for r in chain.verify()}

    assert not reports[PERSON_HISTORY].ok
    assert f"link {first.seq}" in reports[PERSON_HISTORY].problems[0]


def test_verify_catches_a_row_inserted_outside_the_chain(users):
    """A history row slipped in with the chain trigger off has no link and is named."""
    _person()
    _owner_execute(
        f"ALTER TABLE {PERSON_HISTORY} DISABLE TRIGGER {chain.TRIGGER_NAME}",
        # A forged copy of the newest history row, under a new id and another name.
        f"INSERT INTO {PERSON_HISTORY} SELECT (jsonb_populate_record(NULL::{PERSON_HISTORY}, to_jsonb(h) "
        "|| jsonb_build_object('history_id', h.history_id + 1000, 'given_names', 'Forged'))).* "
        f"FROM {PERSON_HISTORY} h WHERE h.history_id = (SELECT max(history_id) FROM {PERSON_HISTORY})",
        f"ALTER TABLE {PERSON_HISTORY} ENABLE TRIGGER {chain.TRIGGER_NAME}",
    )

    reports = {r.table: r for r in chain.verify()}

    assert any("was inserted outside the chain" in p for p in reports[PERSON_HISTORY].problems)


def test_concurrent_writers_never_fork_a_chain(users):
    """Eight threads saving at once: one chain per table, every seq once, verifying clean."""
    from django.db import connections

    barrier = threading.Barrier(8)
    errors: list = []

    def work(i: int) -> None:
        try:
            barrier.wait(timeout=10)
            for k in range(5):
                _edit(_person(f"P{i}"), f"P{i}-{k}")
                access_log_record(user=None, obj=Station.objects.first() or Person.objects.first())
        except Exception as exc:  # noqa: BLE001 - inspected below
            errors.append(exc)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=work, args=(i,)) for i in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)

    assert errors == []
    links = ChainLink.objects.filter(table_name=PERSON_HISTORY).order_by("seq")
    seqs = list(links.values_list("seq", flat=True))
    assert seqs == list(range(1, len(seqs) + 1)) and len(seqs) >= 80
    assert [p for r in chain.verify() for p in r.problems] == []


def test_checkpoint_detects_a_chain_rewritten_from_the_start(users, tmp_path):
    """Even a rewrite that recomputes every link (as a superuser could) no longer matches the signed
    checkpoint an auditor exported before it."""
    person = _person()
    _edit(person, "Ana María")
    checkpoint = audit_checkpoint_record()
    assert checkpoint.verified and PERSON_HISTORY in checkpoint.heads
    exported = tmp_path / "checkpoint.json"
    exported.write_text(json.dumps({"heads": checkpoint.heads, "signature": checkpoint.signature}))

    victim = person.history.order_by("history_id").first()
    _owner_execute(
        f"UPDATE {PERSON_HISTORY} SET given_names = 'Rewritten' WHERE history_id = {victim.history_id}",
        "ALTER TABLE audit_chainlink DISABLE TRIGGER familylink_no_hard_delete",
        f"DELETE FROM audit_chainlink WHERE table_name = '{PERSON_HISTORY}'",
        "ALTER TABLE audit_chainlink ENABLE TRIGGER familylink_no_hard_delete",
        f"SELECT familylink_chain_backfill('{PERSON_HISTORY}', 'history_id')",
    )
    assert [p for r in chain.verify() for p in r.problems] == []  # internally consistent again

    result = _run_verify("--checkpoint", str(exported))

    assert result.returncode == 1
    assert f"{PERSON_HISTORY}: link" in result.stderr and "differs from the checkpoint" in result.stderr
    tampered = tmp_path / "tampered.json"
    heads = dict(checkpoint.heads)
    heads[PERSON_HISTORY] = {"count": 1, "head": "0" * 64}
    tampered.write_text(json.dumps({"heads": heads, "signature": checkpoint.signature}))
    assert "signature does not match" in _run_verify("--checkpoint", str(tampered)).stderr


def test_verify_command_records_a_signed_checkpoint(users):
    """`verify_audit_chain --record` (what the nightly task does) keeps a signed checkpoint."""
    _person()
    call_command("verify_audit_chain", "--record")
    checkpoint = ChainCheckpoint.objects.get()
    assert checkpoint.verified
    assert checkpoint.signature == chain.sign(checkpoint.heads)
