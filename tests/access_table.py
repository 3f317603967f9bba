"""Who may do what: the API contract's "Who may do what" table, one row per API route and per page.

`tests/test_access_matrix.py` signs in as each role, calls every route of the generated schema
(`/api/schema/`) and every page (URL pattern), once for records of the caller's own station and
once for another station's, and compares what happened with this table. A route in the schema or a
page without a row here fails the test; so does a row whose route no longer exists.

HOW TO ADD A ROUTE
1. Add a row to `API` (key: "METHOD /api/v1/path/{param}/" exactly as in `/api/schema/`) or to
   `PAGES` (key: "GET /path/<conv:param>/" exactly as the Django URL pattern).
2. Give each of the six roles an outcome (below). A role left out expects "deny". The `superuser`
   column (a superuser holding no role) may be left out too: it expects "deny", except routes open to
   every signed-in user.
3. If the route has path parameters or needs a body, add its request to `REQUESTS` in
   `tests/test_access_matrix.py` (which record of the scene fills `{id}`, what body to send).

OUTCOMES (a string when the same for both stations, or a pair `(own station, other station)`)
- "see"    : 2xx, and the answer names the probed record (the list includes it, the detail is it).
- "absent" : 2xx, and the answer does not name the probed record (a list scoped away from it).
- "ok"     : past permission and scope checks: any status but 401/403/404/405 (e.g. 200, 201, 400 on
             the body, 409, 428), content not checked.
- "hidden" : 404, or a 400 naming the record the body points at as unknown (the same answer as for
             an id that does not exist): the record is not visible to this caller.
- "deny"   : 403 (the role may not do this).
- "405"    : method not allowed.
- "302"    : a page that redirects (e.g. a POST-only action opened with GET sends you back).

"Own station" records are encountered at EPT (the caller's station; the coordinator's team is
EPT-REUNIFY); "other station" records are encountered at MCA (team MCA-REUNIFY).
"""

from typing import TypeAlias

Outcome: TypeAlias = str | tuple[str, str]

ROLES = ("field_agent", "supervisor", "hq_analyst", "coordinator", "auditor", "partner_agency")
STATION_STAFF_SEE = ("see", "absent")  # lists: own station's records only
STATION_STAFF_ONE = ("see", "hidden")  # one record: own station's only
OWN_ONLY = ("ok", "hidden")  # writes: own station's (own team's) records only

