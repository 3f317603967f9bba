"""The legacy import end to end through its services: every variation, nothing lost, idempotent."""

from datetime import date

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.utils import timezone

from apprehensions.models import Apprehension, FamilyMembership, FamilyUnit, Person, Relationship
from apprehensions.signals import a_number_conflict_detected, persons_recorded
from legacy.models import ImportBatch, ImportRecord, ImportRow
from legacy.parsing import UnreadableFile
from legacy.services import batch_create, batch_run, import_file, row_correct
from reunification.models import ReunificationCase
from separations.models import CustodyPeriod, Separation, SeparationMember
from separations.selectors import separated_children
from tests.apprehensions.factories import record

from .sheets import ANA_ELSEWHERE, EXPECTED_IMPORTED, EXPECTED_QUARANTINED, HEADERS, ROWS, as_csv, as_xlsx

pytestmark = pytest.mark.django_db

FORMATS = {"csv": as_csv, "xlsx": as_xlsx}


def _import(users, fmt="csv", content=None, name=None, by="hq_analyst"):
    content = content if content is not None else FORMATS[fmt]()
    return import_file(content=content, filename=name or f"el-paso.{fmt}", by=users[by])


def _snapshot():
    """What the import wrote into the case records (not its own batch tables)."""
    return {
        "persons": sorted(
            (
                p.full_name,
                p.a_number or "",
                str(p.date_of_birth),
                p.dob_estimated,
                p.sex,
                p.country_of_citizenship,
                p.is_minor,
            )
            for p in Person.objects.all()
        ),
        "apprehensions": Apprehension.objects.count(),
        "family_units": FamilyUnit.objects.count(),
        "memberships": FamilyMembership.objects.count(),
        "relationships": sorted(
            (r.from_person.full_name, r.type, r.to_person.full_name, r.source)
            for r in Relationship.objects.all()
        ),
        "separations": sorted(
            (
                s.reason_code.code,
                s.status,
                s.source,
                s.occurred_at.date().isoformat(),
                tuple(sorted(m.person.full_name for m in s.members.all())),
            )
            for s in Separation.objects.all()
        ),
        "custody": sorted((c.person.full_name, c.agency, c.facility) for c in CustodyPeriod.objects.all()),
        "cases": ReunificationCase.objects.count(),
        "history": (
            Person.history.count(),
            Separation.history.count(),
            SeparationMember.history.count(),
            Relationship.history.count(),
            CustodyPeriod.history.count(),
        ),
    }


