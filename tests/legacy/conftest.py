import pytest

from tests.apprehensions.factories import station


@pytest.fixture
def stations(db):
    return {code: station(code) for code in ("EPT", "MCA")}
