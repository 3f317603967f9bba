"""The tamper-evident audit chain: every history row and every access-log row is hashed into a chain.

Each protected table (every history table of a tracked model, and the access log) has its own chain
in `audit_chainlink`: link `seq` n holds the SHA-256 of the row's canonical form and
`chain_hash = sha256(previous chain_hash + row_hash)`. The canonical form is the row's text
(`row::text`, form "row") under fixed settings (CANONICAL_SETTINGS: UTC, ISO dates, ...); links
written before migration 0006 hash the row's JSON (`to_jsonb(row)::text`, form "jsonb"), which cost
about three times as much to compute, and each link says which.

The links are written by PostgreSQL itself, in the writing transaction, by a deferred constraint
trigger: it fires at commit, takes ONE advisory lock for the whole chain (held only for the commit,
and a single lock so two writers can never deadlock), reads the table's head (its highest `seq`)
and appends. Concurrent writers therefore cannot fork a chain, and no code path (ORM, bulk SQL,
COPY) can write a history row without its link. The trigger function runs as the owner role
(SECURITY DEFINER); the app role may only read the links. Transactions that write thousands of
history rows (an import's chunk, the worklist build) take a batch path instead (`batch_links`,
below): the same links, a third of the cost per row, folded a statement at a time at commit.

`verify()` walks every chain and names the first row that was changed, removed or inserted outside
the chain; a checkpoint (head hash and count per chain, signed) lets an auditor prove later that
not even the owner or a superuser rewrote the chain from the start.
"""

import hashlib
import hmac
import json
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from django.apps import apps
from django.conf import settings
from django.db import connections, transaction

from familylink.common.no_delete import FAMILYLINK_APP_LABELS

TRIGGER_NAME = "familylink_audit_chain"
GENESIS = "0" * 64
# One advisory lock key for every chain: a transaction appends to all its chains under it.
LOCK_KEY = 0x46414D4C  # "FAML"

# Every setting the text of a row depends on, fixed for hashing and for verifying.
CANONICAL_SETTINGS = (
    "SET TimeZone = 'UTC'\nSET DateStyle = 'ISO, MDY'\nSET IntervalStyle = 'postgres'\n"
    "SET extra_float_digits = 1\nSET bytea_output = 'hex'"
)

# One function per primary-key column name, so that the key is read as `NEW.<pk>` (static SQL).
FUNCTION_SQL = """
CREATE OR REPLACE FUNCTION familylink_chain_append_{pk}() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = public, pg_temp
{settings}
AS $$
DECLARE
    row_hash text := encode(sha256(convert_to(NEW::text, 'UTF8')), 'hex');
    head_seq bigint;
    head_hash text;
    -- As text: compared with TG_TABLE_NAME (type name) the (table_name, seq) index is not used
    -- and every append scanned the whole chain table (quadratic commits).
    tbl text := TG_TABLE_NAME;
BEGIN
    IF TG_TABLE_SCHEMA <> 'public' THEN  -- a trigger someone put on a temporary table of theirs
        RAISE EXCEPTION 'the audit chain links FamilyLink''s own tables only, not %.%', TG_TABLE_SCHEMA, tbl;
    END IF;
    PERFORM pg_advisory_xact_lock({lock_key});
    SELECT l.seq, l.chain_hash INTO head_seq, head_hash
    FROM audit_chainlink l WHERE l.table_name = tbl ORDER BY l.seq DESC LIMIT 1;
    IF head_seq IS NULL THEN
        head_seq := 0;
        head_hash := '{genesis}';
    END IF;
    INSERT INTO audit_chainlink (table_name, seq, row_pk, row_hash, chain_hash, recorded_at, form)
    VALUES (tbl, head_seq + 1, NEW.{pk}::text, row_hash,
            encode(sha256(convert_to(head_hash || row_hash, 'UTF8')), 'hex'), clock_timestamp(), 'row');
    RETURN NULL;
END;
$$;
"""  # noqa: S608 - constants only