@pytest.mark.parametrize("fmt", ["csv", "xlsx"])
def test_import_file_every_variation_rows_read_equals_imported_plus_quarantined(users, stations, fmt):
    """Every row of the variation sheet ends imported or quarantined, as expected, in CSV and XLSX alike."""
    batch = _import(users, fmt)

    assert batch.status == ImportBatch.Status.DONE
    assert batch.rows_total == len(ROWS)
    assert (batch.rows_imported, batch.rows_quarantined) == (EXPECTED_IMPORTED, EXPECTED_QUARANTINED)
    assert batch.rows_total == batch.rows_imported + batch.rows_quarantined
    statuses = list(batch.rows.order_by("row_number").values_list("status", flat=True))
    assert statuses == [expected for expected, _ in ROWS]
    # The sheet names 7 adults/children pairs that import, with one repeat and one adult on two rows.
    perez = Person.objects.get(a_number="A201234567")
    assert (perez.given_names, perez.first_surname, perez.second_surname) == ("Maria Jose", "Perez", "Nunez")
    assert perez.date_of_birth == date(1988, 4, 2)
    assert Person.objects.filter(given_names="Ana Sofia").count() == 1  # the repeated row is one person
    luis = Person.objects.get(given_names="Luis", first_surname="Perez")
    assert luis.dob_estimated and luis.date_of_birth == date(2014, 1, 1)
    assert Person.objects.get(first_surname="Hernandez", given_names="Jose Luis").a_number == "A020123456"
    carlos = Person.objects.get(given_names="Carlos")
    assert (carlos.first_surname, carlos.second_surname, carlos.a_number) == (
        "Hernandez",
        "Lopez",
        "A098765432",
    )
    # Relationships mapped from hand-typed words; the blank one records none.
    rel_types = {(r.to_person.given_names, r.type) for r in Relationship.objects.all()}
    assert {
        ("Ana Sofia", "parent"),
        ("Luis", "parent"),
        ("Carlos", "parent"),
        ("Kevin", "grandparent"),
        ("Diego", "other_relative"),
        ("Jorge", "legal_guardian"),
        ("Brenda", "parent"),
    } == rel_types
    assert all(r.source == Relationship.Source.LEGACY_IMPORT for r in Relationship.objects.all())
    # Reasons mapped to codes; a row without separation information records none.
    reasons = {
        m.person.given_names: m.separation.reason_code.code
        for m in SeparationMember.objects.filter(side="child").select_related(
            "separation__reason_code", "person"
        )
    }
    assert reasons == {
        "Ana Sofia": "ZERO_TOLERANCE_PROSECUTION",
        "Luis": "ZERO_TOLERANCE_PROSECUTION",
        "Carlos": "ZERO_TOLERANCE_PROSECUTION",
        "Kevin": "CRIMINAL_HISTORY",
        "Jorge": "CRIMINAL_HISTORY",
        "Brenda": "PARENT_MEDICAL",
        "Mia": "OTHER",
    }
    mia = Separation.objects.get(members__person__given_names="Mia")
    assert "no reason" in mia.narrative
    # Custody from the custody and shelter columns.
    # Intake opened CBP custody at the encounter; the sheet's adult custody is where she is now.
    assert (
        CustodyPeriod.objects.get(person=perez, ended_at__isnull=True, withdrawn_at__isnull=True).agency
        == "ICE"
    )
    open_now = CustodyPeriod.objects.filter(ended_at__isnull=True, withdrawn_at__isnull=True)
    assert open_now.get(person__given_names="Ana Sofia").facility == "Southwest Key Casa Padre"
    assert open_now.get(person__given_names="Jose Luis").agency == "USMS"


def test_csv_and_xlsx_of_the_same_rows_give_the_same_result(users, stations):
    """The dry runs agree row by row; importing the XLSX after the CSV finds every row already imported."""
    csv_dry = _import_dry(users, as_csv(), "a.csv")
    xlsx_dry = _import_dry(users, as_xlsx(), "a.xlsx")
    assert [(r["row_number"], r["status"], r["messages"], r["outcome"]) for r in csv_dry] == [
        (r["row_number"], r["status"], r["messages"], r["outcome"]) for r in xlsx_dry
    ]
    _import(users, "csv")
    before = _snapshot()
    batch = _import(users, "xlsx")
    assert _snapshot() == before
    assert batch.rows_imported == EXPECTED_IMPORTED
    for row in batch.rows.filter(status=ImportRow.Status.IMPORTED):
        assert row.outcome[0].startswith("Already imported from el-paso.csv")


def _import_dry(users, content, name):
    batch = import_file(content=content, filename=name, by=users["hq_analyst"], dry_run=True)
    return batch.preview_rows


def test_import_file_dry_run_writes_nothing(users, stations):
    before = _snapshot()
    rows = _import_dry(users, as_csv(), "a.csv")
    assert _snapshot() == before
    assert not ImportBatch.objects.exists() and not ImportRow.objects.exists()
    assert sum(r["status"] == "imported" for r in rows) == EXPECTED_IMPORTED


def test_import_file_twice_changes_nothing_the_second_time(users, stations):
    """Persons, encounters, relationships, separations, custody, cases and their history stay as they were."""
    _import(users)
    before = _snapshot()
    second = _import(users)
    assert _snapshot() == before
    assert (second.rows_imported, second.rows_quarantined) == (EXPECTED_IMPORTED, EXPECTED_QUARANTINED)