# --- API routes --------------------------------------------------------------------------------
API: dict[str, dict[str, Outcome]] = {
    # auth: anyone may ask for a token (an empty body is a 400)
    "POST /api/v1/auth/token/": {r: "ok" for r in (*ROLES, "superuser")},
    # apprehensions: station staff record and read their station's; HQ and auditors read all
    "GET /api/v1/apprehensions/": {
        "field_agent": STATION_STAFF_SEE,
        "supervisor": STATION_STAFF_SEE,
        "hq_analyst": "see",
        "auditor": "see",
    },
    "POST /api/v1/apprehensions/": {"field_agent": OWN_ONLY, "supervisor": OWN_ONLY},
    "GET /api/v1/apprehensions/{id}/": {
        "field_agent": STATION_STAFF_ONE,
        "supervisor": STATION_STAFF_ONE,
        "hq_analyst": "see",
        "auditor": "see",
    },
    # persons: read own station / all / persons in any separation / by id or A-number
    "GET /api/v1/persons/": {
        "field_agent": STATION_STAFF_SEE,
        "supervisor": STATION_STAFF_SEE,
        "hq_analyst": "see",
        "coordinator": "see",  # both probed children are in a separation
        "auditor": "see",
        "partner_agency": "ok",  # a 400: partners look up by A-number, never list
    },
    "GET /api/v1/persons/{id}/": {
        "field_agent": STATION_STAFF_ONE,
        "supervisor": STATION_STAFF_ONE,
        "hq_analyst": "see",
        "coordinator": "see",
        "auditor": "see",
        "partner_agency": "see",
    },
    "PATCH /api/v1/persons/{id}/": {"field_agent": OWN_ONLY, "supervisor": OWN_ONLY},
    "GET /api/v1/persons/{id}/custody/": {
        "field_agent": STATION_STAFF_ONE,
        "supervisor": STATION_STAFF_ONE,
        "hq_analyst": "see",
        "coordinator": "see",
        "auditor": "see",
        "partner_agency": "see",
    },
    "GET /api/v1/persons/{id}/history/": {"hq_analyst": "ok", "auditor": "ok"},
    # relationships: station staff record and edit; coordinators change evidence for their cases
    "POST /api/v1/relationships/": {"field_agent": OWN_ONLY, "supervisor": OWN_ONLY},
    "GET /api/v1/relationships/{id}/": {
        "field_agent": STATION_STAFF_ONE,
        "supervisor": STATION_STAFF_ONE,
        "hq_analyst": "see",
        "coordinator": "see",
        "auditor": "see",
        "partner_agency": "hidden",
    },
    "PATCH /api/v1/relationships/{id}/": {
        "field_agent": OWN_ONLY,
        "supervisor": OWN_ONLY,
        "coordinator": ("ok", "deny"),  # for their team's cases only
    },
    # custody: station staff for their station, coordinators for their cases, partners yes
    "POST /api/v1/custody-transfers/": {
        "field_agent": OWN_ONLY,
        "supervisor": OWN_ONLY,
        "coordinator": ("ok", "deny"),
        "partner_agency": "ok",
    },
    # separations: station staff request; supervisors decide; readers of persons read them
    "GET /api/v1/separations/": {
        "field_agent": STATION_STAFF_SEE,
        "supervisor": STATION_STAFF_SEE,
        "hq_analyst": "see",
        "coordinator": "see",
        "auditor": "see",
    },
    "POST /api/v1/separations/": {"field_agent": OWN_ONLY, "supervisor": OWN_ONLY},
    "GET /api/v1/separations/{id}/": {
        "field_agent": STATION_STAFF_ONE,
        "supervisor": STATION_STAFF_ONE,
        "hq_analyst": "see",
        "coordinator": "see",
        "auditor": "see",
    },
    "PATCH /api/v1/separations/{id}/": {"field_agent": OWN_ONLY, "supervisor": OWN_ONLY},
    "POST /api/v1/separations/{id}/approve/": {"supervisor": OWN_ONLY},
    "POST /api/v1/separations/{id}/reject/": {"supervisor": OWN_ONLY},
    # separated-children report: supervisors own station; HQ, coordinators, auditors all
    "GET /api/v1/reports/separated-children/": {
        "supervisor": STATION_STAFF_SEE,
        "hq_analyst": "see",
        "coordinator": "see",
        "auditor": "see",
    },
    # reunification cases: supervisors read own station; coordinators read and work own team;
    # HQ and auditors read all; partners read by id
    "GET /api/v1/reunification-cases/": {
        "supervisor": STATION_STAFF_SEE,
        "hq_analyst": "see",
        "coordinator": STATION_STAFF_SEE,
        "auditor": "see",
    },
    "GET /api/v1/reunification-cases/{id}/": {
        "supervisor": STATION_STAFF_ONE,
        "hq_analyst": "see",
        "coordinator": STATION_STAFF_ONE,
        "auditor": "see",
        "partner_agency": "see",
    },
    "PATCH /api/v1/reunification-cases/{id}/": {"coordinator": OWN_ONLY},
    # worklists: coordinators, own team
    "GET /api/v1/worklists/{day}/": {"coordinator": "ok"},
    "POST /api/v1/worklists/{day}/claim-next/": {"coordinator": "ok"},
    "POST /api/v1/worklist-items/{item_id}/claim/": {"coordinator": OWN_ONLY},
    "POST /api/v1/worklist-items/{item_id}/complete/": {"coordinator": OWN_ONLY},
    # reference data: every signed-in user
    # change feed (events app): partners, HQ analysts and auditors; scoped by the visibility policy
    "GET /api/v1/events/": {"hq_analyst": "ok", "auditor": "ok", "partner_agency": "ok"},
    # dashboard series and the court status report (reports app)
    "GET /api/v1/reports/separated-children/series/": {
        "supervisor": "ok",
        "hq_analyst": "ok",
        "coordinator": "ok",
        "auditor": "ok",
    },
    "GET /api/v1/reports/court-status/": {
        "supervisor": "ok",
        "hq_analyst": "ok",
        "coordinator": "ok",
        "auditor": "ok",
    },
    # link candidates: HQ analysts read and decide; auditors read
    "GET /api/v1/link-candidates/": {"hq_analyst": "ok", "auditor": "ok"},
    "GET /api/v1/link-candidates/{id}/": {"hq_analyst": "ok", "auditor": "ok"},
    "POST /api/v1/link-candidates/{id}/accept/": {"hq_analyst": "ok"},
    "POST /api/v1/link-candidates/{id}/reject/": {"hq_analyst": "ok"},
    "POST /api/v1/link-candidates/{id}/unmerge/": {"hq_analyst": "ok"},
    "GET /api/v1/stations/": {r: "ok" for r in (*ROLES, "superuser")},
    "GET /api/v1/stations/{code}/": {r: "ok" for r in (*ROLES, "superuser")},
}

