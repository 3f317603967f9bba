"""The synthetic scenario: deterministic, idempotent, realistic, with a history row for every row."""

from io import StringIO

import pytest
from django.core.management import call_command

from apprehensions.models import (
    Apprehension,
    ApprehensionPerson,
    FamilyMembership,
    FamilyUnit,
    Person,
    Relationship,
)
from apprehensions.selectors import person_search
from bench import scenario

pytestmark = pytest.mark.django_db

TRACKED = (Apprehension, Person, ApprehensionPerson, FamilyUnit, FamilyMembership, Relationship)


def counts():
    return {m.__name__: (m.objects.count(), m.history.count()) for m in TRACKED}


def test_seed_demo_fills_the_scenario_idempotently():
    """seed_demo writes stations and the scenario; a second run writes nothing more."""
    out = StringIO()
    call_command("seed_demo", "--scale", "120", "--no-users", stdout=out)
    first = counts()
    assert 120 <= first["Person"][0] <= 125
    assert all(rows == history for rows, history in first.values()), first
    call_command("seed_demo", "--scale", "120", "--no-users", stdout=StringIO())
    assert counts() == first
    assert "written now: 0 apprehensions" not in out.getvalue()


def test_scenario_extends_a_smaller_run():
    """A larger scale extends the same encounters rather than starting over."""
    from apprehensions.demo import ensure_stations

    ensure_stations()
    scenario.load(scale=40)
    ids = set(Person.objects.values_list("id", flat=True))
    report = scenario.load(scale=90)
    assert ids < set(Person.objects.values_list("id", flat=True))
    assert report.persons_written == Person.objects.count() - len(ids)


def test_scenario_is_deterministic_and_realistic():
    """Same encounter for the same k; names with accents and two surnames; May–June 2018; families 2–6."""
    assert scenario.generate(7) == scenario.generate(7)
    encounters = [scenario.generate(k) for k in range(400)]
    persons = [p for e in encounters for p in e.persons]
    assert all(e.occurred_at.year == 2018 and e.occurred_at.month in (5, 6, 7) for e in encounters)
    assert {e.kind for e in encounters} == {"family", "single_adult", "unaccompanied"}
    assert {len(e.persons) for e in encounters if e.kind == "family"} <= {2, 3, 4, 5, 6}
    assert any(any(ch in p.given_names + p.first_surname for ch in "áéíóúñÁÉÍÓÚÑ") for p in persons)
    assert all(p.first_surname and p.second_surname for p in persons)
    a_numbers = [p.a_number for p in persons if p.a_number]
    assert len(a_numbers) == len(set(a_numbers))
    assert {e.station for e in encounters} == {"EPT", "MCA", "YUM", "SDC", "RGV"}
    for e in encounters:
        for r in e.relationships:
            if r.type == "parent":
                older, younger = e.persons[r.from_index], e.persons[r.to_index]
                assert (younger.date_of_birth - older.date_of_birth).days >= 12 * 365


def test_demo_field_agent_sees_a_family_at_ept(users):
    """The demo includes EPT families whose mothers and children the EPT field agent can see."""
    call_command("seed_demo", "--scale", "60", "--no-users", stdout=StringIO())
    visible = person_search(viewer=users["field_agent"])
    mothers = visible.filter(sex="F", is_minor=False, relationships_from__type="parent").distinct()
    assert mothers.exists()
    mother = mothers.first()
    children = Person.objects.filter(relationships_to__from_person=mother, relationships_to__type="parent")
    assert children.exists() and all(c.is_minor for c in children)
    assert set(children) <= set(visible)
    assert (
        Person.history.filter(history_change_reason=scenario.CHANGE_REASON).count() == Person.objects.count()
    )


def index_definitions() -> set[str]:
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("SELECT indexdef FROM pg_indexes WHERE tablename LIKE 'apprehensions_%%'")
        return {row[0] for row in cursor.fetchall()}


@pytest.mark.django_db(transaction=True)
def test_large_load_sets_indexes_aside_and_rebuilds_them(monkeypatch):
    """The bulk path for big loads drops secondary indexes and rebuilds every one of them at the end
    (as the owner role, as `seed_demo` runs: the app role has no DDL)."""
    from apprehensions.demo import ensure_stations
    from familylink.common.db_roles import connected_as

    ensure_stations()
    before = index_definitions()
    monkeypatch.setattr(scenario, "BULK_INDEX_THRESHOLD", 10)
    messages: list[str] = []
    with connected_as("owner"):
        report = scenario.load(scale=50, chunk=10, progress=messages.append)
    assert any("secondary indexes set aside" in m for m in messages)
    assert any("rebuilding" in m for m in messages)
    assert index_definitions() == before
    assert report.persons_written == Person.objects.count() == Person.history.count()
    assert not scenario._index_file().exists()


def test_seed_demo_leaves_links_for_the_review_queue_once(settings):
    """The scenario records every family it makes, so discovery had nothing to show in `make run`:
    the linkage demo records a few encounters nobody linked (as the field agent), and the review
    queue then holds their relationships and duplicates; a second seed records and files nothing."""
    from apprehensions.linkage.models import LinkCandidate

    settings.LINKAGE_INCREMENTAL = "off"  # the demo's own pass files them, whatever the setting
    out = StringIO()
    call_command("seed_demo", "--with-demo-users", stdout=out)
    kinds = sorted(LinkCandidate.objects.values_list("kind", flat=True))
    assert kinds.count("duplicate_person") == 3 and kinds.count("relationship") == 2, kinds
    assert "candidates to review" in out.getvalue()
    persons = Person.objects.count()

    call_command("seed_demo", "--with-demo-users", stdout=StringIO())
    assert Person.objects.count() == persons and LinkCandidate.objects.count() == len(kinds)
