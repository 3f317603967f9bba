"""Pages: the coordinator's queue (claim, checklist in place, complete), the case page, closing,
the supervisor's team page (build, reassign), notifications, and the person-page panel."""

from datetime import timedelta

import pytest
from django.template.loader import render_to_string
from django.test import RequestFactory
from django.utils import timezone

from audit.models import AccessLog
from familylink.common.clock import wallclock_text
from reunification.models import WorklistItem
from reunification.panels import person_cases_panel
from reunification.services import clocks_flag, worklists_build
from reunification.teams import team_today
from separations.models import CustodyPeriod, Separation

from ..conftest import make_user
from .factories import approved_separation, ordering_scenario, years_ago

pytestmark = pytest.mark.django_db

TICKS = [
    ("contact_made", ""),
    ("parentage_verified", "documents"),
    ("parent_located", ""),
    ("background_check", ""),
    ("eligibility_decision", "eligible"),
    ("travel_arranged", ""),
]


def signed_in(client, user):
    client.force_login(user)
    return client


def test_queue_claim_next_shows_the_claimed_case_with_its_checklist(client, users):
    """The coordinator claims the top case from the queue page and sees it with its checklist."""
    scenario = ordering_scenario(users)
    worklists_build(day=team_today("EPT-REUNIFY"))
    signed_in(client, users["coordinator"])
    page = client.get("/reunification/queue/")
    assert "8 cases on today's list: 8 waiting" in page.content.decode()

    response = client.post("/reunification/queue/claim-next/", follow=True)

    html = response.content.decode()
    top = WorklistItem.objects.get(case_id=scenario["expected"][0])
    assert top.claimed_by == users["coordinator"]
    assert f'id="item-{top.pk}"' in html and "You claimed" in html
    assert 'Mark done<span class="usa-sr-only"> for Contact between child and parent made' in html
    assert AccessLog.objects.filter(
        user=users["coordinator"], object_id=str(top.case_id), action="claim"
    ).exists()
    assert AccessLog.objects.filter(
        user=users["coordinator"], object_id=str(top.case_id), action="view", path="/reunification/queue/"
    ).exists()


def test_step_update_with_htmx_returns_the_checklist_in_place(client, users):
    """An htmx tick returns only the checklist, updated; a missing method keeps the note typed."""
    _, (case,) = approved_separation(users, children=[years_ago(7)])
    signed_in(client, users["coordinator"])
    url = f"/reunification/cases/{case.pk}/steps/contact_made/"
    response = client.post(url, {"done": "1", "version": "1", "heading_level": "4"}, HTTP_HX_REQUEST="true")
    html = response.content.decode()
    assert response.status_code == 200 and html.lstrip().startswith("<section")
    assert "<h4" in html and 'Next step: <strong data-testid="next-step">Parentage verified' in html
    assert case.steps.get(step="contact_made").done_by == users["coordinator"]

    bad = client.post(
        f"/reunification/cases/{case.pk}/steps/parentage_verified/",
        {"done": "1", "version": "1", "note": "Birth certificate seen"},
        HTTP_HX_REQUEST="true",
    )
    html = bad.content.decode()
    assert "usa-error-message" in html and "documents" in html
    assert 'value="Birth certificate seen"' in html
    assert not case.steps.get(step="parentage_verified").is_done


def test_case_detail_shows_clocks_logs_the_view_and_is_scoped(client, users):
    """The case page shows both clocks with due times; the view is logged; other teams get 404."""
    _, (case,) = approved_separation(
        users, children=[years_ago(4)], occurred_at=timezone.now() - timedelta(days=9)
    )
    signed_in(client, users["coordinator"])
    html = client.get(f"/reunification/cases/{case.pk}/").content.decode()
    # On the team's clock (El Paso), with the zone's abbreviation.
    assert wallclock_text(case.contact_due_at, "America/Denver") in html
    assert wallclock_text(case.reunify_due_at, "America/Denver") in html
    assert "Due within 48 hours" in html
    assert AccessLog.objects.filter(
        user=users["coordinator"], object_id=str(case.pk), is_minor_record=True
    ).exists()
    outsider = make_user("yuma", "coordinator", team="YUM-REUNIFY")
    client.force_login(outsider)
    assert client.get(f"/reunification/cases/{case.pk}/").status_code == 404
    client.force_login(users["field_agent"])
    assert client.get(f"/reunification/cases/{case.pk}/").status_code == 403


