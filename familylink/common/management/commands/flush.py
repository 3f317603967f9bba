"""`manage.py flush`, run as the owner role: only the owner may empty tables (the test suite does,
between transactional tests). The app role can neither TRUNCATE nor DELETE (rule 1)."""

from typing import Any

from django.core.management.commands import flush

from familylink.common.db_roles import connected_as


class Command(flush.Command):
    def handle(self, **options: Any) -> None:
        with connected_as("owner", options["database"]):
            super().handle(**options)
