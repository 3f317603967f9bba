from tests.separations.conftest import ept, yum  # noqa: F401 - shared fixtures
