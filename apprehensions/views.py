"""Pages of the apprehensions layer: intake form, apprehension, person, persons search. Thin views."""

from typing import Any
from uuid import UUID

from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.core.paginator import Paginator
from django.db import transaction
from django.db.models import Count
from django.http import Http404, HttpRequest, HttpResponse
from django.http.response import HttpResponseBase
from django.shortcuts import redirect, render
from django.template.loader import render_to_string
from django.utils.safestring import mark_safe
from django.views.decorators.http import require_http_methods

from audit.exports import export_format, export_response, export_url
from audit.services import access_log_record, access_log_record_many
from familylink.common.errors import BusinessRuleError, StaleVersionError, ValidationFailed
from familylink.common.errors import PermissionDenied as DomainPermissionDenied
from familylink.common.guards import CONTROL
from familylink.common.middleware import checks_its_own_text
from familylink.common.roles import has_capability

from .anumber import InvalidANumber, normalize_a_number
from .exports import PERSON_COLUMNS
from .extensions import person_panels
from .forms import COUNTRIES, ON_FILE, IntakeForm, PersonEditForm, RelationshipAddForm, parse_action
from .models import ApprehensionPerson, Person, Relationship, Station
from .search import RANK_PARAMS
from .selectors import (
    apprehension_detail,
    apprehensions_visible_to,
    can_edit_person,
    describe_relationship,
    likely_duplicates,
    person_apprehensions,
    person_family_units,
    person_get_for_viewer,
    person_relationships,
    person_search,
    relationships_document_not_named,
)
from .services import (
    apprehension_record,
    apprehension_validate,
    person_update,
    relationship_create,
)
from .services.conflicts import out_of_scope_relative_message, with_every_error_reported
from .visibility import can_read_persons, is_person_visible, persons_visible_to

READ_PAGES = ("read_persons_station", "read_persons_all", "read_persons_separated")


def _require(request: HttpRequest, *capabilities: str) -> None:
    if not any(has_capability(request.user, c) for c in capabilities):
        raise PermissionDenied("Your role cannot open this page.")


def _station_choices(user: Any) -> list[tuple[str, str]]:
    stations = Station.objects.filter(withdrawn_at__isnull=True, code=getattr(user, "station", ""))
    return [(s.code, f"{s.code} – {s.name}") for s in stations]


# --- intake ------------------------------------------------------------------------------------


def _review(form: IntakeForm, plan: Any, person_rows: list[int], user: Any) -> bool:
    """Find likely duplicates of the persons entered; True when the agent must decide before saving."""
    on_file_ids = {p.person.pk for p in plan.persons if not p.is_new}
    needs_decision = False
    for plan_person in plan.persons:
        row_index = person_rows[plan_person.index]
        row = form.persons[row_index]
        decided = str(row.value("match") or "")
        reviewed = [r for r in str(row.value("reviewed") or "").split(",") if r]
        if reviewed:
            ids = []
            for raw in reviewed:
                try:
                    ids.append(UUID(raw))
                except ValueError:
                    continue
            form.candidates[row_index] = [
                {"person": p, "reasons": []}
                for p in persons_visible_to(user).filter(pk__in=ids).select_related("first_station")
            ]
            if not decided:
                row.add_error("match", "Choose whether this is the person on file or a new person.")
                needs_decision = True
            continue
        if decided:
            continue
        if plan_person.is_new:
            values = plan_person.entered
            found = likely_duplicates(
                given_names=values.get("given_names", ""),
                first_surname=values.get("first_surname", ""),
                second_surname=values.get("second_surname", ""),
                date_of_birth=values.get("date_of_birth"),
                exclude_ids=on_file_ids,
                viewer=user,
            )
            if found:
                form.candidates[row_index] = [
                    {"person": c.person, "reasons": c.reasons, "value": f"same:{c.person.pk}"} for c in found
                ]
                needs_decision = True
        elif plan_person.match == ApprehensionPerson.Match.A_NUMBER:
            holder = plan_person.person
            # A holder the agent may not see is offered without name or birth date; choosing them
            # links the encounter by the A-number the agent typed.
            visible = is_person_visible(user, holder, by_identifier=False)
            form.candidates[row_index] = [
                {
                    "person": holder if visible else None,
                    "a_number": holder.a_number,
                    "reasons": [f"Same A-number {holder.a_number}"],
                    "value": f"same:{holder.pk}" if visible else "same_a_number",
                }
            ]
            needs_decision = True
    return needs_decision


def _count(n: int, noun: str) -> str:
    return f"{n} {noun}{'' if n == 1 else 's'}"


