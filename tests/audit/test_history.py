"""The generic history reader: any tracked record, every version, field-level changes."""

import pytest

from apprehensions.models import Station
from audit.history import history_for, history_versions

pytestmark = pytest.mark.django_db


def test_history_versions_lists_every_change_with_who_and_why(users):
    """Creation lists the fields set; each later version lists only what changed, with author and reason."""
    station = Station(code="TST", name="Test station")
    station._change_reason = "created for the test"
    station._history_user = users["hq_analyst"]
    station.save()
    station.name = "Renamed station"
    station._change_reason = "renamed"
    station.save()
    station.withdraw(by=users["auditor"], reason="closed")

    versions = history_versions(station)

    assert [v["change_reason"] for v in versions] == ["created for the test", "renamed", "withdrawn: closed"]
    assert versions[0]["changed_by"] == "hq_analyst" and versions[0]["type"] == "created"
    assert versions[0]["changes"]["code"] == [None, "TST"]
    assert versions[1]["changes"] == {"name": ["Test station", "Renamed station"]}
    assert set(versions[2]["changes"]) == {"withdrawn_at", "withdrawn_by", "withdrawn_reason"}
    assert versions[2]["changes"]["withdrawn_reason"] == ["", "closed"]
    assert [v["version"] for v in versions] == [1, 2, 3]


def test_history_for_reads_any_tracked_model_by_label(users):
    station = Station(code="LBL", name="By label")
    station.save()
    assert history_for("apprehensions.station", station.pk)[0]["changes"]["name"] == [None, "By label"]
    with pytest.raises(LookupError):
        history_for("apprehensions.station", "00000000-0000-0000-0000-000000000000")
