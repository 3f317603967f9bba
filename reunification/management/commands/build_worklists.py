from datetime import date
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from reunification.services import worklists_build
from reunification.services.worklists import today


def _parse_day(value: str) -> date:
    try:
        return date.fromisoformat(value)
    except ValueError as exc:
        raise CommandError(f"--date must be YYYY-MM-DD, e.g. 2018-07-10 (got {value!r}).") from exc


class Command(BaseCommand):
    help = "Build the day's reunification worklists now, in-process (idempotent)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--date", dest="day", help="Day to build, YYYY-MM-DD (default: today).")
        parser.add_argument("--team", help="Only this team (e.g. EPT-REUNIFY).")

    def handle(self, *args: Any, **options: Any) -> None:
        day = _parse_day(options["day"]) if options.get("day") else today()
        counts = worklists_build(day=day, team=options.get("team"))
        self.stdout.write(
            f"Worklists for {day.isoformat()}: {counts['worklists_created']} created, "
            f"{counts['items_created']} items added."
        )
