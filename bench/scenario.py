"""The synthetic scenario: apprehensions at the border stations in May–June 2018.

Shared by `manage.py seed_demo` (a few hundred persons) and the benchmarks (up to 1,000,000 persons).
Deterministic: encounter number k is always generated from the same seeded random stream, so a run
at a larger scale extends a smaller one, and re-running adds nothing (idempotent).

Mix (roughly the 2018 pattern): family units of 2–6 (one or two adults with children), single
adults, unaccompanied minors (alone, or siblings travelling together). Names are Central American:
given names (often double), two surnames, accents. A-numbers are unique by construction.

The bulk path writes each chunk of encounters with COPY into temporary staging tables, then one
INSERT … SELECT into each table and one into its history table (rule 2: every row has its history
row, with the change reason "seed_demo scenario"). A chunk is one transaction.
"""

from __future__ import annotations

import io
import json
import random
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

SEED = 20180505
CHANGE_REASON = "seed_demo scenario"
CHUNK_ENCOUNTERS = 10_000
BULK_INDEX_THRESHOLD = 200_000
DEMO_SCALE = 400
START = date(2018, 5, 1)
DAYS = 61  # 1 May – 30 June 2018

# code, weight, locations
STATIONS: list[tuple[str, int, list[str]]] = [
    (
        "EPT",
        30,
        ["Near the Paso del Norte bridge", "Bowie High School levee", "Anapra fence line", "Chamizal"],
    ),
    ("RGV", 25, ["Rio Grande City riverbank", "Roma bluffs", "La Grulla levee"]),
    ("MCA", 20, ["Anzalduas Park", "Hidalgo port of entry", "Granjeno levee", "Mission riverbank"]),
    ("SDC", 15, ["Otay Mesa fence", "Tijuana River valley", "Imperial Beach"]),
    ("YUM", 10, ["San Luis port of entry", "Andrade", "Colorado River levee"]),
]
STATION_TZ = {
    "EPT": "America/Denver",
    "MCA": "America/Chicago",
    "RGV": "America/Chicago",
    "SDC": "America/Los_Angeles",
    "YUM": "America/Phoenix",
}

FEMALE = [
    "María",
    "Ana",
    "Rosa",
    "Carmen",
    "Sofía",
    "Lucía",
    "Gabriela",
    "Andrea",
    "Daniela",
    "Fernanda",
    "Marisol",
    "Yesenia",
    "Karla",
    "Dulce",
    "Wendy",
    "Iris",
    "Ingrid",
    "Glenda",
    "Sonia",
    "Alejandra",
    "Guadalupe",
    "Milagro",
    "Esperanza",
    "Reina",
    "Marta",
    "Elena",
    "Blanca",
    "Dayana",
    "Yaritza",
    "Keila",
    "Heidy",
    "Nayeli",
    "Jazmín",
    "Belén",
    "Abigail",
    "Génesis",
    "Valeria",
    "Camila",
    "Ximena",
    "Rocío",
    "Lourdes",
    "Juana",
    "Paola",
    "Yolanda",
]
MALE = [
    "José",
    "Juan",
    "Carlos",
    "Luis",
    "Jorge",
    "Miguel",
    "Mario",
    "Marvin",
    "Kevin",
    "Óscar",
    "Edwin",
    "Wilmer",
    "Byron",
    "Elmer",
    "Selvin",
    "Nelson",
    "Héctor",
    "Ángel",
    "Cristian",
    "Josué",
    "Brayan",
    "Anderson",
    "Jefferson",
    "Fernando",
    "Francisco",
    "Julio",
    "Víctor",
    "Pedro",
    "Santos",
    "Erick",
    "Alexander",
    "Jonathan",
    "Denis",
    "Douglas",
    "Rigoberto",
    "Efraín",
    "Ramón",
    "Esteban",
    "Mateo",
    "Gerson",
    "Yordi",
    "Darwin",
    "Andrés",
]
SECOND_FEMALE = [
    "José",
    "Isabel",
    "Lucía",
    "Fernanda",
    "Guadalupe",
    "Elena",
    "Alejandra",
    "Beatriz",
    "Mercedes",
    "Concepción",
    "Belén",
]
SECOND_MALE = [
    "Antonio",
    "Luis",
    "Carlos",
    "Alberto",
    "José",
    "Manuel",
    "Ángel",
    "David",
    "Eduardo",
    "Josué",
    "Francisco",
    "Ramón",
]
SURNAMES = [
    "Pérez",
    "López",
    "García",
    "Hernández",
    "Martínez",
    "González",
    "Rodríguez",
    "Ramírez",
    "Flores",
    "Cruz",
    "Morales",
    "Reyes",
    "Castillo",
    "Gómez",
    "Méndez",
    "Ortiz",
    "Vásquez",
    "Chávez",
    "Jiménez",
    "Mejía",
    "Aguilar",
    "Sánchez",
    "Díaz",
    "Juárez",
    "Ramos",
    "Álvarez",
    "Cardona",
    "Orellana",
    "Alvarado",
    "Escobar",
    "Portillo",
    "Zelaya",
    "Barrios",
    "Cifuentes",
    "Núñez",
    "Muñoz",
    "Peña",
    "Solís",
    "Fuentes",
    "Argueta",
    "Villatoro",
    "Bonilla",
    "Paz",
    "Rivera",
    "Guzmán",
    "Lemus",
    "Montenegro",
    "Girón",
    "Velásquez",
    "Monterroso",
    "Recinos",
    "Maldonado",
]
MAYAN_SURNAMES = [
    "Xicará",
    "Tzoc",
    "Coc",
    "Caal",
    "Choc",
    "Pop",
    "Ajú",
    "Tzul",
    "Chiquín",
    "Xol",
    "Tuyuc",
    "Cumes",
    "Batz",
    "Ixcoy",
]
MAYAN_LANGUAGES = ["K'iche'", "Mam", "Q'eqchi'", "Kaqchikel"]
COUNTRIES = [("GT", 45), ("HN", 35), ("SV", 12), ("MX", 4), ("NI", 2), ("EC", 2)]


