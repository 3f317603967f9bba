"""The court status report on a hand-built set: every child in one bucket, the buckets add up
(separated = reunified + discharged + still separated), each clock on time / late / missed /
pending, by station, as of any time; the page, the drill-down, the API, XLSX and PDF."""

import io
import re
from datetime import UTC, datetime, timedelta

import pytest
from django.db import connection
from openpyxl import load_workbook

from audit.models import AccessLog
from reports.court import court_status, default_policy
from reunification.models import CaseStep, ReunificationCase
from tests.conftest import make_user
from tests.reunification.factories import approved_separation

pytestmark = pytest.mark.django_db

JULY = datetime(2018, 7, 1, 15, 0, tzinfo=UTC)
AS_OF = datetime(2018, 12, 31, 12, 0, tzinfo=UTC)


def _close(case, *, status, outcome, at):
    case.status, case.outcome, case.closed_at = status, outcome, at
    case._change_reason = f"test: {outcome}"
    case.save()


def _step(case, step, *, at, method=""):
    row = CaseStep.objects.get(case=case, step=step)
    row.done_at, row.method = at, method
    row._change_reason = "test"
    row.save()


@pytest.fixture
def court_set(users):
    """Nine children: eight at EPT, one at YUM, separated on 1 July 2018; one separated in 2019."""
    yum = {
        "field_agent": make_user("agent_yum", "field_agent", station="YUM"),
        "supervisor": make_user("supervisor_yum", "supervisor", station="YUM"),
    }
    _, ept_cases = approved_separation(users, children=[None] * 8, occurred_at=JULY, surname="Ept")
    _, yum_cases = approved_separation(yum, children=[None], occurred_at=JULY, at="YUM", surname="Yum")
    _, later = approved_separation(users, children=[None], occurred_at=datetime(2019, 2, 1, tzinfo=UTC))
    c = ept_cases
    due = c[0].reunify_due_at  # unknown date of birth: the short clock, 14 days
    _step(c[0], "contact_made", at=c[0].contact_due_at - timedelta(days=1))
    _close(c[0], status="reunified", outcome="reunified", at=due - timedelta(days=1))  # on time
    _step(c[1], "contact_made", at=c[1].contact_due_at + timedelta(days=2))  # contact late
    _close(c[1], status="reunified", outcome="reunified", at=due + timedelta(days=20))  # late
    _close(c[2], status="closed", outcome="separation_ended", at=JULY + timedelta(days=3))
    _close(c[3], status="closed", outcome="other", at=JULY + timedelta(days=40))
    _close(c[4], status="closed", outcome="criminal_history", at=JULY + timedelta(days=5))
    _step(c[5], "eligibility_decision", at=JULY + timedelta(days=6), method="not_the_parent")
    _close(
        c[6], status="closed", outcome="parent_removed", at=datetime(2019, 1, 15, tzinfo=UTC)
    )  # after AS_OF
    # c[7]: open, nothing done. yum_cases[0]: open, nothing done.
    return {"ept": c, "yum": yum_cases, "later": later}


def test_court_status_buckets_add_up_on_a_hand_built_set(court_set):
    """Each child is in exactly one bucket and the buckets add up, in total and per station."""
    report = court_status(cases=ReunificationCase.objects.all(), policy=default_policy(), as_of=AS_OF)
    total = report.total
    assert total["separated"] == 9  # the 2019 separation had not happened by AS_OF
    assert (total["reunified"], total["reunified:on_time"], total["reunified:late"]) == (2, 1, 1)
    assert (total["discharged"], total["discharged:separation_ended"], total["discharged:other"]) == (2, 1, 1)
    assert total["still_separated"] == 5
    assert total["separated"] == total["reunified"] + total["discharged"] + total["still_separated"]
    assert (
        total["not_eligible"],
        total["not_eligible:criminal_history"],
        total["not_eligible:not_the_parent"],
    ) == (
        2,
        1,
        1,
    )
    assert total["in_process"] == 3  # c[6] (closed only after AS_OF), c[7], YUM
    assert total["still_separated"] == total["not_eligible"] + total["in_process"]
    for _, counter in report.stations():
        assert (
            counter["separated"] == counter["reunified"] + counter["discharged"] + counter["still_separated"]
        )
    assert dict((code, n["separated"]) for code, n in report.stations()) == {"EPT": 8, "YUM": 1}
    # Every child in exactly one of the top buckets.
    for row in report.rows:
        assert len(row.keys & {"reunified", "discharged", "still_separated"}) == 1


