"""What the separations layer adds to the person record: panels, API fields, list filters.

The person page belongs to the apprehensions app; these tests call the registered functions
directly and render the panel templates, so both sides' texts are proven here.
"""

from datetime import UTC, datetime

import pytest
from django.template.loader import render_to_string
from django.test import RequestFactory
from django.utils.html import strip_tags

from apprehensions.extensions import (
    person_api_fields,
    person_filters,
    person_panels,
    prefetch_person_api_fields,
)
from apprehensions.models import Person
from familylink.common.errors import ValidationFailed
from separations import services
from separations.panels import custody_panel, separation_panel

from .factories import family, in_effect_separation, request_separation

pytestmark = pytest.mark.django_db


def _request(user):
    request = RequestFactory().get("/persons/x/")
    request.user = user
    return request


def _render(request, panel):
    """The panel's visible text, whitespace collapsed."""
    template, context = panel
    html = render_to_string(template, context, request=request)
    return " ".join(strip_tags(html).replace(" ,", ",").split()).replace(" ,", ",").replace(" .", ".")


@pytest.fixture
def separated(fam, users):
    """Mother and daughter separated (Zero Tolerance); the child moved to HHS ORR, the mother to ICE."""
    services.custody_transfer(
        person_id=fam.child.pk,
        agency="CBP",
        started_at=datetime(2018, 5, 10, 17, tzinfo=UTC),
        by=users["field_agent"],
    )
    separation = in_effect_separation(fam, users["field_agent"], users["supervisor"])
    services.custody_transfer(
        person_id=fam.child.pk,
        agency="HHS_ORR",
        facility="Casa Padre",
        started_at=datetime(2018, 5, 12, 9, tzinfo=UTC),
        by=users["partner_agency"],
    )
    services.custody_transfer(
        person_id=fam.adult.pk,
        agency="ICE",
        facility="Otero County",
        started_at=datetime(2018, 5, 12, 9, tzinfo=UTC),
        by=users["field_agent"],
    )
    return separation


def test_person_panels_are_registered(fam, users, separated):
    """The person page gets the separation panel then the custody panel."""
    panels = person_panels(_request(users["hq_analyst"]), fam.child)
    templates = [p["template"] for p in panels]
    assert templates.index("separations/panels/separations.html") < templates.index(
        "separations/panels/custody.html"
    )


def test_separation_panel_child_names_the_adult_and_where_they_are(fam, users, separated):
    """The child's panel: separated from <adult> since <date>, reason, approved by; where the adult is."""
    text = _render(_request(users["hq_analyst"]), separation_panel(_request(users["hq_analyst"]), fam.child))
    assert f"Separated from {fam.adult.full_name} since 2018-05-11 08:00 MDT" in text
    assert "reason: Zero Tolerance prosecution (policy-driven)" in text
    assert "approved by Supervisor" in text
    assert f"{fam.adult.full_name} is now at ICE, Otero County." in text


def test_separation_panel_adult_lists_each_child_and_where_the_child_is(fam, users, separated):
    """The adult's panel lists each separated child with where the child is now."""
    request = _request(users["field_agent"])
    text = _render(request, separation_panel(request, fam.adult))
    assert "Separated from 1 child since 2018-05-11 08:00 MDT" in text
    assert fam.child.full_name in text
    assert "HHS Office of Refugee Resettlement, Casa Padre" in text
    assert "Request a separation" in text  # the field agent of the station may request


def test_separation_panel_pending_and_no_request_button_for_hq(fam, users):
    request_separation(fam, users["field_agent"])
    request = _request(users["hq_analyst"])
    text = _render(request, separation_panel(request, fam.child))
    assert "waiting for a supervisor's decision" in text
    assert "Request a separation" not in text


def test_custody_panel_lists_periods(fam, users, separated):
    request = _request(users["partner_agency"])
    text = _render(request, custody_panel(request, fam.child))
    assert "Now at HHS Office of Refugee Resettlement, Casa Padre since 2018-05-12 03:00 MDT." in text
    assert "CBP (Border Patrol)" in text
    assert "Record a custody transfer" in text
    hq = _request(users["hq_analyst"])
    assert "Record a custody transfer" not in _render(hq, custody_panel(hq, fam.child))


def test_person_api_fields_current_custody_and_separation_status(fam, users, separated, ept):
    """Fields `current_custody` and `separation_status`; the list prefetch gives the same values."""
    bystander = family(surname="Otra").adult
    fields = {f.name: f for f in person_api_fields()}
    assert fields["current_custody"].fn(fam.child, None)["agency"] == "HHS_ORR"
    assert fields["separation_status"].fn(fam.child, None) == "separated"
    assert fields["separation_status"].fn(fam.adult, None) == "separated"
    assert fields["separation_status"].fn(bystander, None) == "none"
    assert fields["current_custody"].fn(bystander, None) is None
    persons = {p.pk: p for p in prefetch_person_api_fields(Person.objects.all())}
    assert fields["current_custody"].fn(persons[fam.child.pk], None)["facility"] == "Casa Padre"
    assert fields["separation_status"].fn(persons[fam.child.pk], None) == "separated"
    assert fields["separation_status"].fn(persons[bystander.pk], None) == "none"
    services.separation_end(separation_id=separated.pk, by=users["coordinator"], outcome="reunified")
    assert fields["separation_status"].fn(Person.objects.get(pk=fam.child.pk), None) == "reunified"


def test_person_filters_separated_and_custody_agency(fam, users, separated, ept):
    bystander = family(surname="Otra").adult
    filters = person_filters()
    everyone = Person.objects.all()
    assert set(filters["separated"](everyone, "true")) == {fam.child, fam.adult}
    assert bystander in set(filters["separated"](everyone, "false"))
    assert fam.child not in set(filters["separated"](everyone, "false"))
    assert list(filters["custody_agency"](everyone, "hhs_orr")) == [fam.child]
    assert list(filters["custody_agency"](everyone, "ICE")) == [fam.adult]
    with pytest.raises(ValidationFailed) as excinfo:
        filters["separated"](everyone, "maybe")
    assert list(excinfo.value.errors) == ["separated"]
    with pytest.raises(ValidationFailed) as excinfo:
        filters["custody_agency"](everyone, "FBI")
    assert list(excinfo.value.errors) == ["custody_agency"]


def test_requested_separation_is_not_separated_yet(fam, users):
    """Only an approved separation makes a person `separated`."""
    request_separation(fam, users["field_agent"])
    fields = {f.name: f for f in person_api_fields()}
    assert fields["separation_status"].fn(fam.child, None) == "none"
    assert list(person_filters()["separated"](Person.objects.all(), "true")) == []
