"""Running a batch (or its dry run), correcting a row, and the command's one-call import."""

from __future__ import annotations

import json
import logging
from collections import OrderedDict
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any

from django.core.cache import cache
from django.db import IntegrityError, connection, transaction
from django.db.models import Count, Q
from django.utils import timezone

from apprehensions.models import Person
from apprehensions.services.bulk import insert_with_history
from apprehensions.signals import a_number_conflict_detected
from audit import chain
from familylink.common.errors import BusinessRuleError, PermissionDenied

from .. import parsing
from ..models import ImportBatch, ImportPreview, ImportRecord, ImportRow, ImportUpload
from .batches import (
    batch_create,
    batches_visible_to,
    import_scope,
    progress_key,
    row_locked,
    row_values,
    upload_batches,
    upload_create,
)
from .matching import load_candidates
from .rows import Context, RowPlan, read_row
from .writing import NotImportable, _write_group, pending_of

log = logging.getLogger(__name__)
CHUNK_ROWS = 200


class _DryRunRollback(Exception):
    pass


# --- running a batch -------------------------------------------------------------------------


def _group_key(plan: RowPlan) -> tuple:
    a = plan.adult
    who = a.a_number or (a.given_key, frozenset(a.surname_keys), a.dob.value.isoformat())
    return (plan.station.pk, plan.occurred_at.date(), who)


def _finish_row(
    row: ImportRow,
    status: str,
    messages: dict[str, list[str]],
    outcome: list[str],
    ctx: Context,
    fingerprint: str = "",
) -> None:
    if ctx.dry_run:
        ctx.preview_rows.append(
            {
                "row": str(row.pk),
                "row_number": row.row_number,
                "status": status,
                "messages": messages,
                "outcome": outcome,
            }
        )
        return
    row.status, row.messages, row.outcome = status, messages, outcome
    row.fingerprint = fingerprint
    row.imported_at = timezone.now() if status == ImportRow.Status.IMPORTED else None
    ctx.finished.append(row)  # saved with the chunk's end (`_save_finished`)


def _finished_sql() -> str:
    tracked = {f.column for f in ImportRow.history.model._meta.concrete_fields}
    cols = [f.column for f in ImportRow._meta.concrete_fields if f.column in tracked]
    quoted = ", ".join(f'"{c}"' for c in cols)
    selected = ", ".join(f'u."{c}"' for c in cols)
    table, history = ImportRow._meta.db_table, ImportRow.history.model._meta.db_table
    # Identifiers from model metadata only; every value is a parameter.
    return (
        "WITH v AS (SELECT * FROM unnest(%(ids)s::uuid[], %(status)s::text[], %(messages)s::text[], "  # noqa: S608
        "%(outcome)s::text[], %(fp)s::text[], %(at)s::timestamptz[]) "
        "AS v(id, status, messages, outcome, fingerprint, imported_at)), "
        f'u AS (UPDATE "{table}" r SET status = v.status, messages = v.messages::jsonb, '
        "outcome = v.outcome::jsonb, fingerprint = v.fingerprint, imported_at = v.imported_at, "
        "version = r.version + 1, updated_at = %(now)s FROM v WHERE r.id = v.id RETURNING r.*) "
        f'INSERT INTO "{history}" ({quoted}, history_date, history_change_reason, history_type, '
        f"history_user_id) SELECT {selected}, %(now)s, 'import: ' || u.status, '~', %(user)s FROM u"
    )


def _save_finished(ctx: Context) -> None:
    """Each finished row's status, messages and outcome, with its history row, in one statement."""
    rows = ctx.finished
    if not rows:
        return
    now = timezone.now()
    with connection.cursor() as cursor:
        cursor.execute(
            _finished_sql(),
            {
                "ids": [str(r.pk) for r in rows],
                "status": [r.status for r in rows],
                "messages": [json.dumps(r.messages) for r in rows],
                "outcome": [json.dumps(r.outcome) for r in rows],
                "fp": [r.fingerprint for r in rows],
                "at": [r.imported_at for r in rows],
                "now": now,
                "user": ctx.by.pk if getattr(ctx.by, "is_authenticated", False) else None,
            },
        )
    for r in rows:
        r.version += 1
        r.updated_at = now
    rows.clear()


