"""Benchmark of the clock alerts after a backlog: the alert run, then "Mark all as read" for the
recipient with the most unread notices, beside a bare UPDATE giving the same answer.

    DATABASE_URL=postgres://familylink_app@127.0.0.1:5432/fl_reunify \\
        .venv/bin/python bench/alerts.py [--commit] [--sample 2000]

Runs on the worklist bench's data (bench/worklists.py: 100,000 open cases, overdue once their clocks
pass) or any database with open cases. In one transaction it times:
- the alert run, `clocks_flag()` (a notice per clock due within 48 hours or overdue, per recipient,
  each with its history row);
- FamilyLink: `notifications_mark_read(user=...)` for the recipient with the most unread notices
  (one UPDATE with each notice's history row);
- bare SQL: the same notices marked read by one UPDATE with no history (then undone by a savepoint);
- the code before 4eb0b49 (each notice saved through the ORM) on `--sample` of another recipient's
  notices, to give its time per notice.
The transaction is rolled back unless `--commit` is given (then the commit is timed too, and the
database keeps the notices: a later run finds none to write).
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

from django.db import connection, transaction  # noqa: E402
from django.db.models import Count  # noqa: E402
from django.utils import timezone  # noqa: E402

from familylink.common.models import User  # noqa: E402
from reunification.models import Notification  # noqa: E402
from reunification.services.worklists import clocks_flag, notifications_mark_read  # noqa: E402


class _RollBack(Exception):
    pass


def _most_unread(exclude: list[int]) -> User | None:
    row = (
        Notification.objects.filter(read_at__isnull=True)
        .exclude(recipient_id__in=exclude)
        .values("recipient_id")
        .annotate(n=Count("id"))
        .order_by("-n")
        .first()
    )
    return User.objects.get(pk=row["recipient_id"]) if row else None


def _bare_mark_read(user: User) -> tuple[float, int]:
    """The same notices marked read by a bare UPDATE (no history), undone by its savepoint."""
    started = time.perf_counter()
    sid = transaction.savepoint()
    with connection.cursor() as cursor:
        cursor.execute(
            "UPDATE reunification_notification SET read_at = now(), version = version + 1, "
            "updated_at = now() WHERE recipient_id = %s AND read_at IS NULL",
            [user.pk],
        )
        count = cursor.rowcount
    took = time.perf_counter() - started
    transaction.savepoint_rollback(sid)
    return took, count


def _one_by_one(user: User, sample: int) -> tuple[float, int]:
    """The code before 4eb0b49: each notice saved through the ORM, with its history row."""
    now = timezone.now()
    started = time.perf_counter()
    done = 0
    for note in Notification.objects.select_for_update().filter(recipient=user, read_at__isnull=True)[
        :sample
    ]:
        note.read_at = now
        note._change_reason = "read"
        note._history_user = user
        note.save(update_fields=["read_at"])
        done += 1
    return time.perf_counter() - started, done


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--commit", action="store_true", help="keep what the run wrote, and time the commit")
    parser.add_argument("--sample", type=int, default=2000, help="notices saved one by one (the old code)")
    args = parser.parse_args()
    print(f"database {connection.settings_dict['NAME']}")
    started = time.perf_counter()
    try:
        with transaction.atomic():
            t = time.perf_counter()
            flagged = clocks_flag()
            took = time.perf_counter() - t
            print(f"alert run: {flagged['notifications_created']:,} notices written in {took:.2f} s")
            user = _most_unread([])
            if user is None:
                print("no unread notice: nothing to mark read")
            else:
                unread = Notification.objects.filter(recipient=user, read_at__isnull=True).count()
                bare_s, bare_n = _bare_mark_read(user)
                t = time.perf_counter()
                marked = notifications_mark_read(user=user)
                fl_s = time.perf_counter() - t
                who = f"{user.username} ({unread:,} unread)"
                print(f"mark all read, {who}: FamilyLink {fl_s:.2f} s for {marked:,}")
                print(f"mark all read, bare UPDATE (no history): {bare_s:.2f} s for {bare_n:,}")
                print(f"FamilyLink / bare = {fl_s / bare_s:.2f}")
                other = _most_unread([user.pk])
                if other is not None and args.sample:
                    old_s, old_n = _one_by_one(other, args.sample)
                    per = old_s / old_n
                    print(
                        f"one by one (before 4eb0b49), {old_n:,} of {other.username}'s: {old_s:.2f} s, "
                        f"{per * 1e6:.0f} µs each; {unread:,} would take {per * unread:.0f} s"
                    )
            if not args.commit:
                raise _RollBack
    except _RollBack:
        print(f"rolled back; {time.perf_counter() - started:.1f} s in all")
        return
    print(f"committed; {time.perf_counter() - started:.1f} s in all, commit included")


if __name__ == "__main__":
    main()
