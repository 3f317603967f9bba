"""Every role × every API route of the generated schema and every page × own/other station, compared
with the contract's table (tests/access_table.py). A route or page without a row fails."""

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

import pytest
from django.urls import URLPattern, URLResolver, get_resolver
from django.utils import timezone
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from apprehensions.linkage.services import a_number_conflict_file
from apprehensions.models import ApprehensionPerson, Relationship
from audit.services import audit_checkpoint_record
from familylink.common.models import User
from legacy.services.batches import batch_create
from reunification.models import WorklistItem
from reunification.services.worklists import worklists_build
from separations.services import custody_transfer, separation_request

from .access_table import API, PAGES, ROLES, Outcome
from .conftest import make_user
from .reunification.factories import approved_separation, family, years_ago

pytestmark = pytest.mark.django_db

COLUMNS = (*ROLES, "superuser")
SIDES = ("own", "other")
PAGE_PREFIXES_SKIPPED = ("admin/", "api/", "accounts/", "health/")


@dataclass
class Req:
    """How to call one route for one side of the scene."""

    params: dict[str, str] = field(default_factory=dict)  # path param -> scene key (or "day", "code")
    body: Callable[[dict[str, Any]], dict[str, Any]] | None = None
    probe: str | None = None  # scene key whose id the answer must name for "see"
    target: str | None = None  # body field naming the record; a 400 on it means "hidden"
    if_match: str | None = None  # scene key whose current ETag is sent
    query: Callable[[dict[str, Any]], str] | None = None


def _id(key: str) -> Callable[[dict[str, Any]], str]:
    return lambda side: str(side[key].pk)


def _intake(side: dict[str, Any]) -> dict[str, Any]:
    return {
        "occurred_at": (timezone.now() - timedelta(hours=1)).isoformat(),
        "station": "EPT",
        "persons": [{"ref": "p1", "existing_person": str(side["adult"].pk)}],
    }


