"""Dashboard page, series API, the home redirect, and the exports of every list (CSV and XLSX,
streamed, within scope, each exported record in the access log)."""

import csv
import io
from datetime import UTC, datetime, timedelta

import pytest
from django.utils import timezone
from openpyxl import load_workbook

from audit.models import AccessLog
from reports.series import separated_series
from tests.reunification.factories import approved_separation

pytestmark = pytest.mark.django_db


@pytest.fixture
def world(users):
    """Two separations at EPT (three children) three days ago; one at YUM; one case reunified."""
    from tests.conftest import make_user

    sep, cases = approved_separation(users, children=[None, None])
    _, more = approved_separation(users, children=[None])
    yum = {
        "field_agent": make_user("agent_yum", "field_agent", station="YUM"),
        "supervisor": make_user("supervisor_yum", "supervisor", station="YUM"),
    }
    _, yum_cases = approved_separation(yum, children=[None], at="YUM")
    return {"ept": cases + more, "yum": yum_cases, "separation": sep}


def _body(response) -> bytes:
    return b"".join(response.streaming_content) if response.streaming else response.content


def test_home_is_the_dashboard_for_hq_analysts_and_supervisors(client, users):
    for role in ("hq_analyst", "supervisor"):
        client.force_login(users[role])
        response = client.get("/")
        assert response.status_code == 302 and response["Location"] == "/dashboard/"
    client.force_login(users["field_agent"])
    assert client.get("/").status_code == 200
    assert client.get("/dashboard/").status_code == 403


def test_dashboard_shows_tiles_charts_and_linked_tables(client, users, world):
    client.force_login(users["hq_analyst"])
    response = client.get("/dashboard/")
    assert response.status_code == 200
    html = response.content.decode()
    for label in ("Separated now", "Open cases", "Overdue", "Reunified in the last 7 days"):
        assert label in html
    assert 'data-testid="tile-separated" href="/reports/separated-children/"' in html
    assert html.count('role="img"') >= 4  # total, station, category, agency, deadlines
    assert "/reports/separated-children/?as_of=" in html  # each day's number links to its list
    assert "Reunifications against their deadlines" in html
    today = response.context["series"].days[-1]
    assert today.count == 4 and today.by_station == {"EPT": 3, "YUM": 1}
    tiles = {t["label"]: t["value"] for t in response.context["tiles"]}
    assert tiles["Separated now"] == 4 and tiles["Open cases"] == 4


def test_dashboard_of_a_supervisor_is_their_station(client, users, world):
    client.force_login(users["supervisor"])
    response = client.get("/dashboard/")
    assert response.status_code == 200
    assert response.context["series"].station == "EPT"
    assert response.context["series"].days[-1].count == 3
    assert client.get("/dashboard/", {"station": "YUM"}).status_code == 403


def test_dashboard_bad_input_names_the_field_and_keeps_it(client, users, world):
    client.force_login(users["hq_analyst"])
    response = client.get("/dashboard/", {"date_from": "2018-06-10", "date_to": "2018-06-01"})
    assert response.status_code == 400
    html = response.content.decode()
    assert "on or before 2018-06-01" in html and 'value="2018-06-10"' in html


def test_series_api_matches_the_selector_and_checks_input(api_client_for, users, world):
    client = api_client_for("hq_analyst")
    today = timezone.localdate()
    start = today - timedelta(days=10)
    response = client.get(
        "/api/v1/reports/separated-children/series/",
        {"from": start.isoformat(), "to": today.isoformat(), "split": "station,category"},
    )
    assert response.status_code == 200
    body = response.json()
    assert body["from"] == start.isoformat() and body["to"] == today.isoformat()
    assert len(body["days"]) == 11
    expected = separated_series(date_from=start, date_to=today)
    assert [d["count"] for d in body["days"]] == [d.count for d in expected.days]
    assert body["days"][-1]["count"] == 4 and body["days"][-1]["by_station"] == {"EPT": 3, "YUM": 1}
    assert "by_agency" not in body["days"][0]
    plain = client.get("/api/v1/reports/separated-children/series/", {"from": start.isoformat()}).json()
    assert set(plain["days"][0]) == {"date", "count", "end"} and plain["days"][-1]["count"] == 4
    with_agency = client.get("/api/v1/reports/separated-children/series/", {"split": "agency"}).json()
    assert "by_agency" in with_agency["days"][0] and "by_station" not in with_agency["days"][0]

    bad = client.get(
        "/api/v1/reports/separated-children/series/", {"from": "June", "known_at": "2018-06-01", "split": "x"}
    )
    assert bad.status_code == 400 and set(bad.json()) == {"from", "known_at", "split"}
    known = client.get(
        "/api/v1/reports/separated-children/series/",
        {"from": "2018-06-01", "to": "2018-06-02", "known_at": datetime(2018, 6, 3, tzinfo=UTC).isoformat()},
    )
    assert known.status_code == 200 and [d["count"] for d in known.json()["days"]] == [0, 0]
    supervisor = api_client_for("supervisor")
    assert supervisor.get("/api/v1/reports/separated-children/series/", {"station": "YUM"}).status_code == 403
    own = supervisor.get("/api/v1/reports/separated-children/series/").json()
    assert own["station"] == "EPT" and own["days"][-1]["count"] == 3
    assert (
        api_client_for("partner_agency").get("/api/v1/reports/separated-children/series/").status_code == 403
    )


