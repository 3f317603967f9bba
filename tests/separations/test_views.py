"""Web pages: request form, approval queue, detail, person page, custody form, report, admin."""

import csv
import io

import pytest
from django.utils import timezone

from audit.models import AccessLog
from separations import services
from separations.models import CustodyPeriod, ReasonCode, Separation

from .factories import family, in_effect_separation, request_separation

pytestmark = pytest.mark.django_db

FORM = {
    "reason_code": "ZERO_TOLERANCE_PROSECUTION",
    "narrative": "Adult referred for prosecution",
    "occurred_at": "2018-06-01T14:00",
    "occurred_at_tz": "America/Denver",
    "place": "El Paso Station",
}


def test_separation_new_form_offers_the_family_unit(client, fam, users):
    """From the child's page: the child is pre-ticked, the mother offered on the other side."""
    client.force_login(users["field_agent"])
    response = client.get(f"/separations/new/?person={fam.child.pk}")
    assert response.status_code == 200
    html = response.content.decode()
    assert fam.adult.full_name in html and fam.child.full_name in html
    assert f'value="{fam.child.pk}" id="id_children_0" checked' in html
    assert "Zero Tolerance prosecution (Policy-driven)" in html


def test_separation_new_form_requests_and_redirects(client, fam, users):
    client.force_login(users["field_agent"])
    response = client.post(
        "/separations/new/",
        {**FORM, "person": str(fam.child.pk), "children": [str(fam.child.pk)], "adults": [str(fam.adult.pk)]},
    )
    separation = Separation.objects.get()
    assert response.status_code == 302
    assert response["Location"] == f"/separations/{separation.pk}/"
    assert separation.status == "requested"
    assert separation.occurred_at.isoformat() == "2018-06-01T20:00:00+00:00"
    page = client.get(response["Location"])
    assert "must approve it before it takes effect" in page.content.decode()


def test_separation_new_form_reports_every_problem_in_one_round(client, fam, users):
    """No time, no reason, no adult: all three named at once, in a field agent's words."""
    client.force_login(users["field_agent"])
    response = client.post(
        "/separations/new/",
        {
            "occurred_at_tz": "America/Denver",
            "person": str(fam.child.pk),
            "children": [str(fam.child.pk)],
            "reason_code": "",
            "occurred_at": "",
        },
    )
    assert response.status_code == 400
    html = response.content.decode()
    assert "Enter when the separation happened: the date and the time." in html
    assert "Choose the reason for the separation." in html
    assert "Choose at least one adult the children are separated from." in html
    assert "Unknown or retired reason code" not in html
    assert Separation.objects.count() == 0


def test_separation_new_form_keeps_what_was_entered(client, fam, users):
    """OTHER without narrative and no adult: 400, each message by its field, the entries kept."""
    client.force_login(users["field_agent"])
    response = client.post(
        "/separations/new/",
        {
            **FORM,
            "reason_code": "OTHER",
            "narrative": "",
            "place": "Bridge of the Americas",
            "person": str(fam.child.pk),
            "children": [str(fam.child.pk)],
        },
    )
    assert response.status_code == 400
    html = response.content.decode()
    assert "A narrative is required for reason OTHER" in html
    assert "Choose at least one adult the children are separated from" in html
    assert 'value="Bridge of the Americas"' in html
    assert 'value="2018-06-01T14:00"' in html
    assert f'value="{fam.child.pk}" id="id_children_0" checked' in html
    assert Separation.objects.count() == 0


def test_separation_new_form_refused_to_hq(client, fam, users):
    client.force_login(users["hq_analyst"])
    assert client.get(f"/separations/new/?person={fam.child.pk}").status_code == 403


def test_separation_queue_two_person_rule(client, fam, users, second_supervisor, ept):
    """The supervisor sees Approve on others' requests, and a refusal on their own."""
    other = family(surname="Ramos")
    theirs = request_separation(fam, users["field_agent"])
    mine = request_separation(other, users["supervisor"])
    client.force_login(users["supervisor"])
    html = client.get("/approvals/separations/").content.decode()
    assert html.count('data-testid="queue-item"') == 2
    assert f'action="/separations/{theirs.pk}/decide/"' in html
    assert f'action="/separations/{mine.pk}/decide/"' not in html
    assert "You requested this separation; another supervisor of the station must decide it." in html