REQUESTS: dict[str, Req] = {
    "POST /api/v1/auth/token/": Req(body=lambda side: {}),
    "GET /api/v1/apprehensions/": Req(probe="apprehension"),
    "POST /api/v1/apprehensions/": Req(body=_intake, target="persons[0].existing_person"),
    "GET /api/v1/apprehensions/{id}/": Req(params={"id": "apprehension"}, probe="apprehension"),
    "GET /api/v1/persons/": Req(probe="child"),
    "GET /api/v1/persons/{id}/": Req(params={"id": "child"}, probe="child"),
    "PATCH /api/v1/persons/{id}/": Req(
        params={"id": "child"}, body=lambda side: {"language": "Mam"}, if_match="child"
    ),
    "GET /api/v1/persons/{id}/custody/": Req(params={"id": "child"}, probe="custody"),
    "GET /api/v1/persons/{id}/history/": Req(params={"id": "child"}),
    "POST /api/v1/relationships/": Req(
        body=lambda side: {
            "from": str(side["adult"].pk),
            "to": str(side["child"].pk),
            "type": "other_relative",
        },
        target="from",
    ),
    "GET /api/v1/relationships/{id}/": Req(params={"id": "relationship"}, probe="relationship"),
    "PATCH /api/v1/relationships/{id}/": Req(
        params={"id": "relationship"}, body=lambda side: {"evidence": "disputed"}, if_match="relationship"
    ),
    "POST /api/v1/custody-transfers/": Req(
        body=lambda side: {"person": str(side["child"].pk), "agency": "HHS_ORR", "facility": "Casa"},
        target="person",
    ),
    "GET /api/v1/separations/": Req(probe="separation"),
    "POST /api/v1/separations/": Req(
        body=lambda side: {
            "children": [str(side["child"].pk)],
            "adults": [str(side["adult"].pk)],
            "reason_code": "OTHER",
            "occurred_at": (timezone.now() - timedelta(hours=1)).isoformat(),
        },
        target="children",
    ),
    "GET /api/v1/separations/{id}/": Req(params={"id": "separation"}, probe="separation"),
    "PATCH /api/v1/separations/{id}/": Req(
        params={"id": "separation"}, body=lambda side: {}, if_match="separation"
    ),
    "POST /api/v1/separations/{id}/approve/": Req(params={"id": "separation"}, body=lambda side: {}),
    "POST /api/v1/separations/{id}/reject/": Req(params={"id": "separation"}, body=lambda side: {}),
    "GET /api/v1/reports/separated-children/": Req(probe="child"),
    "GET /api/v1/reunification-cases/": Req(probe="case"),
    "GET /api/v1/reunification-cases/{id}/": Req(params={"id": "case"}, probe="case"),
    "PATCH /api/v1/reunification-cases/{id}/": Req(
        params={"id": "case"}, body=lambda side: {}, if_match="case"
    ),
    "GET /api/v1/worklists/{day}/": Req(params={"day": "day"}),
    "POST /api/v1/worklists/{day}/claim-next/": Req(params={"day": "day"}, body=lambda side: {}),
    "POST /api/v1/worklist-items/{item_id}/claim/": Req(params={"item_id": "item"}, body=lambda side: {}),
    "POST /api/v1/worklist-items/{item_id}/complete/": Req(params={"item_id": "item"}, body=lambda side: {}),
    "GET /api/v1/events/": Req(),
    "GET /api/v1/reports/separated-children/series/": Req(),
    "GET /api/v1/reports/court-status/": Req(),
    "GET /api/v1/stations/": Req(),
    "GET /api/v1/stations/{code}/": Req(params={"code": "code"}),
    # pages
    "GET /apprehensions/": Req(probe="apprehension"),
    "GET /apprehensions/<uuid:pk>/": Req(params={"pk": "apprehension"}, probe="child"),
    "GET /persons/": Req(probe="child"),
    "GET /persons/<uuid:pk>/": Req(params={"pk": "child"}, probe="child"),
    "GET /persons/<uuid:pk>/edit/": Req(params={"pk": "child"}),
    "GET /persons/<uuid:pk>/relationships/new/": Req(params={"pk": "child"}),
    "GET /separations/": Req(probe="separation"),
    "GET /approvals/separations/": Req(probe="requested"),
    "GET /separations/new/": Req(query=lambda side: f"person={side['child'].pk}"),
    "GET /separations/<uuid:pk>/": Req(params={"pk": "separation"}, probe="child"),
    "GET /separations/<uuid:pk>/decide/": Req(params={"pk": "separation"}),
    "GET /custody-transfers/new/": Req(query=lambda side: f"person={side['child'].pk}"),
    "GET /reports/separated-children/": Req(probe="child"),
    "GET /reunification/queue/items/<uuid:item_id>/complete/": Req(params={"item_id": "item"}),
    "GET /reunification/cases/": Req(probe="case"),
    "GET /reunification/cases/<uuid:case_id>/": Req(params={"case_id": "case"}, probe="case"),
    "GET /reunification/cases/<uuid:case_id>/steps/<str:step>/": Req(
        params={"case_id": "case", "step": "step"}
    ),
    "GET /reunification/cases/<uuid:case_id>/close/": Req(params={"case_id": "case"}),
    "GET /reunification/cases/<uuid:case_id>/reassign/": Req(params={"case_id": "case"}),
    "GET /audit/history/<str:label>/<uuid:pk>/": Req(params={"label": "label", "pk": "child"}),
    "GET /audit/checkpoints/<int:pk>.json": Req(params={"pk": "checkpoint"}),
    "GET /imports/template.<str:fmt>": Req(params={"fmt": "fmt"}),
    "GET /link-candidates/<uuid:pk>/": Req(params={"pk": "candidate"}),
    "GET /link-candidates/<uuid:pk>/decide/": Req(params={"pk": "candidate"}),
    "GET /link-candidates/<uuid:pk>/unmerge/": Req(params={"pk": "candidate"}),
    "GET /api/v1/link-candidates/{id}/": Req(params={"id": "candidate"}),
    "POST /api/v1/link-candidates/{id}/accept/": Req(params={"id": "candidate"}, body=lambda side: {}),
    "POST /api/v1/link-candidates/{id}/reject/": Req(params={"id": "candidate"}, body=lambda side: {}),
    "POST /api/v1/link-candidates/{id}/unmerge/": Req(params={"id": "candidate"}, body=lambda side: {}),
    "GET /imports/<uuid:pk>/": Req(params={"pk": "batch"}),
    "GET /imports/<uuid:pk>/progress/": Req(params={"pk": "batch"}),
    "GET /imports/<uuid:pk>/confirm/": Req(params={"pk": "batch"}),
    "GET /imports/<uuid:pk>/check/": Req(params={"pk": "batch"}),
    "GET /imports/rows/<uuid:pk>/": Req(params={"pk": "row"}),
    "GET /imports/rows/<uuid:pk>/set-aside/": Req(params={"pk": "row"}),
    "GET /imports/rows/<uuid:pk>/put-back/": Req(params={"pk": "row"}),
    "GET /imports/uploads/<uuid:pk>/": Req(params={"pk": "upload"}),
    "GET /imports/uploads/<uuid:pk>/progress/": Req(params={"pk": "upload"}),
}