def _already_imported(fingerprints: list[str], batch: ImportBatch) -> dict[str, ImportRow]:
    rows = (
        ImportRow.objects.filter(fingerprint__in=fingerprints, status=ImportRow.Status.IMPORTED)
        .exclude(batch=batch)
        .select_related("batch")
        .order_by("created_at")
    )
    found: dict[str, ImportRow] = {}
    for row in rows:
        found.setdefault(row.fingerprint, row)
    return found


def _state(ctx: Context) -> tuple:
    return (
        dict(ctx.holders),
        {k: list(v) for k, v in ctx.created_in_chunk.items()},
        pending_of(ctx).snapshot(),
        ctx.intake.snapshot(),
    )


def _restore(ctx: Context, state: tuple) -> None:
    """A group rolled back takes what it created and prepared with it: forget that here too."""
    holders, created, pending, staged = state
    ctx.holders, ctx.created_in_chunk = dict(holders), {k: list(v) for k, v in created.items()}
    pending_of(ctx).restore(pending)
    ctx.intake.restore(staged)
    ctx.open_custody.clear()  # what a flush inside the group read is rolled back too


@contextmanager
def _group_savepoint(ctx: Context) -> Iterator[None]:
    """A group's savepoint, made only when the group writes (`Context.group_writes`): most groups
    only read and prepare, their writes come with the chunk's. A group that is not importable
    undoes what it wrote."""
    ctx.in_group, ctx.group_savepoint = True, None
    try:
        yield
    except (NotImportable, BusinessRuleError, IntegrityError, PermissionDenied):
        if ctx.group_savepoint is not None:
            transaction.savepoint_rollback(ctx.group_savepoint)
        raise
    else:
        if ctx.group_savepoint is not None:
            transaction.savepoint_commit(ctx.group_savepoint)
    finally:
        ctx.in_group, ctx.group_savepoint = False, None


