"""PostgreSQL restarted (immediate stop, as a crash) during a stream of intakes to a real gunicorn:
every intake confirmed to a client is in the database afterwards; requests during the outage get a
JSON 503 with Retry-After (not a hang, not a 500); the same gunicorn recovers without a restart."""

import threading
import time

import pytest

from .helpers import intake_body
from .stack import wait_for

pytestmark = pytest.mark.faults

CLIENTS = 3
DOWN_SECONDS = 4
AFTER = 30  # confirmed intakes wanted after the restart


def test_postgres_restart_during_intakes_keeps_every_confirmed_write(stack):
    web = stack.start_web(workers=2)
    answers: list[tuple[int, str, str, float]] = []  # (status, intake id, detail, seconds)
    lock = threading.Lock()
    stop = threading.Event()
    phase = {"name": "before"}

    def client(k: int) -> None:
        n = 0
        while not stop.is_set():
            n += 1
            started = time.monotonic()
            try:
                status, headers, data = stack.http(
                    "POST", "/api/v1/apprehensions/", intake_body(n, f"Pg{k}"), token=stack.token, timeout=90
                )
            except Exception as exc:  # noqa: BLE001 - a hang or a dropped connection is recorded
                status, headers, data = 0, {}, repr(exc)
            took = time.monotonic() - started
            ident = data.get("id", "") if isinstance(data, dict) and status == 201 else ""
            detail = ""
            if status != 201:
                detail = (
                    f"{headers.get('Content-Type', '')} {headers.get('Retry-After', '-')} {str(data)[:120]}"
                )
            with lock:
                answers.append((status, ident, f"{phase['name']}: {detail}", took))
            if status == 503:
                time.sleep(0.2)

    threads = [threading.Thread(target=client, args=(k,), daemon=True) for k in range(CLIENTS)]
    try:
        for thread in threads:
            thread.start()
        wait_for("20 intakes before the restart", lambda: len(answers) >= 20, timeout=300)
        phase["name"] = "down"
        stack.pg.stop_immediately()
        down_from = len(answers)
        time.sleep(DOWN_SECONDS)
        stack.pg.start()
        phase["name"] = "after"
        back_from = len(answers)
        wait_for(
            f"{AFTER} confirmed intakes after the restart",
            lambda: sum(1 for a in answers[back_from:] if a[0] == 201) >= AFTER,
            timeout=300,
        )
        assert web.poll() is None, "the same gunicorn served before, during and after the restart"
    finally:
        stop.set()
        for thread in threads:
            thread.join(120)
        stack.stop(web)
    confirmed = [a[1] for a in answers if a[0] == 201]
    saved = stack.pg.scalar(
        "SELECT count(*) FROM apprehensions_apprehension WHERE id = ANY(%s::uuid[])", [confirmed]
    )
    others = [a for a in answers if a[0] != 201]
    outage = [a for a in others if a[0] == 503]
    slowest = max(a[3] for a in answers)
    print(
        f"\n[postgres] {len(answers)} intakes from {CLIENTS} clients; PostgreSQL down {DOWN_SECONDS} s "
        f"(answers {down_from}-{back_from}); confirmed {len(confirmed)}, saved {saved}; "
        f"503 JSON {len(outage)}, other failures {len(others) - len(outage)}; "
        f"{sum(1 for a in answers[back_from:] if a[0] == 201)} confirmed after the restart on the same "
        f"gunicorn; slowest answer {slowest:.1f} s"
    )
    for status, _, detail, took in others[:5]:
        print(f"[postgres]   {status} in {took:.2f} s: {detail}")
    assert saved == len(confirmed), "every intake confirmed to a client is in the database"
    assert outage, "requests during the outage were answered 503"
    assert len(others) == len(outage), f"only 503s during the outage: {[a for a in others if a[0] != 503]}"
    assert all("application/json" in a[2] and " 5 " in a[2] for a in outage), "503 is JSON with Retry-After"
