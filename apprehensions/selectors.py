"""Reads of the apprehensions layer: person search, likely duplicates (who may see whom: .visibility)."""

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import Any

from django.contrib.postgres.search import TrigramSimilarity
from django.db.models import Prefetch, Q, QuerySet
from django.db.models.functions import Greatest

from familylink.common.errors import ValidationFailed
from familylink.common.roles import has_capability
from familylink.common.text import fold

from .anumber import InvalidANumber, normalize_a_number
from .extensions import person_filters
from .models import (
    Apprehension,
    ApprehensionPerson,
    FamilyMembership,
    FamilyUnit,
    Person,
    Relationship,
    Station,
)
from .scoping import at_station_q
from .search import dob_slips, evidence_from, rank_persons, ranked_queryset
from .visibility import (
    NOT_VISIBLE,
    Action,
    can_act_for_any,
    can_act_for_person,
    can_list_persons,
    person_visible_or_none,
    persons_visible_to,
)

DUPLICATE_NAME_SIMILARITY = 0.45
DUPLICATE_DOB_WINDOW_DAYS = 45


def person_get_for_viewer(*, viewer: Any, person_id: Any) -> Person:
    """The person with `person_id` if `viewer` may read it; Person.DoesNotExist otherwise (→ 404)."""
    person = person_visible_or_none(viewer=viewer, person_id=person_id)
    if person is None:
        raise Person.DoesNotExist(NOT_VISIBLE)
    return person


def can_edit_person(user: Any, person: Person) -> bool:
    """Field agents and supervisors edit persons encountered at their own station."""
    return can_act_for_person(user, person, Action.EDIT_PERSON)


def can_edit_relationship_evidence(user: Any, relationship: Relationship) -> bool:
    """Station staff for their station's persons; coordinators for persons in their team's cases."""
    return can_act_for_any(
        user, [relationship.from_person, relationship.to_person], Action.EDIT_RELATIONSHIP_EVIDENCE
    )


def _a_number_filter(value: str) -> str:
    try:
        return normalize_a_number(value)
    except InvalidANumber as exc:
        raise ValidationFailed({"a_number": [f"A-number filter: {exc}"]}) from exc


def _bool_filter(name: str, value: str) -> bool:
    text = str(value).strip().lower()
    if text in ("true", "1", "yes"):
        return True
    if text in ("false", "0", "no"):
        return False
    raise ValidationFailed({name: [f"{name} must be true or false, not {value!r}."]})


def person_search(
    *,
    viewer: Any,
    q: str = "",
    filters: Mapping[str, str] | None = None,
    rank: Mapping[str, str] | None = None,
) -> QuerySet[Person]:
    """Persons `viewer` may see, matching `q` (name, A-number) and the contract's list filters.

    Filters: a_number (any accepted spelling), date_of_birth, is_minor, is_unaccompanied, station,
    and those registered by higher apps (e.g. separated, custody_agency). Bad filter values raise
    ValidationFailed naming the filter. Partner agencies must give an A-number.
    `rank` (see search.RANK_PARAMS: born, age, country, sex, seen_at, seen_from, seen_to) orders
    the matches of `q`, never filters them. With `q`, each person carries `search_score` and
    `search_reasons` (why it matched), best first (see apprehensions/search.py).
    """
    filters = {k: v for k, v in (filters or {}).items() if v not in (None, "")}
    if not can_list_persons(viewer) and has_capability(viewer, "lookup_persons"):
        if "a_number" not in filters:
            raise ValidationFailed(
                {
                    "a_number": [
                        "Partner agencies look persons up by A-number (?a_number=A012345678) or by id."
                    ]
                }
            )
        queryset = persons_visible_to(viewer, by_identifier=True)
    else:
        queryset = persons_visible_to(viewer)
    if "a_number" in filters:
        queryset = queryset.filter(a_number=_a_number_filter(filters["a_number"]))
    if "date_of_birth" in filters:
        try:
            dob = date.fromisoformat(str(filters["date_of_birth"]).strip())
        except ValueError as exc:
            raise ValidationFailed(
                {
                    "date_of_birth": [
                        f"date_of_birth {filters['date_of_birth']!r} is not a date; use YYYY-MM-DD."
                    ]
                }
            ) from exc
        queryset = queryset.filter(date_of_birth=dob)
    if "is_minor" in filters:
        queryset = queryset.filter(is_minor=_bool_filter("is_minor", filters["is_minor"]))
    if "is_unaccompanied" in filters:
        queryset = queryset.filter(
            is_unaccompanied=_bool_filter("is_unaccompanied", filters["is_unaccompanied"])
        )
    if "station" in filters:
        code = str(filters["station"]).strip().upper()
        if not Station.objects.filter(code=code).exists():
            raise ValidationFailed(
                {"station": [f"Unknown station {filters['station']!r}; see GET /api/v1/stations/."]}
            )
        queryset = queryset.filter(at_station_q(code))
    for name, fn in person_filters().items():
        if name in filters:
            queryset = fn(queryset, str(filters[name]))
    if q and q.strip():
        evidence = evidence_from(rank or {})
        matches = rank_persons(queryset, q=q, evidence=evidence)
        return ranked_queryset(queryset, matches)
    else:
        queryset = queryset.order_by("first_surname", "second_surname", "given_names", "id")
    return queryset