def _process(rows: list[ImportRow], ctx: Context) -> tuple[int, int]:
    """Import (or dry-run) `rows` in sheet order; returns (imported, quarantined)."""
    imported = quarantined = 0
    plans: list[RowPlan] = []
    for row in rows:
        row.batch = ctx.batch  # provenance labels read it; one batch for every row
        plan, messages = read_row(row, ctx)
        if plan is None:
            _finish_row(row, ImportRow.Status.QUARANTINED, messages, [], ctx)
            quarantined += 1
        else:
            plans.append(plan)
    earlier = _already_imported([p.fingerprint for p in plans], ctx.batch) if plans else {}
    wanted = {f.a_number for p in plans for f in (p.adult, p.child) if f.a_number}
    ctx.holders = {p.a_number: p for p in Person.objects.filter(a_number__in=wanted)} if wanted else {}
    ctx.a_numbers_checked = wanted
    ctx.intake.not_on_file(wanted - set(ctx.holders))
    # Who the rows may name on file, read for the whole chunk: name + date-of-birth candidates
    # (for persons whose A-number is not on file) and the open custody of everyone found.
    load_candidates(
        [
            f
            for p in plans
            if p.fingerprint not in earlier
            for f in (p.adult, p.child)
            if not (f.a_number and f.a_number in ctx.holders)
        ],
        ctx,
    )
    ctx.open_custody.clear()
    ctx.open_custody_of(
        {p.pk for p in ctx.holders.values()} | {p.pk for ps in ctx.candidates.values() for p in ps}
    )
    groups: OrderedDict[tuple, list[RowPlan]] = OrderedDict()
    for plan in plans:
        prior = earlier.get(plan.fingerprint)
        if prior is not None:
            outcome = [
                f"Already imported from {prior.batch.name} ({prior.batch.label}) row "
                f"{prior.row_number}: nothing changed."
            ]
            records = [
                ImportRecord(
                    row=plan.row,
                    model=r.model,
                    object_id=r.object_id,
                    action=ImportRecord.Action.LINKED,
                    role=r.role,
                    created_by=ctx.by,
                )
                for r in prior.records.all()
            ]
            insert_with_history(ImportRecord, records, user=ctx.by, reason=plan.row.provenance)
            _finish_row(plan.row, ImportRow.Status.IMPORTED, {}, outcome, ctx, plan.fingerprint)
            imported += 1
            continue
        groups.setdefault(_group_key(plan), []).append(plan)
    for group in groups.values():
        pending = list(group)
        while pending:
            before = _state(ctx)
            try:
                with _group_savepoint(ctx):
                    _write_group(pending, ctx)
            except NotImportable as exc:
                _restore(ctx, before)
                bad = {}
                for i, m in exc.messages.items():
                    if i == -1:  # a separation problem: every row of the group, to be safe
                        for j in range(len(pending)):
                            bad[j] = m
                    else:
                        bad[i] = m
                if not bad:
                    bad = {
                        j: {"row": ["The row could not be imported; check its cells."]}
                        for j in range(len(pending))
                    }
                for i, m in bad.items():
                    _finish_row(pending[i].row, ImportRow.Status.QUARANTINED, m, [], ctx)
                    quarantined += 1
                for plan in pending:
                    plan.outcome = [
                        o
                        for o in plan.outcome
                        if not o.startswith(("Adult:", "Child:", "Encounter", "Separation"))
                    ]
                pending = [p for i, p in enumerate(pending) if i not in bad]
                continue
            except (BusinessRuleError, IntegrityError, PermissionDenied) as exc:
                _restore(ctx, before)
                for plan in pending:
                    _finish_row(plan.row, ImportRow.Status.QUARANTINED, {"row": [str(exc)]}, [], ctx)
                    quarantined += 1
                pending = []
                continue
            for plan in pending:
                _finish_row(plan.row, ImportRow.Status.IMPORTED, {}, plan.outcome, ctx, plan.fingerprint)
                imported += 1
            pending = []
    # The chunk's encounters, separations (their cases), custody changes and provenance, set-based.
    try:
        pending_of(ctx).flush(ctx)
    except (BusinessRuleError, IntegrityError) as exc:
        raise _ChunkWriteFailed(str(exc)) from exc
    _save_finished(ctx)
    return imported, quarantined


class _ChunkWriteFailed(Exception):
    """The chunk's write met a record saved meanwhile (an A-number someone else just recorded)."""


def _run_chunk(ids: list[Any], ctx: Context) -> tuple[int, int]:
    """Import one chunk in a savepoint. Should its write fail (see `_ChunkWriteFailed`), it runs again
    with every group written on its own, so only the group in conflict is quarantined, as before."""
    preview_rows, conflicts = len(ctx.preview_rows), len(ctx.conflicts)
    for careful in (False, True):
        ctx.careful = careful
        try:
            with transaction.atomic():
                chunk = list(ImportRow.objects.filter(pk__in=ids).order_by("row_number"))
                return _process(chunk, ctx)
        except _ChunkWriteFailed:
            if careful:
                raise
            log.warning(
                "legacy import of %s: a chunk met a concurrent write; importing it group by group",
                ctx.batch.label,
            )
            del ctx.preview_rows[preview_rows:]
            del ctx.conflicts[conflicts:]
            ctx.finished.clear()
            ctx.pending = None
            ctx.intake.restore([])
        finally:
            ctx.careful = False
    raise AssertionError("unreachable")


def _send_conflicts(ctx: Context) -> None:
    for a_number, holder, other in ctx.conflicts:
        a_number_conflict_detected.send(
            sender=ImportBatch,
            a_number=a_number,
            existing_person=holder,
            attempted_by=ctx.by,
            context="legacy_import",
            other_person=other,
        )
    ctx.conflicts.clear()