def test_court_status_counts_each_clock_on_time_late_missed(court_set):
    report = court_status(cases=ReunificationCase.objects.all(), policy=default_policy(), as_of=AS_OF)
    total = report.total
    assert total["contact:on_time"] == 1 and total["contact:late"] == 1
    # Not met: closed after the due time (c[3], day 40), or open past it (c[5], c[6], c[7], YUM).
    assert total["contact:missed"] == 5
    assert total["reunify:on_time"] == 1 and total["reunify:late"] == 1
    assert total["reunify:missed"] == 5
    assert total["reunify:pending"] == 0
    # c[2] (day 3) and c[4] (day 5) closed before either clock was due: stopped, in neither count.
    for case in (court_set["ept"][2], court_set["ept"][4]):
        row = next(r for r in report.rows if r.case_id == str(case.pk))
        assert (row.contact_state, row.reunify_state) == ("stopped", "stopped")


def test_court_status_as_of_an_earlier_time(court_set):
    """On 3 July nothing had closed and no clock was due: all still separated and pending."""
    report = court_status(
        cases=ReunificationCase.objects.all(), policy=default_policy(), as_of=JULY + timedelta(days=2)
    )
    total = report.total
    assert total["separated"] == total["still_separated"] == total["in_process"] == 9
    assert total["contact:pending"] == total["reunify:pending"] == 9


def test_court_status_page_api_and_drill_down(client, api_client_for, users, court_set):
    """The page shows the figures with links; each link lists exactly its children (access-logged);
    the API gives the same numbers; a supervisor sees their station only."""
    client.force_login(users["hq_analyst"])
    as_of = AS_OF.isoformat()
    page = client.get("/reports/court-status/", {"as_of": as_of})
    assert page.status_code == 200
    html = page.content.decode()
    assert "Check: separated = reunified" in html
    assert "/reports/court-status/children/?" in html
    # The order's date once, whether or not the policy's name carries it already.
    policy = default_policy()
    ordered = policy.order_date.isoformat()
    heading = html.split('data-testid="court-heading">', 1)[1].split("</p>", 1)[0]
    assert heading.count(ordered) == 1, heading

    drill = client.get("/reports/court-status/children/", {"as_of": as_of, "key": "not_eligible"})
    assert drill.status_code == 200
    text = drill.content.decode()
    assert "2 children" in text
    for case in court_set["ept"][4:6]:
        assert case.child.full_name in text
    assert court_set["ept"][7].child.full_name not in text
    assert AccessLog.objects.filter(object_id=str(court_set["ept"][4].child_id), action="report").exists()
    bad = client.get("/reports/court-status/children/", {"as_of": "31 Dec", "key": "separated"})
    assert bad.status_code == 400 and "Enter a date and time" in bad.content.decode()
    assert client.get("/reports/court-status/children/", {"key": "nothing"}).status_code == 404

    api = api_client_for("hq_analyst").get("/api/v1/reports/court-status/", {"as_of": as_of})
    assert api.status_code == 200
    body = api.json()
    assert body["separated"] == 9 and body["reunified"] == {"total": 2, "on_time": 1, "late": 1}
    assert body["not_eligible"]["by_reason"]["criminal_history"] == 1
    assert body["clocks"]["reunify"]["missed"] == 5
    assert {s["station"]: s["separated"] for s in body["stations"]} == {"EPT": 8, "YUM": 1}

    mine = api_client_for("supervisor").get("/api/v1/reports/court-status/", {"as_of": as_of}).json()
    assert mine["separated"] == 8 and [s["station"] for s in mine["stations"]] == ["EPT"]

    bad = api_client_for("hq_analyst").get(
        "/api/v1/reports/court-status/", {"as_of": "31/12/2018", "policy": "x"}
    )
    assert bad.status_code == 400 and set(bad.json()) == {"as_of", "policy"}
    assert api_client_for("field_agent").get("/api/v1/reports/court-status/").status_code == 403