@pytest.mark.parametrize("fmt", ["csv", "xlsx"])
def test_exports_of_every_list_are_scoped_and_access_logged(client, users, world, fmt):
    """Persons, separations, cases and the separated-children report export as CSV and XLSX; a
    supervisor's export holds their station only; every record exported is in the access log."""
    client.force_login(users["supervisor"])
    ept_children = {str(c.child_id) for c in world["ept"]}
    yum_child = str(world["yum"][0].child_id)
    now = timezone.now().astimezone(UTC).strftime("%Y-%m-%dT%H:%M")
    for url, id_column in (
        ("/persons/", "person_id"),
        ("/separations/", "child_ids"),
        ("/reunification/cases/", "child_id"),
        (f"/reports/separated-children/?as_of={now}&as_of_tz=UTC", "child_id"),
    ):
        before = AccessLog.objects.filter(action="export").count()
        joiner = "&" if "?" in url else "?"
        response = client.get(f"{url}{joiner}format={fmt}")
        assert response.status_code == 200, url
        body = _body(response)
        if fmt == "csv":
            rows = list(csv.DictReader(io.StringIO(body.decode("utf-8-sig"))))
        else:
            sheet = load_workbook(io.BytesIO(body)).active
            values = list(sheet.iter_rows(values_only=True))
            rows = [dict(zip(values[0], v, strict=True)) for v in values[1:]]
        ids = {i for row in rows for i in str(row[id_column] or "").split("; ") if i}
        assert ept_children <= ids, url
        assert yum_child not in ids, url
        logged = set(
            AccessLog.objects.filter(action="export", user=users["supervisor"]).values_list(
                "object_id", flat=True
            )
        )
        assert ept_children <= logged
        assert AccessLog.objects.filter(action="export").count() > before


def test_case_list_reunified_since_and_the_dashboard_tile_link(client, users, world):
    case = world["ept"][0]
    case.status, case.outcome, case.closed_at = "reunified", "reunified", timezone.now() - timedelta(days=2)
    case._change_reason = "test"
    case.save()
    client.force_login(users["hq_analyst"])
    dashboard = client.get("/dashboard/")
    tile = next(t for t in dashboard.context["tiles"] if t["label"] == "Reunified in the last 7 days")
    assert tile["value"] == 1
    listing = client.get(tile["url"])
    assert listing.status_code == 200
    assert [row["case"].pk for row in listing.context["rows"]] == [case.pk]

    def count(days_ago: int) -> int:
        since = (timezone.now() - timedelta(days=days_ago)).date().isoformat()
        listing = client.get("/reunification/cases/", {"status": "reunified", "closed_since": since})
        return listing.context["page"].paginator.count

    assert (count(3), count(1)) == (1, 0)


def test_dashboard_of_a_coordinator_counts_days_in_the_teams_zone(client, users, world):
    """A coordinator has a team, not a station: the dashboard's days ("reunified in the last 7 days",
    the day-by-day charts) are the team's local days, as every other time they read, not UTC's."""
    client.force_login(users["coordinator"])
    response = client.get("/dashboard/")
    assert response.status_code == 200
    assert response.context["tz"] == "America/Denver"
    tile = next(t for t in response.context["tiles"] if t["label"] == "Reunified in the last 7 days")
    assert "closed_since_tz=America%2FDenver" in tile["url"]


def test_dashboard_impossible_date_says_which_date_and_how_to_write_it(client, users, world):
    """`?date_from=2018-02-30` named neither the field nor the fix ("Enter a valid date.")."""
    client.force_login(users["hq_analyst"])
    response = client.get("/dashboard/", {"date_from": "2018-02-30"})
    html = response.content.decode()
    assert response.status_code == 400
    assert "From: not a date that exists; write it as YYYY-MM-DD" in html
    assert 'value="2018-02-30"' in html