def test_separation_queue_refused_to_field_agents(client, users):
    client.force_login(users["field_agent"])
    assert client.get("/approvals/separations/").status_code == 403


def test_separation_decide_approve_from_the_queue(client, fam, users):
    separation = request_separation(fam, users["field_agent"])
    client.force_login(users["supervisor"])
    response = client.post(
        f"/separations/{separation.pk}/decide/",
        {"decision": "approve", "next": "queue", f"{separation.pk}-comment": "Referral confirmed"},
    )
    assert response.status_code == 302 and response["Location"] == "/approvals/separations/"
    separation.refresh_from_db()
    assert separation.status == "in_effect" and separation.decision_comment == "Referral confirmed"


def test_separation_decide_reject_without_comment_keeps_the_queue(client, fam, users):
    separation = request_separation(fam, users["field_agent"])
    client.force_login(users["supervisor"])
    response = client.post(f"/separations/{separation.pk}/decide/", {"decision": "reject", "next": "queue"})
    assert response.status_code == 400
    assert "Say why the separation is rejected." in response.content.decode()
    separation.refresh_from_db()
    assert separation.status == "requested"


def test_separation_decide_refused_to_field_agent_and_requester(client, fam, users):
    separation = request_separation(fam, users["field_agent"])
    client.force_login(users["field_agent"])
    assert client.post(f"/separations/{separation.pk}/decide/", {"decision": "approve"}).status_code == 403
    page = client.get(f"/separations/{separation.pk}/").content.decode()
    assert "Only a supervisor can approve or reject a separation." in page
    assert "decision-form" not in page
    separation.refresh_from_db()
    assert separation.status == "requested"


def test_separation_detail_shows_both_sides_and_history(client, fam, users):
    separation = in_effect_separation(fam, users["field_agent"], users["supervisor"])
    client.force_login(users["hq_analyst"])
    html = client.get(f"/separations/{separation.pk}/").content.decode()
    assert fam.child.full_name in html and fam.adult.full_name in html
    assert "approved: ok" in html
    assert AccessLog.objects.filter(user=users["hq_analyst"], object_id=str(fam.child.pk)).exists()


def test_person_page_both_sides_and_scoping(client, fam, users, yum_agent):
    in_effect_separation(fam, users["field_agent"], users["supervisor"])
    client.force_login(users["field_agent"])
    child_page = client.get(f"/persons/{fam.child.pk}/").content.decode()
    assert "Separated from" in child_page and fam.adult.full_name in child_page
    adult_page = client.get(f"/persons/{fam.adult.pk}/").content.decode()
    assert fam.child.full_name in adult_page
    assert AccessLog.objects.filter(user=users["field_agent"], object_id=str(fam.child.pk)).exists()
    client.force_login(yum_agent)
    assert client.get(f"/persons/{fam.child.pk}/").status_code == 404


def test_custody_transfer_form_records_and_keeps_input_on_error(client, fam, users):
    client.force_login(users["field_agent"])
    url = f"/custody-transfers/new/?person={fam.child.pk}"
    assert client.get(url).status_code == 200
    bad = client.post(
        url,
        {"person": str(fam.child.pk), "agency": "", "facility": "Casa Padre",
         "started_at": "2018-06-02T09:00", "started_at_tz": "America/Chicago"},
    )  # fmt: skip
    assert bad.status_code == 400
    assert "Choose the agency that now has custody." in bad.content.decode()
    assert 'value="Casa Padre"' in bad.content.decode()
    good = client.post(
        url,
        {"person": str(fam.child.pk), "agency": "HHS_ORR", "facility": "Casa Padre",
         "started_at": "2018-06-02T09:00", "started_at_tz": "America/Chicago"},
    )  # fmt: skip
    assert good.status_code == 302
    period = CustodyPeriod.objects.get(person=fam.child)
    assert period.agency == "HHS_ORR" and period.started_at.isoformat() == "2018-06-02T14:00:00+00:00"


