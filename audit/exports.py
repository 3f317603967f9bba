"""Exports of any list as CSV or XLSX, streamed, each record written to the access log.

One call from a view, after it has scoped its rows to what the reader may see:

    if (fmt := export_format(request)) is not None:
        return export_response(request, fmt=fmt, name="persons", columns=PERSON_COLUMNS, rows=queryset)

`columns` is a list of `Column(header, value)`; `rows` any iterable (a queryset is read in chunks);
`record(row)` gives what the access log names for a row: a model instance (the row itself by
default) or a `Record`. Each batch of rows is logged as it is written (action "export", the path
with its query string), so the log holds exactly the records the file held.

CSV streams row by row. XLSX is written by openpyxl in write-only mode (constant memory) to a
spooled temporary file, then streamed. Cells starting with = + - @ are prefixed with ' so no
spreadsheet runs them as formulas.
"""

from __future__ import annotations

import csv
import io
import tempfile
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any
from uuid import UUID

from django.db import transaction
from django.db.models import QuerySet
from django.http import FileResponse, HttpRequest, StreamingHttpResponse
from django.utils import timezone

from familylink.common.guards import CONTROL

FORMATS = ("csv", "xlsx")
BATCH = 500
XLSX_TYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


@dataclass(frozen=True)
class Column:
    header: str
    value: Callable[[Any], Any]


@dataclass(frozen=True)
class Record:
    """What the access log names when a row is not a model instance."""

    object_type: str
    object_id: str
    is_minor_record: bool = False


def export_format(request: HttpRequest) -> str | None:
    """`csv` or `xlsx` when the request asks for an export (`?format=`), else None."""
    fmt = request.GET.get("format", "")
    return fmt if fmt in FORMATS else None


def export_url(request: HttpRequest, fmt: str) -> str:
    """This page's URL asking for the export in `fmt`, without its page number."""
    query = request.GET.copy()
    query.pop("page", None)
    query["format"] = fmt
    return f"{request.path}?{query.urlencode()}"


def cell(value: Any) -> Any:
    """A value a CSV or XLSX cell can hold: text for times (with offset), ids and lists."""
    if value is None:
        return ""
    if isinstance(value, datetime):
        # openpyxl refuses aware datetimes; ISO 8601 with the offset reads the same everywhere.
        return value.isoformat()
    if isinstance(value, bool | int | float | date):
        return value
    if isinstance(value, UUID):
        return str(value)
    if isinstance(value, list | tuple | set):
        return "; ".join(str(cell(v)) for v in value)
    # A control character XLSX cannot hold (text stored before the guards refused them, or from a
    # sheet) is shown as U+FFFD, not dropped, and never a failed export.
    text = CONTROL.sub("\ufffd", str(value))
    return "'" + text if text[:1] in ("=", "+", "-", "@", "\t", "\r") else text


def _as_record(obj: Any) -> Record:
    if isinstance(obj, Record):
        return obj
    return Record(obj._meta.label_lower, str(obj.pk), bool(getattr(obj, "is_minor", False)))


def log_export(*, user: Any, records: Iterable[Any], path: str, channel: str = "web") -> int:
    """One access-log row (action "export") per record, in one INSERT; returns how many."""
    from .services import access_log_record_many

    return access_log_record_many(
        user=user, records=map(_as_record, records), action="export", channel=channel, path=path
    )


def _iterate(rows: Iterable[Any]) -> Iterator[Any]:
    if isinstance(rows, QuerySet):
        return rows.iterator(chunk_size=BATCH)
    return iter(rows)


def _logged_rows(
    request: HttpRequest, rows: Iterable[Any], record: Callable[[Any], Any], channel: str
) -> Iterator[Any]:
    """The rows, logging each batch to the access log before it is handed out.

    Reads and log rows share one transaction (rule 3), held while the file streams. A record met
    in several rows (a person on two separations) is logged once: one row per record per export.
    If the client goes away mid-download, what was already handed out stays logged (committed)."""
    path = request.get_full_path()
    seen: set[tuple[str, str]] = set()

    def log(batch: list[Any]) -> None:
        fresh = []
        for r in (_as_record(r) for x in batch for r in _records(record(x))):
            if (r.object_type, r.object_id) not in seen:
                seen.add((r.object_type, r.object_id))
                fresh.append(r)
        log_export(user=request.user, records=fresh, path=path, channel=channel)

    with transaction.atomic():
        try:
            batch: list[Any] = []
            for row in _iterate(rows):
                batch.append(row)
                if len(batch) >= BATCH:
                    log(batch)
                    yield from batch
                    batch = []
            log(batch)
            yield from batch
        except GeneratorExit:
            return  # closed early: commit the log of the rows already handed out


def _records(value: Any) -> list[Any]:
    if value is None:
        return []
    if isinstance(value, list | tuple | set):
        return list(value)
    return [value]


def _csv_lines(columns: Sequence[Column], rows: Iterator[Any]) -> Iterator[str]:
    buffer = io.StringIO()
    writer = csv.writer(buffer)

    def flush() -> str:
        text = buffer.getvalue()
        buffer.seek(0)
        buffer.truncate(0)
        return text

    writer.writerow([c.header for c in columns])
    yield "\ufeff" + flush()  # a BOM so spreadsheets read the accents as UTF-8
    for row in rows:
        writer.writerow([cell(c.value(row)) for c in columns])
        yield flush()


def export_response(
    request: HttpRequest,
    *,
    fmt: str,
    name: str,
    columns: Sequence[Column],
    rows: Iterable[Any],
    record: Callable[[Any], Any] = lambda row: row,
    channel: str = "web",
) -> StreamingHttpResponse | FileResponse:
    """The rows as a `name`-<time>.csv or .xlsx download; every record exported is access-logged."""
    stamp = timezone.now().strftime("%Y%m%dT%H%M%SZ")
    filename = f"{name}-{stamp}.{fmt}"
    logged = _logged_rows(request, rows, record, channel)
    if fmt == "csv":
        response = StreamingHttpResponse(_csv_lines(columns, logged), content_type="text/csv; charset=utf-8")
        response["Content-Disposition"] = f'attachment; filename="{filename}"'
        return response
    from openpyxl import Workbook

    workbook = Workbook(write_only=True)
    sheet = workbook.create_sheet(title=name[:31])
    sheet.append([c.header for c in columns])
    for row in logged:
        sheet.append([cell(c.value(row)) for c in columns])
    spool = tempfile.SpooledTemporaryFile(max_size=8 * 1024 * 1024)  # noqa: SIM115 - FileResponse closes it
    workbook.save(spool)
    spool.seek(0)
    return FileResponse(spool, as_attachment=True, filename=filename, content_type=XLSX_TYPE)
