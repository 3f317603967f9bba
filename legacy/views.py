"""Pages of the legacy import: upload → dry-run preview → confirm → progress → result; fix a row, or
set it aside. A workbook with several sheets of rows makes a batch of each: the upload's page lists them.

Thin: permission (import_scope), call the service, render. The command and these pages call the
same services (services.py).
"""

import csv
import io
from typing import Any
from uuid import UUID

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from familylink.common.errors import BusinessRuleError, ValidationFailed

from . import parsing
from .models import ImportBatch, ImportRow, ImportUpload
from .parsing import COLUMN_LABELS, KNOWN_COLUMNS, UnreadableFile, UnrecognisedColumns
from .services import (
    batch_check_again,
    batch_confirm,
    batch_progress,
    batches_visible_to,
    import_scope,
    queue_dry_run,
    row_correct,
    row_put_back,
    row_set_aside,
    row_values,
    rows_visible_to,
    upload_batches,
    upload_create,
    uploads_visible_to,
)

MAX_UPLOAD_BYTES = 20 * 1024 * 1024
PREVIEW_ROWS_SHOWN = 200


def _batch_or_404(request: HttpRequest, pk: UUID) -> ImportBatch:
    batch = batches_visible_to(request.user).filter(pk=pk).first()
    if batch is None:
        raise Http404("No such import batch.")
    return batch


@login_required
@require_http_methods(["GET", "POST"])
def batch_list(request: HttpRequest) -> HttpResponse:
    """Upload a sheet (POST) and list the batches the user may see."""
    scope = import_scope(request.user)
    error = ""
    template_links = False  # the error is about the columns: link the template beside it
    if request.method == "POST":
        upload = request.FILES.get("sheet")
        if upload is None:
            error = "Choose a CSV or XLSX file to upload."
        elif (upload.size or 0) > MAX_UPLOAD_BYTES:
            error = f"{upload.name} is larger than 20 MB; split the sheet into smaller files."
        else:
            try:
                made = upload_create(content=upload.read(), filename=upload.name or "", by=request.user)
            except UnreadableFile as exc:
                error = f"{upload.name}: {exc}"
                template_links = isinstance(exc, UnrecognisedColumns)
            else:
                batches = upload_batches(made)
                for batch in batches:
                    queue_dry_run(batch, request.user)
                if len(batches) == 1:
                    return redirect("legacy:batch_detail", pk=batches[0].pk)
                return redirect("legacy:upload_detail", pk=made.pk)
    batches = batches_visible_to(request.user).select_related("created_by")[:50]
    return render(
        request,
        "legacy/batch_list.html",
        {"batches": batches, "error": error, "template_links": template_links, "scope": scope},
        status=400 if error else 200,
    )


RUNNING = (ImportBatch.Status.PREVIEWING, ImportBatch.Status.QUEUED, ImportBatch.Status.IMPORTING)


def _upload_or_404(request: HttpRequest, pk: UUID) -> ImportUpload:
    upload = uploads_visible_to(request.user).select_related("created_by").filter(pk=pk).first()
    if upload is None:
        raise Http404("No such upload.")
    return upload


def _ready_text(batches: list[ImportBatch]) -> str:
    ready = sum(1 for b in batches if b.status not in RUNNING)
    return f"{ready} of {len(batches)} sheets ready"


@login_required
@require_GET
def upload_detail(request: HttpRequest, pk: UUID) -> HttpResponse:
    """One uploaded file: the batch of each sheet of rows (its status, counts, a link to its preview or
    result) and the sheets left out, and why."""
    upload = _upload_or_404(request, pk)
    batches = upload_batches(upload)
    return render(
        request,
        "legacy/upload_detail.html",
        {
            "upload": upload,
            "batches": batches,
            "running": any(b.status in RUNNING for b in batches),
            "ready_text": _ready_text(batches),
        },
    )


@login_required
@require_GET
def upload_progress_partial(request: HttpRequest, pk: UUID) -> HttpResponse:
    """How many of the upload's sheets are ready (htmx polls it into the page's live region); when
    none is running any more, the page reloads to show each sheet's counts."""
    batches = upload_batches(_upload_or_404(request, pk))
    response = HttpResponse(_ready_text(batches))
    if not any(b.status in RUNNING for b in batches):
        response["HX-Refresh"] = "true"
    return response


def _column_headers(batch: ImportBatch) -> dict[str, str]:
    headers = {name: COLUMN_LABELS[name] for name in KNOWN_COLUMNS}
    for index, name in batch.column_map.items():
        headers[name] = f"{batch.headers[int(index)]}"
    return headers


