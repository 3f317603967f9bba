"""The import's chunk writes: a chunk's encounters, separations, custody and provenance are checked row
by row and written together; the results are those of writing each row on its own."""

import threading

import pytest
from django.db import connection

from apprehensions.models import (
    Apprehension,
    ApprehensionPerson,
    FamilyMembership,
    FamilyUnit,
    Person,
    Relationship,
)
from apprehensions.signals import persons_recorded
from legacy.models import ImportRecord, ImportRow
from legacy.services import import_file
from reunification.models import ReunificationCase
from separations.models import CustodyPeriod, Separation, SeparationMember
from tests.apprehensions.factories import person_data, record

from .sheets import ROWS, as_csv

pytestmark = pytest.mark.django_db


def _row(adult, adult_dob, child, child_dob, *, when="06/10/2018", adult_a="", child_a="", rel="Mother"):
    return [
        when,
        "EPT",
        adult,
        adult_a,
        adult_dob,
        "F",
        child,
        child_a,
        child_dob,
        "F",
        "GT",
        rel,
        when,
        "ZT",
        "ICE",
        "BCFS Harlingen",
        "",
        "",
    ]


def _import(users, rows, name="chunk.csv"):
    return import_file(content=as_csv(rows=rows), filename=name, by=users["hq_analyst"])


def test_a_row_the_intake_refuses_is_quarantined_alone_and_its_group_imports(users, stations):
    """Three rows of one mother's encounter; intake refuses the middle one (a mother 10 years older than
    the child): that row is quarantined with intake's words under its relationship column, the other
    two are imported with their persons, family unit, relationships, separations and cases."""
    rows = [
        _row("Marta Gomez Tzul", "03/03/1995", "Lucia Gomez Tzul", "2012-01-01"),
        _row("Marta Gomez Tzul", "03/03/1995", "Rosa Gomez Tzul", "2005-06-06"),
        _row("Marta Gomez Tzul", "03/03/1995", "Iris Gomez Tzul", "2014-02-02"),
    ]
    batch = _import(users, rows)

    assert (batch.rows_total, batch.rows_imported, batch.rows_quarantined) == (3, 2, 1)
    statuses = dict(batch.rows.values_list("row_number", "status"))
    assert statuses == {2: "imported", 3: "quarantined", 4: "imported"}
    bad = batch.rows.get(row_number=3)
    assert list(bad.messages) == ["relationship"]
    assert "at least 12 years older" in bad.messages["relationship"][0]
    assert not Person.objects.filter(given_names="Rosa").exists()
    marta = Person.objects.get(given_names="Marta")
    children = {r.to_person.given_names for r in Relationship.objects.filter(from_person=marta)}
    assert children == {"Lucia", "Iris"}
    assert Apprehension.objects.count() == 1 and FamilyUnit.objects.count() == 1
    assert FamilyMembership.objects.count() == 3
    assert Separation.objects.count() == 2 and ReunificationCase.objects.count() == 2
    # The custody columns: the mother in ICE custody now, after CBP custody from the encounter.
    assert CustodyPeriod.objects.get(person=marta, ended_at__isnull=True).agency == "ICE"
    # Both start at the sheet's date (12:00 station time: no time given): the CBP period is the one
    # that ended there (PostgreSQL sorts the open one's NULL end last); by start alone it was a toss.
    first = CustodyPeriod.objects.filter(person=marta).order_by("started_at", "ended_at").first()
    assert first.agency == "CBP" and first.ended_at == first.started_at
    for child in Person.objects.filter(given_names__in=["Lucia", "Iris"]):
        periods = CustodyPeriod.objects.filter(person=child).order_by("started_at", "ended_at")
        assert [(p.agency, p.ended_at is None) for p in periods] == [("CBP", False), ("HHS_ORR", True)]


def test_every_row_an_import_writes_has_its_history_row(users, stations):
    """Rule 2 for the set-based writes: every inserted row has its "created" history row, by the
    uploader, with a change reason; the encounter's rows name the batch and the sheet's rows."""
    batch = _import(users, [cells for _, cells in ROWS], name="el-paso.csv")
    by = users["hq_analyst"]
    intake_models = (Apprehension, ApprehensionPerson, FamilyUnit, FamilyMembership, Relationship)
    models = (*intake_models, Person, CustodyPeriod, Separation, SeparationMember, ReunificationCase)
    for model in (*models, ImportRecord):
        objects = list(model.objects.all())
        assert objects, model
        created = {h.id: h for h in model.history.filter(history_type="+", id__in=[o.pk for o in objects])}
        for obj in objects:
            history = created[obj.pk]
            assert history.history_user == by and history.history_change_reason, (model, obj.pk)
            if model in intake_models:
                assert history.history_change_reason.startswith(f"{batch.label} rows "), history
    # A period opened by intake and ended by the sheet's custody column says so in its history.
    ended = CustodyPeriod.objects.filter(ended_at__isnull=False)
    assert ended.exists()
    for period in ended:
        assert period.history.filter(ended_at=period.ended_at).exists()