# --- pages (GET) -------------------------------------------------------------------------------
PAGES: dict[str, dict[str, Outcome]] = {
    # home: HQ analysts and supervisors land on the dashboard (a redirect)
    "GET /": {**{r: "ok" for r in (*ROLES, "superuser")}, "supervisor": "302", "hq_analyst": "302"},
    "GET /intake/": {"field_agent": "ok", "supervisor": "ok"},
    "GET /apprehensions/": {
        "field_agent": STATION_STAFF_SEE,
        "supervisor": STATION_STAFF_SEE,
        "hq_analyst": "see",
        "auditor": "see",
    },
    "GET /apprehensions/<uuid:pk>/": {
        "field_agent": STATION_STAFF_ONE,
        "supervisor": STATION_STAFF_ONE,
        "hq_analyst": "see",
        "auditor": "see",
    },
    "GET /persons/": {
        "field_agent": STATION_STAFF_SEE,
        "supervisor": STATION_STAFF_SEE,
        "hq_analyst": "see",
        "coordinator": "see",
        "auditor": "see",
    },
    "GET /persons/<uuid:pk>/": {
        "field_agent": STATION_STAFF_ONE,
        "supervisor": STATION_STAFF_ONE,
        "hq_analyst": "see",
        "coordinator": "see",
        "auditor": "see",
        "partner_agency": "see",
    },
    "GET /persons/<uuid:pk>/edit/": {"field_agent": OWN_ONLY, "supervisor": OWN_ONLY},
    "GET /persons/<uuid:pk>/relationships/new/": {"field_agent": OWN_ONLY, "supervisor": OWN_ONLY},
    "GET /separations/": {
        "field_agent": STATION_STAFF_SEE,
        "supervisor": STATION_STAFF_SEE,
        "hq_analyst": "see",
        "coordinator": "see",
        "auditor": "see",
    },
    "GET /approvals/separations/": {"supervisor": STATION_STAFF_SEE},
    "GET /separations/new/": {"field_agent": OWN_ONLY, "supervisor": OWN_ONLY},
    "GET /separations/<uuid:pk>/": {
        "field_agent": STATION_STAFF_ONE,
        "supervisor": STATION_STAFF_ONE,
        "hq_analyst": "see",
        "coordinator": "see",
        "auditor": "see",
    },
    "GET /separations/<uuid:pk>/decide/": {r: "405" for r in (*ROLES, "superuser")},
    "GET /custody-transfers/new/": {
        "field_agent": OWN_ONLY,
        "supervisor": OWN_ONLY,
        "coordinator": ("ok", "deny"),
        "partner_agency": "ok",
    },
    "GET /reports/separated-children/": {
        "supervisor": STATION_STAFF_SEE,
        "hq_analyst": "see",
        "coordinator": "see",
        "auditor": "see",
    },
    "GET /reunification/queue/": {"coordinator": "ok"},
    "GET /reunification/queue/claim-next/": {r: "405" for r in (*ROLES, "superuser")},
    "GET /reunification/queue/items/<uuid:item_id>/complete/": {r: "405" for r in (*ROLES, "superuser")},
    "GET /reunification/cases/": {
        "supervisor": STATION_STAFF_SEE,
        "hq_analyst": "see",
        "coordinator": STATION_STAFF_SEE,
        "auditor": "see",
    },
    "GET /reunification/cases/<uuid:case_id>/": {
        "supervisor": STATION_STAFF_ONE,
        "hq_analyst": "see",
        "coordinator": STATION_STAFF_ONE,
        "auditor": "see",
    },
    "GET /reunification/cases/<uuid:case_id>/steps/<str:step>/": {r: "405" for r in (*ROLES, "superuser")},
    "GET /reunification/cases/<uuid:case_id>/close/": {r: "405" for r in (*ROLES, "superuser")},
    "GET /reunification/cases/<uuid:case_id>/reassign/": {r: "405" for r in (*ROLES, "superuser")},
    "GET /reunification/team/": {"supervisor": "ok"},
    "GET /reunification/team/build/": {r: "405" for r in (*ROLES, "superuser")},
    "GET /reunification/notifications/": {"supervisor": "ok", "coordinator": "ok"},
    "GET /reunification/notifications/read/": {r: "405" for r in (*ROLES, "superuser")},
    "GET /audit/access-log/": {"auditor": "ok"},
    "GET /link-candidates/": {"hq_analyst": "ok", "auditor": "ok"},
    "GET /link-candidates/<uuid:pk>/": {"hq_analyst": "ok", "auditor": "ok"},
    "GET /link-candidates/<uuid:pk>/decide/": {r: "405" for r in (*ROLES, "superuser")},
    "GET /link-candidates/<uuid:pk>/unmerge/": {r: "405" for r in (*ROLES, "superuser")},
    # legacy spreadsheet import: HQ analysts all stations, supervisors their own station's batches
    "GET /imports/": {"supervisor": "ok", "hq_analyst": "ok"},
    "GET /imports/template.<str:fmt>": {"supervisor": "ok", "hq_analyst": "ok"},
    "GET /imports/<uuid:pk>/": {"supervisor": OWN_ONLY, "hq_analyst": "ok"},
    "GET /imports/<uuid:pk>/progress/": {"supervisor": OWN_ONLY, "hq_analyst": "ok"},
    "GET /imports/<uuid:pk>/confirm/": {r: "405" for r in (*ROLES, "superuser")},
    "GET /imports/<uuid:pk>/check/": {r: "405" for r in (*ROLES, "superuser")},
    "GET /imports/rows/<uuid:pk>/": {"supervisor": OWN_ONLY, "hq_analyst": "ok"},
    "GET /imports/rows/<uuid:pk>/set-aside/": {r: "405" for r in (*ROLES, "superuser")},
    "GET /imports/rows/<uuid:pk>/put-back/": {r: "405" for r in (*ROLES, "superuser")},
    "GET /imports/uploads/<uuid:pk>/": {"supervisor": OWN_ONLY, "hq_analyst": "ok"},
    "GET /imports/uploads/<uuid:pk>/progress/": {"supervisor": OWN_ONLY, "hq_analyst": "ok"},
    "GET /dashboard/": {"supervisor": "ok", "hq_analyst": "ok", "coordinator": "ok", "auditor": "ok"},
    "GET /reports/court-status/": {
        "supervisor": "ok",
        "hq_analyst": "ok",
        "coordinator": "ok",
        "auditor": "ok",
    },
    # the drill-down needs a `key` naming a bucket; without one it is "no such list" (404)
    "GET /reports/court-status/children/": {
        "supervisor": "hidden",
        "hq_analyst": "hidden",
        "coordinator": "hidden",
        "auditor": "hidden",
    },
    "GET /follow-ups/documents-not-named/": {"hq_analyst": "ok", "auditor": "ok"},
    "GET /audit/checkpoints/<int:pk>.json": {"auditor": "ok"},
    "GET /audit/history/<str:label>/<uuid:pk>/": {"hq_analyst": "ok", "auditor": "ok"},
}
