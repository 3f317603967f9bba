"""Import field spreadsheets: every row ends imported (linked to the right persons, family unit,
relationship and separation) or quarantined with messages that say what is wrong and how to fix it.

The import calls the services of the floors below and never re-implements their rules:
`apprehensions.services.apprehension_record` (persons, encounter, family unit, relationships),
`separations.services.separation_record_imported` (the separation, in effect or ended as of its
dates; reunification opens its cases on `separation_approved`) and `custody_transfer`.
What is added here is reading the sheet and deciding who each row's persons are:

- an A-number on file links that person (unless name and date of birth contradict it: an
  A-number conflict, quarantined and signalled, never merged);
- otherwise name + date of birth (accents, dropped second surname, day/month swapped, estimated
  years) against persons on file and earlier rows; two candidates → quarantined, never a guess;
- otherwise a new person.

Idempotent: a row already imported (same fingerprint) is linked, not written again; persons,
encounters, relationships and separations on file are reused, so a sheet imported twice, a row
repeated, or a child on two offices' sheets leaves one person and one separation.
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
    system_user,
)
from .rows import Context, read_row
from .runs import CHUNK_ROWS, batch_confirm, batch_run, import_file, row_correct

__all__ = [
    "CHUNK_ROWS",
    "SYSTEM_USERNAME",
    "Context",
    "batch_confirm",
    "batch_create",
    "batch_progress",
    "batch_run",
    "batches_visible_to",
    "column_header",
    "import_file",
    "import_scope",
    "progress_key",
    "read_row",
    "row_correct",
    "row_values",
    "system_user",
]