def batch_run(*, batch_id: Any, by: Any, dry_run: bool = False) -> ImportBatch:
    """Import every pending row of a batch (or, with `dry_run`, work out what would happen and write nothing).

    Real runs commit every CHUNK_ROWS rows (progress is visible; a crash loses no finished chunk);
    a dry run runs in one transaction that is rolled back, so later rows see earlier rows' persons
    exactly as the real run will. Progress (rows done) is kept in the cache for the progress bar.
    """
    batch = ImportBatch.objects.get(pk=batch_id)
    status = ImportBatch.Status.PREVIEWING if dry_run else ImportBatch.Status.IMPORTING
    _set_status(batch, status, by)
    ctx = Context(batch, by, dry_run=dry_run)
    rows_qs = ImportRow.objects.filter(batch=batch).order_by("row_number")
    if not dry_run:
        rows_qs = rows_qs.filter(status=ImportRow.Status.PENDING)
    ids = list(rows_qs.values_list("pk", flat=True))
    done = batch.rows_total - len(ids) if not dry_run else 0
    cache.set(progress_key(batch.pk), done, 3600)
    counts = {"imported": 0, "quarantined": 0}
    try:
        if dry_run:
            try:
                with transaction.atomic():
                    for start in range(0, len(ids), CHUNK_ROWS):
                        chunk_ids = ids[start : start + CHUNK_ROWS]
                        imp, qua = _run_chunk(chunk_ids, ctx)
                        counts["imported"] += imp
                        counts["quarantined"] += qua
                        done += len(chunk_ids)
                        cache.set(progress_key(batch.pk), done, 3600)
                    raise _DryRunRollback
            except _DryRunRollback:
                pass
            preview = ImportPreview(batch=batch, rows=ctx.preview_rows, created_by=by)
            preview._change_reason = "dry run"
            preview._history_user = by
            preview.save()
        else:
            for start in range(0, len(ids), CHUNK_ROWS):
                chunk_ids = ids[start : start + CHUNK_ROWS]
                # The chunk's intake sends persons_recorded: link discovery's pass, once per chunk.
                with transaction.atomic():
                    _take_write_turn()
                    chain.batch_links()  # thousands of history rows a chunk: links a statement at a time
                    imp, qua = _run_chunk(chunk_ids, ctx)
                    counts["imported"] += imp
                    counts["quarantined"] += qua
                    refresh_counts(batch, by)
                done += len(chunk_ids)
                cache.set(progress_key(batch.pk), done, 3600)
                _send_conflicts(ctx)
    except Exception as exc:
        log.exception("legacy import of %s failed", batch.label)
        batch.refresh_from_db()
        batch.error = f"{exc.__class__.__name__}: {exc}"[:2000]
        _set_status(batch, ImportBatch.Status.FAILED, by, extra=["error"])
        raise
    batch.refresh_from_db()
    if dry_run:
        batch.preview = {"rows": batch.rows_total, **counts, **_preview_links(batch)}
        _set_status(batch, ImportBatch.Status.PREVIEWED, by, extra=["preview"])
    else:
        refresh_counts(batch, by)
        batch.finished_at = timezone.now()
        _set_status(batch, ImportBatch.Status.DONE, by, extra=["finished_at"])
    cache.set(progress_key(batch.pk), batch.rows_total, 3600)
    return batch