def test_court_status_exports_xlsx_and_pdf(client, users, court_set):
    client.force_login(users["hq_analyst"])
    as_of = AS_OF.isoformat()
    xlsx = client.get("/reports/court-status/", {"as_of": as_of, "format": "xlsx"})
    assert xlsx.status_code == 200
    book = load_workbook(io.BytesIO(b"".join(xlsx.streaming_content)))
    sheet = book["Court status"]
    values = {row[0].strip(): row[1] for row in sheet.iter_rows(values_only=True) if row and row[0]}
    assert values["Children separated"] == 9 and values["Still separated"] == 5
    assert book["Children"].max_row == 10  # header + 9 children
    header = [c.value for c in book["Children"][1]]
    assert header[:5] == ["child_id", "child_name", "a_number", "date_of_birth", "station"]
    assert AccessLog.objects.filter(action="export", object_id=str(court_set["yum"][0].child_id)).exists()

    pdf = client.get("/reports/court-status/", {"as_of": as_of, "format": "pdf"})
    assert pdf.status_code == 200 and pdf["Content-Type"] == "application/pdf"
    assert pdf.content.startswith(b"%PDF")


def test_court_drill_down_refuses_a_station_outside_the_readers_scope(client, users, court_set):
    """A supervisor of EPT asking for YUM's children was told '0 children at station YUM' (YUM
    has one): a false figure. The drill-down (page and export) refuses a station the reader may
    not read, as the dashboard and the series API do; their own station and HQ's any still work."""
    as_of = AS_OF.isoformat()
    client.force_login(users["supervisor"])
    for extra in ({}, {"format": "csv"}):
        asked = {"as_of": as_of, "key": "separated", "station": "YUM", **extra}
        response = client.get("/reports/court-status/children/", asked)
        assert response.status_code == 403, extra
        # In what the page says, not in its markup: a random token (CSRF, nonce) once held "YUM".
        assert "YUM" not in re.sub(r"<[^>]*>", " ", response.content.decode())
    # The page says why (the refusal's own words, naming no record the reader may not see).
    refused = client.get(
        "/reports/court-status/children/", {"as_of": as_of, "key": "separated", "station": "YUM"}
    )
    assert refused.status_code == 403 and "You may read station EPT only." in refused.content.decode()
    own = client.get(
        "/reports/court-status/children/", {"as_of": as_of, "key": "separated", "station": "EPT"}
    )
    assert own.status_code == 200 and own.context["count"] == 8
    client.force_login(users["hq_analyst"])
    hq = client.get("/reports/court-status/children/", {"as_of": as_of, "key": "separated", "station": "YUM"})
    assert hq.status_code == 200 and hq.context["count"] == 1


def test_court_total_column_says_all_stations_only_to_readers_of_all_stations(client, users, court_set):
    """A supervisor's page, XLSX and PDF headed their total column 'All stations' (8, EPT's) while
    all stations had 9: the total is now 'Total' to a reader limited to their station."""
    as_of = AS_OF.isoformat()
    for role, label in (("supervisor", "Total"), ("hq_analyst", "All stations")):
        client.force_login(users[role])
        page = client.get("/reports/court-status/", {"as_of": as_of}).content.decode()
        header = page.split('data-testid="court-buckets">', 1)[1].split("</thead>", 1)[0]
        assert f'<th scope="col">{label}</th>' in header, role
        assert ("All stations" in header) == (label == "All stations"), role
        xlsx = client.get("/reports/court-status/", {"as_of": as_of, "format": "xlsx"})
        sheet = load_workbook(io.BytesIO(b"".join(xlsx.streaming_content)))["Court status"]
        headers = [row[:2] for row in sheet.iter_rows(values_only=True) if row[0] in ("Children", "Clocks")]
        assert headers == [("Children", label), ("Clocks", label)], role


