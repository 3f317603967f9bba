"""One throwaway PostgreSQL cluster and Redis for the fault tests (tests/faults/stack.py), migrated
once, with the users the scenarios need; torn down (processes killed, directories removed) at the end."""

from collections.abc import Iterator

import pytest

from .stack import Stack

SETUP = """
import json
from django.contrib.auth.models import Group
from rest_framework.authtoken.models import Token
from tests.conftest import make_user
from tests.apprehensions.factories import station

station("EPT")
users = {
    "field_agent": make_user("field_agent", "field_agent", station="EPT"),
    "supervisor": make_user("supervisor", "supervisor", station="EPT"),
    "coordinator": make_user("coordinator", "coordinator", team="EPT-REUNIFY"),
}
for name, user in users.items():
    user.email = f"{name}@example.org"
    user.save()
users = {
    **users,
}
token, _ = Token.objects.get_or_create(user=users["field_agent"])
print("RESULT=" + json.dumps({"token": token.key}))
"""


@pytest.fixture(scope="session")
def stack() -> Iterator[Stack]:
    services = Stack()
    try:
        services.start()
        services.token = services.shell(SETUP)["token"]  # type: ignore[attr-defined]
        yield services
    finally:
        services.close()
