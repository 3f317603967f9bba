"""`manage.py migrate`, run as the owner role (DATABASE_OWNER_URL): the app role has no DDL."""

from typing import Any

from django.core.management.commands import migrate

from familylink.common.db_roles import connected_as


class Command(migrate.Command):
    help = migrate.Command.help + " Runs as the database owner role (DATABASE_OWNER_URL)."

    def handle(self, *args: Any, **options: Any) -> None:
        with connected_as("owner", options["database"]):
            super().handle(*args, **options)