@dataclass
class GPerson:
    id: uuid.UUID
    given_names: str
    first_surname: str
    second_surname: str
    sex: str
    date_of_birth: date
    dob_estimated: bool
    country: str
    language: str
    a_number: str | None
    is_minor: bool
    is_unaccompanied: bool = False


@dataclass
class GRelationship:
    id: uuid.UUID
    from_index: int
    to_index: int
    type: str
    evidence: str
    document_kind: str = ""
    document_number: str = ""


@dataclass
class GEncounter:
    """One generated apprehension: persons, at most one family unit, relationships among them."""

    k: int
    id: uuid.UUID
    station: str
    occurred_at: datetime
    recorded_at: datetime
    location: str
    kind: str
    persons: list[GPerson] = field(default_factory=list)
    family_unit_id: uuid.UUID | None = None
    family_label: str = ""
    family_members: list[int] = field(default_factory=list)
    relationships: list[GRelationship] = field(default_factory=list)
    encounter_ids: list[uuid.UUID] = field(default_factory=list)
    membership_ids: list[uuid.UUID] = field(default_factory=list)


def _uuid(rng: random.Random) -> uuid.UUID:
    return uuid.UUID(int=rng.getrandbits(128), version=4)


def _weighted(rng: random.Random, items: list[tuple[Any, int]]) -> Any:
    return rng.choices([i for i, _ in items], weights=[w for _, w in items])[0]


def _a_number(k: int, j: int) -> str:
    # A bijection of 0..10^8-1 (multiplier coprime to 10), so numbers look scattered yet never repeat.
    serial = (k * 8 + j) % 100_000_000
    return f"A2{(serial * 48271 + 12345) % 100_000_000:08d}"


def _given(rng: random.Random, sex: str) -> str:
    first = rng.choice(FEMALE if sex == "F" else MALE)
    if rng.random() < 0.4:
        second = rng.choice(SECOND_FEMALE if sex == "F" else SECOND_MALE)
        if second != first:
            return f"{first} {second}"
    return first


def _surname(rng: random.Random, mayan: bool) -> str:
    return rng.choice(MAYAN_SURNAMES) if mayan and rng.random() < 0.5 else rng.choice(SURNAMES)


def _dob(rng: random.Random, on: date, age: int) -> date:
    return on - timedelta(days=age * 365 + rng.randint(0, 364))