def _submit_intake(request: HttpRequest, form: IntakeForm) -> tuple[bool, HttpResponse | None]:
    """Validate, show likely duplicates for a decision, then save. Returns (reviewing, redirect or None)."""
    intake, unread, person_rows, rel_rows = form.to_input()
    form.check_families()
    try:
        plan = with_every_error_reported(unread, apprehension_validate, user=request.user, **intake)
    except ValidationFailed as exc:
        form.apply_errors(exc.errors, person_rows, rel_rows)
        return False, None
    except DomainPermissionDenied as exc:
        form.non_field_errors.append(str(exc))
        return False, None
    if form.has_errors:
        return False, None
    if _review(form, plan, person_rows, request.user):
        return True, None
    try:
        result = apprehension_record(user=request.user, source=Relationship.Source.INTAKE, **intake)
    except ValidationFailed as exc:
        form.apply_errors(exc.errors, person_rows, rel_rows)
        return False, None
    except BusinessRuleError as exc:
        form.non_field_errors.append(str(exc))
        return False, None
    apprehension = result.apprehension
    counts = [
        _count(len(result.persons), "person"),
        _count(apprehension.family_units.count(), "family unit"),
        _count(apprehension.relationships.count(), "relationship"),
    ]
    messages.success(request, f"Apprehension recorded: {', '.join(counts)}.")
    return False, redirect("apprehensions:apprehension", pk=apprehension.pk)


@require_http_methods(["GET", "POST"])
def intake(request: HttpRequest) -> HttpResponse:
    """The one-page intake form: the encounter, its persons, family units and relationships."""
    _require(request, "record_intake")
    choices = _station_choices(request.user)
    if not choices:
        station = getattr(request.user, "station", "")
        return render(request, "apprehensions/intake_unavailable.html", {"station": station})
    reviewing = False
    focus = ""
    if request.method == "GET":
        form = IntakeForm.blank(station_choices=choices, default_station=choices[0][0])
    else:
        form = IntakeForm.from_data(request.POST, station_choices=choices)
        action, index = parse_action(request.POST.get("_action", "save"))
        if action == "add_person":
            form = form.add_person()
            focus = f"id_persons-{len(form.persons) - 1}-given_names"
        elif action == "remove_person" and index is not None:
            form = form.remove_person(index)
        elif action == "add_relationship":
            form = form.add_relationship()
            focus = f"id_relationships-{len(form.relationships) - 1}-from_person"
        elif action == "remove_relationship" and index is not None:
            form = form.remove_relationship(index)
        else:
            reviewing, response = _submit_intake(request, form)
            if response is not None:
                return response
    return render(
        request,
        "apprehensions/intake.html",
        {
            "form": form,
            "relationship_person_options": [
                ("", "Choose a person"),
                *form.person_choices(),
                (ON_FILE, "A person on file (give the A-number)"),
            ],
            "errors": form.error_summary(),
            "reviewing": reviewing,
            "focus": focus,
        },
    )


# --- apprehensions -----------------------------------------------------------------------------


def apprehension_list(request: HttpRequest) -> HttpResponse:
    _require(request, "read_persons_station", "read_persons_all")
    queryset = apprehensions_visible_to(request.user).order_by("-occurred_at", "id")
    page = Paginator(queryset, 25).get_page(request.GET.get("page"))
    # Counted for the page only: a GROUP BY over every apprehension would read them all.
    counts = dict(
        ApprehensionPerson.objects.filter(apprehension__in=[a.pk for a in page])
        .values_list("apprehension_id")
        .annotate(n=Count("id"))
        .values_list("apprehension_id", "n")
    )
    for apprehension in page:
        apprehension.person_count = counts.get(apprehension.pk, 0)  # type: ignore[attr-defined]
    return render(request, "apprehensions/apprehension_list.html", {"page": page})


@transaction.atomic  # reads and their access-log rows in one transaction (rule 3)
def apprehension_page(request: HttpRequest, pk: UUID) -> HttpResponse:
    """Everyone in one encounter and how they are linked."""
    _require(request, "read_persons_station", "read_persons_all")
    apprehension = apprehensions_visible_to(request.user).filter(pk=pk).first()
    if apprehension is None:
        raise Http404("No apprehension with this id, or not one you may see.")
    detail = apprehension_detail(apprehension)
    access_log_record_many(
        user=request.user,
        records=[e.person for e in detail["encounters"]],
        action="view_apprehension",
        path=request.get_full_path(),
    )
    return render(request, "apprehensions/apprehension.html", {"apprehension": apprehension, **detail})


# --- persons -----------------------------------------------------------------------------------

SEARCH_MAX_LENGTH = 200