def _take_write_turn() -> None:
    """Imports write one chunk at a time (the lock is held until the transaction ends): a chunk
    decides who its rows' persons are from what is on file, so two sheets of one workbook confirmed
    together (two workers) each added a child without an A-number on both as a new person. Waiting
    for the other chunk's commit, a chunk links the person it recorded."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_advisory_xact_lock(hashtext('legacy.import_write'))")


def _preview_links(batch: ImportBatch) -> dict[str, int]:
    preview = batch.previews.order_by("-created_at").first()
    rows = preview.rows if preview else []
    linked = sum(
        1
        for r in rows
        if r["status"] == ImportRow.Status.IMPORTED and any("linked by" in line for line in r["outcome"])
    )
    return {"linked": linked}


@transaction.atomic
def refresh_counts(batch: ImportBatch, by: Any, reason: str = "import progress") -> None:
    """The batch's counts from its rows. The batch is locked before they are counted: two rows of one
    batch corrected or set aside at once each count the other's change (read committed)."""
    ImportBatch.objects.select_for_update().filter(pk=batch.pk).values_list("pk").first()
    quarantined = Q(status=ImportRow.Status.QUARANTINED)
    counts = ImportRow.objects.filter(batch=batch).aggregate(
        imported=Count("pk", filter=Q(status=ImportRow.Status.IMPORTED)),
        quarantined=Count("pk", filter=quarantined),
        set_aside=Count("pk", filter=quarantined & Q(set_aside_at__isnull=False)),
    )
    batch.rows_imported = counts["imported"]
    batch.rows_quarantined = counts["quarantined"]
    batch.rows_set_aside = counts["set_aside"]
    batch.rows_done = batch.rows_imported + batch.rows_quarantined
    batch._change_reason = reason
    batch._history_user = by
    batch.save(update_fields=["rows_imported", "rows_quarantined", "rows_set_aside", "rows_done"])


def _set_status(batch: ImportBatch, status: str, by: Any, extra: list[str] | None = None) -> None:
    batch.status = status
    batch._change_reason = f"status: {status}"
    batch._history_user = by
    batch.save(update_fields=["status", *(extra or [])])


def _locked_batch(batch_id: Any, by: Any) -> ImportBatch:
    import_scope(by)
    batch = batches_visible_to(by).select_for_update().filter(pk=batch_id).first()
    if batch is None:
        raise PermissionDenied("No such import batch for you.")
    return batch


CHECK_STOPPED = (
    "The check of these rows (the dry run) stopped before it finished, so nothing is ready to "
    "import: check the rows again, then import what the preview shows."
)


def queue_dry_run(batch: ImportBatch, by: Any, *, reason: str = "dry run queued") -> None:
    """The batch's dry run (its preview), on the worker once the transaction commits."""
    from ..tasks import run_batch

    batch.status = ImportBatch.Status.PREVIEWING
    batch.error = ""
    batch._change_reason = reason
    batch._history_user = by
    batch.save(update_fields=["status", "error"])
    run_batch.delay_on_commit(str(batch.pk), by.pk, True)


@transaction.atomic
def batch_check_again(*, batch_id: Any, by: Any) -> ImportBatch:
    """Queue a batch's dry run again after it stopped on an error (it wrote nothing, and nothing can
    be imported until a check finishes and its preview is seen)."""
    batch = _locked_batch(batch_id, by)
    if not batch.check_failed:
        raise BusinessRuleError(
            "Only a batch whose check stopped on an error is checked again "
            f"(it is {batch.get_status_display().lower()})."
        )
    queue_dry_run(batch, by, reason="dry run queued again after it stopped")
    return batch


@transaction.atomic
def batch_confirm(*, batch_id: Any, by: Any) -> ImportBatch:
    """Queue the import of a previewed batch (the Celery task runs `batch_run`)."""
    batch = _locked_batch(batch_id, by)
    if batch.check_failed:  # no preview was seen: there is nothing the user confirmed
        raise BusinessRuleError(CHECK_STOPPED)
    # A failed import is confirmed again to continue: rows it finished are not pending any more.
    if batch.status not in (ImportBatch.Status.PREVIEWED, ImportBatch.Status.FAILED):
        raise BusinessRuleError(
            f"Only a previewed batch can be imported (it is {batch.get_status_display().lower()})."
        )
    _set_status(batch, ImportBatch.Status.QUEUED, by)
    from ..tasks import run_batch

    run_batch.delay_on_commit(str(batch.pk), by.pk, False)
    return batch


