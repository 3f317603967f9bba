"""Every write of link review: file an A-number conflict, accept or reject a candidate, merge, unmerge."""

from typing import Any

from django.db import transaction

from .discovery import candidate_key
from .models import LinkCandidate


@transaction.atomic
def a_number_conflict_file(
    *,
    a_number: str,
    existing_person: Any,
    other_person: Any = None,
    attempted_by: Any = None,
    context: str = "",
    entered: dict[str, Any] | None = None,
) -> LinkCandidate | None:
    """File an `a_number_conflict` for HQ review (once per A-number and pair); never merges anything."""
    if existing_person is None:
        return None
    details = {"a_number": a_number, "context": context}
    if other_person is None and entered:
        details["entered"] = {k: str(v) for k, v in entered.items()}
        details["attempt"] = "|".join(str(v) for v in entered.values())[:80]
    key = candidate_key(
        LinkCandidate.Kind.A_NUMBER_CONFLICT, existing_person.pk, getattr(other_person, "pk", None), details
    )
    existing = LinkCandidate.objects.filter(key=key).first()
    if existing is not None:
        return existing
    who = getattr(attempted_by, "username", "") or "someone"
    reasons = [f"A-number {a_number} typed at {context or 'entry'} by {who} belongs to another person on file"]
    if other_person is not None:
        reasons.append(f"{other_person.full_name} was saved with or asked for it")
    elif entered:
        reasons.append("entered: " + ", ".join(f"{k} {v}" for k, v in entered.items() if v))
    station = getattr(existing_person, "first_station", None)
    candidate = LinkCandidate(
        kind=LinkCandidate.Kind.A_NUMBER_CONFLICT,
        person_a=existing_person,
        person_b=other_person,
        suggested_type="review_a_number",
        score=1.0,
        reasons=reasons,
        details=details,
        key=key,
        station_code=getattr(station, "code", "") or getattr(attempted_by, "station", "") or "",
        created_by=attempted_by if getattr(attempted_by, "is_authenticated", False) else None,
    )
    candidate._change_reason = f"A-number conflict at {context or 'entry'}"
    candidate._history_user = attempted_by if getattr(attempted_by, "is_authenticated", False) else None
    candidate.save()
    return candidate