@checks_its_own_text  # the search box refuses control characters beside the box
@transaction.atomic  # reads and their access-log rows in one transaction (rule 3)
def person_list(request: HttpRequest) -> HttpResponseBase:
    """Search persons visible to the user: name (accent- and typo-tolerant), A-number, date of birth..."""
    _require(request, *READ_PAGES)
    params = request.GET
    filters = {
        name: params.get(name, "")
        for name in ("a_number", "date_of_birth", "is_minor", "is_unaccompanied", "station")
    }
    errors: dict[str, list[str]] = {}
    page = None
    q = params.get("q", "")
    try:
        if len(q) > SEARCH_MAX_LENGTH:
            # The API's `q` has the same limit; past it the name search's levenshtein() fails (a 500).
            raise ValidationFailed(
                {"q": [f"Search for at most {SEARCH_MAX_LENGTH} characters (this has {len(q)}); shorten it."]}
            )
        if CONTROL.search(q):
            # As the API answers it (familylink.common.guards), not a silent "0 persons found".
            raise ValidationFailed({"q": ["Remove the control characters (such as NUL) from the search."]})
        if held := [name for name, value in params.lists() if any(CONTROL.search(v) for v in value)]:
            # The other filters too (a NUL in `station` reached PostgreSQL: a 500).
            raise ValidationFailed(
                {name: [f"Remove the control characters (such as NUL) from {name}."] for name in held}
            )
        rank = {name: params.get(name, "") for name in RANK_PARAMS}
        queryset = person_search(viewer=request.user, q=q, filters=filters, rank=rank)
        if (fmt := export_format(request)) is not None:
            return export_response(
                request,
                fmt=fmt,
                name="persons",
                columns=PERSON_COLUMNS,
                rows=queryset.select_related("first_station"),
            )
        page = Paginator(queryset.select_related("first_station"), 25).get_page(params.get("page"))
    except ValidationFailed as exc:
        errors = exc.errors
    if page is not None:
        access_log_record_many(user=request.user, records=page, action="list", path=request.get_full_path())
    query = params.copy()
    query.pop("page", None)
    return render(
        request,
        "apprehensions/person_list.html",
        {
            "page": page,
            "params": params,
            "errors": errors,
            "querystring": query.urlencode(),
            "stations": Station.objects.filter(withdrawn_at__isnull=True).order_by("code"),
            "searched": any(params.get(k) for k in ("q", *filters)),
            "export_csv": export_url(request, "csv"),
            "export_xlsx": export_url(request, "xlsx"),
            "ranked": bool(params.get("q", "").strip()),
            "countries": COUNTRIES[1:],
        },
    )


def _person_for(request: HttpRequest, pk: UUID) -> Person:
    if not can_read_persons(request.user):
        raise PermissionDenied("Your role cannot read person records.")
    try:
        return person_get_for_viewer(viewer=request.user, person_id=pk)
    except Person.DoesNotExist as exc:
        raise Http404("No person with this id, or not one you may see.") from exc


def _family_tree(person: Person, relationships: list[Relationship]) -> dict[str, list[dict[str, Any]]]:
    """Relationships as three generations around the person, each with how it is known."""
    tree: dict[str, list[dict[str, Any]]] = {"older": [], "same": [], "younger": [], "other": []}
    for rel in relationships:
        label, other = describe_relationship(rel, person)
        item = {"relationship": rel, "label": label, "other": other}
        if rel.type == Relationship.Type.SIBLING:
            tree["same"].append(item)
        elif rel.type == Relationship.Type.OTHER_RELATIVE:
            tree["other"].append(item)
        elif rel.from_person_id == person.pk:
            tree["younger"].append(item)
        else:
            tree["older"].append(item)
    return tree


@transaction.atomic  # reads and their access-log rows in one transaction (rule 3)
def person_page(request: HttpRequest, pk: UUID) -> HttpResponse:
    """Identity, identifiers, family units, relationships with evidence, apprehensions, and panels of
    higher apps (custody, separations, reunification). Every view is logged (rule 3)."""
    person = _person_for(request, pk)
    access_log_record(
        user=request.user,
        obj=person,
        action="view",
        channel="web",
        path=request.get_full_path(),
        is_minor_record=person.is_minor,
    )
    relationships = person_relationships(person)
    rendered = [
        (p["order"], mark_safe(render_to_string(p["template"], p["context"], request=request)))  # noqa: S308
        for p in person_panels(request, person)
    ]
    panels = [html for order, html in rendered if order >= 10]
    return render(
        request,
        "apprehensions/person.html",
        {
            "person": person,
            "identifiers": person.identifiers.filter(withdrawn_at__isnull=True),
            "family_units": person_family_units(person),
            "relationships": [
                dict(zip(("label", "other"), describe_relationship(r, person), strict=True), relationship=r)
                for r in relationships
            ],
            "tree": _family_tree(person, relationships),
            "encounters": person_apprehensions(person),
            "panels": panels,
            "top_panels": [html for order, html in rendered if order < 10],
            "can_edit": can_edit_person(request.user, person),
        },
    )


