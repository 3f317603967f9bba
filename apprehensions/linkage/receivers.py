"""Receivers: the incremental discovery pass after persons are recorded, and A-number conflicts."""

import logging
from typing import Any

from django.conf import settings
from django.db import transaction

log = logging.getLogger(__name__)

# An import of a whole sheet records many persons; their pass runs on a worker instead of inline.
INLINE_LIMIT = 50


def on_persons_recorded(
    sender: Any, person_ids: Any = (), source: str = "", by: Any = None, **kwargs: Any
) -> None:
    """After the writing transaction commits, look for links involving the persons just recorded."""
    ids = [str(i) for i in person_ids or ()]
    # A merge carries the open questions about the record merged away to the survivor itself, in its
    # own transaction (carry.py), so that undoing it takes them back; no pass runs after it.
    if not ids or source == "merge":
        return

    def run() -> None:
        mode = getattr(settings, "LINKAGE_INCREMENTAL", "inline")
        if mode == "off":
            return
        if mode == "celery" or len(ids) > INLINE_LIMIT:
            from .tasks import discover_links_for

            discover_links_for.delay(ids)
            return
        from .discovery import discover_links

        try:
            discover_links(person_ids=ids, by=by)
        except Exception:  # the intake is already committed; the nightly pass will find what this missed
            log.exception("incremental link discovery failed for %d persons", len(ids))

    transaction.on_commit(run)


def on_a_number_conflict(
    sender: Any,
    a_number: str = "",
    existing_person: Any = None,
    attempted_by: Any = None,
    context: str = "",
    other_person: Any = None,
    **kwargs: Any,
) -> None:
    """File an `a_number_conflict` for HQ (sent outside the refused transaction, so this row stays)."""
    from .services import a_number_conflict_file

    a_number_conflict_file(
        a_number=a_number,
        existing_person=existing_person,
        other_person=other_person,
        attempted_by=attempted_by,
        context=context,
        entered=kwargs.get("entered") or {},
    )


def connect() -> None:
    from apprehensions.signals import a_number_conflict_detected, persons_recorded

    persons_recorded.connect(on_persons_recorded, dispatch_uid="linkage-incremental")
    a_number_conflict_detected.connect(on_a_number_conflict, dispatch_uid="linkage-a-number-conflict")
