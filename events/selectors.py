"""Reading the change feed: snapshot-bounded batches, so no event is skipped or read twice.

Why not `WHERE id > cursor`: ids (or a sequence) are taken when a transaction writes, but
transactions commit in another order. A reader who passed id 6 would never see id 5 if its
transaction committed later. Instead each event carries its transaction id (xid8), and the
reader works in batches bounded by two PostgreSQL snapshots, as PgQ does: a batch holds the
events committed in `hi` but not in `lo`. Every committed event belongs to exactly one batch
of the chain lo₀=∅, hi₁, hi₂, … (visibility only grows), whatever the commit order, and a long
transaction holds back no one: its events come in the batch after it commits. Inside a batch,
pages follow (xid, position).
"""

import re
from dataclasses import dataclass
from typing import Any

from django.core import signing
from django.db import connection
from django.db.models import BooleanField, Exists, F, Func, OuterRef, QuerySet
from django.db.models.expressions import RawSQL

from apprehensions.models import Person
from apprehensions.visibility import ALL, NONE, persons_visible_q
from familylink.common.roles import has_capability

from .models import Event

CURSOR_SALT = "familylink.events.cursor"
SNAPSHOT_RE = re.compile(r"^\d{1,20}:\d{1,20}:(\d{1,20}(,\d{1,20})*)?$")
EMPTY: dict[str, Any] = {"lo": None, "hi": None, "k": None}


class BadCursor(ValueError):
    pass


@dataclass
class FeedPage:
    events: list[Event]
    next_cursor: dict[str, Any]


def encode_cursor(cursor: dict[str, Any]) -> str:
    return signing.dumps(cursor, salt=CURSOR_SALT, compress=True)


def decode_cursor(text: str) -> dict[str, Any]:
    """The cursor a previous page handed out; BadCursor when it was not (tampered, truncated)."""
    try:
        cursor = signing.loads(text, salt=CURSOR_SALT)
    except (signing.BadSignature, ValueError, TypeError) as exc:
        raise BadCursor("Not a cursor from this feed; use the `next` link of the previous page.") from exc
    if not isinstance(cursor, dict) or set(cursor) != set(EMPTY):
        raise BadCursor("Not a cursor from this feed; use the `next` link of the previous page.")
    for name in ("lo", "hi"):
        if cursor[name] is not None and not (
            isinstance(cursor[name], str) and SNAPSHOT_RE.match(cursor[name])
        ):
            raise BadCursor("Not a cursor from this feed; use the `next` link of the previous page.")
    key = cursor["k"]
    if key is not None and not (
        isinstance(key, list) and len(key) == 2 and all(isinstance(k, int) for k in key)
    ):
        raise BadCursor("Not a cursor from this feed; use the `next` link of the previous page.")
    return cursor


def current_snapshot() -> str:
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_current_snapshot()::text")
        return str(cursor.fetchone()[0])


@dataclass(frozen=True)
class Snapshot:
    """A PostgreSQL snapshot `xmin:xmax:xip`: transaction x is visible in it when x < xmin, or
    x < xmax and x is not in xip (still running when the snapshot was taken)."""

    xmin: int
    xmax: int
    xip: tuple[int, ...]

    @classmethod
    def parse(cls, text: str) -> "Snapshot":
        xmin, xmax, xip = text.split(":")
        return cls(int(xmin), int(xmax), tuple(int(x) for x in xip.split(",") if x))


def event_page(*, queryset: QuerySet[Event], cursor: dict[str, Any] | None, limit: int) -> FeedPage:
    """The next `limit` events of `queryset` after `cursor` (None: from the first event), oldest first.

    The snapshot tests are written as plain comparisons on `xid` so every part is an index range:
    visible in `hi` = xid < hi.xmax and not in hi.xip; not visible in `lo` = xid in lo.xip (a
    handful of transactions that were running) or xid >= lo.xmax. The lo.xip events sort before
    the rest, so they are read first.
    """
    cursor = dict(cursor or EMPTY)
    lo, hi, key = cursor["lo"], cursor["hi"], cursor["k"]
    if hi is None:
        # Taken before the query runs, so everything committed in `hi` is visible to the query.
        hi = current_snapshot()
        key = None
    upper = Snapshot.parse(hi)
    qs = queryset.filter(xid__lt=upper.xmax)
    if upper.xip:
        qs = qs.exclude(xid__in=upper.xip)
    if key is not None:
        # A row comparison, so PostgreSQL walks the (xid, position) index from the key.
        after = RawSQL(
            "(events_event.xid, events_event.position) > (%s, %s)", key, output_field=BooleanField()
        )
        qs = qs.filter(after)
    if lo is None:
        parts = [qs]
    else:
        lower = Snapshot.parse(lo)
        parts = [qs.filter(xid__in=lower.xip)] if lower.xip else []
        parts.append(qs.filter(xid__gte=lower.xmax))
    events: list[Event] = []
    for part in parts:
        events += part.order_by("xid", "position")[: limit + 1 - len(events)]
        if len(events) > limit:
            break
    if len(events) > limit:
        events = events[:limit]
        last = events[-1]
        return FeedPage(events, {"lo": lo, "hi": hi, "k": [last.xid, last.position]})
    # The batch is exhausted: the next read starts a new batch after `hi`.
    return FeedPage(events, {"lo": hi, "hi": None, "k": None})


def can_read_events(viewer: Any) -> bool:
    return has_capability(viewer, "read_events")


def events_visible_to(viewer: Any) -> QuerySet[Event]:
    """The events `viewer` may read: those concerning at least one person the viewer may see.

    Scoped by the one person-visibility policy (apprehensions/visibility.py), as reading one person
    at a time: partner agencies may look up any person by id, HQ analysts and auditors read all
    persons, so they get every event. Other roles get the events of persons they may see. Without
    the `read_events` capability: none.
    """
    if not can_read_events(viewer):
        return Event.objects.none()
    scope = persons_visible_q(viewer, by_identifier=True)
    if scope == ALL:
        return Event.objects.all()
    if scope == NONE:
        return Event.objects.none()
    # "<person id> = ANY(event.person_ids)": the person index answers it for each event.
    in_event = Func(
        F("pk"),
        OuterRef("person_ids"),
        template="(%(expressions)s))",
        arg_joiner=" = ANY(",
        output_field=BooleanField(),
    )
    persons = Person.objects.filter(scope).filter(in_event)
    return Event.objects.filter(Exists(persons))
