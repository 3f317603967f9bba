import pytest
from django.contrib.auth.models import Group
from django.core.cache import cache

from apprehensions.linkage.discovery import _frequency_cache_key
from familylink.common.roles import Role
from tests.apprehensions.factories import station
from tests.conftest import make_user


@pytest.fixture(autouse=True)
def _fresh_name_frequencies(db):
    """Name counts are cached between passes; each test starts without another test's counts."""
    cache.delete(_frequency_cache_key())
    yield
    cache.delete(_frequency_cache_key())


@pytest.fixture
def stations(db):
    return {code: station(code) for code in ("EPT", "MCA", "YUM")}


@pytest.fixture
def agent(users, stations):
    """A field agent who also reads all stations, so one user can record the set at EPT, MCA and YUM."""
    user = make_user("roving_agent", Role.FIELD_AGENT, station="EPT")
    user.groups.add(Group.objects.get(name=str(Role.HQ_ANALYST)))
    return user