def test_import_same_child_on_two_offices_sheets_is_one_person(users, stations):
    """Another office's sheet names the same child (other spelling, same birth date): linked, not twice."""
    _import(users)
    other = [ANA_ELSEWHERE]
    batch = _import(users, content=as_csv(rows=other), name="orr-office.csv")
    assert batch.rows_imported == 1
    assert Person.objects.filter(given_names="Ana Sofia").count() == 1
    assert Separation.objects.filter(members__person__given_names="Ana Sofia").count() == 1
    row = batch.rows.get()
    assert any("linked by name and date of birth" in line for line in row.outcome)


def test_every_cell_of_every_row_is_kept_as_typed(users, stations):
    batch = _import(users, "csv")
    for row, (_, cells) in zip(batch.rows.order_by("row_number"), ROWS, strict=True):
        assert row.cells == [[h, c] for h, c in zip(HEADERS, cells, strict=True)]
    assert batch.headers == HEADERS
    # Extra columns reach the separation narrative too (never dropped).
    assert (
        "Agent Initials: JB"
        in Separation.objects.filter(members__person__given_names="Ana Sofia").get().narrative
    )


def test_every_record_an_import_creates_names_its_batch_and_row(users, stations):
    batch = _import(users)
    created = ImportRecord.objects.filter(row__batch=batch, action=ImportRecord.Action.CREATED)
    names = {(r.model, r.object_id) for r in created}
    for person in Person.objects.all():
        assert ("apprehensions.person", person.pk) in names
    for separation in Separation.objects.all():
        assert ("separations.separation", separation.pk) in names
        assert separation.source == Separation.Source.LEGACY_IMPORT
        assert separation.requested_by == users["hq_analyst"] and separation.decided_by is None
        assert "row" in separation.decision_comment and batch.label in separation.decision_comment
        assert batch.label in separation.history.earliest().history_change_reason
    for apprehension in Apprehension.objects.all():
        assert ("apprehensions.apprehension", apprehension.pk) in names
    for rel in Relationship.objects.all():
        assert ("apprehensions.relationship", rel.pk) in names


def test_imported_separations_are_in_effect_and_open_their_cases(users, stations):
    _import(users)
    separations = Separation.objects.all()
    assert separations.count() == 7
    assert {s.status for s in separations} == {Separation.Status.IN_EFFECT}
    children = {m.person_id for m in SeparationMember.objects.filter(side="child")}
    assert set(ReunificationCase.objects.values_list("child_id", flat=True)) == children
    assert children == set(separated_children(as_of=timezone.now()).child_ids())
    # As of their dates: on 2018-06-03 only the separations of 1 and 2 June were in effect.
    as_of = timezone.datetime(2018, 6, 3, 12, tzinfo=timezone.get_current_timezone())
    names = {Person.objects.get(pk=c).given_names for c in separated_children(as_of=as_of).child_ids()}
    assert names == {"Ana Sofia", "Luis", "Carlos"}


def test_a_reunification_date_ends_the_imported_separation(users, stations):
    headers = [*HEADERS[:14], "Date Reunified"]
    cells = [*ROWS[0][1][:14], "07/26/2018"]
    _import(users, content=as_csv(headers=headers, rows=[cells]))
    separation = Separation.objects.get()
    assert separation.status == Separation.Status.ENDED and separation.end_outcome == "reunified"
    assert separation.ended_at.date() == date(2018, 7, 26)
    assert ReunificationCase.objects.get().status == "reunified"
    # Not separated now, but separated as of a day in between.
    assert not separated_children(as_of=timezone.now()).child_ids()
    as_of = timezone.datetime(2018, 7, 1, 12, tzinfo=timezone.get_current_timezone())
    assert len(separated_children(as_of=as_of).child_ids()) == 1


