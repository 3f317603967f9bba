from datetime import date
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from reunification.models import Team
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
        if options.get("day"):
            days = {options.get("team"): _parse_day(options["day"])}
        else:
            # Each team's own local today (an El Paso team's day, not the server's).
            codes = (
                [options["team"]]
                if options.get("team")
                else list(Team.objects.values_list("code", flat=True))
            )
            days = {code: today(code) for code in codes}
        for team, day in days.items():
            counts = worklists_build(day=day, team=team)
            self.stdout.write(
                f"Worklists for {day.isoformat()}{f' ({team})' if team else ''}: "
                f"{counts['worklists_created']} created, {counts['items_created']} items added."
            )