# --- batched links, for the large writers (an import's chunk, the morning worklist build) ------
#
# Per row, a link costs one trigger call and one INSERT (~50 µs on a slow core: a fifth of a
# 10,000-row import and half of the 100,000-item worklist build). A transaction that sets
# `familylink.chain_batch` to 'on' (`batch_links()`) takes another path for the statements it
# runs while it is on: the row trigger is skipped (its WHEN), and a statement trigger hashes the
# statement's new rows in one query (the same canonical text) and stages them, with their keys, in
# a temporary table of the owner's; a deferred trigger on that table folds each staged statement
# into the chain at commit, under the same single lock, with one INSERT. Every link is still one
# row's, written in the writing transaction at its commit: `verify()` cannot tell the paths apart.
# It is not the default because a commit that wrote a temporary table costs about 1 ms more here:
# too much for a claim or an intake, nothing for a transaction of thousands of rows.
#
# The switch is an ordinary setting the app role can change; it chooses the path, never whether a
# row is linked: both paths link every row a statement inserts. A statement that turned it off
# half-way through (a function in its own SELECT) could leave rows of its own without a link, and
# `verify()` names every such row ("inserted outside the chain"): nothing is hidden that way.

BATCH_SETTING = "familylink.chain_batch"
BATCH_TRIGGER_NAME = "familylink_audit_chain_batch"
ROW_TRIGGER_WHEN = f"(pg_catalog.current_setting('{BATCH_SETTING}', true) IS DISTINCT FROM 'on')"
# Not called at all outside a batch (a call of the SECURITY DEFINER function costs ~30 µs).
BATCH_TRIGGER_WHEN = f"(pg_catalog.current_setting('{BATCH_SETTING}', true) = 'on')"

STAGE_SQL = """
CREATE OR REPLACE FUNCTION familylink_chain_stage_{pk}() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = public, pg_temp
{settings}
AS $$
DECLARE
    tbl text := TG_TABLE_NAME;
BEGIN
    IF TG_TABLE_SCHEMA <> 'public' THEN
        RAISE EXCEPTION 'the audit chain links FamilyLink''s own tables only, not %.%', TG_TABLE_SCHEMA, tbl;
    END IF;
    IF pg_catalog.current_setting('{batch}', true) IS DISTINCT FROM 'on' THEN
        RETURN NULL;
    END IF;
    PERFORM familylink_chain_pending_ready();
    -- Two aggregates of one scan see the rows in the same order: key i and hash i are one row's.
    INSERT INTO pg_temp.familylink_chain_pending (table_name, row_pks, row_hashes)
    SELECT tbl, array_agg(n.{pk}::text), array_agg(encode(sha256(convert_to(n::text, 'UTF8')), 'hex'))
    FROM new_rows n
    HAVING count(*) > 0;
    RETURN NULL;
END;
$$;
"""  # noqa: S608 - constants only

# The staging table: created on first use in a transaction, dropped at its commit, owned by the
# owner role (this function is SECURITY DEFINER), so the app role cannot write to it; a table of
# that name that the owner did not create is refused.
PENDING_SQL = f"""
CREATE OR REPLACE FUNCTION familylink_chain_pending_ready() RETURNS void
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = public, pg_temp
AS $$
DECLARE
    owner oid;
BEGIN
    SELECT c.relowner INTO owner FROM pg_catalog.pg_class c
    WHERE c.oid = pg_catalog.to_regclass('pg_temp.familylink_chain_pending');
    IF owner IS NULL THEN
        CREATE TEMPORARY TABLE familylink_chain_pending (
            table_name text NOT NULL, row_pks text[] NOT NULL, row_hashes text[] NOT NULL
        ) ON COMMIT DROP;
        REVOKE ALL ON pg_temp.familylink_chain_pending FROM PUBLIC;
        CREATE CONSTRAINT TRIGGER familylink_chain_fold AFTER INSERT ON pg_temp.familylink_chain_pending
            DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION public.familylink_chain_fold();
    ELSIF owner <> (SELECT r.oid FROM pg_catalog.pg_roles r WHERE r.rolname = current_user) THEN
        RAISE EXCEPTION 'familylink_chain_pending was not created by FamilyLink''s audit chain';
    END IF;
END;
$$;

CREATE OR REPLACE FUNCTION familylink_chain_fold() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = public, pg_temp
AS $$
DECLARE
    head_seq bigint;
    head_hash text;
    h text;
    chain_hashes text[] := '{{}}';
BEGIN
    -- Only the staging table made by familylink_chain_pending_ready (the owner's), never a table of
    -- someone else's with this function as its trigger.
    IF (SELECT c.relowner FROM pg_catalog.pg_class c WHERE c.oid = TG_RELID)
       <> (SELECT r.oid FROM pg_catalog.pg_roles r WHERE r.rolname = current_user) THEN
        RAISE EXCEPTION 'the audit chain folds only its own staging table';
    END IF;
    PERFORM pg_advisory_xact_lock({LOCK_KEY});
    SELECT l.seq, l.chain_hash INTO head_seq, head_hash
    FROM audit_chainlink l WHERE l.table_name = NEW.table_name ORDER BY l.seq DESC LIMIT 1;
    IF head_seq IS NULL THEN
        head_seq := 0;
        head_hash := '{GENESIS}';
    END IF;
    FOREACH h IN ARRAY NEW.row_hashes LOOP
        head_hash := encode(sha256(convert_to(head_hash || h, 'UTF8')), 'hex');
        chain_hashes := chain_hashes || head_hash;
    END LOOP;
    INSERT INTO audit_chainlink (table_name, seq, row_pk, row_hash, chain_hash, recorded_at, form)
    SELECT NEW.table_name, head_seq + u.i, u.pk, u.h, u.c, clock_timestamp(), 'row'
    FROM unnest(NEW.row_pks, NEW.row_hashes, chain_hashes) WITH ORDINALITY AS u(pk, h, c, i);
    RETURN NULL;
END;
$$;
"""  # noqa: S608 - constants only


