"""Who may import, and keeping an uploaded sheet as a batch (every cell as typed)."""

from __future__ import annotations

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
from ..models import ImportBatch, ImportRow

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
def batch_create(*, content: bytes, filename: str, by: Any) -> ImportBatch:
    """Read a CSV/XLSX sheet and keep it as a batch: the header row and every row, each cell as typed.

    Raises parsing.UnreadableFile when the file cannot be read at all, and its UnrecognisedColumns
    when none of its columns is one a row is imported from (nothing is saved then).
    """
    scope = import_scope(by)
    sheet = parsing.read_sheet(content, filename)
    column_map = parsing.map_headers(sheet.headers)
    parsing.check_columns(sheet.headers, column_map, station_needed=scope is None)
    batch = ImportBatch(
        filename=(filename or "sheet")[:255],
        file_format=sheet.file_format,
        headers=sheet.headers,
        column_map={str(k): v for k, v in column_map.items()},
        station_scope=scope,
        rows_total=len(sheet.rows),
        created_by=by,
    )
    batch._change_reason = f"uploaded {filename}"[:200]
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