def test_case_close_page_reunifies_or_explains_what_is_missing(client, users):
    """Closing too early shows the missing steps and keeps the typed facility; once the checklist
    is done, closing as reunified ends the separation and moves custody."""
    separation, (case,) = approved_separation(users, children=[years_ago(7)])
    signed_in(client, users["coordinator"])
    url = f"/reunification/cases/{case.pk}/close/"
    early = client.post(
        url, {"form": "reunified", "custody_agency": "RELEASED", "custody_facility": "Sponsor"}
    )
    html = early.content.decode()
    assert early.status_code == 400 and "complete these checklist steps" in html and 'value="Sponsor"' in html
    for step, method in TICKS:
        client.post(f"/reunification/cases/{case.pk}/steps/{step}/", {"done": "1", "method": method})
    done = client.post(
        url, {"form": "reunified", "custody_agency": "RELEASED", "custody_facility": "Sponsor"}
    )
    assert done.status_code == 302
    case.refresh_from_db()
    separation.refresh_from_db()
    assert case.status == "reunified" and separation.status == Separation.Status.ENDED
    assert CustodyPeriod.objects.get(person=case.child, ended_at__isnull=True).facility == "Sponsor"


def test_team_page_builds_today_and_reassigns(client, users):
    """The supervisor builds today's list with the button, sees progress and reassigns a case."""
    scenario = ordering_scenario(users)
    colleague = make_user("colleague", "coordinator", team="EPT-REUNIFY")
    signed_in(client, users["supervisor"])
    assert "not built yet" in client.get("/reunification/team/").content.decode()
    built = client.post("/reunification/team/build/", follow=True).content.decode()
    assert "8 new item(s)" in built and "8 cases on today's list" in built
    assert not WorklistItem.objects.filter(worklist__team="MCA-REUNIFY").exists()
    case_id = scenario["expected"][0]
    client.post(f"/reunification/cases/{case_id}/reassign/", {"assigned_to": colleague.pk})
    from reunification.models import ReunificationCase

    assert ReunificationCase.objects.get(pk=case_id).assigned_to == colleague
    client.force_login(users["coordinator"])
    assert client.get("/reunification/team/").status_code == 403
    assert (
        client.post(f"/reunification/cases/{case_id}/reassign/", {"assigned_to": colleague.pk}).status_code
        == 403
    )


def test_notifications_page_lists_alerts_and_marks_them_read(
    client, users, django_capture_on_commit_callbacks
):
    """Clock alerts appear on the coordinator's notifications page; "mark all as read" reads them."""
    approved_separation(users, children=[years_ago(3)], occurred_at=timezone.now() - timedelta(days=15))
    with django_capture_on_commit_callbacks(execute=True):
        clocks_flag()
    signed_in(client, users["coordinator"])
    html = client.get("/reunification/notifications/").content.decode()
    assert "2 unread" in html and "Overdue: reunification for Nino0" in html
    supervisor_unread = users["supervisor"].notifications.filter(read_at__isnull=True).count()
    assert supervisor_unread == 2
    client.post("/reunification/notifications/read/")
    assert "0 unread" in client.get("/reunification/notifications/").content.decode()
    assert users["coordinator"].notifications.filter(read_at__isnull=True).count() == 0
    # Each one read with its history row (who, when, why), in one statement; nobody else's touched.
    for note in users["coordinator"].notifications.all():
        last = note.history.order_by("-history_id").first()
        assert (last.history_type, last.history_change_reason, last.history_user) == (
            "~",
            "read",
            users["coordinator"],
        )
        assert (last.read_at, last.version, note.version) == (note.read_at, 2, 2)
    assert users["supervisor"].notifications.filter(read_at__isnull=True).count() == supervisor_unread


def test_notification_pages_hand_out_each_notice_once_when_an_alert_run_wrote_them_at_one_instant(users):
    """An alert run writes all its notices with one `created_at`; newest first alone leaves their
    order to the database, which may differ from one page to the next (a notice shown twice and
    another never). Paging through gives every notice exactly once, in a stable order."""
    from django.core.paginator import Paginator

    from reunification.models import Notification
    from reunification.selectors import notifications_for

    _, cases = approved_separation(users, children=[years_ago(5)] * 40)
    now = timezone.now()
    for case in cases:
        for kind in ("due_soon", "overdue"):
            for clock in ("contact", "reunify"):
                Notification.objects.create(
                    created_at=now,
                    recipient=users["coordinator"],
                    case=case,
                    kind=kind,
                    clock=clock,
                    message="m",
                )
    for size in (7, 50):
        pages = Paginator(notifications_for(users["coordinator"]), size)
        seen = [n.pk for number in pages.page_range for n in pages.page(number).object_list]
        assert len(seen) == len(set(seen)) == 160, size
        again = [n.pk for number in pages.page_range for n in pages.page(number).object_list]
        assert again == seen


