"""A Celery worker's pool process killed with SIGKILL mid-task, 10 times in a row, on the worklist
build, the clock alerts and a webhook delivery: each job still completes exactly once in effect.

"Mid-task" is made certain, not timed: the test holds a PostgreSQL table lock the task's write needs
(or a webhook receiver holds the POST), waits until the task is blocked inside its transaction, then
kills the pool process. `acks_late` + `reject_on_worker_lost` put the message back; the next attempt
is killed again, ten times; then the lock is let go and the job must finish once: the same rows as an
uninterrupted run, one history row each, one email per recipient, one 2xx-recorded delivery per event.
"""

import os
import re
import signal
import threading
from datetime import date, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from .helpers import add_endpoint, send
from .stack import DB_NAME, Stack, wait_for

pytestmark = pytest.mark.faults

KILLS = 10

SCENARIO = """
import json
from familylink.common.models import User
from tests.reunification.factories import ordering_scenario
names = ["field_agent", "supervisor", "coordinator"]
users = {u.username: u for u in User.objects.filter(username__in=names)}
ordering_scenario(users)
print("RESULT=" + json.dumps(True))
"""

NEW_CASES = """
import json
from familylink.common.models import User
from tests.reunification.factories import approved_separation, years_ago
names = ["field_agent", "supervisor", "coordinator"]
users = {u.username: u for u in User.objects.filter(username__in=names)}
approved_separation(users, children=[years_ago(age) for age in (3, 5, 7, 9, 11)], surname="Webhook")
print("RESULT=" + json.dumps(True))
"""


def pool_children(worker_pid: int) -> list[int]:
    text = Path(f"/proc/{worker_pid}/task/{worker_pid}/children").read_text()
    return [int(pid) for pid in text.split()]


def succeeded(stack: Stack, task: str) -> int:
    return sum(
        1 for line in stack.log("worker").splitlines() if f"Task {task}[" in line and " succeeded in " in line
    )


def lost(stack: Stack) -> int:
    """Pool processes the worker reported lost to SIGKILL (each is logged more than once)."""
    return len(set(re.findall(r"pid:(\d+) exited with 'signal 9 \(SIGKILL\)'", stack.log("worker"))))


def waiting_backends(stack: Stack) -> set[int]:
    conn = stack.pg.connect("postgres")
    try:
        with conn.cursor() as cur:
            cur.execute(
                "SELECT pid FROM pg_stat_activity WHERE datname = %s AND usename = 'familylink_app' "
                "AND wait_event_type = 'Lock'",
                [DB_NAME],
            )
            return {row[0] for row in cur.fetchall()}
    finally:
        conn.close()


def kill_while_blocked(stack: Stack, worker: Any, lock_sql: str, task: str, *args: Any) -> None:
    """Hold `lock_sql`, send `task`, and kill the pool process KILLS times while the task waits on it."""
    holder = stack.pg.connect()
    holder.autocommit = False
    seen = waiting_backends(stack)
    try:
        with holder.cursor() as cur:
            cur.execute(lock_sql)
        send(stack, task, *args)
        for _ in range(KILLS):
            backend = wait_for(
                f"{task} to block inside its transaction",
                lambda: sorted(waiting_backends(stack) - seen),
                timeout=180,
            )
            seen.update(backend)
            (child,) = pool_children(worker.pid)
            os.kill(child, signal.SIGKILL)
            wait_for(
                "the pool to replace the killed process",
                lambda: pool_children(worker.pid) not in ([], [child]),
            )
    finally:
        holder.rollback()
        holder.close()


def test_worklist_build_killed_10_times_builds_each_list_once(stack):
    stack.shell(SCENARIO)
    worker = stack.start_worker(concurrency=1)
    try:
        control, day = (date.today() + timedelta(days=d) for d in (30, 31))
        send(stack, "reunification.build_worklists", control.isoformat())
        wait_for("the uninterrupted build", lambda: succeeded(stack, "reunification.build_worklists") == 1)
        kill_while_blocked(
            stack,
            worker,
            "LOCK TABLE reunification_worklistitem IN EXCLUSIVE MODE",
            "reunification.build_worklists",
            day.isoformat(),
        )
        wait_for(
            "the killed build to finish",
            lambda: succeeded(stack, "reunification.build_worklists") == 2,
            timeout=300,
        )
        q = stack.pg.scalar
        items = (
            "SELECT {} FROM reunification_worklistitem i JOIN reunification_worklist w "
            "ON w.id = i.worklist_id WHERE w.date = %s"
        )
        expected = q(items.format("count(*)"), [control])
        got = q(items.format("count(*)"), [day])
        distinct = q(items.format("count(DISTINCT i.case_id)"), [day])
        lists = q("SELECT count(*) FROM reunification_worklist WHERE date = %s", [day])
        teams = q("SELECT count(DISTINCT team) FROM reunification_worklist WHERE date = %s", [day])
        history = q(
            "SELECT count(*) FROM reunification_historicalworklistitem h JOIN reunification_worklist w "
            "ON w.id = h.worklist_id WHERE w.date = %s",
            [day],
        )
        print(
            f"\n[worker] worklist build: {lost(stack)} pool processes killed mid-task; items {got} "
            f"(uninterrupted run {expected}), distinct cases {distinct}, lists {lists} for {teams} teams, "
            f"item history rows {history}"
        )
        assert lost(stack) == KILLS
        assert expected > 0 and got == expected == distinct == history
        assert lists == teams
    finally:
        stack.stop(worker)