def composition(rng: random.Random) -> tuple[str, int]:
    """The kind of encounter and its number of persons: the first draws of encounter k's stream."""
    roll = rng.random()
    if roll < 0.45:
        return "family", _weighted(rng, [(2, 40), (3, 30), (4, 17), (5, 9), (6, 4)])
    if roll < 0.85:
        return "single_adult", 1
    return "unaccompanied", 2 if rng.random() < 0.2 else 1


def _rng(seed: int, k: int) -> random.Random:
    return random.Random(seed * 1_000_003 + k)


def _composition(k: int, rng: random.Random) -> tuple[str, int]:
    kind, size = composition(rng)
    if k == 0:
        # The first encounter is always a family at El Paso, so the demo field agent sees one.
        return "family", 3
    return kind, size


def persons_in(k: int, seed: int = SEED) -> int:
    return _composition(k, _rng(seed, k))[1]


def generate(k: int, seed: int = SEED) -> GEncounter:
    """Encounter number k of the scenario (always the same for the same k and seed)."""
    rng = _rng(seed, k)
    kind, size = _composition(k, rng)
    station = "EPT" if k == 0 else _weighted(rng, [(code, w) for code, w, _ in STATIONS])
    locations = next(locs for code, _, locs in STATIONS if code == station)
    day = START + timedelta(days=rng.randrange(DAYS))
    hour = _weighted(rng, [(h, 3 if h < 6 or h >= 21 else 1) for h in range(24)])
    local = datetime(
        day.year, day.month, day.day, hour, rng.randrange(60), tzinfo=ZoneInfo(STATION_TZ[station])
    )
    occurred_at = local.astimezone(UTC)
    recorded_at = occurred_at + timedelta(minutes=rng.randint(20, 240))
    encounter = GEncounter(
        k=k,
        id=_uuid(rng),
        station=station,
        occurred_at=occurred_at,
        recorded_at=recorded_at,
        location=rng.choice(locations),
        kind=kind,
    )
    country = "GT" if k == 0 else _weighted(rng, COUNTRIES)
    mayan = country == "GT" and rng.random() < 0.3
    language = rng.choice(MAYAN_LANGUAGES) if mayan and rng.random() < 0.5 else "Spanish"

    def person(j: int, sex: str, age: int, first: str, second: str, *, a_number_odds: float) -> GPerson:
        return GPerson(
            id=_uuid(rng),
            given_names=_given(rng, sex),
            first_surname=first,
            second_surname=second,
            sex=sex,
            date_of_birth=_dob(rng, day, age),
            dob_estimated=rng.random() < 0.1,
            country=country,
            language=language,
            a_number=_a_number(k, j) if rng.random() < a_number_odds else None,
            is_minor=age < 18,
        )

    if kind == "single_adult":
        sex = "M" if rng.random() < 0.75 else "F"
        encounter.persons.append(
            person(0, sex, rng.randint(18, 55), _surname(rng, mayan), _surname(rng, mayan), a_number_odds=0.9)
        )
    elif kind == "unaccompanied":
        first, second = _surname(rng, mayan), _surname(rng, mayan)
        for j in range(size):
            sex = "M" if rng.random() < 0.65 else "F"
            encounter.persons.append(person(j, sex, rng.randint(6, 17), first, second, a_number_odds=0.6))
        for p in encounter.persons:
            p.is_unaccompanied = True
        if size == 2:
            encounter.family_unit_id = _uuid(rng)
            encounter.family_label = f"{first} siblings"
            encounter.family_members = [0, 1]
            encounter.relationships.append(GRelationship(_uuid(rng), 0, 1, "sibling", "claimed"))
    else:
        adults = 2 if size >= 3 and rng.random() < 0.3 else 1
        children = size - adults
        child_ages = sorted((rng.randint(0, 17) for _ in range(children)), reverse=True)
        parent_age = max(child_ages[0] + rng.randint(16, 24), rng.randint(19, 30))
        mother_first, mother_second = _surname(rng, mayan), _surname(rng, mayan)
        father_first = _surname(rng, mayan)
        lead_sex = "F" if k == 0 or rng.random() < 0.65 else "M"
        if lead_sex == "F":
            lead = person(0, "F", parent_age, mother_first, mother_second, a_number_odds=0.85)
        else:
            lead = person(0, "M", parent_age, father_first, _surname(rng, mayan), a_number_odds=0.85)
        encounter.persons.append(lead)
        second_role = None
        if adults == 2:
            second_role = _weighted(rng, [("parent", 75), ("grandparent", 10), ("other_relative", 15)])
            if second_role == "parent":
                other_sex = "M" if lead_sex == "F" else "F"
                other_first = father_first if other_sex == "M" else mother_first
                other = person(
                    1,
                    other_sex,
                    parent_age + rng.randint(-4, 6),
                    other_first,
                    _surname(rng, mayan),
                    a_number_odds=0.85,
                )
            elif second_role == "grandparent":
                other = person(
                    1,
                    "F",
                    parent_age + rng.randint(18, 26),
                    lead.second_surname,
                    _surname(rng, mayan),
                    a_number_odds=0.85,
                )
            else:
                other = person(
                    1,
                    rng.choice("MF"),
                    rng.randint(18, 45),
                    lead.first_surname,
                    _surname(rng, mayan),
                    a_number_odds=0.85,
                )
            encounter.persons.append(other)
        kid_first = father_first if lead_sex == "M" or rng.random() < 0.6 else mother_first
        kid_second = mother_first if lead_sex == "F" else _surname(rng, mayan)
        for n, age in enumerate(child_ages):
            sex = rng.choice("MF")
            encounter.persons.append(person(adults + n, sex, age, kid_first, kid_second, a_number_odds=0.6))
        encounter.family_unit_id = _uuid(rng)
        encounter.family_label = f"{lead.first_surname} {lead.second_surname} family"
        encounter.family_members = list(range(len(encounter.persons)))
        for c in range(adults, len(encounter.persons)):
            evidence = _weighted(rng, [("claimed", 78), ("documented", 20), ("disputed", 2)])
            doc = (
                ("birth certificate", f"{country}-{rng.randint(10**7, 10**8 - 1)}")
                if evidence == "documented"
                else ("", "")
            )
            encounter.relationships.append(GRelationship(_uuid(rng), 0, c, "parent", evidence, *doc))
            if second_role in ("parent", "grandparent"):
                encounter.relationships.append(GRelationship(_uuid(rng), 1, c, second_role, "claimed"))
            elif second_role == "other_relative":
                encounter.relationships.append(GRelationship(_uuid(rng), 1, c, "other_relative", "claimed"))
    encounter.encounter_ids = [_uuid(rng) for _ in encounter.persons]
    encounter.membership_ids = [_uuid(rng) for _ in encounter.family_members]
    return encounter