def test_custody_transfer_form_refused_outside_scope(client, fam, users, yum_agent):
    client.force_login(users["hq_analyst"])
    assert client.get(f"/custody-transfers/new/?person={fam.child.pk}").status_code == 403
    client.force_login(users["auditor"])
    assert client.get(f"/custody-transfers/new/?person={fam.child.pk}").status_code == 403
    client.force_login(yum_agent)
    assert client.get(f"/custody-transfers/new/?person={fam.child.pk}").status_code == 404


@pytest.fixture
def report_data(fam, users):
    separation = in_effect_separation(fam, users["field_agent"], users["supervisor"])
    services.custody_transfer(
        person_id=fam.child.pk, agency="HHS_ORR", facility="=cmd|calc", by=users["partner_agency"]
    )
    return separation


def test_report_page_counts_and_lists(client, users, fam, report_data):
    client.force_login(users["hq_analyst"])
    response = client.get("/reports/separated-children/?as_of=2018-06-20T09:00&as_of_tz=America/Denver")
    assert response.status_code == 200
    html = response.content.decode()
    assert "Separated children at 2018-06-20 09:00 MDT" in html
    assert "1 child separated" in html
    assert fam.child.full_name in html
    assert ">40<" in html  # days separated


def test_report_page_pages_and_a_page_past_the_end_shows_the_last(client, users, ept, monkeypatch):
    """The summary and the page come from one pass; page numbers behave as before: past the end
    shows the last page, a non-number the first."""
    from separations import views

    monkeypatch.setattr(views, "REPORT_PAGE_SIZE", 2)
    names = []
    for i in range(3):
        fam = family(surname=f"Paged{i}")
        in_effect_separation(fam, users["field_agent"], users["supervisor"])
        names.append(fam.child.full_name)
    client.force_login(users["hq_analyst"])
    url = "/reports/separated-children/?as_of=2018-06-20T09:00&as_of_tz=UTC"

    def listed(page):
        html = client.get(f"{url}&page={page}").content.decode()
        assert "3 children separated" in html
        return [n for n in names if n in html]

    first, second = listed(1), listed(2)
    assert len(first) == 2 and len(second) == 1 and set(first) | set(second) == set(names)
    assert listed(9) == second
    assert listed("abc") == first


def test_report_page_csv(client, users, fam, report_data):
    client.force_login(users["supervisor"])
    response = client.get("/reports/separated-children/?as_of=2018-06-20T09:00&as_of_tz=UTC&format=csv")
    assert response.status_code == 200 and response["Content-Type"].startswith("text/csv")
    # Starts with a BOM like every other CSV export, so Excel reads accented names as UTF-8.
    assert response.content.startswith("\ufeff".encode())
    rows = list(csv.reader(io.StringIO(response.content.decode("utf-8-sig"))))
    assert rows[0][:3] == ["child_id", "child_name", "child_a_number"]
    assert rows[1][0] == str(fam.child.pk) and rows[1][6] == "ZERO_TOLERANCE_PROSECUTION"
    assert rows[1][11] == "'=cmd|calc"  # no formula injection
    assert AccessLog.objects.filter(
        user=users["supervisor"], action="export", object_id=str(fam.child.pk)
    ).exists()


def test_report_page_bad_time_and_roles(client, users):
    client.force_login(users["hq_analyst"])
    response = client.get("/reports/separated-children/?as_of=not-a-time")
    assert response.status_code == 400
    assert "Enter a date and time" in response.content.decode()
    client.force_login(users["field_agent"])
    assert client.get("/reports/separated-children/").status_code == 403


@pytest.mark.parametrize(
    ("role", "status"),
    [
        ("field_agent", 200),
        ("supervisor", 200),
        ("hq_analyst", 200),
        ("auditor", 200),
        ("partner_agency", 403),
    ],
)
def test_separation_list_page_roles(client, users, fam, role, status):
    request_separation(fam, users["field_agent"])
    client.force_login(users[role])
    response = client.get("/separations/")
    assert response.status_code == status
    if status == 200:
        assert fam.child.full_name in response.content.decode()