def emails(stack: Stack) -> int:
    return stack.log("worker").count("Subject: FamilyLink:")


def test_clock_alerts_killed_10_times_notify_each_clock_once(stack):
    worker = stack.start_worker(concurrency=1)
    try:
        kill_while_blocked(
            stack,
            worker,
            "LOCK TABLE reunification_notification IN EXCLUSIVE MODE",
            "reunification.flag_due_clocks",
        )
        wait_for(
            "the killed alert run to finish",
            lambda: succeeded(stack, "reunification.flag_due_clocks") == 1,
            timeout=300,
        )
        q = stack.pg.scalar
        notes = q("SELECT count(*) FROM reunification_notification")
        keys = q(
            "SELECT count(*) FROM (SELECT DISTINCT recipient_id, case_id, kind, clock "
            "FROM reunification_notification) k"
        )
        history = q("SELECT count(*) FROM reunification_historicalnotification")
        recipients = q(
            "SELECT count(DISTINCT n.recipient_id) FROM reunification_notification n "
            "JOIN common_user u ON u.id = n.recipient_id WHERE u.email <> ''"
        )
        sent = emails(stack)
        send(stack, "reunification.flag_due_clocks")
        wait_for(
            "a second alert run", lambda: succeeded(stack, "reunification.flag_due_clocks") == 2, timeout=300
        )
        print(
            f"\n[worker] clock alerts: {lost(stack)} pool processes killed mid-task; notifications {notes} "
            f"(distinct clocks×recipients {keys}), history rows {history}, emails {sent} to {recipients} "
            f"recipients; a second run added {q('SELECT count(*) FROM reunification_notification') - notes} "
            f"notifications and {emails(stack) - sent} emails"
        )
        assert lost(stack) == KILLS
        assert notes > 0 and notes == keys == history
        assert sent == recipients > 0
        assert q("SELECT count(*) FROM reunification_notification") == notes and emails(stack) == sent
    finally:
        stack.stop(worker)


class HoldingReceiver:
    """A webhook receiver that keeps each POST open until told, so the sender is caught mid-request."""

    def __init__(self) -> None:
        self.requests: list[str] = []
        self.hold = True
        self.release = threading.Event()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 - http.server's name
                self.rfile.read(int(self.headers.get("Content-Length") or 0))
                receiver.requests.append(self.headers.get("FamilyLink-Event-Id", ""))
                if receiver.hold:
                    receiver.release.wait(120)
                try:
                    self.send_response(200)
                    self.send_header("Content-Length", "2")
                    self.end_headers()
                    self.wfile.write(b"ok")
                except OSError:
                    pass  # the sender was killed while we held its request

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hook"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.hold = False
        self.release.set()
        self.server.shutdown()
        self.server.server_close()


def test_webhook_delivery_killed_10_times_delivers_each_event_once(stack):
    receiver = HoldingReceiver()
    worker = stack.start_worker(concurrency=1)
    try:
        add_endpoint(stack, receiver.url, ["case.opened"])
        # An endpoint receives the events recorded after it was added: open five cases now.
        after = stack.pg.scalar("SELECT coalesce(max(position), 0) FROM events_event")
        stack.shell(NEW_CASES)
        events = stack.pg.scalar(
            "SELECT array_agg(id::text) FROM events_event WHERE type = 'case.opened' AND position > %s",
            [after],
        )
        send(stack, "events.dispatch_webhooks")
        for k in range(KILLS):
            # A redelivered task that finds the row still locked by the killed attempt's dying session
            # leaves the delivery to the dispatcher, which queues it again once its lease has run out.
            def arrived(k: int = k) -> bool:
                if len(receiver.requests) > k:
                    return True
                send(stack, "events.dispatch_webhooks")
                return False

            wait_for("a delivery to reach the receiver", arrived, timeout=240, every=3)
            (child,) = pool_children(worker.pid)
            os.kill(child, signal.SIGKILL)
            wait_for(
                "the pool to replace the killed process",
                lambda: pool_children(worker.pid) not in ([], [child]),
            )
            held, receiver.release = receiver.release, threading.Event()
            held.set()
        receiver.hold = False
        receiver.release.set()

        def all_delivered() -> bool:
            send(stack, "events.dispatch_webhooks")
            return stack.pg.scalar(
                "SELECT count(*) FROM events_webhookdelivery "
                "WHERE status = 'delivered' AND event_id = ANY(%s::uuid[])",
                [events],
            ) == len(events)

        wait_for("every case.opened event delivered", all_delivered, timeout=300, every=3)
        q = stack.pg.scalar
        deliveries = q(
            "SELECT count(*) FROM events_webhookdelivery WHERE event_id = ANY(%s::uuid[])", [events]
        )
        acked = q(
            "SELECT count(*) FROM events_webhookattempt a "
            "JOIN events_webhookdelivery d ON d.id = a.delivery_id "
            "WHERE a.succeeded AND d.event_id = ANY(%s::uuid[])",
            [events],
        )
        print(
            f"\n[worker] webhook delivery: {lost(stack)} pool processes killed mid-request; "
            f"events {len(events)}, "
            f"deliveries {deliveries}, successful attempts recorded {acked}; receiver got "
            f"{len(receiver.requests)} requests for {len(set(receiver.requests))} distinct events "
            f"({len(receiver.requests) - len(set(receiver.requests))} repeats after kills, same event id)"
        )
        assert lost(stack) == KILLS
        assert deliveries == acked == len(events) == 5
        assert set(receiver.requests) == set(events)
    finally:
        stack.stop(worker)
        receiver.close()
