"""Who may import, and keeping an uploaded sheet as a batch (every cell as typed)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from django.contrib.auth.models import Group
from django.core.cache import cache
from django.db import transaction

from apprehensions.models import Station
from audit import chain
from familylink.common.errors import PermissionDenied
from familylink.common.models import User
from familylink.common.roles import Role, has_capability

from .. import parsing
from ..models import ImportBatch, ImportRow, ImportUpload

SYSTEM_USERNAME = "legacy-import"


# --- who may import --------------------------------------------------------------------------


def import_scope(user: Any) -> Station | None:
    """The station a user imports for (supervisors), None for all (HQ); PermissionDenied otherwise."""
    if not has_capability(user, "import_legacy"):
        raise PermissionDenied("Your role cannot import field spreadsheets.")
    if has_capability(user, "read_persons_all"):
        return None
    station = Station.objects.filter(code=getattr(user, "station", ""), withdrawn_at__isnull=True).first()
    if station is None:
        raise PermissionDenied("You have no station; a supervisor imports sheets of their own station.")
    return station


def batches_visible_to(user: Any) -> Any:
    scope = import_scope(user)
    qs = ImportBatch.objects.filter(withdrawn_at__isnull=True)
    return qs if scope is None else qs.filter(station_scope=scope)


def system_user() -> User:
    """The account command-line imports run as (HQ analyst role; it cannot sign in)."""
    user = User.objects.filter(username=SYSTEM_USERNAME).first()
    if user is None:
        user = User(username=SYSTEM_USERNAME, first_name="Legacy import", last_name="(command line)")
        user.set_unusable_password()
        user._change_reason = "created for command-line legacy imports"
        user.save()
    user.groups.add(Group.objects.get(name=str(Role.HQ_ANALYST)))
    return user


# --- batches ---------------------------------------------------------------------------------


@transaction.atomic
def upload_create(
    *, content: bytes, filename: str, by: Any, sheets: Sequence[str] | None = None
) -> ImportUpload:
    """Read a CSV/XLSX file and keep it as an upload with one batch per sheet of rows (a workbook may
    keep a sheet per month or per office), each with its header row and every row, cells as typed.
    `sheets` chooses workbook sheets by title; the sheets not imported are kept with why.

    Raises parsing.UnreadableFile when the file cannot be read at all, parsing.UnknownSheet for a
    title the workbook lacks, and parsing.UnrecognisedColumns when a sheet has none of the columns a
    row is imported from (nothing is saved then).
    """
    scope = import_scope(by)
    read = parsing.read_sheets(content, filename, titles=sheets)
    maps = []
    for sheet in read.sheets:
        column_map = parsing.map_headers(sheet.headers)
        try:
            parsing.check_columns(sheet.headers, column_map, station_needed=scope is None)
        except parsing.UnrecognisedColumns as exc:
            if len(read.sheets) + len(read.left_out) > 1:
                raise parsing.UnrecognisedColumns(f"Sheet {sheet.title!r}: {exc}") from exc
            raise
        maps.append(column_map)
    upload = ImportUpload(
        filename=(filename or "sheet")[:255],
        file_format=read.file_format,
        station_scope=scope,
        sheets_left_out=[{"sheet": s.title, "why": s.why} for s in read.left_out],
        created_by=by,
    )
    upload._change_reason = f"uploaded {filename}"[:200]
    upload._history_user = by
    upload.save()
    for sheet, column_map in zip(read.sheets, maps, strict=True):
        _batch_of_sheet(upload, sheet, column_map, by)
    return upload


def _batch_of_sheet(
    upload: ImportUpload, sheet: parsing.Sheet, column_map: dict[int, str], by: Any
) -> ImportBatch:
    batch = ImportBatch(
        filename=upload.filename,
        file_format=sheet.file_format,
        upload=upload,
        sheet=sheet.title[:255],
        headers=sheet.headers,
        column_map={str(k): v for k, v in column_map.items()},
        station_scope=upload.station_scope,
        rows_total=len(sheet.rows),
        created_by=by,
    )
    batch._change_reason = f"uploaded {batch.name}"[:200]
    batch._history_user = by
    batch.save()
    from apprehensions.services.bulk import insert_with_history, new_instance

    rows = [
        new_instance(
            ImportRow,
            batch=batch,
            row_number=sheet.row_numbers[i],
            cells=[[h, c] for h, c in zip(sheet.headers, row, strict=False)],
            created_by=by,
        )
        for i, row in enumerate(sheet.rows)
    ]
    chain.batch_links()  # a sheet's rows: their audit links a statement at a time
    for start in range(0, len(rows), 2000):
        insert_with_history(ImportRow, rows[start : start + 2000], user=by, reason=f"read from {batch.label}")
    return batch


def upload_batches(upload: ImportUpload) -> list[ImportBatch]:
    """The upload's batches in the order of the workbook's sheets."""
    return list(upload.batches.order_by("created_at", "pk"))


@transaction.atomic
def batch_create(*, content: bytes, filename: str, by: Any) -> ImportBatch:
    """`upload_create` for a file of one sheet of rows (a CSV, most workbooks): its batch.

    A workbook with several sheets of rows is refused here, naming them (nothing is saved): a caller
    that wants one batch would leave the others' rows out without a word; `upload_create` reads each.
    """
    batches = upload_batches(upload_create(content=content, filename=filename, by=by))
    if len(batches) > 1:
        raise parsing.UnreadableFile(
            f"The workbook has {len(batches)} sheets of rows ({', '.join(repr(b.sheet) for b in batches)}); "
            "import it with upload_create, which makes a batch of each."
        )
    return batches[0]


def uploads_visible_to(user: Any) -> Any:
    scope = import_scope(user)
    qs = ImportUpload.objects.filter(withdrawn_at__isnull=True)
    return qs if scope is None else qs.filter(station_scope=scope)


def rows_visible_to(user: Any) -> Any:
    """The import rows of the batches `user` may see (and correct): HQ all, a supervisor their station's."""
    return ImportRow.objects.filter(batch__in=batches_visible_to(user))


def row_locked(*, row_id: Any, by: Any) -> ImportRow:
    """An import row, locked (select_for_update), if `by` may correct its batch's rows; one they may
    not see is no row for them (PermissionDenied)."""
    row = rows_visible_to(by).select_for_update().select_related("batch").filter(pk=row_id).first()
    if row is None:
        raise PermissionDenied("No such import row for you.")
    return row


def row_values(row: ImportRow, column_map: dict[str, str]) -> dict[str, str]:
    """Canonical column → text for a row: the cell as typed, or its correction when one was made."""
    values: dict[str, str] = {}
    for index, (_, text) in enumerate(row.cells):
        name = column_map.get(str(index))
        if name is not None:
            values[name] = text
    for name, text in (row.corrections or {}).items():
        values[name] = text
    return values


def column_header(batch: ImportBatch, name: str) -> str:
    for index, canonical in batch.column_map.items():
        if canonical == name:
            return str(batch.headers[int(index)])
    return name


def progress_key(batch_id: Any) -> str:
    return f"legacy:progress:{batch_id}"


def batch_progress(batch: ImportBatch) -> int:
    done = cache.get(progress_key(batch.pk))
    return int(done) if done is not None else batch.rows_done
