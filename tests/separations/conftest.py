import pytest

from tests.conftest import make_user

from .factories import StationFactory, family


@pytest.fixture
def ept(db):
    return StationFactory(code="EPT", name="El Paso Station", timezone="America/Denver")


@pytest.fixture
def yum(db):
    return StationFactory(code="YUM", name="Yuma Station", timezone="America/Phoenix")


@pytest.fixture
def fam(ept):
    """A mother and her daughter apprehended together at EPT, in one family unit."""
    return family()


@pytest.fixture
def second_supervisor(users):
    return make_user("supervisor2", "supervisor", station="EPT")


@pytest.fixture
def yum_supervisor(users, yum):
    return make_user("supervisor_yum", "supervisor", station="YUM")


@pytest.fixture
def yum_agent(users, yum):
    return make_user("agent_yum", "field_agent", station="YUM")