def test_quarantined_row_corrected_cell_by_cell_imports(users, stations):
    """The impossible date of birth is corrected; the row imports; the typed cell stays; counts follow."""
    batch = _import(users)
    row = batch.rows.get(row_number=10)
    assert row.status == ImportRow.Status.QUARANTINED
    assert "02/30/2012" in row.messages["child_dob"][0]

    row = row_correct(row_id=row.pk, by=users["hq_analyst"], corrections={"child_dob": "02/20/2012"})

    assert row.status == ImportRow.Status.IMPORTED, row.messages
    assert row.corrections == {"child_dob": "02/20/2012"}
    assert dict(row.cells)["Date of Birth"] == "02/30/2012"
    elena = Person.objects.get(given_names="Elena")
    assert elena.date_of_birth == date(2012, 2, 20)
    assert elena.pk in separated_children(as_of=timezone.now()).child_ids()
    batch.refresh_from_db()
    assert (batch.rows_imported, batch.rows_quarantined) == (EXPECTED_IMPORTED + 1, EXPECTED_QUARANTINED - 1)
    assert row.history.filter(history_change_reason__contains="corrected in the UI").exists()


def test_quarantined_row_still_wrong_stays_quarantined_with_new_messages(users, stations):
    batch = _import(users)
    row = batch.rows.get(row_number=15)
    row = row_correct(row_id=row.pk, by=users["hq_analyst"], corrections={"relationship": "Buddy"})
    assert row.status == ImportRow.Status.QUARANTINED and "Buddy" in row.messages["relationship"][0]
    row = row_correct(row_id=row.pk, by=users["hq_analyst"], corrections={"relationship": "Father"})
    assert row.status == ImportRow.Status.IMPORTED


def test_a_number_on_file_links_that_person(users, stations):
    result = record(
        users["field_agent"],
        persons=[
            {
                "ref": "p1",
                "given_names": "María José",
                "first_surname": "Pérez",
                "second_surname": "Núñez",
                "sex": "F",
                "date_of_birth": "1988-04-02",
                "a_number": "A201234567",
            }
        ],
        family_units=[],
        relationships=[],
    )
    on_file = result.persons[0].person
    batch = _import(users, content=as_csv(rows=[ROWS[0][1]]))
    assert batch.rows_imported == 1
    assert Person.objects.filter(a_number="A201234567").get() == on_file
    assert "linked by A-number A201234567" in batch.rows.get().outcome[0]


def test_name_and_date_slips_link_and_namesakes_are_quarantined_never_guessed(users, stations):
    """Accents, a dropped second surname and a day/month swap still link; two candidates quarantine."""
    kid = {"sex": "M", "date_of_birth": "2012-05-04", "first_surname": "Lopez", "second_surname": "Diaz"}
    record(
        users["field_agent"],
        persons=[{"ref": "p1", "given_names": "Kévin", **kid}],
        family_units=[],
        relationships=[],
    )
    cells = [
        "06/05/2018",
        "EPT",
        "Rosa Lopez Ramirez",
        "",
        "07/07/1960",
        "F",
        "KEVIN LÓPEZ",
        "",
        "04/05/2012",
        "M",
        "SV",
        "Grandmother",
        "06/05/2018",
        "Crim Hist",
        "",
        "",
        "",
        "",
    ]
    batch = _import(users, content=as_csv(rows=[cells]))
    assert batch.rows_imported == 1
    assert Person.objects.filter(given_names__in=["Kévin", "Kevin"]).count() == 1

    # A namesake born the same day: now two persons match; the next row cannot be decided.
    record(
        users["field_agent"],
        persons=[{"ref": "p1", "given_names": "Kevin", **kid, "second_surname": "Vega"}],
        family_units=[],
        relationships=[],
    )
    cells2 = [*cells]
    cells2[2] = "Otra Persona Ramos"
    cells2[4] = "01/01/1980"
    batch = _import(users, content=as_csv(rows=[cells2]), name="second.csv")
    row = batch.rows.get()
    assert row.status == ImportRow.Status.QUARANTINED
    assert "matches 2 persons on file" in row.messages["child_name"][0]
    assert "does not guess" in row.messages["child_name"][0]


