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


def _in_threads(work, count: int) -> None:
    """work(0) … work(count - 1), each in its own thread, all started before any is awaited."""
    threads = [threading.Thread(target=work, args=(i,)) for i in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)


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

    _in_threads(work, 8)

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


# --- many rows in one statement, savepoints, constraints set IMMEDIATE, both hash forms -----------

# N copies of the newest history row (a new history_id each, given names "Bulk 1".."Bulk N"), in one
# INSERT, as the app role could write them; parameters: N.
_FORGE = (
    f"INSERT INTO {PERSON_HISTORY} SELECT r.* FROM generate_series(1, %s) g "
    f"CROSS JOIN (SELECT * FROM {PERSON_HISTORY} ORDER BY history_id DESC LIMIT 1) h "
    f"CROSS JOIN LATERAL jsonb_populate_record(NULL::{PERSON_HISTORY}, to_jsonb(h) || jsonb_build_object("
    f"'history_id', nextval(pg_get_serial_sequence('{PERSON_HISTORY}', 'history_id')), "
    "'given_names', 'Bulk ' || g)) r ORDER BY g"
)


def _links(table: str) -> list[ChainLink]:
    return list(ChainLink.objects.filter(table_name=table).order_by("seq"))


def test_one_statement_of_many_rows_gets_one_link_each_in_the_order_written(users):
    """500 history rows in one INSERT, then an edit in the same transaction: 501 links, in order."""
    before = len(_links(PERSON_HISTORY))
    _person()
    with connect_as("app") as app, app.cursor() as cursor:
        cursor.execute(_FORGE, [500])
        cursor.execute(_FORGE.replace("'Bulk ' || g", "'Last'"), [1])
        app.commit()

    links = _links(PERSON_HISTORY)
    assert [link.seq for link in links] == list(range(1, len(links) + 1))
    new = links[before + 1 :]  # the person's own creation is `before`'s next link
    assert len(new) == 501 and {link.form for link in new} == {"row"}
    rows = dict(
        Person.history.model.objects.filter(history_id__in=[int(link.row_pk) for link in new]).values_list(
            "history_id", "given_names"
        )
    )
    assert [rows[int(link.row_pk)] for link in new] == [f"Bulk {g}" for g in range(1, 501)] + ["Last"]
    assert [p for r in chain.verify(tables=[PERSON_HISTORY]) for p in r.problems] == []


@pytest.mark.parametrize("batch", [False, True], ids=["row path", "batch path"])
def test_links_follow_savepoints_and_immediate_constraints(users, batch):
    """Rows rolled back to a savepoint get no link (on the batch path: nothing staged); with
    constraints IMMEDIATE each statement's rows are linked when it ends, and a later statement of
    the same transaction continues the chain."""
    _person()
    before = len(_links(PERSON_HISTORY))
    with connect_as("app") as app, app.cursor() as cursor:
        if batch:
            cursor.execute(_BATCH_ON)
        cursor.execute(_FORGE, [3])
        cursor.execute("SAVEPOINT s")
        cursor.execute(_FORGE, [4])
        cursor.execute("ROLLBACK TO SAVEPOINT s")
        cursor.execute(_FORGE, [2])
        app.commit()
        if batch:
            cursor.execute(_BATCH_ON)  # a new transaction
        cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")
        cursor.execute(_FORGE, [1])
        assert _app_link_count(cursor) == before + 6  # already linked, before the commit
        cursor.execute(_FORGE, [2])
        app.commit()

    assert len(_links(PERSON_HISTORY)) == before + 8
    assert [p for r in chain.verify(tables=[PERSON_HISTORY]) for p in r.problems] == []