def batch_links(cursor: Any = None, *, using: str = "default") -> None:
    """For the rest of the current transaction, link its history rows a statement at a time
    (above). For transactions that write thousands of history rows; a small one is faster without.
    On `cursor` if the caller has one open, else on a cursor of its own."""
    statement = f"SELECT pg_catalog.set_config('{BATCH_SETTING}', 'on', true)"
    if cursor is not None:
        cursor.execute(statement)
        return
    with connections[using].cursor() as own:
        own.execute(statement)


def set_canonical(cursor: Any) -> None:
    """Fix, for the current transaction, the settings a row's text depends on (as hashed)."""
    for setting in CANONICAL_SETTINGS.splitlines():
        cursor.execute(setting.replace("SET ", "SET LOCAL ", 1))


def function_sql(pk: str) -> str:
    """The functions of the tables whose key is `pk`: the row trigger's and the batch stage's."""
    if not pk.isidentifier():
        raise ValueError(f"not a column name: {pk!r}")
    return FUNCTION_SQL.format(
        pk=pk, settings=CANONICAL_SETTINGS, lock_key=LOCK_KEY, genesis=GENESIS
    ) + STAGE_SQL.format(pk=pk, settings=CANONICAL_SETTINGS, batch=BATCH_SETTING)


# Seals the rows a table already holds when its chain is first installed, in primary-key order.
BACKFILL_SQL = f"""
CREATE OR REPLACE FUNCTION familylink_chain_backfill(tbl text, pk text) RETURNS bigint
LANGUAGE plpgsql
SET TimeZone = 'UTC'
SET extra_float_digits = 1
AS $$
DECLARE
    r record;
    n bigint := 0;
    head text := '{GENESIS}';
    pks text[] := '{{}}';
    row_hashes text[] := '{{}}';
    chain_hashes text[] := '{{}}';
BEGIN
    PERFORM pg_advisory_xact_lock({LOCK_KEY});
    IF EXISTS (SELECT 1 FROM audit_chainlink WHERE table_name = tbl) THEN
        RETURN 0;
    END IF;
    FOR r IN EXECUTE format(
        'SELECT t.%I::text AS row_pk, encode(sha256(convert_to(to_jsonb(t)::text, ''UTF8'')), ''hex'') AS h '
        'FROM %I t ORDER BY t.%I', pk, tbl, pk)
    LOOP
        n := n + 1;
        head := encode(sha256(convert_to(head || r.h, 'UTF8')), 'hex');
        pks := pks || r.row_pk;
        row_hashes := row_hashes || r.h;
        chain_hashes := chain_hashes || head;
        IF n % 50000 = 0 THEN
            INSERT INTO audit_chainlink (table_name, seq, row_pk, row_hash, chain_hash, recorded_at)
            SELECT tbl, n - cardinality(pks) + i, pks[i], row_hashes[i], chain_hashes[i], clock_timestamp()
            FROM generate_subscripts(pks, 1) AS i;
            pks := '{{}}'; row_hashes := '{{}}'; chain_hashes := '{{}}';
        END IF;
    END LOOP;
    INSERT INTO audit_chainlink (table_name, seq, row_pk, row_hash, chain_hash, recorded_at)
    SELECT tbl, n - cardinality(pks) + i, pks[i], row_hashes[i], chain_hashes[i], clock_timestamp()
    FROM generate_subscripts(pks, 1) AS i;
    RETURN n;
END;
$$;
"""  # noqa: S608 - constants only