def encounters_for(scale: int, seed: int = SEED) -> int:
    """How many encounters hold `scale` persons (the last one may overshoot by a few)."""
    total = k = 0
    while total < scale:
        total += persons_in(k, seed)
        k += 1
    return k


def iter_encounters(start: int, stop: int, seed: int = SEED) -> Iterator[GEncounter]:
    for k in range(start, stop):
        yield generate(k, seed)


# --- bulk writing ---------------------------------------------------------------------------------


_ESCAPES = str.maketrans({"\\": "\\\\", "\t": "\\t", "\n": "\\n", "\r": "\\r"})


def _text(value: Any) -> str:
    text = str(value)
    return (
        text.translate(_ESCAPES) if ("\\" in text or "\t" in text or "\n" in text or "\r" in text) else text
    )


def _converter(field: Any) -> Callable[[Any], str]:
    """A fast value → COPY text converter for one model field (None is handled by the caller)."""
    from django.db import models

    if isinstance(field, models.BooleanField):
        return lambda v: "t" if v else "f"
    if isinstance(field, models.DateTimeField | models.DateField):
        return lambda v: v.isoformat()
    if isinstance(field, models.JSONField):
        return lambda v: _text(json.dumps(v, ensure_ascii=False))
    if isinstance(field, models.UUIDField | models.IntegerField | models.ForeignKey):
        return str
    return _text