def test_verify_checks_links_of_both_forms(users):
    """Links written before migration 0006 hash the row's JSON ('jsonb'); later ones its text ('row').
    A chain holding both verifies clean, and an altered row is named under either form."""
    _person()
    # A link as migration 0004's trigger wrote it: the row's JSON, chained to the head.
    _owner_execute(
        f"ALTER TABLE {PERSON_HISTORY} DISABLE TRIGGER {chain.TRIGGER_NAME}",
        _FORGE.replace("%s", "1"),
        "SET TimeZone = 'UTC'",
        "SET extra_float_digits = 1",
        "INSERT INTO audit_chainlink (table_name, seq, row_pk, row_hash, chain_hash, recorded_at, form) "
        f"SELECT '{PERSON_HISTORY}', l.seq + 1, h.history_id::text, r.hash, "
        "encode(sha256(convert_to(l.chain_hash || r.hash, 'UTF8')), 'hex'), now(), 'jsonb' "
        f"FROM (SELECT * FROM {PERSON_HISTORY} ORDER BY history_id DESC LIMIT 1) h "
        "CROSS JOIN LATERAL (SELECT encode(sha256(convert_to(to_jsonb(h)::text, 'UTF8')), 'hex') AS hash) r "
        f"CROSS JOIN (SELECT * FROM audit_chainlink WHERE table_name = '{PERSON_HISTORY}' "
        "ORDER BY seq DESC LIMIT 1) l",
        f"ALTER TABLE {PERSON_HISTORY} ENABLE TRIGGER {chain.TRIGGER_NAME}",
    )
    _edit(Person.objects.get(), "Ana María")
    forms = [link.form for link in _links(PERSON_HISTORY)]
    assert forms == ["row", "jsonb", "row"]
    assert [p for r in chain.verify(tables=[PERSON_HISTORY]) for p in r.problems] == []

    for link in _links(PERSON_HISTORY)[1:]:
        _owner_execute(f"UPDATE {PERSON_HISTORY} SET sex = 'M' WHERE history_id = {link.row_pk}")
        problems = chain.verify(tables=[PERSON_HISTORY])[0].problems
        assert problems[0] == (
            f"{PERSON_HISTORY}: row history_id={link.row_pk} (link {link.seq}) was changed after it was "
            "written"
        )
        _owner_execute(f"UPDATE {PERSON_HISTORY} SET sex = 'F' WHERE history_id = {link.row_pk}")
    assert [p for r in chain.verify(tables=[PERSON_HISTORY]) for p in r.problems] == []


# --- batched links (audit.chain.batch_links): the large writers' path -------------------------

_BATCH_ON = f"SELECT set_config('{chain.BATCH_SETTING}', 'on', true)"


def _app_link_count(cursor, table: str = PERSON_HISTORY) -> int:
    cursor.execute("SELECT count(*) FROM audit_chainlink WHERE table_name = %s", [table])
    return cursor.fetchone()[0]


def test_batched_links_are_one_per_row_in_order_and_verify_clean(users):
    """In a batch transaction: 500 rows in one statement, one in another, and an ORM edit; 502
    links at commit (none before), in the order written, and the chain mixes both paths cleanly."""
    person = _person()
    before = len(_links(PERSON_HISTORY))
    with connect_as("app") as app, app.cursor() as cursor:
        cursor.execute(_BATCH_ON)
        cursor.execute(_FORGE, [500])
        cursor.execute(_FORGE.replace("'Bulk ' || g", "'Last'"), [1])
        assert _app_link_count(cursor) == before  # linked at commit, not before
        app.commit()
    _edit(person, "Ana Edited")  # the row path again, after the batch

    links = _links(PERSON_HISTORY)
    assert [link.seq for link in links] == list(range(1, len(links) + 1))
    new = links[before:]
    assert len(new) == 502 and {link.form for link in new} == {"row"}
    rows = dict(
        Person.history.model.objects.filter(history_id__in=[int(link.row_pk) for link in new]).values_list(
            "history_id", "given_names"
        )
    )
    assert [rows[int(link.row_pk)] for link in new] == [f"Bulk {g}" for g in range(1, 501)] + [
        "Last",
        "Ana Edited",
    ]
    assert [p for r in chain.verify(tables=[PERSON_HISTORY]) for p in r.problems] == []


def test_concurrent_batch_writers_never_fork_a_chain(users):
    """Six connections writing batch statements (and one the row path) at once, each committing
    several times: every seq once, every row linked once, clean."""
    _person()
    before = len(_links(PERSON_HISTORY))
    barrier = threading.Barrier(6)
    errors: list = []

    def work(i: int) -> None:
        try:
            with connect_as("app") as app, app.cursor() as cursor:
                barrier.wait(timeout=10)
                for _ in range(4):
                    if i:
                        cursor.execute(_BATCH_ON)
                    cursor.execute(_FORGE, [25])
                    app.commit()
        except Exception as exc:  # noqa: BLE001 - inspected below
            errors.append(exc)

    _in_threads(work, 6)

    assert errors == []
    links = _links(PERSON_HISTORY)
    assert [link.seq for link in links] == list(range(1, len(links) + 1))
    assert len(links) == before + 6 * 4 * 25
    assert len({link.row_pk for link in links}) == len(links)
    assert [p for r in chain.verify(tables=[PERSON_HISTORY]) for p in r.problems] == []


