"""Import field spreadsheets: every row ends imported (linked to the right persons, family unit,
relationship and separation) or quarantined with messages that say what is wrong and how to fix it.

The import calls the services of the floors below and never re-implements their rules:
`apprehensions.services.intake_chunk.IntakeChunk` (persons, encounter, family unit, relationships:
each encounter checked as `apprehension_record` checks it, a chunk's written together),
`separations.services.separation_prepare_imported` / `separations_save_imported` (the separation,
in effect as of its date; reunification opens its cases on `separations_imported`),
`custody_prepare_transfer` / `custody_transfers_save`, and for rows with a reunification date the
one-at-a-time `separation_record_imported` and `custody_transfer`. Rows are read and checked one
by one and written 200 at a time (`runs.CHUNK_ROWS`, `writing.Pending`): a few statements per
table per chunk. What is added here is reading the sheet and deciding who each row's persons are:

- an A-number on file links that person (unless name and date of birth contradict it: an
  A-number conflict, quarantined and signalled, never merged);
- otherwise name + date of birth (accents, dropped second surname, day/month swapped, estimated
  years) against persons on file and earlier rows; two candidates → quarantined, never a guess;
- otherwise a new person.

A file is kept as an upload with one batch per sheet of rows (`upload_create`: a workbook may keep a
sheet per month or per office); each batch is previewed, confirmed and imported on its own.

Idempotent: a row already imported (same fingerprint) is linked, not written again; persons,
encounters, relationships and separations on file are reused, so a sheet imported twice, a row
repeated, or a child on two offices' sheets (or two sheets of one workbook) leaves one person and
one separation.

A quarantined row that is not data (a title, a totals row, a note) can be set aside with a reason,
and put back (`set_aside`); it stays quarantined, no longer to correct.
"""

from .batches import (
    SYSTEM_USERNAME,
    batch_create,
    batch_progress,
    batches_visible_to,
    column_header,
    import_scope,
    progress_key,
    row_values,
    rows_visible_to,
    system_user,
    upload_batches,
    upload_create,
    uploads_visible_to,
)
from .rows import Context, read_row
from .runs import (
    CHUNK_ROWS,
    batch_check_again,
    batch_confirm,
    batch_run,
    import_file,
    import_upload,
    queue_dry_run,
    row_correct,
)
from .set_aside import row_put_back, row_set_aside

__all__ = [
    "CHUNK_ROWS",
    "SYSTEM_USERNAME",
    "Context",
    "batch_check_again",
    "batch_confirm",
    "batch_create",
    "batch_progress",
    "batch_run",
    "batches_visible_to",
    "column_header",
    "import_file",
    "import_upload",
    "import_scope",
    "progress_key",
    "queue_dry_run",
    "read_row",
    "row_correct",
    "row_put_back",
    "row_set_aside",
    "row_values",
    "rows_visible_to",
    "system_user",
    "upload_batches",
    "upload_create",
    "uploads_visible_to",
]