def test_a_number_conflict_is_quarantined_and_signalled(users, stations):
    record(
        users["field_agent"],
        persons=[
            {
                "ref": "p1",
                "given_names": "Juan",
                "first_surname": "Soto",
                "sex": "M",
                "date_of_birth": "1970-01-01",
                "a_number": "A201234567",
            }
        ],
        family_units=[],
        relationships=[],
    )
    heard = []

    def receiver(sender, **kwargs):
        heard.append(kwargs)

    a_number_conflict_detected.connect(receiver)
    try:
        batch = _import(users, content=as_csv(rows=[ROWS[0][1]]))
    finally:
        a_number_conflict_detected.disconnect(receiver)
    row = batch.rows.get()
    assert row.status == ImportRow.Status.QUARANTINED
    assert "A201234567 is on file for Juan Soto" in row.messages["adult_a_number"][0]
    assert [(h["a_number"], h["context"], h["existing_person"].given_names) for h in heard] == [
        ("A201234567", "legacy_import", "Juan")
    ]


def test_persons_recorded_is_sent_with_the_persons_the_import_wrote(users, stations):
    heard = []

    def receiver(sender, **kwargs):
        heard.append(kwargs)

    persons_recorded.connect(receiver)
    try:
        _import(users)
    finally:
        persons_recorded.disconnect(receiver)
    assert heard and all(h["source"] == "legacy_import" and h["by"] == users["hq_analyst"] for h in heard)
    sent = {pid for h in heard for pid in h["person_ids"]}
    assert sent == set(Person.objects.values_list("pk", flat=True))


def test_supervisor_imports_rows_of_their_station_only(users, stations):
    other = [*ROWS[0][1]]
    other[1] = "MCA"
    batch = _import(users, content=as_csv(rows=[ROWS[4][1], other]), by="supervisor")
    assert batch.station_scope.code == "EPT"
    statuses = dict(batch.rows.values_list("row_number", "status"))
    assert statuses == {2: "imported", 3: "quarantined"}
    assert "not your station" in batch.rows.get(row_number=3).messages["station"][0]


def test_field_agent_cannot_import(users, stations):
    from familylink.common.errors import PermissionDenied

    with pytest.raises(PermissionDenied):
        batch_create(content=as_csv(), filename="a.csv", by=users["field_agent"])


def test_command_prints_counts_and_fails_only_on_an_unreadable_file(users, stations, tmp_path, capsys):
    path = tmp_path / "sheet.xlsx"
    path.write_bytes(as_xlsx())
    call_command("import_legacy", str(path), "--dry-run")
    out = capsys.readouterr().out
    assert (
        f"rows read {len(ROWS)}, would import {EXPECTED_IMPORTED}, would quarantine {EXPECTED_QUARANTINED}"
        in out
    )
    assert not Person.objects.exists()
    call_command("import_legacy", str(path), "--user", "hq_analyst")
    out = capsys.readouterr().out
    assert f"rows read {len(ROWS)}, imported {EXPECTED_IMPORTED}, quarantined {EXPECTED_QUARANTINED}" in out
    bad = tmp_path / "broken.xlsx"
    bad.write_bytes(b"PK\x03\x04 not really a workbook")
    with pytest.raises(CommandError, match="cannot be opened"):
        call_command("import_legacy", str(bad))
    with pytest.raises(CommandError, match="Cannot read"):
        call_command("import_legacy", str(tmp_path / "missing.csv"))


@pytest.mark.parametrize("by", ["hq_analyst", "supervisor"])
def test_batch_create_refuses_a_sheet_with_no_column_a_row_is_imported_from(users, stations, by):
    """A sheet whose columns FamilyLink does not recognise (`foo,bar`) was kept and previewed as
    "Import 0 rows"; it is refused at upload, naming the headers found and the columns needed."""
    with pytest.raises(UnreadableFile) as refused:
        batch_create(content=b"foo,bar\n1,2\n3,4\n", filename="odd.csv", by=users[by])
    message = str(refused.value)
    assert "the sheet's headers are 'foo', 'bar'." in message
    for needed in (
        "adult's name (adult_name)",
        "adult's date of birth (adult_dob)",
        "child's name (child_name)",
    ):
        assert needed in message
    assert "apprehension date (apprehension_date)" in message
    # A supervisor's blank station is their own: the station column is needed of HQ only.
    assert ("station (station)" in message) == (by == "hq_analyst")
    assert "template (CSV)" in message
    assert not ImportBatch.objects.exists() and not ImportRow.objects.exists()


