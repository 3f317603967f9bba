"""Whole requests as a user makes them: each page or API path, for each user, in-process (Django's
test client, signed in, the app's middleware and templates), best of `--runs`, with its SQL time
and query count beside the total.

    DATABASE_URL=postgres://familylink_app@127.0.0.1:5432/fl_reunify DEBUG=0 SECRET_KEY=... \\
        .venv/bin/python bench/pages.py --user hq_analyst /dashboard/ /reports/court-status/

For finding what grows with the data (a page that reads every row of a table), not a target:
the bare-SQL comparisons of each feature are in its own bench (bench/court.py, bench/asof.py,
bench/worklists.py...). With no path given it times the dashboard, the court report, the
separated-children report, the case list, the queue, notifications and the access log. A path the
user may not open prints its status (403) and no time.
"""

import argparse
import os
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "familylink.settings.base")

import django  # noqa: E402

django.setup()

from django.conf import settings  # noqa: E402
from django.db import connection  # noqa: E402
from django.test import Client  # noqa: E402

from familylink.common.models import User  # noqa: E402

PATHS = [
    "/dashboard/",
    "/reports/court-status/",
    "/api/v1/reports/court-status/",
    "/reports/separated-children/",
    "/reunification/cases/",
    "/reunification/queue/",
    "/reunification/notifications/",
    "/audit/access-log/",
]


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("paths", nargs="*", default=PATHS)
    parser.add_argument("--user", action="append", help="a username (repeat for several); default hq_analyst")
    parser.add_argument("--runs", type=int, default=2)
    args = parser.parse_args()
    settings.ALLOWED_HOSTS = ["*"]
    print(f"database {connection.settings_dict['NAME']}; DEBUG {settings.DEBUG}")
    spent: list[float] = []

    def timed(execute, sql, params, many, context):  # type: ignore[no-untyped-def]
        started = time.perf_counter()
        try:
            return execute(sql, params, many, context)
        finally:
            spent.append(time.perf_counter() - started)

    for username in args.user or ["hq_analyst"]:
        client = Client()
        client.force_login(User.objects.get(username=username))
        for path in args.paths:
            best = None
            for _ in range(args.runs):
                spent.clear()
                with connection.execute_wrapper(timed):
                    started = time.perf_counter()
                    response = client.get(path, HTTP_HOST="127.0.0.1", secure=not settings.DEBUG)
                    took = time.perf_counter() - started
                if best is None or took < best[0]:
                    best = (took, sum(spent), len(spent))
            if response.status_code != 200:
                print(f"{username:16} {response.status_code}  {path}")
                continue
            took, sql, queries = best  # type: ignore[misc]
            split = f"SQL {sql * 1000:5.0f} ms in {queries:3} queries"
            print(f"{username:16} 200 {took * 1000:7.0f} ms ({split})  {path}")


if __name__ == "__main__":
    main()
