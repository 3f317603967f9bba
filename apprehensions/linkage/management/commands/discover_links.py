from typing import Any

from django.core.management.base import BaseCommand

from apprehensions.linkage.discovery import discover_links


class Command(BaseCommand):
    help = "Run link discovery now, in-process, over every person; prints what it proposed."

    def handle(self, *args: Any, **options: Any) -> None:
        result = discover_links()
        kinds = result.by_kind()
        self.stdout.write(
            f"proposed: relationship {kinds.get('relationship', 0)}, "
            f"duplicate_person {kinds.get('duplicate_person', 0)}; filed {result.created} new candidates; "
            f"pairs scored {sum(result.pairs_scored.values())}; "
            f"{result.superseded} stale candidates naming a record merged away superseded; "
            f"{result.seconds:.1f} s"
        )