def _side(staff: dict[str, Any], code: str) -> dict[str, Any]:
    """One station's records: a family separated (in effect, a case open), a relationship, custody,
    a requested separation waiting for a decision, and the team's worklist for today."""
    separation, cases = approved_separation(staff, children=[years_ago(8)], at=code, surname=f"Probe{code}")
    case = cases[0]
    child = case.child
    adult = separation.members.get(side="adult").person
    relationship = Relationship(from_person=adult, to_person=child, type="parent")
    relationship._change_reason = "test scene"
    relationship.save()
    custody = custody_transfer(
        person_id=child.pk, agency="CBP", facility="Centralized Processing", by=staff["field_agent"]
    )
    kids, grownups = family(
        agent=staff["field_agent"], children=[years_ago(6)], at=code, surname=f"Waiting{code}"
    )
    requested = separation_request(
        requester=staff["field_agent"],
        children=[k.pk for k in kids],
        adults=[a.pk for a in grownups],
        reason_code="ZERO_TOLERANCE_PROSECUTION",
        occurred_at=timezone.now() - timedelta(days=1),
    )
    worklists_build(day=timezone.localdate(), team=f"{code}-REUNIFY")
    batch = batch_create(
        content=b"apprehension_date,station,child_name\n06/01/2018," + code.encode() + b",Ana Probe\n",
        filename=f"{code}.csv",
        by=staff["supervisor"],
    )
    item = WorklistItem.objects.filter(worklist__team=f"{code}-REUNIFY", case=case).first()
    assert item is not None, "the scene needs a worklist item of each team"
    return {
        "code": code,
        "day": timezone.localdate().isoformat(),
        "step": "contact_made",
        "label": "apprehensions.person",
        "child": child,
        "adult": adult,
        "apprehension": ApprehensionPerson.objects.filter(person=child).first().apprehension,  # type: ignore[union-attr]
        "relationship": relationship,
        "separation": separation,
        "requested": requested,
        "case": case,
        "custody": custody,
        "item": item,
        "checkpoint": audit_checkpoint_record(),
        "batch": batch,
        "row": batch.rows.first(),
        "upload": batch.upload,
        "fmt": "csv",
        "candidate": a_number_conflict_file(
            a_number=f"A0{abs(hash(code)) % 10**8:08d}", existing_person=child, context="intake"
        ),
    }


@pytest.fixture
def scene(users):
    mca = {
        "field_agent": make_user("mca_agent", "field_agent", station="MCA"),
        "supervisor": make_user("mca_supervisor", "supervisor", station="MCA"),
    }
    return {"own": _side(users, "EPT"), "other": _side(mca, "MCA")}


@pytest.fixture
def callers(users):
    superuser = User.objects.create_superuser("root", "root@example.org", "root-password-123")
    return {**users, "superuser": superuser}


def _fill(route: str, req: Req, side: dict[str, Any], page: bool) -> str:
    path = route.split(" ", 1)[1]
    for name, key in req.params.items():
        value = side[key] if isinstance(side[key], str) else str(side[key].pk)
        if page:
            for converter in ("uuid", "str", "int"):
                path = path.replace(f"<{converter}:{name}>", value)
        else:
            path = path.replace("{" + name + "}", value)
    if req.query is not None:
        path += "?" + req.query(side)
    return path


def _classify(response: Any, req: Req, side: dict[str, Any]) -> str:
    status = response.status_code
    if status in (401, 403, 405):
        return {401: "401", 403: "deny", 405: "405"}[status]
    if status == 404:
        return "hidden"
    if status in (301, 302):
        return "302"
    if status == 400 and req.target:
        try:
            keys = list(json.loads(response.content))
        except ValueError:
            keys = []
        if any(
            k == req.target or k.startswith(req.target + "[") or k.startswith(req.target + ".") for k in keys
        ):
            return "hidden"
    if 200 <= status < 300 and req.probe is not None:
        return "see" if str(side[req.probe].pk) in response.content.decode() else "absent"
    return "ok"


def _expected(row: dict[str, Outcome], column: str, side: str) -> str:
    outcome = row.get(column, "deny")
    if isinstance(outcome, tuple):
        return outcome[0] if side == "own" else outcome[1]
    return outcome