def chained_models() -> list[Any]:
    """Every history model of FamilyLink's apps, and every model marked `audit_chained` (the access log)."""
    chained = []
    for model in apps.get_models():
        if model._meta.app_label not in FAMILYLINK_APP_LABELS or not model._meta.managed:
            continue
        if model.__name__.startswith("Historical") or getattr(model, "audit_chained", False):
            chained.append(model)
    return sorted(chained, key=lambda m: m._meta.db_table)


def chained_tables() -> dict[str, str]:
    """{table: primary-key column} of every chained table."""
    return {m._meta.db_table: m._meta.pk.column for m in chained_models()}


def install(using: str = "default") -> dict[str, int]:
    """Create the functions and both triggers on every chained table (the deferred row trigger and
    the batch path's statement trigger); seal rows a new chain finds. In one transaction, so no
    row is written while a table's trigger is being replaced."""
    connection = connections[using]
    sealed: dict[str, int] = {}
    with transaction.atomic(using=using), connection.cursor() as cursor:
        existing = set(connection.introspection.table_names(cursor))
        if "audit_chainlink" not in existing:
            return sealed
        for pk in sorted(set(chained_tables().values())):
            cursor.execute(function_sql(pk))
        cursor.execute(PENDING_SQL)
        cursor.execute(BACKFILL_SQL)
        for table, pk in chained_tables().items():
            if table not in existing:
                continue
            quoted = connection.ops.quote_name(table)
            append = f"familylink_chain_append_{pk}"
            cursor.execute(
                "SELECT p.proname, t.tgqual IS NOT NULL FROM pg_trigger t JOIN pg_proc p ON p.oid = t.tgfoid "
                "WHERE t.tgname = %s AND t.tgrelid = %s::regclass",
                [TRIGGER_NAME, table],
            )
            row = cursor.fetchone()
            current = row is not None and tuple(row) == (append, True)
            if row is not None and not current:
                # An earlier form: migration 0004's (familylink_chain_append, the row's JSON), or
                # one without the batch path's WHEN. Replaced.
                cursor.execute(f"DROP TRIGGER {TRIGGER_NAME} ON {quoted}")
            if not current:
                cursor.execute(
                    f"CREATE CONSTRAINT TRIGGER {TRIGGER_NAME} AFTER INSERT ON {quoted} "
                    "DEFERRABLE INITIALLY DEFERRED FOR EACH ROW "
                    f"WHEN {ROW_TRIGGER_WHEN} EXECUTE FUNCTION {append}()"
                )
            cursor.execute(
                f"CREATE OR REPLACE TRIGGER {BATCH_TRIGGER_NAME} AFTER INSERT ON {quoted} "
                "REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT "
                f"WHEN {BATCH_TRIGGER_WHEN} EXECUTE FUNCTION familylink_chain_stage_{pk}()"
            )
            cursor.execute("SELECT familylink_chain_backfill(%s, %s)", [table, pk])
            count = cursor.fetchone()[0]
            if count:
                sealed[table] = count
        cursor.execute("DROP FUNCTION IF EXISTS familylink_chain_append()")
    return sealed


def install_after_migrate(sender: Any, using: str = "default", **kwargs: Any) -> None:
    if sender.label == "audit":
        install(using)
        from .apps import ensure_verify_schedule

        ensure_verify_schedule()


# --- verification ---------------------------------------------------------------------------


@dataclass
class ChainReport:
    table: str
    count: int = 0
    head: str = GENESIS
    problems: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems


def _next_hash(previous: str, row_hash: str) -> str:
    return hashlib.sha256((previous + row_hash).encode()).hexdigest()


