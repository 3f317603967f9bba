import pytest

from .factories import station


@pytest.fixture
def ept(db):
    return station("EPT")


@pytest.fixture
def mca(db):
    return station("MCA")


@pytest.fixture
def agent(users, ept):
    """The field agent of station EPT, with the station on file."""
    return users["field_agent"]
