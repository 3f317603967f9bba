"""Redis stopped during 100 intakes: every intake is confirmed and saved, and the jobs they cause run
once Redis is back.

What intake queues today: no Celery task directly. Each intake writes its change-feed events
(`custody.transferred`, one per person) into the `events_event` outbox in its own transaction
(events/triggers.py); beat's `events.dispatch_webhooks` turns them into webhook deliveries and queues
one `events.deliver_webhook` task each. Those deliveries are the jobs this test follows: while Redis
is down nothing can be queued, and none may be lost.
"""

import time

import pytest

from tests.events.receiver import Receiver

from .helpers import add_endpoint, intake_body
from .stack import wait_for

pytestmark = pytest.mark.faults

INTAKES = 100
STOP_AT, RESTART_AT = 20, 80


def test_redis_stopped_during_100_intakes_loses_no_intake_and_no_job(stack):
    receiver = Receiver().start()
    procs = []
    try:
        add_endpoint(stack, receiver.url, ["custody.transferred"])
        procs = [stack.start_web(), stack.start_worker(concurrency=2), stack.start_beat()]
        confirmed: dict[str, list[str]] = {}
        statuses: list[int] = []
        for n in range(INTAKES):
            if n == STOP_AT:
                stack.redis.stop()
            if n == RESTART_AT:
                stack.redis.start()
                back_at = time.monotonic()
                waiting = 2 * len(confirmed) - len(
                    {r.headers.get("FamilyLink-Event-Id") for r in receiver.requests}
                )
            status, _, data = stack.http(
                "POST", "/api/v1/apprehensions/", intake_body(n, "Redis"), token=stack.token
            )
            statuses.append(status)
            if status == 201:
                confirmed[data["id"]] = [p["id"] for p in data["persons"]]
        print(
            f"\n[redis] intakes sent {INTAKES}, Redis down for intakes {STOP_AT}-{RESTART_AT - 1}; "
            f"answers: {sorted((s, statuses.count(s)) for s in set(statuses))}"
        )
        assert statuses == [201] * INTAKES, "every intake is confirmed whether Redis is up or not"

        saved = stack.pg.scalar(
            "SELECT count(*) FROM apprehensions_apprehension WHERE id = ANY(%s::uuid[])", [list(confirmed)]
        )
        persons = [p for ids in confirmed.values() for p in ids]
        events = stack.pg.scalar(
            "SELECT array_agg(id::text) FROM events_event WHERE type = 'custody.transferred' "
            "AND resource_id = ANY(%s::uuid[])",
            [persons],
        )
        print(
            f"[redis] confirmed {len(confirmed)}, saved {saved}; outbox events for them {len(events)}, "
            f"{waiting} of them not yet delivered when Redis came back"
        )
        assert saved == INTAKES
        assert len(events) == len(persons) == 2 * INTAKES

        def delivered() -> bool:
            got = {r.headers.get("FamilyLink-Event-Id") for r in receiver.requests}
            return set(events) <= got

        wait_for("every intake's events to reach the webhook receiver", delivered, timeout=300, every=1)
        drained = time.monotonic() - back_at
        wanted = set(events)
        got = [e for e in (r.headers.get("FamilyLink-Event-Id") for r in receiver.requests) if e in wanted]
        rows = stack.pg.scalar(
            "SELECT count(*) FROM events_webhookdelivery d JOIN events_event e ON e.id = d.event_id "
            "WHERE e.id = ANY(%s::uuid[]) AND d.status = 'delivered'",
            [events],
        )
        print(
            f"[redis] jobs: {len(events)} deliveries, {rows} delivered, receiver got {len(got)} requests "
            f"for {len(set(got))} distinct events; all delivered {drained:.1f} s after "
            "Redis came back"
        )
        assert rows == len(events)
    finally:
        for proc in procs:
            stack.stop(proc)
        receiver.stop()
        if stack.redis.proc is None:
            stack.redis.start()
