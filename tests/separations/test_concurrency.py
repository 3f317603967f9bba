"""Two simultaneous custody transfers of one person leave exactly one open custody period.

Real threads, each with its own PostgreSQL connection, released together by a barrier.
"""

import threading
from datetime import UTC, datetime

import pytest
from django.db import IntegrityError, connection, transaction

from separations import services
from separations.models import CustodyPeriod

from .factories import family

pytestmark = pytest.mark.django_db(transaction=True)


def _race(n: int, work) -> list:
    barrier = threading.Barrier(n)
    results: list = [None] * n

    def run(index: int) -> None:
        try:
            barrier.wait(timeout=10)
            results[index] = work(index)
        except Exception as exc:  # noqa: BLE001 - the test inspects what each thread got
            results[index] = exc
        finally:
            connection.close()

    threads = [threading.Thread(target=run, args=(i,)) for i in range(n)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    return results


@pytest.mark.parametrize("with_open_period", [True, False])
def test_custody_transfer_concurrent_transfers_leave_one_open_period(ept, users, with_open_period):
    """Both transfers are recorded one after the other; exactly one period stays open."""
    fam = family()
    child = fam.child
    if with_open_period:
        services.custody_transfer(
            person_id=child.pk,
            agency="CBP",
            started_at=datetime(2018, 5, 10, 18, tzinfo=UTC),
            by=users["field_agent"],
        )
    agencies = ["HHS_ORR", "ICE"]

    results = _race(
        2,
        lambda i: services.custody_transfer(
            person_id=child.pk,
            agency=agencies[i],
            facility=f"facility {i}",
            started_at=datetime(2018, 5, 12, tzinfo=UTC),
            by=users["partner_agency"],
        ),
    )

    assert all(isinstance(r, CustodyPeriod) for r in results), results
    periods = CustodyPeriod.objects.filter(person=child)
    open_periods = periods.filter(ended_at__isnull=True, withdrawn_at__isnull=True)
    assert open_periods.count() == 1
    assert periods.count() == (3 if with_open_period else 2)
    # The period opened first was closed by the second transfer: the chain has no gap.
    closed = periods.filter(ended_at__isnull=False)
    assert all(p.ended_at == datetime(2018, 5, 12, tzinfo=UTC) for p in closed)


def test_custody_one_open_period_index_refuses_a_second_open_period(ept, users):
    """Even writes that skip the service (no row lock) cannot leave two open periods."""
    child = family().child

    def insert(index: int):
        with transaction.atomic():
            period = CustodyPeriod(
                person=child, agency="CBP", started_at=datetime(2018, 5, 11 + index, tzinfo=UTC)
            )
            period.save()
            return period

    results = _race(2, insert)

    assert sum(isinstance(r, CustodyPeriod) for r in results) == 1
    assert sum(isinstance(r, IntegrityError) for r in results) == 1
    assert "custody_one_open_period" in str(next(r for r in results if isinstance(r, IntegrityError)))
    assert CustodyPeriod.objects.filter(person=child, ended_at__isnull=True).count() == 1


def test_custody_transfer_without_time_that_waited_for_the_lock_starts_after_the_one_before(ept, users):
    """A transfer naming no time starts "now" as of its turn: one that waited for a concurrent transfer
    is recorded after it, never refused as "earlier" than the period opened while it waited."""
    from apprehensions.models import Person

    child = family().child
    outcome: list = []

    def waiting_transfer() -> None:
        try:
            period = services.custody_transfer(person_id=child.pk, agency="ICE", by=users["partner_agency"])
            outcome.append(period)
        except Exception as exc:  # noqa: BLE001 - the test inspects what the thread got
            outcome.append(exc)
        finally:
            connection.close()

    with transaction.atomic():
        Person.objects.select_for_update().get(pk=child.pk)
        thread = threading.Thread(target=waiting_transfer)
        thread.start()
        with connection.cursor() as cursor:  # wait until the thread is blocked on the person's row lock
            for _ in range(200):
                cursor.execute("SELECT count(*) FROM pg_locks WHERE NOT granted")
                if cursor.fetchone()[0]:
                    break
                threading.Event().wait(0.05)
            else:
                pytest.fail(f"the second transfer never waited for the lock: {outcome}")
        first = services.custody_transfer(person_id=child.pk, agency="HHS_ORR", by=users["field_agent"])
    thread.join(timeout=30)

    assert isinstance(outcome[0], CustodyPeriod), outcome
    first.refresh_from_db()
    assert first.ended_at == outcome[0].started_at > first.started_at