class TableLoader:
    """How one tracked model's rows are written: COPY into a staging table, then one INSERT … SELECT
    into the table and one into its history table (the history row of each new row)."""

    def __init__(self, model: Any):
        self.model = model
        self.table = model._meta.db_table
        self.stage = f"stage_{self.table}"
        fields = model._meta.concrete_fields
        self.columns = [f.column for f in fields]
        spec = []
        for f in fields:
            default = f.get_default() if f.has_default() else None
            if f.column in ("created_by_id", "withdrawn_by_id", "withdrawn_at"):
                default = None
            if f.column == "version":
                default = 1
            if f.column == "withdrawn_reason":
                default = ""
            if isinstance(default, uuid.UUID | datetime):
                default = None  # per-row values (ids, timestamps) are always given
            spec.append((f.column, default, _converter(f)))
        self.spec = spec
        history_model = model.history.model
        self.history_table = history_model._meta.db_table
        history_only = (
            "history_id",
            "history_date",
            "history_change_reason",
            "history_type",
            "history_user_id",
        )
        self.history_columns = [
            f.column for f in history_model._meta.concrete_fields if f.column not in history_only
        ]

    def line(self, row: dict[str, Any]) -> str:
        parts = []
        for column, default, convert in self.spec:
            value = row.get(column, default)
            parts.append("\\N" if value is None else convert(value))
        return "\t".join(parts)

    def create_stage(self, cursor: Any) -> None:
        cursor.execute(f'CREATE TEMP TABLE IF NOT EXISTS "{self.stage}" (LIKE "{self.table}")')
        cursor.execute(f'TRUNCATE "{self.stage}"')

    def flush(self, cursor: Any, lines: list[str]) -> int:
        """Write the rows to the table and to its history table; return the row count."""
        if not lines:
            return 0
        columns = ", ".join(f'"{c}"' for c in self.columns)
        cursor.copy_expert(
            f'COPY "{self.stage}" ({columns}) FROM STDIN', io.StringIO("\n".join(lines) + "\n")
        )
        cursor.execute(f'INSERT INTO "{self.table}" ({columns}) SELECT {columns} FROM "{self.stage}"')
        history_columns = ", ".join(f'"{c}"' for c in self.history_columns)
        cursor.execute(
            f'INSERT INTO "{self.history_table}" ({history_columns}, history_date, history_change_reason, '
            f"history_type, history_user_id) "
            f'SELECT {history_columns}, "created_at", %s, %s, NULL FROM "{self.stage}"',
            [CHANGE_REASON, "+"],
        )
        cursor.execute(f'TRUNCATE "{self.stage}"')
        return len(lines)


@dataclass
class LoadReport:
    encounters_total: int = 0
    encounters_written: int = 0
    persons_written: int = 0
    rows_written: int = 0
    seconds: float = 0.0


def _models() -> list[Any]:
    from apprehensions.models import (
        Apprehension,
        ApprehensionPerson,
        FamilyMembership,
        FamilyUnit,
        Person,
        Relationship,
    )

    # Parents before children, so a reader of a committed chunk never sees a dangling reference.
    return [Apprehension, Person, ApprehensionPerson, FamilyUnit, FamilyMembership, Relationship]


def _prepare(
    encounters: list[GEncounter], loaders: dict[Any, TableLoader], stations: dict[str, Any]
) -> dict[Any, list[str]]:
    from familylink.common.text import fold

    rows: dict[Any, list[str]] = {model: [] for model in loaders}
    for e in encounters:
        for model, row in _encounter_rows(e, stations, fold):
            rows[model].append(loaders[model].line(row))
    return rows