def test_reunified_in_the_last_7_days_counts_7_local_days_not_8(client, users, world):
    """The tile counted from local midnight 7 days before today: today and the 7 days before it,
    8 days. A case reunified early on the 8th local day back is not in the last 7 days; one
    reunified on the 7th (today - 6) is; the tile's list shows the same cases."""
    from zoneinfo import ZoneInfo

    zone = ZoneInfo("America/Denver")
    today = timezone.now().astimezone(zone).date()
    eighth, seventh = world["ept"][0], world["ept"][1]
    for case, day in ((eighth, today - timedelta(days=7)), (seventh, today - timedelta(days=6))):
        case.status, case.outcome = "reunified", "reunified"
        case.closed_at = datetime.combine(day, datetime.min.time(), tzinfo=zone) + timedelta(hours=1)
        case._change_reason = "test"
        case.save()
    client.force_login(users["supervisor"])
    tile = next(
        t for t in client.get("/dashboard/").context["tiles"] if t["label"] == "Reunified in the last 7 days"
    )
    assert tile["value"] == 1
    listing = client.get(tile["url"])
    assert [row["case"].pk for row in listing.context["rows"]] == [seventh.pk]


def test_every_split_figure_on_the_dashboard_opens_a_list_of_that_many_children(client, users, world):
    """Each number in the station, category and agency tables links to the separated-children list
    narrowed the same way (station, reason category, agency holding the child then): the list says
    the same number. Before, category and agency figures opened the whole day's list."""
    from separations.models import CustodyPeriod

    child = world["ept"][0].child_id
    CustodyPeriod.objects.create(
        person_id=child, agency="HHS_ORR", started_at=timezone.now() - timedelta(days=2)
    )
    client.force_login(users["hq_analyst"])
    charts = client.get("/dashboard/").context["charts"]
    checked = set()
    for chart in charts:
        last = chart["rows"][-1]
        for column, cell in zip(chart["columns"], last["cells"], strict=True):
            listed = client.get(cell["url"])
            assert listed.status_code == 200, cell["url"]
            assert listed.context["count"] == cell["value"], (chart["id"], column, cell["url"])
            checked.add((chart["id"], column))
    assert ("chart-agency", "HHS_ORR") in checked and ("chart-agency", "NONE") in checked
    assert {c for c in checked if c[0] == "chart-category"}
    agency = next(c for c in charts if c["id"] == "chart-agency")
    assert dict(zip(agency["columns"], [c["value"] for c in agency["rows"][-1]["cells"]], strict=True)) == {
        "HHS_ORR": 1,
        "NONE": 3,
    }


def test_the_report_refuses_an_unknown_category_or_agency_by_name_and_keeps_the_rest(client, users, world):
    client.force_login(users["hq_analyst"])
    response = client.get("/reports/separated-children/", {"as_of": "2018-06-01T10:00", "agency": "FBI"})
    assert response.status_code == 400
    html = response.content.decode()
    assert "Choose an agency from the list" in html and 'value="2018-06-01T10:00"' in html
    held = client.get("/reports/separated-children/", {"agency": "NONE", "category": "policy"})
    assert held.status_code == 200 and "with no custody recorded at that moment" in held.content.decode()


def test_the_report_api_takes_the_optional_category_and_agency(api_client_for, users, world):
    from separations.models import CustodyPeriod

    CustodyPeriod.objects.create(
        person_id=world["yum"][0].child_id, agency="ICE", started_at=timezone.now() - timedelta(days=1)
    )
    client = api_client_for("hq_analyst")
    body = client.get("/api/v1/reports/separated-children/", {"agency": "ICE"}).json()
    assert body["count"] == 1 and body["results"][0]["child"]["id"] == str(world["yum"][0].child_id)
    assert client.get("/api/v1/reports/separated-children/").json()["count"] == 4
    bad = client.get("/api/v1/reports/separated-children/", {"agency": "FBI", "category": "x"})
    assert bad.status_code == 400 and set(bad.json()) == {"agency", "category"}
    accepted = "CBP, ICE, USMS, HHS_ORR, RELEASED, REMOVED, NONE"
    assert bad.json()["agency"] == [f'"FBI" is not accepted; use one of {accepted}.']


def test_an_xlsx_export_of_text_holding_a_control_character_shows_it_not_a_500(client, users, world):
    """Text stored before the guards refused control characters (or read from a sheet) made
    openpyxl raise IllegalCharacterError: the export was a 500. The character is shown as U+FFFD."""
    child = world["ept"][0].child
    child.given_names = "Bertha\x07"
    child._change_reason = "test: a name stored with a control character"
    child.save()
    client.force_login(users["supervisor"])

    response = client.get("/persons/?format=xlsx")

    assert response.status_code == 200
    values = {
        v
        for row in load_workbook(io.BytesIO(_body(response))).active.iter_rows(values_only=True)
        for v in row
    }
    assert any(isinstance(v, str) and v.startswith("Bertha\ufffd") for v in values)