@dataclass
class DuplicateCandidate:
    person: Person
    reasons: list[str] = field(default_factory=list)
    score: float = 0.0
    same_a_number: bool = False


def likely_duplicates(
    *,
    given_names: str = "",
    first_surname: str = "",
    second_surname: str = "",
    date_of_birth: date | None = None,
    a_number: str | None = None,
    exclude_ids: set[Any] | None = None,
    limit: int = 5,
    viewer: Any = None,
) -> list[DuplicateCandidate]:
    """Persons on file that may be this person: same A-number, or a close name and a same or near DOB.

    The name is compared folded (accents, case) with pg_trgm similarity, in either surname order.
    "Near" covers the usual slips: within 45 days, day and month swapped, or the same day a year
    before or after (an estimated year). Each is a range on the date-of-birth index, so the names
    compared are a few thousand even among a million persons. With `viewer`, only persons the viewer
    may see are offered (a candidate's name and birth date would otherwise reveal them).
    """
    exclude_ids = exclude_ids or set()
    base = Person.objects.all() if viewer is None else persons_visible_to(viewer)
    found: dict[Any, DuplicateCandidate] = {}
    if a_number:
        for person in base.filter(a_number=a_number).exclude(pk__in=exclude_ids):
            found[person.pk] = DuplicateCandidate(
                person, [f"Same A-number {a_number}"], 1.0, same_a_number=True
            )
    name = fold(" ".join(p for p in (given_names, first_surname, second_surname) if p))
    swapped = fold(" ".join(p for p in (given_names, second_surname, first_surname) if p))
    if name and date_of_birth is not None:
        window = timedelta(days=DUPLICATE_DOB_WINDOW_DAYS)
        near = Q(date_of_birth__range=(date_of_birth - window, date_of_birth + window)) | Q(
            date_of_birth__in=dob_slips(date_of_birth)
        )
        rows = (
            base.filter(near, withdrawn_at__isnull=True)
            .exclude(pk__in=[*exclude_ids, *found])
            .annotate(
                sim=Greatest(
                    TrigramSimilarity("name_normalized", name), TrigramSimilarity("name_normalized", swapped)
                )
            )
            .filter(sim__gte=DUPLICATE_NAME_SIMILARITY)
            .order_by("-sim")[: limit * 2]
        )
        for person in rows:
            assert person.date_of_birth is not None  # the date range above excludes persons without one
            days = abs((person.date_of_birth - date_of_birth).days)
            dob_reason = (
                f"Same date of birth {date_of_birth.isoformat()}"
                if days == 0
                else f"Date of birth {person.date_of_birth.isoformat()} ({days} days apart)"
            )
            score = float(person.sim) * (
                1.0 if days == 0 else 0.85 if days <= DUPLICATE_DOB_WINDOW_DAYS else 0.7
            )
            found[person.pk] = DuplicateCandidate(
                person,
                [f"Similar name ({round(float(person.sim) * 100)}% alike)", dob_reason],
                round(score, 2),
            )
    ranked = sorted(found.values(), key=lambda c: -c.score)
    return ranked[:limit]


