"""One clock: nothing happens to a person before their apprehension; intake puts everyone in CBP
custody at the apprehension's station; times are shown in the station's zone with its abbreviation."""

from datetime import UTC, date, datetime

import pytest

from apprehensions.services import apprehension_record
from familylink.common.errors import ValidationFailed
from separations import services
from separations.models import CustodyPeriod

from .factories import request_separation

pytestmark = pytest.mark.django_db


def test_separation_timed_before_the_apprehension_is_refused_saying_which_time(fam, users):
    """Apprehended 10 May 2018 10:15 MDT; a separation at 09:00 MDT that day is refused, naming both."""
    with pytest.raises(ValidationFailed) as excinfo:
        request_separation(fam, users["field_agent"], occurred_at=datetime(2018, 5, 10, 15, 0, tzinfo=UTC))
    message = " ".join(excinfo.value.errors["occurred_at"])
    assert "2018-05-10 09:00 MDT is before" in message
    assert "apprehended at 2018-05-10 10:15 MDT (EPT)" in message
    assert not fam.children[0].separation_memberships.exists()


def test_custody_change_before_the_apprehension_is_refused(fam, users):
    with pytest.raises(ValidationFailed) as excinfo:
        services.custody_transfer(
            person_id=fam.adults[0].pk,
            agency="ICE",
            facility="Otero",
            started_at=datetime(2018, 5, 1, 12, 0, tzinfo=UTC),
            by=users["field_agent"],
        )
    assert "is before" in excinfo.value.errors["started_at"][0]
    assert "2018-05-10 10:15 MDT" in excinfo.value.errors["started_at"][0]


def test_intake_opens_cbp_custody_at_the_apprehensions_station(ept, users):
    """Everyone recorded by intake is in CBP custody at EPT from the apprehension, with history."""
    result = apprehension_record(
        user=users["field_agent"],
        occurred_at=datetime.fromisoformat("2018-06-01T10:15:00-06:00"),
        station="EPT",
        persons=[
            {
                "ref": "p1",
                "given_names": "Ana",
                "first_surname": "Lopez",
                "sex": "F",
                "date_of_birth": date(1990, 1, 1),
            },
            {
                "ref": "p2",
                "given_names": "Luz",
                "first_surname": "Lopez",
                "sex": "F",
                "date_of_birth": date(2014, 1, 1),
            },
        ],
        family_units=[{"members": ["p1", "p2"]}],
        relationships=[{"from": "p1", "to": "p2", "type": "parent", "evidence": "claimed"}],
    )
    periods = CustodyPeriod.objects.filter(person__in=[p.person for p in result.persons])
    assert periods.count() == 2
    for period in periods:
        assert (period.agency, period.ended_at) == ("CBP", None)
        assert period.started_at == datetime(2018, 6, 1, 16, 15, tzinfo=UTC)
        assert period.facility.startswith("EPT")
        assert period.history.count() == 1