def _message_rows(batch: ImportBatch, items: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Messages with the column named as the sheet has it (and what it means, when that differs)."""
    headers = _column_headers(batch)

    def named(col: str) -> str:
        if col == "row":
            return "Whole row"
        header, label = headers.get(col, col), COLUMN_LABELS.get(col, col)
        return header if header == label else f"{header} ({label})"

    out = []
    for item in items:
        texts = [f"{named(col)}: {t}" for col, ts in (item.get("messages") or {}).items() for t in ts]
        out.append({**item, "texts": texts})
    return out


@login_required
@require_GET
def batch_detail(request: HttpRequest, pk: UUID) -> HttpResponse:
    batch = _batch_or_404(request, pk)
    context: dict[str, Any] = {
        "batch": batch,
        "done": batch_progress(batch),
        "sheets_in_file": batch.upload.batches.count() if batch.upload else 1,
    }
    if batch.status == ImportBatch.Status.PREVIEWED:
        preview = batch.previews.order_by("-created_at").first()
        rows = preview.rows if preview else []
        quarantined = [r for r in rows if r["status"] == ImportRow.Status.QUARANTINED]
        importable = [r for r in rows if r["status"] == ImportRow.Status.IMPORTED]
        context.update(
            {
                "quarantined": _message_rows(batch, quarantined[:PREVIEW_ROWS_SHOWN]),
                "importable": importable[:PREVIEW_ROWS_SHOWN],
                "preview": batch.preview,
            }
        )
    elif batch.status == ImportBatch.Status.DONE:
        quarantined_rows = batch.rows.filter(status=ImportRow.Status.QUARANTINED).order_by("row_number")
        context.update(
            {
                "quarantined": _message_rows(
                    batch,
                    [
                        {"row": str(r.pk), "row_number": r.row_number, "messages": r.messages}
                        for r in quarantined_rows.filter(set_aside_at__isnull=True)[:PREVIEW_ROWS_SHOWN]
                    ],
                ),
                "set_aside": quarantined_rows.filter(set_aside_at__isnull=False).select_related(
                    "set_aside_by"
                )[:PREVIEW_ROWS_SHOWN],
                "imported": batch.rows.filter(status=ImportRow.Status.IMPORTED).order_by("row_number")[
                    :PREVIEW_ROWS_SHOWN
                ],
            }
        )
    return render(request, "legacy/batch_detail.html", context)


@login_required
@require_GET
def batch_progress_partial(request: HttpRequest, pk: UUID) -> HttpResponse:
    """The progress bar and count (htmx polls them); when the run has finished, the page reloads to show
    the result."""
    batch = _batch_or_404(request, pk)
    running = batch.status in (
        ImportBatch.Status.PREVIEWING,
        ImportBatch.Status.QUEUED,
        ImportBatch.Status.IMPORTING,
    )
    # The meter, and the count for the live region that stays in the page (_progress.html).
    response = render(
        request, "legacy/_progress_update.html", {"batch": batch, "done": batch_progress(batch)}
    )
    if not running:
        response["HX-Refresh"] = "true"
    return response


@login_required
@require_POST
def batch_confirm_view(request: HttpRequest, pk: UUID) -> HttpResponse:
    return _batch_step(request, pk, batch_confirm)


@login_required
@require_POST
def batch_check_view(request: HttpRequest, pk: UUID) -> HttpResponse:
    """Check the rows again after the dry run stopped on an error."""
    return _batch_step(request, pk, batch_check_again)


def _batch_step(request: HttpRequest, pk: UUID, step: Any) -> HttpResponse:
    batch = _batch_or_404(request, pk)
    try:
        step(batch_id=batch.pk, by=request.user)
    except BusinessRuleError as exc:
        messages.error(request, str(exc))
    return redirect("legacy:batch_detail", pk=batch.pk)


def _row_or_404(request: HttpRequest, pk: UUID) -> ImportRow:
    row = rows_visible_to(request.user).select_related("batch", "set_aside_by").filter(pk=pk).first()
    if row is None:
        raise Http404("No such import row.")
    return row


@login_required
@require_http_methods(["GET", "POST"])
def row_fix(request: HttpRequest, pk: UUID) -> HttpResponse:
    """A quarantined row, cell by cell: what was typed, the correction, the message beside the cell."""
    row = _row_or_404(request, pk)
    batch = row.batch
    if request.method != "POST":
        return _row_page(request, row)
    if row.status != ImportRow.Status.QUARANTINED or row.is_set_aside:
        what = "set aside" if row.status == ImportRow.Status.QUARANTINED else row.get_status_display().lower()
        messages.info(request, f"Row {row.row_number} is already {what}.")
        return redirect("legacy:batch_detail", pk=batch.pk)
    corrections = {
        name: request.POST.get(f"cell-{name}", "") for name in KNOWN_COLUMNS if f"cell-{name}" in request.POST
    }
    try:
        row = row_correct(row_id=row.pk, by=request.user, corrections=corrections)
    except BusinessRuleError as exc:
        messages.error(request, str(exc))
        return redirect("legacy:batch_detail", pk=batch.pk)
    if row.status == ImportRow.Status.IMPORTED:
        messages.success(request, f"Row {row.row_number} imported: " + " ".join(row.outcome))
        return redirect("legacy:batch_detail", pk=batch.pk)
    return _row_page(request, row, status=400)


def _row_page(
    request: HttpRequest, row: ImportRow, *, status: int = 200, aside: dict[str, Any] | None = None
) -> HttpResponse:
    """The row page: the correction form (or, set aside, its cells as typed), setting aside or putting
    back with a reason (`aside`: the reason typed and its errors, when sent back)."""
    batch = row.batch
    original = row_values(ImportRow(cells=row.cells, corrections={}), batch.column_map)
    current = row_values(row, batch.column_map)
    headers = _column_headers(batch)
    mapped = set(batch.column_map.values())
    fields = [
        {
            "name": name,
            "header": headers[name],
            "label": COLUMN_LABELS[name],
            "typed": original.get(name, ""),
            "value": current.get(name, ""),
            "errors": (row.messages or {}).get(name, []),
            "in_sheet": name in mapped,
        }
        for name in KNOWN_COLUMNS
        if name in mapped or name in (row.messages or {}) or name in (row.corrections or {})
    ]
    extra = [(h, t) for i, (h, t) in enumerate(row.cells) if str(i) not in batch.column_map]
    decisions = [
        h
        for h in row.history.select_related("history_user").order_by("history_date")
        if (h.history_change_reason or "").startswith(("set aside: ", "put back: "))
    ]
    aside = aside or {}
    return render(
        request,
        "legacy/row_fix.html",
        {
            "row": row,
            "batch": batch,
            "fields": fields,
            "row_errors": (row.messages or {}).get("row", []),
            "extra": extra,
            "error_count": sum(len(v) for v in (row.messages or {}).values()),
            "decisions": decisions,
            "reason": aside.get("reason", ""),
            "reason_errors": aside.get("errors", []),
        },
        status=status,
    )


def _set_aside_or_put_back(request: HttpRequest, pk: UUID, service: Any, done: str) -> HttpResponse:
    row = _row_or_404(request, pk)
    reason = request.POST.get("reason", "")
    try:
        row = service(row_id=row.pk, by=request.user, reason=reason)
    except ValidationFailed as exc:
        return _row_page(
            request, row, status=400, aside={"reason": reason, "errors": exc.errors.get("reason", [])}
        )
    except BusinessRuleError as exc:
        messages.error(request, str(exc))
        return redirect("legacy:row_fix", pk=row.pk)
    messages.success(request, f"Row {row.row_number} {done}.")
    return redirect("legacy:batch_detail", pk=row.batch_id)


@login_required
@require_POST
def row_set_aside_view(request: HttpRequest, pk: UUID) -> HttpResponse:
    """Set a quarantined row aside as not data, with a reason; sent back beside the field when blank."""
    return _set_aside_or_put_back(request, pk, row_set_aside, "set aside: it is no longer to correct")


@login_required
@require_POST
def row_put_back_view(request: HttpRequest, pk: UUID) -> HttpResponse:
    """Put a row set aside back among the rows to correct, with a reason."""
    return _set_aside_or_put_back(request, pk, row_put_back, "put back among the rows to correct")


@login_required
@require_GET
def template_download(request: HttpRequest, fmt: str) -> HttpResponse:
    """The template with the canonical columns, as CSV or XLSX."""
    try:
        import_scope(request.user)
    except DjangoPermissionDenied:
        raise
    example = [
        "06/01/2018",
        "EPT",
        "PEREZ NUNEZ, Maria Jose",
        "A201234567",
        "04/02/1988",
        "F",
        "Ana Perez Garcia",
        "A202345678",
        "09/30/2013",
        "F",
        "GT",
        "Mother",
        "06/01/2018",
        "Zero Tolerance prosecution",
        "ICE Otero County Processing Center",
        "ORR shelter name",
        "",
    ]
    if fmt == "csv":
        out = io.StringIO()
        writer = csv.writer(out)
        writer.writerow(parsing.CANONICAL_COLUMNS)
        writer.writerow(example)
        response = HttpResponse(out.getvalue(), content_type="text/csv; charset=utf-8")
        response["Content-Disposition"] = 'attachment; filename="familylink-legacy-template.csv"'
        return response
    if fmt != "xlsx":
        raise Http404("Templates are CSV or XLSX.")
    from openpyxl import Workbook

    workbook = Workbook()
    sheet = workbook.active
    sheet.title = "Separations"
    sheet.append(parsing.CANONICAL_COLUMNS)
    sheet.append(example)
    buffer = io.BytesIO()
    workbook.save(buffer)
    response = HttpResponse(
        buffer.getvalue(), content_type="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
    )
    response["Content-Disposition"] = 'attachment; filename="familylink-legacy-template.xlsx"'
    return response
