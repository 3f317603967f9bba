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


def test_postgres_restart_with_keyed_retries_records_every_intake_exactly_once(stack):
    """Clients that retry each unanswered intake with its Idempotency-Key until it is confirmed, some
    of them giving up before the answer: after a crash of PostgreSQL in the middle, every intake they
    meant is in the database exactly once (none lost, none recorded twice, whatever was cut: the
    request, the commit or the answer)."""
    web = stack.start_web(workers=2)
    meant: list[str] = []  # the adult's given names of every intake a client finished
    tries: list[tuple[int, bool]] = []  # (status, replayed) of every attempt
    lock = threading.Lock()
    stop = threading.Event()

    def client(k: int) -> None:
        n = 0
        while not stop.is_set():
            n += 1
            body = intake_body(n, f"Key{k}")
            # Every third intake's first attempt gives up after 20 ms, as a client on a bad line
            # does: the intake is recorded, its answer is lost, and the retry must not record it again.
            timeout = 0.02 if n % 3 == 0 else 90
            while True:  # the same intake, the same key, until it is confirmed
                try:
                    status, headers, _ = stack.http(
                        "POST",
                        "/api/v1/apprehensions/",
                        body,
                        token=stack.token,
                        timeout=timeout,
                        headers={"Idempotency-Key": f"fault-{k}-{n}"},
                    )
                except Exception:  # noqa: BLE001 - a dropped connection is retried like a 503
                    status, headers = 0, {}
                with lock:
                    tries.append((status, headers.get("Idempotent-Replayed") == "true"))
                if status == 201:
                    break
                if status not in (0, 503):  # only outage answers are retried
                    return
                timeout = 90
                time.sleep(0.2)
            with lock:
                meant.append(body["persons"][0]["given_names"])

    threads = [threading.Thread(target=client, args=(k,), daemon=True) for k in range(CLIENTS)]
    try:
        for thread in threads:
            thread.start()
        wait_for("20 intakes before the restart", lambda: len(meant) >= 20, timeout=300)
        stack.pg.stop_immediately()
        time.sleep(DOWN_SECONDS)
        stack.pg.start()
        back_from = len(meant)
        wait_for(f"{AFTER} intakes after the restart", lambda: len(meant) >= back_from + AFTER, timeout=300)
    finally:
        stop.set()
        for thread in threads:
            thread.join(120)
        stack.stop(web)
    recorded = stack.pg.scalar(
        "SELECT coalesce(json_object_agg(given_names, n), '{}') FROM (SELECT given_names, count(*) AS n "
        "FROM apprehensions_person WHERE given_names LIKE 'Key% Adulta %' GROUP BY given_names) t"
    )
    failed = sum(1 for status, _ in tries if status != 201)
    replayed = sum(1 for _, again in tries if again)
    print(
        f"\n[postgres, keyed retries] {len(meant)} intakes meant by {CLIENTS} clients in {len(tries)} "
        f"attempts; {failed} unanswered or 503 and retried, {replayed} answered from the kept answer; "
        f"recorded {sum(recorded.values())} for {len(recorded)} intakes"
    )
    assert {s for s, _ in tries} <= {0, 201, 503}, f"answers other than 201 and outage: {tries}"
    assert failed, "the crash was met by some attempt"
    assert replayed, "an intake whose answer was lost was answered from what was kept, not recorded again"
    assert sorted(recorded) == sorted(meant), "every intake meant is recorded, and no other"
    assert set(recorded.values()) == {1}, f"recorded twice: {[g for g, n in recorded.items() if n > 1]}"
