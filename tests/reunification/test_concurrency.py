"""Claiming under contention: 8 coordinators claim from one list of 2,000 items until it is empty."""

import threading
from collections import Counter
from datetime import timedelta

import pytest
from django.db import connection
from django.utils import timezone

from apprehensions.models import Person
from reunification.models import ReunificationCase, WorklistItem
from reunification.services import worklist_claim_next, worklists_build

from ..conftest import make_user
from .factories import approved_separation, years_ago

pytestmark = pytest.mark.django_db(transaction=True)

ITEMS = 2000
WORKERS = 8


def open_cases(users, n):
    """n open cases of team EPT-REUNIFY: one through the real services, the rest copied in bulk."""
    separation, (template,) = approved_separation(users, children=[years_ago(6)])
    now = timezone.now()
    children = Person.objects.bulk_create(
        [
            Person(
                given_names=f"Child{i}", first_surname="Bulk", is_minor=True, date_of_birth=years_ago(i % 17)
            )
            for i in range(n - 1)
        ]
    )
    ReunificationCase.objects.bulk_create(
        [
            ReunificationCase(
                child=child,
                separation=separation,
                team="EPT-REUNIFY",
                status="open",
                next_step="contact_made",
                due_at=now + timedelta(hours=i % 500),
            )
            for i, child in enumerate(children)
        ]
    )


def test_worklist_claim_next_hands_each_item_to_exactly_one_of_8_concurrent_coordinators(users):
    """8 threads claim until the list is empty: 2,000 claims, every item exactly once, no item
    left, and each item's history shows one claim by the coordinator who got it."""
    open_cases(users, ITEMS)
    day = timezone.localdate()
    assert worklists_build(day=day)["items_created"] == ITEMS
    coordinators = [make_user(f"coord{i}", "coordinator", team="EPT-REUNIFY") for i in range(WORKERS)]
    claimed: dict[str, list] = {c.username: [] for c in coordinators}
    errors: list[BaseException] = []
    start = threading.Barrier(WORKERS)

    def work(user):
        try:
            start.wait()
            while (item := worklist_claim_next(user=user, day=day)) is not None:
                claimed[user.username].append(item.pk)
        except BaseException as exc:  # surfaced below
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=work, args=(c,)) for c in coordinators]
    for t in threads:
        t.start()
    for t in threads:
        t.join()

    assert errors == []
    all_claims = [pk for pks in claimed.values() for pk in pks]
    assert len(all_claims) == ITEMS
    assert len(set(all_claims)) == ITEMS
    assert sum(1 for pks in claimed.values() if pks) > 1, "the claims were not spread over coordinators"
    items = WorklistItem.objects.filter(worklist__date=day).select_related("claimed_by")
    assert not items.filter(claimed_by__isnull=True).exists()
    owner = {pk: name for name, pks in claimed.items() for pk in pks}
    assert all(owner[i.pk] == i.claimed_by.username for i in items)
    claims = Counter(
        WorklistItem.history.filter(history_change_reason="claimed (next)").values_list("id", flat=True)
    )
    assert len(claims) == ITEMS and set(claims.values()) == {1}