@transaction.atomic
def row_correct(*, row_id: Any, by: Any, corrections: dict[str, str]) -> ImportRow:
    """Correct a quarantined row cell by cell (the original cells stay as typed) and import it.

    The row ends imported, or quarantined again with new messages; the batch counts follow.
    """
    import_scope(by)
    _take_write_turn()
    row = row_locked(row_id=row_id, by=by)
    if row.status != ImportRow.Status.QUARANTINED:
        raise BusinessRuleError(
            f"Only a quarantined row can be corrected (it is {row.get_status_display().lower()})."
        )
    if row.is_set_aside:
        raise BusinessRuleError(
            f"Row {row.row_number} is set aside ({row.set_aside_reason}); put it back before correcting it."
        )
    batch = row.batch
    original = row_values(ImportRow(cells=row.cells, corrections={}), batch.column_map)
    # A NUL (pasted from another program) cannot be stored in PostgreSQL text; it was a 500.
    changed = {
        k: " ".join(str(v).replace("\x00", "").split())
        if k != "notes"
        else str(v).replace("\x00", "").strip()
        for k, v in corrections.items()
        if k in parsing.KNOWN_COLUMNS
    }
    merged = {**(row.corrections or {})}
    for k, v in changed.items():
        if v == original.get(k, "").strip():
            merged.pop(k, None)
        else:
            merged[k] = v
    row.corrections = merged
    row.status = ImportRow.Status.PENDING
    row._change_reason = "corrected in the UI: " + ", ".join(sorted(merged)) if merged else "retried"
    row._history_user = by
    row.save(update_fields=["corrections", "status"])
    ctx = Context(batch, by, dry_run=False)
    _run_chunk([row.pk], ctx)
    transaction.on_commit(lambda: _send_conflicts(ctx))
    refresh_counts(batch, by)
    row.refresh_from_db()
    return row


def _run_made(create: Callable[[], list[ImportBatch]], *, by: Any, dry_run: bool) -> list[ImportBatch]:
    """Import each batch `create` makes, in turn; or dry-run each, keeping nothing (what `create`
    saved is rolled back with the rest) but each batch's preview rows (`preview_rows`)."""
    if not dry_run:
        return [batch_run(batch_id=made.pk, by=by) for made in create()]
    result: list[ImportBatch] = []
    try:
        with transaction.atomic():
            for made in create():
                batch = batch_run(batch_id=made.pk, by=by, dry_run=True)
                batch.preview_rows = batch.previews.get().rows  # type: ignore[attr-defined]
                result.append(batch)
            raise _DryRunRollback
    except _DryRunRollback:
        pass
    return result


def import_upload(
    *, content: bytes, filename: str, by: Any, dry_run: bool = False, sheets: Sequence[str] | None = None
) -> tuple[ImportUpload, list[ImportBatch]]:
    """What `import_legacy` runs: keep the file as an upload (a batch per sheet of rows, or per sheet
    named in `sheets`), then import each batch in turn, or dry-run each (nothing is kept).

    Each sheet's dry run, like the page's preview, is checked against the records on file, not
    against the sheets before it: a child on two sheets is new in both dry runs, one person once
    imported.
    """
    made: list[ImportUpload] = []

    def create() -> list[ImportBatch]:
        made.append(upload_create(content=content, filename=filename, by=by, sheets=sheets))
        return upload_batches(made[0])

    batches = _run_made(create, by=by, dry_run=dry_run)
    return made[0], batches


def import_file(*, content: bytes, filename: str, by: Any, dry_run: bool = False) -> ImportBatch:
    """`import_upload` of a file of one sheet of rows, its batch (tests, benchmarks, scripts); a
    workbook with several sheets of rows is refused, naming them (`batch_create`)."""
    (batch,) = _run_made(
        lambda: [batch_create(content=content, filename=filename, by=by)], by=by, dry_run=dry_run
    )
    return batch