def test_command_refuses_a_sheet_with_no_column_a_row_is_imported_from(users, stations, tmp_path):
    """The command reads through the same service: the same refusal, nothing kept, even in a dry run."""
    path = tmp_path / "odd.xlsx"
    path.write_bytes(as_xlsx(headers=["Agent", "Notes", "Shift"], rows=[["JB", "late", "night"]]))
    for dry in ([], ["--dry-run"]):
        with pytest.raises(CommandError, match="headers are 'Agent', 'Notes', 'Shift'") as refused:
            call_command("import_legacy", str(path), *dry)
        assert "(only 'Notes' (notes) is recognised)" in str(refused.value)
        assert "child's date of birth (child_dob)" in str(refused.value)
    assert not ImportBatch.objects.exists()


def test_batch_run_preview_then_import(users, stations):
    """The web flow's service calls: a dry run writes a preview only; the real run imports."""
    batch = batch_create(content=as_csv(), filename="a.csv", by=users["hq_analyst"])
    batch = batch_run(batch_id=batch.pk, by=users["hq_analyst"], dry_run=True)
    assert batch.status == ImportBatch.Status.PREVIEWED
    assert (
        batch.preview["imported"] == EXPECTED_IMPORTED
        and batch.preview["quarantined"] == EXPECTED_QUARANTINED
    )
    assert not Person.objects.exists()
    assert set(batch.rows.values_list("status", flat=True)) == {"pending"}
    batch = batch_run(batch_id=batch.pk, by=users["hq_analyst"])
    assert batch.status == ImportBatch.Status.DONE
    assert batch.rows_imported == EXPECTED_IMPORTED


def test_a_failed_run_keeps_finished_chunks_and_continues_when_confirmed_again(users, stations, monkeypatch):
    """A crash mid-import: the chunks committed stay imported; confirming again imports the rest once."""
    from legacy.services import batch_confirm, runs

    batch = batch_create(content=as_csv(), filename="a.csv", by=users["hq_analyst"])
    batch_run(batch_id=batch.pk, by=users["hq_analyst"], dry_run=True)
    monkeypatch.setattr(runs, "CHUNK_ROWS", 5)
    real_write, calls = runs._write_group, []

    def crash_on_the_fifth_group(plans, ctx):
        calls.append(1)
        if len(calls) == 5:
            raise RuntimeError("worker lost its database connection")
        return real_write(plans, ctx)

    monkeypatch.setattr(runs, "_write_group", crash_on_the_fifth_group)
    with pytest.raises(RuntimeError):
        batch_run(batch_id=batch.pk, by=users["hq_analyst"])
    batch.refresh_from_db()
    assert batch.status == ImportBatch.Status.FAILED and "lost its database connection" in batch.error
    done_before = batch.rows.exclude(status=ImportRow.Status.PENDING).count()
    assert 0 < done_before < len(ROWS)

    monkeypatch.setattr(runs, "_write_group", real_write)
    batch_confirm(batch_id=batch.pk, by=users["hq_analyst"])
    batch = batch_run(batch_id=batch.pk, by=users["hq_analyst"])
    assert (batch.rows_imported, batch.rows_quarantined) == (EXPECTED_IMPORTED, EXPECTED_QUARANTINED)
    assert Person.objects.filter(given_names="Ana Sofia").count() == 1
    assert Separation.objects.count() == 7


@pytest.mark.parametrize("fmt", ["csv", "xlsx"])
def test_row_numbers_are_the_sheets_own_after_a_blank_row(users, stations, fmt):
    """A blank row in the sheet is skipped, but the rows after it keep the number Excel shows:
    'row 5' in a quarantine message is row 5 of the file the user opens to fix it."""
    rows = [r for _, r in ROWS][:3]
    blank = [""] * len(HEADERS)
    content = FORMATS[fmt](HEADERS, [rows[0], blank, blank, rows[1], rows[2]])
    batch = batch_create(content=content, filename=f"gaps.{fmt}", by=users["hq_analyst"])
    numbered = list(batch.rows.order_by("row_number").values_list("row_number", "cells"))
    assert [n for n, _ in numbered] == [2, 5, 6]