def test_reason_code_admin_retires_never_deletes(client, ept):
    """The admin's retire action sets retired_at, writes history, and no delete is offered."""
    from familylink.common.models import User

    admin_user = User.objects.create_superuser("boss", "boss@example.com", "test-password-123")
    client.force_login(admin_user)
    code = ReasonCode.objects.get(code="GANG_AFFILIATION")
    changelist = client.get("/admin/separations/reasoncode/")
    assert changelist.status_code == 200
    assert b"delete_selected" not in changelist.content
    response = client.post(
        "/admin/separations/reasoncode/",
        {"action": "retire", "_selected_action": [str(code.pk)]},
        follow=True,
    )
    assert response.status_code == 200
    code.refresh_from_db()
    assert code.retired_at is not None and code.retired_at <= timezone.now()
    assert code.history.first().history_change_reason == "retired in admin"
    assert code.history.first().history_user == admin_user
    assert client.get(f"/admin/separations/reasoncode/{code.pk}/delete/").status_code == 403
    added = client.post(
        "/admin/separations/reasoncode/add/",
        {"code": "family_detention_capacity", "label": "No family detention capacity", "category": "policy",
         "description": "", "narrative_required": "on"},
    )  # fmt: skip
    assert added.status_code == 302
    new = ReasonCode.objects.get(code="FAMILY_DETENTION_CAPACITY")
    assert new.narrative_required and new.created_by == admin_user


@pytest.mark.parametrize(
    ("as_of", "tz", "message"),
    [
        ("9999-12-31T23:59", "UTC", "Use a date between 1900 and 2100."),
        ("0001-01-01T00:00", "America/Denver", "Use a date between 1900 and 2100."),
        # 02:30 on 11 March 2018 never happened in Mountain time (clocks went 02:00 → 03:00).
        ("2018-03-11T02:30", "America/Denver", "2018-03-11 02:30 did not happen in Mountain time (El Paso)"),
    ],
)
def test_report_page_refuses_a_time_the_api_refuses_and_keeps_it(client, users, as_of, tz, message):
    """The page answered a report 'at 1-01-01 00:00 UTC' or at a wall-clock time that never
    happened, where the API (same question) says 400: the page now refuses it, naming the field."""
    client.force_login(users["hq_analyst"])
    response = client.get("/reports/separated-children/", {"as_of": as_of, "as_of_tz": tz})
    assert response.status_code == 400
    html = response.content.decode()
    assert message in html
    assert response.context["form"].errors["as_of"]
    assert f'value="{as_of}"' in html  # what was typed is kept


def test_report_page_takes_the_hour_after_the_spring_forward_gap(client, users):
    client.force_login(users["hq_analyst"])
    response = client.get(
        "/reports/separated-children/", {"as_of": "2018-03-11T03:00", "as_of_tz": "America/Denver"}
    )
    assert response.status_code == 200
    assert "2018-03-11 03:00 MDT" in response.content.decode()


def test_separation_list_unknown_status_is_named_not_silently_read_as_all(client, users):
    """`?status=bogus` listed every separation with no word; it now names the statuses it knows."""
    client.force_login(users["hq_analyst"])
    html = client.get("/separations/", {"status": "bogus"}).content.decode().replace("&#x27;", "'")
    assert "Status: 'bogus' is not a status; choose one of requested, in_effect, rejected, ended" in html
    assert "Showing every status." in html
    assert "is not a status" not in client.get("/separations/").content.decode()


def test_report_another_station_asked_by_a_station_supervisor_is_said_not_ignored(client, users):
    """A supervisor of EPT asking `?station=YUM` got EPT's report with no word about YUM; the page
    now says it shows their own station only (and never YUM's children)."""
    client.force_login(users["supervisor"])
    html = (
        client.get("/reports/separated-children/", {"station": "yum"}).content.decode().replace("&#x27;", "'")
    )
    assert "Station: you read the report of your station EPT only, not 'YUM'." in html
    assert "station EPT only" in html
    assert "Station:" not in client.get("/reports/separated-children/", {"station": "EPT"}).content.decode()
