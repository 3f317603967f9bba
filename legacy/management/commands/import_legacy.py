"""`python manage.py import_legacy PATH [--dry-run] [--sheet TITLE ...]`: import a field spreadsheet
(CSV, or XLSX: every sheet of rows, each its own batch)."""

from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from familylink.common.models import User
from legacy.models import ImportBatch, ImportRow
from legacy.parsing import UnreadableFile
from legacy.services import column_header, import_upload, system_user


class Command(BaseCommand):
    help = (
        "Import a field spreadsheet (CSV or XLSX; each sheet of rows of a workbook is its own batch); "
        "prints rows read / imported / quarantined per sheet."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("path")
        parser.add_argument("--dry-run", action="store_true", help="Show what would happen; write nothing.")
        parser.add_argument(
            "--sheet",
            action="append",
            default=[],
            metavar="TITLE",
            help="Import this sheet of the workbook (its title as on its tab); repeat for several. "
            "Default: every sheet of rows.",
        )
        parser.add_argument(
            "--user",
            default="",
            help="Username recorded as uploader and requester (HQ analyst or supervisor); "
            "default: the 'legacy-import' system account.",
        )
        parser.add_argument(
            "--show-quarantined", action="store_true", help="List each quarantined row's messages."
        )

    def handle(self, *args: Any, **options: Any) -> None:
        path = Path(options["path"])
        try:
            content = path.read_bytes()
        except OSError as exc:
            raise CommandError(f"Cannot read {path}: {exc.strerror or exc}.") from exc
        if options["user"]:
            by = User.objects.filter(username=options["user"], is_active=True).first()
            if by is None:
                raise CommandError(f"No active user {options['user']!r}.")
        else:
            by = system_user()
        try:
            upload, batches = import_upload(
                content=content,
                filename=path.name,
                by=by,
                dry_run=options["dry_run"],
                sheets=options["sheet"] or None,
            )
        except UnreadableFile as exc:
            raise CommandError(str(exc)) from exc
        for batch in batches:
            self._report(batch, dry_run=options["dry_run"], show_quarantined=options["show_quarantined"])
        for left in upload.sheets_left_out:
            self.stdout.write(f"Not imported: sheet {left['sheet']!r} ({left['why']}).")

    def _report(self, batch: ImportBatch, *, dry_run: bool, show_quarantined: bool) -> None:
        if dry_run:
            rows = batch.preview_rows  # type: ignore[attr-defined]
            imported = sum(1 for r in rows if r["status"] == ImportRow.Status.IMPORTED)
            quarantined = [r for r in rows if r["status"] == ImportRow.Status.QUARANTINED]
            self.stdout.write(
                f"Dry run of {batch.name} (nothing written): rows read {batch.rows_total}, "
                f"would import {imported}, would quarantine {len(quarantined)}."
            )
            problems = [(r["row_number"], r["messages"]) for r in quarantined]
        else:
            self.stdout.write(
                f"{batch.name} ({batch.label}): rows read {batch.rows_total}, "
                f"imported {batch.rows_imported}, quarantined {batch.rows_quarantined}."
            )
            problems = [
                (r.row_number, r.messages)
                for r in batch.rows.filter(status=ImportRow.Status.QUARANTINED).order_by("row_number")
            ]
        if show_quarantined:
            for number, messages in problems:
                for column, texts in messages.items():
                    where = (
                        "whole row"
                        if column == "row"
                        else f"column {column_header(batch, column)!r} ({column})"
                    )
                    for text in texts:
                        self.stdout.write(f"  row {number}, {where}: {text}")