def load(
    *,
    scale: int,
    seed: int = SEED,
    chunk: int = CHUNK_ENCOUNTERS,
    progress: Callable[[str], None] | None = None,
) -> LoadReport:
    """Write the scenario's first encounters up to `scale` persons; skip the ones already written.

    Generating and formatting the next chunk (Python) overlaps with writing the current one
    (PostgreSQL), on a second thread.
    """
    from concurrent.futures import ThreadPoolExecutor

    from django.db import connection, transaction

    from apprehensions.models import Person, Station

    started = time.monotonic()
    stations = {s.code: s.pk for s in Station.objects.filter(code__in=[c for c, _, _ in STATIONS])}
    missing = {c for c, _, _ in STATIONS} - set(stations)
    if missing:
        raise RuntimeError(f"Stations {sorted(missing)} are missing; seed the stations first.")
    total = encounters_for(scale, seed)
    report = LoadReport(encounters_total=total)
    loaders = {model: TableLoader(model) for model in _models()}

    def produce(start: int) -> tuple[list[GEncounter], dict[Any, list[str]]]:
        batch = list(iter_encounters(start, min(start + chunk, total), seed))
        return batch, _prepare(batch, loaders, stations)

    # Every run writes a prefix of the scenario, a chunk per transaction: when a chunk's last
    # encounter is on file, so is the whole chunk, and it need not even be generated.
    starts = []
    with connection.cursor() as cursor:
        for start in range(0, total, chunk):
            last = generate(min(start + chunk, total) - 1, seed)
            cursor.execute("SELECT 1 FROM apprehensions_apprehension WHERE id = %s", [last.id])
            if cursor.fetchone() is None:
                starts.append(start)
    tables = [t for model in loaders for t in (model._meta.db_table, model.history.model._meta.db_table)]
    restore_indexes(tables)
    to_write = sum(persons_in(k, seed) for start in starts for k in range(start, min(start + chunk, total)))
    existing = Person.objects.count()
    # A load much larger than what is on file is faster without the secondary indexes: they are
    # dropped, and rebuilt in one pass at the end (their definitions are kept in a file first, so
    # an interrupted load gets them back on the next run).
    dropped = drop_secondary_indexes(tables) if to_write >= max(BULK_INDEX_THRESHOLD, 2 * existing) else []
    if dropped and progress is not None:
        progress(f"  {len(dropped)} secondary indexes set aside for the load ({to_write:,} persons to write)")
    try:
        with ThreadPoolExecutor(max_workers=1) as pool:
            pending = pool.submit(produce, starts[0]) if starts else None
            for n, start in enumerate(starts):
                assert pending is not None
                batch, rows = pending.result()
                pending = pool.submit(produce, starts[n + 1]) if n + 1 < len(starts) else None
                with transaction.atomic(), connection.cursor() as cursor:
                    cursor.execute("SET LOCAL synchronous_commit = off")
                    cursor.execute(
                        "SELECT id::text FROM apprehensions_apprehension WHERE id = ANY(%s::uuid[])",
                        [[str(e.id) for e in batch]],
                    )
                    present = {row[0] for row in cursor.fetchall()}
                    todo = [e for e in batch if str(e.id) not in present]
                    if not todo:
                        continue
                    if len(todo) < len(batch):
                        rows = _prepare(todo, loaders, stations)
                    for loader in loaders.values():
                        loader.create_stage(cursor)
                    for model, loader in loaders.items():
                        report.rows_written += 2 * loader.flush(cursor, rows[model])
                    report.encounters_written += len(todo)
                    report.persons_written += sum(len(e.persons) for e in todo)
                if progress is not None:
                    progress(
                        f"  encounters {start + len(batch):,}/{total:,}  persons written "
                        f"{report.persons_written:,}  {time.monotonic() - started:,.0f} s"
                    )
    finally:
        if dropped:
            if progress is not None:
                progress(f"  rebuilding {len(dropped)} indexes  {time.monotonic() - started:,.0f} s")
            restore_indexes(tables)
    if report.rows_written and report.encounters_written > chunk:
        with connection.cursor() as cursor:
            for model in loaders:
                cursor.execute(f'ANALYZE "{model._meta.db_table}"')
                cursor.execute(f'ANALYZE "{model.history.model._meta.db_table}"')
    report.seconds = time.monotonic() - started
    return report


def _index_file() -> Any:
    from pathlib import Path

    from django.db import connection

    return (
        Path(__file__).resolve().parent.parent
        / "var"
        / f"scenario_indexes_{connection.settings_dict['NAME']}.sql"
    )


