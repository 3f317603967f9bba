"""`python manage.py verify_audit_chain [--checkpoint FILE] [--record]`: walk every audit chain."""

import json
import sys
import time
from typing import Any

from django.core.management.base import BaseCommand, CommandError

from audit import chain
from audit.services import audit_checkpoint_record


class Command(BaseCommand):
    help = (
        "Walk the tamper-evident chains of every history table and the access log; exit 1 naming the "
        "first row changed, removed, reordered or inserted outside its chain."
    )

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument(
            "--checkpoint",
            help="a checkpoint JSON exported earlier: every chain must still hold its head at that count",
        )
        parser.add_argument("--record", action="store_true", help="record a signed checkpoint afterwards")

    def handle(self, *args: Any, **options: Any) -> None:
        started = time.perf_counter()
        reports = chain.verify()
        problems = [p for r in reports for p in r.problems]
        if options["checkpoint"]:
            try:
                with open(options["checkpoint"], encoding="utf-8") as handle:
                    exported = json.load(handle)
                heads = exported["heads"]
            except (OSError, ValueError, KeyError) as exc:
                raise CommandError(f"Cannot read the checkpoint {options['checkpoint']}: {exc}") from exc
            if chain.sign(heads) != exported.get("signature"):
                problems.append("the checkpoint file's signature does not match its heads (it was altered)")
            problems += chain.check_against(heads)
        rows = sum(r.count for r in reports)
        elapsed = time.perf_counter() - started
        if options["record"]:
            audit_checkpoint_record(reports=reports, extra_problems=problems)
        if problems:
            for problem in problems:
                self.stderr.write(f"BROKEN: {problem}")
            self.stderr.write(f"{len(reports)} chains, {rows:,} rows checked in {elapsed:.1f} s: NOT clean.")
            sys.exit(1)
        self.stdout.write(f"{len(reports)} chains, {rows:,} rows verified clean in {elapsed:.1f} s.")
