"""The separations demo receiver of `manage.py seed_demo` adds a handful of separations at EPT,
idempotently. It is called on its own here: the full command also runs the apprehensions scenario,
whose families would change the counts this test pins down."""

import io

import pytest

from separations.demo import seed
from separations.models import CustodyPeriod, Separation

from .factories import family

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _debug(settings):
    """`make run` seeds with DEBUG on (demo users exist only then)."""
    settings.DEBUG = True


def test_seed_demo_without_family_units_adds_nothing(ept):
    out = io.StringIO()
    seed(sender=None, scale=None, stdout=out)
    assert Separation.objects.count() == 0
    assert "nothing to add" in out.getvalue()


def test_seed_demo_with_debug_off_skips(ept, settings):
    settings.DEBUG = False
    family(surname="Demo")
    out = io.StringIO()
    seed(sender=None, scale=None, stdout=out)
    assert Separation.objects.count() == 0
    assert "skipped" in out.getvalue()


def test_seed_demo_adds_requests_and_separations_in_effect_once(ept):
    """Two requests wait for the demo supervisor; four in effect, custody CBP → HHS ORR / ICE / USMS."""
    families = [family(surname=f"Demo{i}") for i in range(8)]
    seed(sender=None, scale=None, stdout=io.StringIO())
    seed(sender=None, scale=None, stdout=io.StringIO())

    assert Separation.objects.count() == 6
    requested = Separation.objects.filter(status="requested")
    assert requested.count() == 2
    assert {s.requested_by.username for s in requested} == {"field_agent"}
    in_effect = Separation.objects.filter(status="in_effect")
    assert in_effect.count() == 4
    assert in_effect.filter(reason_code__code="ZERO_TOLERANCE_PROSECUTION").count() == 3
    assert {s.decided_by.username for s in in_effect} == {"supervisor"}
    for separation in in_effect:
        child = separation.members.get(side="child").person
        adult = separation.members.get(side="adult").person
        periods = list(
            CustodyPeriod.objects.filter(person=child).order_by("started_at").values_list("agency", flat=True)
        )
        assert periods == ["CBP", "HHS_ORR"]
        assert CustodyPeriod.objects.get(person=adult, ended_at__isnull=True).agency in ("ICE", "USMS")
    separated_units = [f.unit for f in families if Separation.objects.filter(family_unit=f.unit).exists()]
    assert len(separated_units) == 6