def test_the_app_role_cannot_touch_or_replace_the_staging_table(users):
    """The staged hashes are the owner's: the app role can neither change them nor slip in a table
    of its own under that name."""
    import psycopg2

    _person()
    with connect_as("app") as app, app.cursor() as cursor:
        cursor.execute(_BATCH_ON)
        cursor.execute(_FORGE, [2])
        for statement in (
            "UPDATE pg_temp.familylink_chain_pending SET row_hashes = row_hashes",
            "DELETE FROM pg_temp.familylink_chain_pending",
            "INSERT INTO pg_temp.familylink_chain_pending VALUES ('x', '{1}', '{x}')",
        ):
            cursor.execute("SAVEPOINT s")
            with pytest.raises(psycopg2.errors.InsufficientPrivilege):
                cursor.execute(statement)
            cursor.execute("ROLLBACK TO SAVEPOINT s")

    with connect_as("app") as app, app.cursor() as cursor:
        cursor.execute("CREATE TEMPORARY TABLE familylink_chain_pending (a text, b text[], c text[])")
        cursor.execute(_BATCH_ON)
        with pytest.raises(psycopg2.errors.RaiseException, match="not created by FamilyLink"):
            cursor.execute(_FORGE, [2])


def test_a_statement_that_turns_the_batch_off_half_way_leaves_rows_verify_names(users):
    """The setting chooses the path, not whether rows are linked: a statement that switches it off
    while it runs leaves its first rows without a link, and verify names the first of them."""
    _person()
    sneaky = _FORGE.replace(
        "'Bulk ' || g",
        f"'Bulk ' || g || CASE WHEN g = 3 THEN left(set_config('{chain.BATCH_SETTING}', 'off', true), 0) "
        "ELSE '' END",
    ).replace(" ORDER BY g", "")  # rows inserted as they are made, not after a sort of them all
    with connect_as("app") as app, app.cursor() as cursor:
        cursor.execute(_BATCH_ON)
        cursor.execute(sneaky + " RETURNING history_id", [4])
        first = cursor.fetchone()[0]
        app.commit()

    problems = chain.verify(tables=[PERSON_HISTORY])[0].problems
    assert problems == [
        f"{PERSON_HISTORY}: row history_id={first} was inserted outside the chain (it has no link)"
    ]


@pytest.mark.parametrize(
    "function, columns, row",
    [
        ("familylink_chain_append_id()", "id int, x text", "(1, 'forged')"),
        (
            "familylink_chain_fold()",
            "table_name text, row_pks text[], row_hashes text[]",
            f"('{PERSON_HISTORY}', '{{1}}', '{{{'0' * 64}}}')",
        ),
    ],
    ids=["row path", "batch fold"],
)
def test_the_chain_functions_refuse_a_table_of_the_app_roles_own(users, function, columns, row):
    """The chain's functions run as the owner: put as a trigger on a temporary table of the app
    role's, they would append links of its choosing to a real chain. They refuse."""
    import psycopg2

    _person()
    before = len(_links(PERSON_HISTORY))
    with connect_as("app") as app, app.cursor() as cursor:
        cursor.execute(f"CREATE TEMPORARY TABLE {PERSON_HISTORY} ({columns})")
        cursor.execute(
            f"CREATE CONSTRAINT TRIGGER t AFTER INSERT ON pg_temp.{PERSON_HISTORY} "
            f"DEFERRABLE INITIALLY IMMEDIATE FOR EACH ROW EXECUTE FUNCTION {function}"
        )
        with pytest.raises(psycopg2.errors.RaiseException, match="audit chain"):
            cursor.execute(f"INSERT INTO pg_temp.{PERSON_HISTORY} VALUES {row}")
    assert len(_links(PERSON_HISTORY)) == before