def _compatible(expected: str, got: str) -> bool:
    """ "ok" accepts any answer past permission and scope ("see" and "absent" included)."""
    return got == expected or (expected == "ok" and got in ("see", "absent"))


def _schema_routes(client: APIClient) -> set[str]:
    response = client.get("/api/schema/", HTTP_ACCEPT="application/vnd.oai.openapi+json")
    assert response.status_code == 200
    schema = json.loads(response.content)
    return {
        f"{method.upper()} {path}"
        for path, operations in schema["paths"].items()
        for method in operations
        if method in ("get", "post", "put", "patch", "delete")
    }


def _page_routes() -> set[str]:
    found: set[str] = set()

    def walk(patterns: list[Any], prefix: str) -> None:
        for p in patterns:
            text = prefix + str(p.pattern)
            if text.startswith(PAGE_PREFIXES_SKIPPED):
                continue
            if isinstance(p, URLResolver):
                walk(p.url_patterns, text)
            elif isinstance(p, URLPattern):
                found.add(f"GET /{text}")

    walk(get_resolver().url_patterns, "")
    return found


def test_every_api_route_has_a_row_and_every_row_a_route(callers):
    """The table covers the schema exactly: a new route without a row fails, so does a stale row."""
    client = APIClient()
    client.force_authenticate(callers["hq_analyst"])
    routes = _schema_routes(client)
    assert sorted(routes - set(API)) == [], "routes in /api/schema/ without a row in tests/access_table.py"
    assert sorted(set(API) - routes) == [], "rows in tests/access_table.py for routes gone from the schema"


def test_every_page_has_a_row_and_every_row_a_page():
    pages = _page_routes()
    assert sorted(pages - set(PAGES)) == [], "URL patterns without a row in tests/access_table.py PAGES"
    assert sorted(set(PAGES) - pages) == [], "rows in tests/access_table.py PAGES for pages gone"


def test_api_role_route_station_matrix(callers, scene):
    """Each role (and a superuser without a role) × each API route × own/other station answers as the
    contract's table says; every DELETE is 405; without credentials every route but the token is 401."""
    mismatches = []
    clients = {}
    for column, user in callers.items():
        client = APIClient()
        token, _ = Token.objects.get_or_create(user=user)
        client.credentials(HTTP_AUTHORIZATION=f"Token {token.key}")
        clients[column] = client
    anonymous = APIClient()
    for route, row in sorted(API.items()):
        method = route.split(" ", 1)[0]
        req = REQUESTS.get(route, Req())
        for side_name in SIDES:
            side = scene[side_name]
            path = _fill(route, req, side, page=False)
            for column in COLUMNS:
                headers = {}
                if req.if_match is not None:
                    obj = side[req.if_match]
                    obj.refresh_from_db()
                    headers["HTTP_IF_MATCH"] = obj.etag
                body = req.body(side) if req.body is not None else None
                call = getattr(clients[column], method.lower())
                response = (
                    call(path, body, format="json", **headers) if body is not None else call(path, **headers)
                )
                got = _classify(response, req, side)
                expected = _expected(row, column, side_name)
                if not _compatible(expected, got):
                    mismatches.append(
                        f"{route} as {column} ({side_name}): expected {expected}, got {got} "
                        f"[{response.status_code} {response.content[:160]!r}]"
                    )
            if route != "POST /api/v1/auth/token/":
                got = anonymous.generic(method, path).status_code
                if got != 401:
                    mismatches.append(f"{route} signed out ({side_name}): expected 401, got {got}")
        if method == "GET" and "{" in route:
            path = _fill(route, req, scene["own"], page=False)
            for column in COLUMNS:
                if (got := clients[column].delete(path).status_code) != 405:
                    mismatches.append(f"DELETE {route[4:]} as {column}: expected 405, got {got}")
    assert mismatches == [], "\n".join(mismatches)


def test_page_role_station_matrix(callers, scene, client):
    """Each role × each page × own/other station answers as the table says."""
    mismatches = []
    for route, row in sorted(PAGES.items()):
        req = REQUESTS.get(route, Req())
        for column in COLUMNS:
            client.force_login(callers[column])
            for side_name in SIDES:
                side = scene[side_name]
                response = client.get(_fill(route, req, side, page=True))
                got = _classify(response, req, side)
                expected = _expected(row, column, side_name)
                if not _compatible(expected, got):
                    mismatches.append(
                        f"{route} as {column} ({side_name}): expected {expected}, got {got} "
                        f"[{response.status_code}]"
                    )
    assert mismatches == [], "\n".join(mismatches)