def test_person_cases_panel_shows_the_case_on_the_childs_and_the_parents_page(users):
    """The panel function returns the case with status and clocks for the child and for the adult;
    nothing for a person without a case or a viewer who may not see it; the template renders."""
    _, (case,) = approved_separation(users, children=[years_ago(4)])
    adult = case.case_adults.get().person
    request = RequestFactory().get("/persons/x/")
    request.user = users["coordinator"]

    child_panel = person_cases_panel(request, case.child)
    adult_panel = person_cases_panel(request, adult)

    assert child_panel[0] == "reunification/panels/person_cases.html"
    assert [r["role"] for r in child_panel[1]["case_rows"]] == ["child"]
    assert [r["role"] for r in adult_panel[1]["case_rows"]] == ["adult"]
    html = render_to_string(child_panel[0], child_panel[1], request=request)
    assert "Reunification case of this child" in html and "Open" in html
    assert wallclock_text(case.reunify_due_at, "America/Denver") in html
    assert f"/reunification/cases/{case.pk}/" in html
    adult_html = render_to_string(adult_panel[0], adult_panel[1], request=request)
    assert f"Reunification case of {case.child.full_name} (this person is the adult)" in adult_html

    request.user = users["field_agent"]
    assert person_cases_panel(request, case.child) is None
    request.user = users["hq_analyst"]
    assert person_cases_panel(request, case.child) is not None
    stranger = approved_separation(users, children=[years_ago(9)])[1][0].child
    request.user = make_user("yuma", "coordinator", team="YUM-REUNIFY")
    assert person_cases_panel(request, stranger) is None


@pytest.mark.parametrize(
    ("zone", "why"),
    [("Mars/Base", "time zone 'Mars/Base' is not one FamilyLink knows"), ("a" * 300, "time zone 'aaaa")],
)
def test_case_list_bad_closed_since_zone_is_named_not_blamed_on_the_date(client, users, zone, why):
    """A good date with a bad zone says the zone is wrong (it said the date was not a date); a zone
    name too long for a file name was a 500 (OSError)."""
    client.force_login(users["hq_analyst"])
    response = client.get("/reunification/cases/", {"closed_since": "2018-01-01", "closed_since_tz": zone})
    html = response.content.decode().replace("&#x27;", "'")
    assert response.status_code == 200
    assert why in html and "is not a date" not in html


def test_case_list_unknown_status_is_named_not_silently_read_as_all(client, users):
    """`?status=bogus` listed every case with no word; the page now says the status is unknown,
    names the ones it knows, and says it shows every status. `all` itself is no error."""
    client.force_login(users["hq_analyst"])
    html = client.get("/reunification/cases/", {"status": "bogus"}).content.decode().replace("&#x27;", "'")
    assert "Status: 'bogus' is not a status; choose one of active, open" in html
    assert "Showing every status." in html
    assert "is not a status" not in client.get("/reunification/cases/", {"status": "all"}).content.decode()


def test_case_close_page_names_a_too_long_facility_beside_its_field(client, users):
    """A place or facility too long for the custody record is refused beside that field (rule 3),
    with what was typed kept; nothing is closed."""
    _, (case,) = approved_separation(users, children=[years_ago(7)])
    signed_in(client, users["coordinator"])
    for step, method in TICKS:
        client.post(f"/reunification/cases/{case.pk}/steps/{step}/", {"done": "1", "method": method})
    facility = "Released to the sponsor " + "x" * 220

    response = client.post(
        f"/reunification/cases/{case.pk}/close/",
        {"form": "reunified", "custody_agency": "RELEASED", "custody_facility": facility},
    )

    html = response.content.decode()
    assert response.status_code == 400
    assert 'id="custody_facility-error">Keep the facility name under 200 characters.' in html
    assert f'value="{facility}"' in html
    case.refresh_from_db()
    assert case.status == "in_progress"


def test_case_list_pages_keep_the_closed_since_zone(client, users):
    """The page links (Next, Previous) carry `closed_since_tz` with `closed_since`: page 2 of 'closed
    since 1 June in Denver' counted from midnight UTC instead, a different list under the same title."""
    client.force_login(users["hq_analyst"])
    response = client.get(
        "/reunification/cases/", {"closed_since": "2018-06-01", "closed_since_tz": "America/Denver"}
    )
    assert "closed_since=2018-06-01" in response.context["query"]
    assert "closed_since_tz=America%2FDenver" in response.context["query"]