def person_relationships(person: Person) -> list[Relationship]:
    """Active relationships where the person is either end, with both persons loaded."""
    return list(
        Relationship.objects.filter(Q(from_person=person) | Q(to_person=person), withdrawn_at__isnull=True)
        .select_related("from_person", "to_person")
        .order_by("type", "created_at")
    )


def describe_relationship(rel: Relationship, viewpoint: Person) -> tuple[str, Person]:
    """How the other person relates to `viewpoint`, in words: ("Mother of" / "Child", other)."""
    other = rel.to_person if rel.from_person_id == viewpoint.pk else rel.from_person
    outgoing = rel.from_person_id == viewpoint.pk
    labels = {
        Relationship.Type.PARENT: ("Child", "Parent"),
        Relationship.Type.LEGAL_GUARDIAN: ("Under guardianship", "Legal guardian"),
        Relationship.Type.GRANDPARENT: ("Grandchild", "Grandparent"),
        Relationship.Type.SIBLING: ("Sibling", "Sibling"),
        Relationship.Type.OTHER_RELATIVE: ("Other relative", "Other relative"),
    }
    as_from, as_to = labels[Relationship.Type(rel.type)]
    return (as_from if outgoing else as_to), other


def person_family_units(person: Person) -> list[FamilyUnit]:
    """Every family unit of the person, each with its members (never split, never deleted)."""
    return list(
        FamilyUnit.objects.filter(memberships__person=person)
        .select_related("apprehension__station")
        .prefetch_related(
            Prefetch(
                "memberships",
                queryset=FamilyMembership.objects.select_related("person").order_by(
                    "role", "person__given_names"
                ),
            )
        )
        .order_by("created_at")
        .distinct()
    )


def person_apprehensions(person: Person) -> list[ApprehensionPerson]:
    return list(
        ApprehensionPerson.objects.filter(person=person)
        .select_related("apprehension__station", "apprehension__apprehending_agent")
        .order_by("-apprehension__occurred_at")
    )


def apprehensions_visible_to(user: Any) -> QuerySet[Apprehension]:
    """Apprehensions at the user's station (field agents, supervisors), or all (HQ, auditors)."""
    queryset = Apprehension.objects.select_related("station", "apprehending_agent")
    if has_capability(user, "read_persons_all"):
        return queryset
    station = str(getattr(user, "station", "") or "")
    if has_capability(user, "read_persons_station") and station:
        return queryset.filter(station__code=station)
    return queryset.none()


def apprehension_detail(apprehension: Apprehension) -> dict[str, Any]:
    """Everyone in an apprehension, their family units and the relationships among them."""
    encounters = list(
        apprehension.encounters.select_related("person").order_by(
            "person__date_of_birth", "person__given_names"
        )
    )
    ids = [e.person_id for e in encounters]
    units = list(
        apprehension.family_units.prefetch_related(
            Prefetch("memberships", queryset=FamilyMembership.objects.select_related("person"))
        ).order_by("label")
    )
    relationships = list(
        Relationship.objects.filter(
            Q(from_person_id__in=ids) | Q(to_person_id__in=ids), withdrawn_at__isnull=True
        )
        .select_related("from_person", "to_person")
        .order_by("type")
    )
    return {"encounters": encounters, "family_units": units, "relationships": relationships}


def relationships_document_not_named(*, viewer: Any) -> QuerySet[Relationship]:
    """Relationships with `documented` evidence whose document was not named, oldest first.

    Accepted so that a request built from the contract succeeds; HQ follows each one up.
    """
    visible = persons_visible_to(viewer).values("pk")
    return (
        Relationship.objects.filter(
            evidence=Relationship.Evidence.DOCUMENTED, document_kind="", withdrawn_at__isnull=True
        )
        .filter(from_person__in=visible, to_person__in=visible)
        .select_related("from_person", "to_person", "created_by")
        .order_by("created_at", "id")
    )