@require_http_methods(["GET", "POST"])
def person_edit(request: HttpRequest, pk: UUID) -> HttpResponse:
    """Edit a person's identity fields; a stale version is refused with the reason."""
    person = _person_for(request, pk)
    if not can_edit_person(request.user, person):
        raise PermissionDenied("You edit persons encountered at your own station only.")
    stale = False
    if request.method == "POST":
        form = PersonEditForm(request.POST)
        if form.is_valid():
            changes, unread = form.to_changes()
            try:
                with_every_error_reported(
                    unread,
                    person_update,
                    person_id=person.pk,
                    user=request.user,
                    changes=changes,
                    change_reason=form.cleaned_data["change_reason"],
                    expected_version=form.cleaned_data["version"],
                )
            except ValidationFailed as exc:
                for path, msgs in exc.errors.items():
                    for message in msgs:
                        form.add_error(path if path in form.fields else None, message)
            except StaleVersionError as exc:
                stale = True
                form.add_error(None, str(exc))
            else:
                messages.success(request, "The person's record was updated; the change is in its history.")
                return redirect("apprehensions:person", pk=person.pk)
    else:
        form = PersonEditForm(
            initial={
                **{
                    name: getattr(person, name)
                    for name in (
                        "given_names",
                        "first_surname",
                        "second_surname",
                        "sex",
                        "dob_estimated",
                        "country_of_citizenship",
                        "language",
                        "a_number",
                    )
                },
                "date_of_birth": person.date_of_birth.isoformat() if person.date_of_birth else "",
                "version": person.version,
            }
        )
    return render(request, "apprehensions/person_edit.html", {"person": person, "form": form, "stale": stale})


@require_http_methods(["GET", "POST"])
def relationship_add(request: HttpRequest, pk: UUID) -> HttpResponse:
    """Record a relationship between this person and another person on file."""
    person = _person_for(request, pk)
    if not can_edit_person(request.user, person):
        raise PermissionDenied("You record relationships for persons encountered at your own station only.")
    if request.method == "POST":
        form = RelationshipAddForm(request.POST)
        form.is_valid()
        other = None
        raw = str(form["other_a_number"].value() or "")
        try:
            a_number = normalize_a_number(raw)
            holder = Person.objects.filter(a_number=a_number, withdrawn_at__isnull=True).first()
            other = holder if is_person_visible(request.user, holder, by_identifier=False) else None
            if holder is None:
                form.add_error(
                    "other_a_number", f"No person with A-number {a_number} is on file; check the number."
                )
            elif other is None:
                form.add_error("other_a_number", out_of_scope_relative_message(a_number))
        except InvalidANumber as exc:
            form.add_error("other_a_number", f"A-number: {exc}")
        # Without a direction there is no telling who is whose parent: nothing is recorded.
        if other is not None and "direction" not in form.errors:
            ends = (person, other) if form["direction"].value() == "from" else (other, person)
            try:
                relationship_create(
                    user=request.user,
                    from_person=ends[0].pk,
                    to_person=ends[1].pk,
                    type=form["type"].value(),
                    evidence=form["evidence"].value(),
                    document_kind=form["document_kind"].value() or "",
                    document_number=form["document_number"].value() or "",
                    change_reason=form["change_reason"].value() or "",
                    source=Relationship.Source.INTAKE,
                )
            except ValidationFailed as exc:
                for path, msgs in exc.errors.items():
                    field = {"from": "other_a_number", "to": "other_a_number"}.get(path, path)
                    for message in msgs:
                        form.add_error(field if field in form.fields else None, message)
            except (DomainPermissionDenied, BusinessRuleError) as exc:
                form.add_error(None, str(exc))
            else:
                messages.success(request, "Relationship recorded.")
                return redirect("apprehensions:person", pk=person.pk)
    else:
        form = RelationshipAddForm(initial={"direction": "to", "type": "parent", "evidence": "claimed"})
    return render(request, "apprehensions/relationship_add.html", {"person": person, "form": form})


def documents_not_named(request: HttpRequest) -> HttpResponse:
    """HQ's follow-up list: relationships with `documented` evidence whose document nobody named."""
    _require(request, "read_persons_all")
    queryset = relationships_document_not_named(viewer=request.user)
    page = Paginator(queryset, 50).get_page(request.GET.get("page"))
    return render(request, "apprehensions/documents_not_named.html", {"page": page})
