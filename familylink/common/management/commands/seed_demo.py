from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser

from familylink.common.db_roles import connected_as
from familylink.common.demo import DEMO_USERS, ensure_demo_users
from familylink.common.signals import demo_seed_requested


class Command(BaseCommand):
    help = "Seed the synthetic demo scenario (stations, demo users, persons...). Idempotent."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--scale", type=int, default=None, help="Number of persons (default: small demo)."
        )
        parser.add_argument(
            "--with-demo-users",
            action="store_true",
            help="Create the demo users even when DEBUG is off (never do this in production).",
        )
        parser.add_argument("--no-users", action="store_true", help="Do not create demo users.")

    def handle(
        self, *args: Any, scale: int | None, with_demo_users: bool, no_users: bool, **opts: Any
    ) -> None:
        if scale is not None and scale < 0:
            raise CommandError("--scale must be zero or a positive number of persons.")
        # Seeding is a deploy step like migrate: the large-scale loader sets indexes aside and rebuilds
        # them (DDL), which only the owner role may do (familylink/common/db_roles.py).
        with connected_as("owner"):
            self._seed(scale=scale, with_demo_users=with_demo_users, no_users=no_users)

    def _seed(self, *, scale: int | None, with_demo_users: bool, no_users: bool) -> None:
        users_wanted = not no_users and (settings.DEBUG or with_demo_users)
        if users_wanted:
            # First, so the apps' demo receivers can act as the demo users (requests, approvals).
            ensure_demo_users()
        demo_seed_requested.send(sender=self.__class__, scale=scale, stdout=self.stdout)
        if not users_wanted:
            if not no_users:
                self.stdout.write("DEBUG is off: demo users not created (pass --with-demo-users to force).")
            return
        self.stdout.write(self.style.SUCCESS("Demo sign-ins (password: FAMILYLINK_DEMO_PASSWORD):"))
        for spec in DEMO_USERS:
            where = f" station {spec['station']}" if spec.get("station") else ""
            where += f" team {spec['team']}" if spec.get("team") else ""
            self.stdout.write(f"  {spec['username']:<15} {where}")
        self.stdout.write("  admin           (Django admin: reason codes, deadline policies)")