def verify_table(table: str, pk: str, *, using: str = "default", first_only: bool = True) -> ChainReport:
    """Walk one chain from its start; name the first row changed, removed, reordered or unchained."""
    connection = connections[using]
    report = ChainReport(table=table)
    qn = connection.ops.quote_name
    with connection.cursor() as cursor:
        set_canonical(cursor)
        # Both queries read a whole chain and its whole table: hash joins. With statistics taken
        # before a large import (the app role cannot ANALYZE), the planner took a new chain for a
        # few dozen links and checked "no link" by a nested loop over all of them for each row:
        # 350,000 rows verified in 300-350 s instead of ~7 s.
        cursor.execute("SET LOCAL enable_nestloop = off")
    # A named (server-side) cursor streams a large chain instead of loading it whole.
    with connection.chunked_cursor() as cursor:
        cursor.execute(
            f"""
            SELECT l.seq, l.row_pk, l.row_hash, l.chain_hash,
                   CASE l.form WHEN 'row' THEN encode(sha256(convert_to(t::text, 'UTF8')), 'hex')
                   ELSE encode(sha256(convert_to(to_jsonb(t)::text, 'UTF8')), 'hex') END
            FROM audit_chainlink l
            LEFT JOIN {qn(table)} t ON t.{qn(pk)}::text = l.row_pk
            WHERE l.table_name = %s
            ORDER BY l.seq
            """,  # noqa: S608 - table names from the model registry, never input
            [table],
        )
        previous = GENESIS
        expected_seq = 1
        for seq, row_pk, row_hash, chain_hash, actual in cursor:
            if seq != expected_seq:
                report.problems.append(
                    f"{table}: link {expected_seq} is missing (next link is {seq}): "
                    "a row and its link were removed"
                )
            elif actual is None:
                report.problems.append(f"{table}: row {pk}={row_pk} (link {seq}) was removed")
            elif actual != row_hash:
                report.problems.append(
                    f"{table}: row {pk}={row_pk} (link {seq}) was changed after it was written"
                )
            elif _next_hash(previous, row_hash) != chain_hash:
                report.problems.append(
                    f"{table}: link {seq} (row {pk}={row_pk}) does not follow link {seq - 1}: "
                    "links were reordered or rewritten"
                )
            if report.problems and first_only:
                return report
            previous = chain_hash
            expected_seq = seq + 1
        report.count = expected_seq - 1
        report.head = previous
    with connection.cursor() as cursor:
        cursor.execute(
            f"""
            SELECT t.{qn(pk)}::text FROM {qn(table)} t
            WHERE NOT EXISTS (
                SELECT 1 FROM audit_chainlink l WHERE l.table_name = %s AND l.row_pk = t.{qn(pk)}::text
            )
            ORDER BY t.{qn(pk)} LIMIT 1
            """,  # noqa: S608 - table names from the model registry, never input
            [table],
        )
        row = cursor.fetchone()
        if row is not None:
            report.problems.append(
                f"{table}: row {pk}={row[0]} was inserted outside the chain (it has no link)"
            )
    return report


def verify(*, using: str = "default", tables: Iterable[str] | None = None) -> list[ChainReport]:
    """Verify every chain (or the named tables); each report names the first broken row, if any."""
    wanted = chained_tables()
    if tables is not None:
        wanted = {t: wanted[t] for t in tables}
    connection = connections[using]
    reports = []
    with connection.cursor() as cursor:
        cursor.execute("SELECT DISTINCT table_name FROM audit_chainlink")
        for (table,) in cursor.fetchall():
            if table not in chained_tables() and tables is None:
                reports.append(ChainReport(table=table, problems=[f"{table}: a chain for an unknown table"]))

    for table, pk in wanted.items():
        with transaction.atomic(using=using):
            reports.append(verify_table(table, pk, using=using))
    return reports


# --- checkpoints -----------------------------------------------------------------------------


def checkpoint_key() -> bytes:
    return (settings.AUDIT_CHECKPOINT_KEY or settings.SECRET_KEY).encode()


def sign(heads: dict[str, dict[str, Any]]) -> str:
    canonical = json.dumps(heads, sort_keys=True, separators=(",", ":"))
    return hmac.new(checkpoint_key(), canonical.encode(), hashlib.sha256).hexdigest()


def heads_of(reports: Iterable[ChainReport]) -> dict[str, dict[str, Any]]:
    return {r.table: {"count": r.count, "head": r.head} for r in reports if r.count}


def check_against(heads: dict[str, dict[str, Any]], *, using: str = "default") -> list[str]:
    """Each chain must still hold, at the checkpoint's count, the checkpoint's head hash."""
    problems = []
    with connections[using].cursor() as cursor:
        for table, head in sorted(heads.items()):
            cursor.execute(
                "SELECT chain_hash FROM audit_chainlink WHERE table_name = %s AND seq = %s",
                [table, head["count"]],
            )
            row = cursor.fetchone()
            if row is None:
                problems.append(
                    f"{table}: link {head['count']} of the checkpoint is gone (the chain was cut)"
                )
            elif row[0] != head["head"]:
                problems.append(
                    f"{table}: link {head['count']} differs from the checkpoint: the chain was rewritten"
                )
    return problems