def drop_secondary_indexes(tables: list[str]) -> list[str]:
    """Drop the non-unique indexes of `tables` (kept: primary keys and unique constraints).

    Their CREATE statements are written to var/ first; `restore_indexes` recreates them.
    """
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(
            """
            SELECT i.relname, pg_get_indexdef(i.oid)
            FROM pg_index x
            JOIN pg_class i ON i.oid = x.indexrelid
            JOIN pg_class t ON t.oid = x.indrelid
            WHERE t.relname = ANY(%s) AND NOT x.indisunique AND NOT x.indisprimary
            ORDER BY t.relname, i.relname
            """,
            [tables],
        )
        indexes = cursor.fetchall()
        path = _index_file()
        path.parent.mkdir(exist_ok=True)
        path.write_text("".join(definition + ";\n" for _, definition in indexes))
        for name, _ in indexes:
            cursor.execute(f'DROP INDEX IF EXISTS "{name}"')
    return [name for name, _ in indexes]


def restore_indexes(tables: list[str]) -> None:
    """Recreate indexes set aside by `drop_secondary_indexes` (also after an interrupted load)."""
    from django.db import connection

    path = _index_file()
    if not path.exists():
        return
    with connection.cursor() as cursor:
        # Inside an enclosing transaction (tests), deferred foreign-key checks must run before CREATE INDEX.
        cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")
        cursor.execute("SET maintenance_work_mem = '256MB'")
        for statement in filter(None, (line.strip().rstrip(";") for line in path.read_text().splitlines())):
            cursor.execute(statement.replace("CREATE INDEX ", "CREATE INDEX IF NOT EXISTS ", 1))
        cursor.execute("RESET maintenance_work_mem")
    path.unlink()


def _encounter_rows(
    e: GEncounter, stations: dict[str, Any], fold: Any
) -> Iterator[tuple[Any, dict[str, Any]]]:
    """Each row of one encounter, as (model, {column: value})."""
    from apprehensions.models import (
        Apprehension,
        ApprehensionPerson,
        FamilyMembership,
        FamilyUnit,
        Person,
        Relationship,
    )

    at = e.recorded_at
    base = {"created_at": at, "updated_at": at}
    yield (
        Apprehension,
        (
            {
                **base,
                "id": e.id,
                "occurred_at": e.occurred_at,
                "station_id": stations[e.station],
                "location_description": e.location,
                "apprehending_agent_id": None,
            }
        ),
    )
    for p, encounter_id in zip(e.persons, e.encounter_ids, strict=True):
        full = " ".join(x for x in (p.given_names, p.first_surname, p.second_surname) if x)
        yield (
            Person,
            (
                {
                    **base,
                    "id": p.id,
                    "given_names": p.given_names,
                    "first_surname": p.first_surname,
                    "second_surname": p.second_surname,
                    "aliases": [],
                    "sex": p.sex,
                    "date_of_birth": p.date_of_birth,
                    "dob_estimated": p.dob_estimated,
                    "country_of_citizenship": p.country,
                    "language": p.language,
                    "a_number": p.a_number,
                    "name_normalized": fold(full),
                    "is_minor": p.is_minor,
                    "is_unaccompanied": p.is_unaccompanied,
                    "first_encountered_at": e.occurred_at,
                    "first_station_id": stations[e.station],
                }
            ),
        )
        yield (
            ApprehensionPerson,
            (
                {
                    **base,
                    "id": encounter_id,
                    "apprehension_id": e.id,
                    "person_id": p.id,
                    "match": "new",
                    "match_note": "",
                }
            ),
        )
    if e.family_unit_id is not None:
        yield FamilyUnit, ({**base, "id": e.family_unit_id, "apprehension_id": e.id, "label": e.family_label})
        for index, membership_id in zip(e.family_members, e.membership_ids, strict=True):
            person = e.persons[index]
            yield (
                FamilyMembership,
                (
                    {
                        **base,
                        "id": membership_id,
                        "family_unit_id": e.family_unit_id,
                        "person_id": person.id,
                        "role": "child" if person.is_minor else "adult",
                    }
                ),
            )
    for r in e.relationships:
        yield (
            Relationship,
            (
                {
                    **base,
                    "id": r.id,
                    "from_person_id": e.persons[r.from_index].id,
                    "to_person_id": e.persons[r.to_index].id,
                    "type": r.type,
                    "evidence": r.evidence,
                    "source": "intake",
                    "note": "",
                    "document_kind": r.document_kind,
                    "document_number": r.document_number,
                    "apprehension_id": e.id,
                }
            ),
        )