def test_court_exports_and_drill_downs_keep_the_zone_the_reader_chose(client, users, court_set):
    """The page read in Chicago time linked its PDF, XLSX and figures without the zone, so the
    download said 'As of ... UTC' for the page's '... CST': the same instant, told differently.
    The links carry `as_of_tz`; the XLSX and the drill-down read the page's zone."""
    client.force_login(users["hq_analyst"])
    page = client.get("/reports/court-status/", {"as_of": "2018-12-31T06:00", "as_of_tz": "America/Chicago"})
    assert page.status_code == 200
    context = page.context
    assert "as_of_tz=America%2FChicago" in context["xlsx_url"]
    assert "as_of_tz=America%2FChicago" in context["pdf_url"]
    assert "as_of_tz=America%2FChicago" in context["buckets"][0]["total"]["url"]
    xlsx = client.get(context["xlsx_url"])
    sheet = load_workbook(io.BytesIO(b"".join(xlsx.streaming_content)))["Court status"]
    assert sheet["A2"].value.startswith("As of 2018-12-31 06:00 CST"), sheet["A2"].value
    # The file's name tells the same time as the page (with its offset), not the UTC one.
    assert 'filename="court-status-20181231T0600-0600.xlsx"' in xlsx["Content-Disposition"]
    drill = client.get(context["buckets"][0]["total"]["url"])
    assert drill.context["tz"] == "America/Chicago" and drill.context["count"] == 9


def test_court_pdf_says_as_of_once_and_keeps_the_clock_caption_with_its_table(
    client, users, court_set, monkeypatch
):
    """The PDF read 'As of: As of 2018-12-31 ...' (the footer's text reused in the body), and the
    clock table's caption could end one page with the table on the next."""
    import weasyprint

    seen: list[str] = []
    real = weasyprint.HTML

    def recording(*args, **kwargs):
        seen.append(kwargs["string"])
        return real(*args, **kwargs)

    monkeypatch.setattr(weasyprint, "HTML", recording)
    client.force_login(users["hq_analyst"])
    pdf = client.get("/reports/court-status/", {"as_of": AS_OF.isoformat(), "format": "pdf"})
    assert pdf.status_code == 200 and pdf.content.startswith(b"%PDF")
    (html,) = seen
    assert "As of: As of" not in html
    assert '<strong>As of:</strong> <span class="fl-asof">2018-12-31 12:00' in html
    assert 'content: "As of " string(asof)' in html
    assert '<div class="fl-keep-together"><table' in html and 'data-testid="court-clocks"' in html


@pytest.mark.parametrize("days", [2, 9, 30, 200, 250])
def test_the_benchmarks_bare_sql_gives_the_services_figures(court_set, days):
    """bench/court.py times the service beside one SQL statement that classifies and counts in the
    database; on the hand-built set (every bucket and clock state) both give every figure alike,
    before, during and after the clocks fall due."""
    from bench.court import bare_figures

    as_of = JULY + timedelta(days=days)
    report = court_status(cases=ReunificationCase.objects.all(), policy=default_policy(), as_of=as_of)
    with connection.cursor() as cursor:
        assert bare_figures(cursor, default_policy(), as_of) == dict(report.total)


def test_a_child_with_two_cases_is_counted_once(users):
    """Every child in one bucket: two records of one child, each separated with its own case, then
    merged: the child counts once, by the case still open (not 'reunified' while a separation of
    theirs is unresolved), and once both are reunified by the latest separation's case. The
    benchmark's bare SQL agrees."""
    from apprehensions.linkage.services import person_merge
    from bench.court import bare_figures

    _, (first,) = approved_separation(users, children=[None], occurred_at=JULY, surname="Uno")
    _, (second,) = approved_separation(
        users, children=[None], occurred_at=JULY + timedelta(days=2), surname="Uno"
    )
    _close(first, status="reunified", outcome="reunified", at=JULY + timedelta(days=5))
    person_merge(survivor=first.child, merged=second.child, by=users["hq_analyst"], reason="one child twice")
    second.refresh_from_db()
    assert second.child_id == first.child_id
    policy = default_policy()

    def report_and_bare():
        report = court_status(cases=ReunificationCase.objects.all(), policy=policy, as_of=AS_OF)
        with connection.cursor() as cursor:
            assert bare_figures(cursor, policy, AS_OF) == dict(report.total)
        return report

    report = report_and_bare()
    assert [r.case_id for r in report.rows] == [str(second.pk)]
    assert (report.total["separated"], report.total["still_separated"], report.total["reunified"]) == (
        1,
        1,
        0,
    )

    _close(second, status="reunified", outcome="reunified", at=JULY + timedelta(days=9))
    report = report_and_bare()
    assert [r.case_id for r in report.rows] == [str(second.pk)]  # the latest separation's
    assert (report.total["separated"], report.total["reunified"], report.total["still_separated"]) == (
        1,
        1,
        0,
    )