def test_the_same_person_in_two_groups_of_a_chunk_is_one_person(users, stations):
    """An adult with no A-number on two dates (two encounters, two groups of one chunk), and a child
    on two adults' rows: each is one person, linked from the second group, never entered twice."""
    rows = [
        _row(
            "Olga Pop Caal",
            "05/05/1985",
            "Nayeli Pop Caal",
            "2011-11-11",
            when="06/03/2018",
            child_a="A301000001",
        ),
        _row("Olga Pop Caal", "05/05/1985", "Sara Pop Caal", "2013-03-03", when="06/09/2018"),
        _row(
            "Elmer Pop Choc",
            "01/01/1980",
            "Nayeli Pop Caal",
            "2011-11-11",
            when="06/04/2018",
            child_a="A301000001",
            rel="Father",
        ),
    ]
    batch = _import(users, rows)

    assert batch.rows_imported == 3
    olga = Person.objects.get(given_names="Olga")
    nayeli = Person.objects.get(given_names="Nayeli")
    assert ApprehensionPerson.objects.filter(person=olga).count() == 2
    assert ApprehensionPerson.objects.filter(person=nayeli).count() == 2
    outcome = batch.rows.get(row_number=3).outcome
    assert any(line.startswith("Adult: linked by name and date of birth") for line in outcome), outcome
    outcome = batch.rows.get(row_number=4).outcome
    assert any(line.startswith("Child: linked by A-number A301000001") for line in outcome), outcome
    # One open custody period each, whatever the order of the writes.
    for person in (olga, nayeli):
        assert CustodyPeriod.objects.filter(person=person, ended_at__isnull=True).count() == 1
    assert olga.first_encountered_at.date().isoformat() == "2018-06-03"


def test_persons_recorded_is_sent_once_for_a_chunk(users, stations):
    """Link discovery's incremental pass is asked once per chunk, with every person of its encounters."""
    heard = []

    def receiver(sender, **kwargs):
        heard.append(kwargs)

    persons_recorded.connect(receiver)
    try:
        _import(users, [ROWS[0][1], ROWS[4][1], ROWS[2][1]])
    finally:
        persons_recorded.disconnect(receiver)
    assert len(heard) == 1
    assert set(heard[0]["person_ids"]) == set(Person.objects.values_list("pk", flat=True))


@pytest.mark.django_db(transaction=True)
def test_a_chunk_meeting_an_a_number_saved_meanwhile_is_imported_group_by_group(users, stations, monkeypatch):
    """Another agent records the sheet's A-number for someone else while the chunk is being written:
    the chunk is imported again group by group, and only that adult's rows are quarantined (an
    A-number conflict, as if the record had been there first); the other rows import."""
    from apprehensions.services.intake_chunk import IntakeChunk

    real_write, calls = IntakeChunk.write, []

    def other_agent_records() -> None:
        try:
            record(
                users["field_agent"],
                persons=[
                    person_data(
                        "p1",
                        given_names="Juana",
                        first_surname="Soto",
                        date_of_birth="1970-01-01",
                        a_number="A201234567",
                    )
                ],
                family_units=[],
                relationships=[],
            )
        finally:
            connection.close()

    def write(self):
        calls.append(len(self))
        if len(calls) == 1:
            thread = threading.Thread(target=other_agent_records)
            thread.start()
            thread.join()
        return real_write(self)

    monkeypatch.setattr(IntakeChunk, "write", write)
    batch = _import(users, [ROWS[0][1], ROWS[4][1]])

    assert calls[0] == 2  # both encounters were staged for one write
    assert (batch.rows_total, batch.rows_imported, batch.rows_quarantined) == (2, 1, 1)
    row = batch.rows.get(row_number=2)
    assert row.status == ImportRow.Status.QUARANTINED
    assert "A201234567 is on file for Juana Soto" in row.messages["adult_a_number"][0]
    assert batch.rows.get(row_number=3).status == ImportRow.Status.IMPORTED
    assert Person.objects.filter(given_names="Kevin").count() == 1
    assert not Person.objects.filter(given_names="Ana Sofia").exists()


def test_a_new_person_on_several_rows_is_new_once_and_named_after_that(users, stations):
    """One mother (new) with two children on three rows, the first child repeated: the outcome calls
    the mother 'new person' on her first row only and names that row on the others, and the
    repeated child likewise (the preview said 'new person' on every row although one was created)."""
    rows = [
        _row("Marta Gomez Tzul", "03/03/1995", "Lucia Gomez Tzul", "2012-01-01"),
        _row("Marta Gomez Tzul", "03/03/1995", "Iris Gomez Tzul", "2014-02-02"),
        _row("Marta Gomez Tzul", "03/03/1995", "Lucia Gomez Tzul", "2012-01-01"),
    ]
    batch = _import(users, rows)
    outcome = {r.row_number: r.outcome for r in batch.rows.all()}
    assert Person.objects.filter(given_names="Marta").count() == 1
    assert Person.objects.filter(given_names="Lucia").count() == 1
    assert outcome[2][:2] == ["Adult: new person Marta Gomez Tzul.", "Child: new person Lucia Gomez Tzul."]
    assert outcome[3][:2] == [
        "Adult: Marta Gomez Tzul, the new person of row 2.",
        "Child: new person Iris Gomez Tzul.",
    ]
    assert outcome[4][:2] == [
        "Adult: Marta Gomez Tzul, the new person of row 2.",
        "Child: Lucia Gomez Tzul, the new person of row 2.",
    ]
