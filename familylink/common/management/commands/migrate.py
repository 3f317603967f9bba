"""`manage.py migrate`, run as the owner role (DATABASE_OWNER_URL): the app role has no DDL."""

from typing import Any

from django.core.management.commands import migrate

from familylink.common.db_roles import apply_grants, connected_as


class Command(migrate.Command):
    help = migrate.Command.help + " Runs as the owner role (DATABASE_OWNER_URL), then grants the app role."

    def handle(self, *args: Any, **options: Any) -> None:
        with connected_as("owner", options["database"]):
            super().handle(*args, **options)
            # Last, after every app's post_migrate (apps create triggers, functions, sequences there).
            apply_grants(options["database"])
