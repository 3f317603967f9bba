"""Scale data for the as-of benchmark: ~50,000 separations with members, custody and history.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/familylink_separations_bench \
        .venv/bin/python bench/scenario_separations.py --persons 1000000 --separations 50000

Works on a migrated FamilyLink database. When the persons table holds fewer than `--persons`
rows (the shared 1M-person generator `bench/scenario.py` was not run), a minimal generator adds
persons apprehended in family units first (persons, apprehensions, encounters, family units and
memberships, each with its history row). Then it adds separations onto existing family units.

Everything is set-based SQL (INSERT ... SELECT) writing each table AND its history table, as the
services would (rule 2); history dates follow the story of each separation: entered (some late),
decided, corrected after the fact (occurred_at changed), ended. Deterministic for a given --seed.
Refuses to run against a database whose name does not contain "bench" unless --force.
"""

import argparse
import os
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "familylink.settings.base")

import django  # noqa: E402

django.setup()

from django.db import connection, transaction  # noqa: E402

BASE = ["id", "created_at", "updated_at", "version", "withdrawn_at", "withdrawn_reason", "created_by_id",
        "withdrawn_by_id"]  # fmt: skip

GIVEN = [
    "María José",
    "Ana",
    "José Luis",
    "Juan",
    "Carlos",
    "Rosa",
    "Lucía",
    "Miguel",
    "Sofía",
    "Luis",
    "Marta",
    "Jorge",
    "Elena",
    "Pedro",
    "Isabel",
    "Diego",
    "Gabriela",
    "Andrés",
    "Valeria",
    "Fernando",
    "Camila",
    "Ricardo",
    "Daniela",
    "Héctor",
    "Paola",
    "Óscar",
    "Brenda",
    "Wilmer",
    "Kevin",
]
SURNAMES = [
    "Pérez",
    "García",
    "López",
    "Hernández",
    "Martínez",
    "González",
    "Rodríguez",
    "Sánchez",
    "Ramírez",
    "Cruz",
    "Flores",
    "Gómez",
    "Morales",
    "Vásquez",
    "Reyes",
    "Jiménez",
    "Torres",
    "Díaz",
    "Castillo",
    "Mejía",
    "Ortiz",
    "Aguilar",
    "Chávez",
    "Ramos",
    "Mendoza",
    "Ruiz",
    "Álvarez",
    "Romero",
    "Núñez",
    "Orellana",
    "Xol",
    "Caal",
    "Tzul",
    "Ixcoy",
    "Coc",
    "Pop",
    "Choc",
    "Bol",
    "Yat",
    "Tut",
]


def log(message: str, started: float) -> None:
    print(f"[{time.perf_counter() - started:7.1f}s] {message}", flush=True)


def sql_array(values: list[str]) -> str:
    return "(ARRAY[" + ",".join("'" + v.replace("'", "''") + "'" for v in values) + "])"


def ensure_reference() -> tuple[int, int]:
    """Stations, reason codes (migrations) and two bench users; returns (agent id, supervisor id)."""
    from django.contrib.auth.models import Group

    from apprehensions.demo import ensure_stations
    from familylink.common.models import User
    from familylink.common.reference import ensure_all

    ensure_all()
    ensure_stations()
    ids = []
    for username, role in (("bench_agent", "field_agent"), ("bench_supervisor", "supervisor")):
        user = User.objects.filter(username=username).first()
        if user is None:
            user = User(username=username, station="EPT", first_name=username)
            user.set_unusable_password()
            user.save()
            user.groups.add(Group.objects.get(name=role))
        ids.append(user.pk)
    return ids[0], ids[1]


def generate_persons(cursor, target: int, seed: float, started: float) -> None:
    """Minimal stand-in for bench/scenario.py: families apprehended together, ~2.9 persons each."""
    cursor.execute("SELECT count(*) FROM apprehensions_person")
    have = cursor.fetchone()[0]
    if have >= target:
        log(f"persons: {have:,} already on file (>= {target:,}); none added", started)
        return
    families = int((target - have) / 2.9) + 1
    log(f"persons: {have:,} on file; adding ~{target - have:,} in {families:,} family units", started)
    cursor.execute("SELECT setseed(%s)", [seed])
    cursor.execute(
        """
        CREATE TEMP TABLE bench_fam AS
        SELECT gs AS n, gen_random_uuid() AS apprehension_id, gen_random_uuid() AS unit_id,
               (SELECT array_agg(id ORDER BY code) FROM apprehensions_station)[1 + floor(random() * 5)::int]
                 AS station_id,
               timestamptz '2017-10-01 00:00+00' + random() * interval '500 days' AS occurred_at,
               1 + (random() < 0.3)::int AS n_adults,
               (random() < 0.93)::int + floor(random() * 2.3)::int AS n_children
        FROM generate_series(1, %s) gs
        """,
        [families],
    )
    cursor.execute(
        f"""
        CREATE TEMP TABLE bench_person AS
        SELECT gen_random_uuid() AS id, f.n, f.apprehension_id, f.unit_id, f.station_id, f.occurred_at,
               x.role, x.k,
               {sql_array(GIVEN)}[1 + floor(random() * {len(GIVEN)})::int] AS given_names,
               {sql_array(SURNAMES)}[1 + floor(random() * {len(SURNAMES)})::int] AS first_surname,
               {sql_array(SURNAMES)}[1 + floor(random() * {len(SURNAMES)})::int] AS second_surname,
               CASE WHEN random() < 0.5 THEN 'F' ELSE 'M' END AS sex,
               CASE WHEN x.role = 'adult'
                    THEN (f.occurred_at - interval '18 years' - random() * interval '30 years')::date
                    ELSE (f.occurred_at - random() * interval '17 years')::date END AS date_of_birth
        FROM bench_fam f
        CROSS JOIN LATERAL (
            SELECT 'adult'::text AS role, k FROM generate_series(1, f.n_adults) k
            UNION ALL SELECT 'child', k FROM generate_series(1, f.n_children) k
        ) x
        """  # noqa: S608 - constant name lists, no user input
    )
    cursor.execute("SELECT coalesce(max(substr(a_number, 2)::bigint), 200000000) FROM apprehensions_person")
    a_base = cursor.fetchone()[0]
    log("persons: families and persons planned", started)
    cursor.execute(
        """
        INSERT INTO apprehensions_apprehension (id, created_at, updated_at, version, withdrawn_at,
            withdrawn_reason, occurred_at, location_description, apprehending_agent_id, created_by_id,
            withdrawn_by_id, station_id)
        SELECT apprehension_id, occurred_at + interval '1 hour', occurred_at + interval '1 hour', 1, NULL, '',
               occurred_at, 'bench scenario', NULL, NULL, NULL, station_id
        FROM bench_fam
        """
    )
    cursor.execute(
        """
        INSERT INTO apprehensions_historicalapprehension (id, created_at, updated_at, version, withdrawn_at,
            withdrawn_reason, occurred_at, location_description, apprehending_agent_id, created_by_id,
            withdrawn_by_id, station_id, history_date, history_change_reason, history_type, history_user_id)
        SELECT id, created_at, updated_at, version, withdrawn_at, withdrawn_reason, occurred_at,
               location_description, apprehending_agent_id, created_by_id, withdrawn_by_id, station_id,
               created_at, 'bench scenario', '+', NULL
        FROM apprehensions_apprehension a WHERE a.id IN (SELECT apprehension_id FROM bench_fam)
        """
    )
    log("persons: apprehensions written", started)
    person_cols = """id, created_at, updated_at, version, withdrawn_at, withdrawn_reason, given_names,
        first_surname, second_surname, aliases, sex, date_of_birth, dob_estimated, country_of_citizenship,
        language, a_number, is_minor, is_unaccompanied, first_encountered_at, created_by_id, withdrawn_by_id,
        first_station_id"""
    cursor.execute(
        f"""
        INSERT INTO apprehensions_person ({person_cols}, name_normalized)
        SELECT id, occurred_at + interval '1 hour', occurred_at + interval '1 hour', 1, NULL, '', given_names,
               first_surname, second_surname, '[]'::jsonb, sex, date_of_birth, false,
               (ARRAY['GT','HN','SV','MX'])[1 + floor(random() * 4)::int], 'es',
               CASE WHEN role = 'adult' OR random() < 0.5
                    THEN 'A' || lpad((%s + row_number() OVER (ORDER BY id))::text, 9, '0') END,
               role = 'child', false, occurred_at, NULL, NULL, station_id,
               lower(unaccent(given_names || ' ' || first_surname || ' ' || second_surname))
        FROM bench_person
        """,  # noqa: S608
        [a_base],
    )
    cursor.execute(
        f"""
        INSERT INTO apprehensions_historicalperson ({person_cols}, history_date, history_change_reason,
            history_type, history_user_id)
        SELECT {person_cols}, created_at, 'bench scenario', '+', NULL
        FROM apprehensions_person WHERE id IN (SELECT id FROM bench_person)
        """  # noqa: S608
    )
    log("persons: persons written", started)
    cursor.execute("ALTER TABLE bench_person ADD COLUMN ap_id uuid, ADD COLUMN fm_id uuid")
    cursor.execute("UPDATE bench_person SET ap_id = gen_random_uuid(), fm_id = gen_random_uuid()")
    stamp = "occurred_at + interval '1 hour'"
    for table, extra, source, values in (
        ("apprehensionperson", "match, match_note, apprehension_id, person_id", "bench_person",
         f"ap_id, {stamp}, {stamp}, 1, NULL, '', NULL, NULL, 'new', '', apprehension_id, id"),
        ("familyunit", "label, apprehension_id", "bench_fam",
         f"unit_id, {stamp}, {stamp}, 1, NULL, '', NULL, NULL, 'bench family ' || n, apprehension_id"),
        ("familymembership", "role, family_unit_id, person_id", "bench_person",
         f"fm_id, {stamp}, {stamp}, 1, NULL, '', NULL, NULL, role, unit_id, id"),
    ):  # fmt: skip
        cols = f"{', '.join(BASE)}, {extra}"
        cursor.execute(f"INSERT INTO apprehensions_{table} ({cols}) SELECT {values} FROM {source}")  # noqa: S608
        cursor.execute(
            f"""INSERT INTO apprehensions_historical{table} ({cols}, history_date, history_change_reason,
                    history_type, history_user_id)
                SELECT {values}, {stamp}, 'bench scenario', '+', NULL FROM {source}"""  # noqa: S608
        )
        log(f"persons: {table} written", started)
    cursor.execute("DROP TABLE bench_fam; DROP TABLE bench_person")


SEPARATION_COLS = """id, created_at, updated_at, version, withdrawn_at, withdrawn_reason, occurred_at,
    recorded_at, place, narrative, status, decided_at, decision_comment, ended_at, end_outcome, end_comment,
    created_by_id, decided_by_id, family_unit_id, reason_code_id, requested_by_id, station_id,
    withdrawn_by_id, ended_by_id"""


def generate_separations(
    cursor, count: int, seed: float, agent: int, supervisor: int, started: float
) -> None:
    cursor.execute("SELECT setseed(%s)", [seed])
    # One row per separation: the story's instants (entered, decided, corrected, ended).
    cursor.execute(
        """
        CREATE TEMP TABLE bench_sep AS
        WITH units AS (
            SELECT fu.id AS unit_id, a.occurred_at AS apprehended_at, a.station_id
            FROM apprehensions_familyunit fu
            JOIN apprehensions_apprehension a ON a.id = fu.apprehension_id
            WHERE EXISTS (SELECT 1 FROM apprehensions_familymembership m JOIN apprehensions_person p
                          ON p.id = m.person_id WHERE m.family_unit_id = fu.id AND p.is_minor)
              AND EXISTS (SELECT 1 FROM apprehensions_familymembership m JOIN apprehensions_person p
                          ON p.id = m.person_id WHERE m.family_unit_id = fu.id AND NOT p.is_minor)
              AND NOT EXISTS (SELECT 1 FROM separations_separation s WHERE s.family_unit_id = fu.id)
            ORDER BY random() LIMIT %(count)s
        ), drawn AS (
            SELECT u.*, gen_random_uuid() AS id, random() AS r_status, random() AS r_delay, random() AS r_fix,
                   random() AS r_reason,
                   u.apprehended_at + interval '1 hour' + random() * interval '30 hours' AS true_occurred
            FROM units u
        )
        SELECT d.id, d.unit_id, d.station_id, d.true_occurred AS occurred_at,
               CASE WHEN d.r_fix < 0.05 THEN d.true_occurred + (random() * 96 - 48) * interval '1 hour'
                    ELSE d.true_occurred END AS first_occurred,
               d.true_occurred + CASE
                   WHEN d.r_delay < 0.85 THEN random() * interval '6 hours'
                   WHEN d.r_delay < 0.95 THEN interval '1 day' + random() * interval '2 days'
                   ELSE interval '3 days' + random() * interval '7 days' END AS recorded_at,
               CASE WHEN d.r_status < 0.10 THEN 'requested' WHEN d.r_status < 0.15 THEN 'rejected'
                    WHEN d.r_status < 0.60 THEN 'in_effect' ELSE 'ended' END AS final_status,
               d.r_fix < 0.05 AS corrected,
               (SELECT array_agg(id ORDER BY code) FROM separations_reasoncode)[
                   CASE WHEN d.r_reason < 0.6 THEN 0 ELSE 1 + floor(random() * 10)::int END
               ] AS reason_code_id,
               random() AS r1, random() AS r2, random() AS r3
        FROM drawn d
        """,
        {"count": count},
    )
    cursor.execute(
        """
        UPDATE bench_sep SET reason_code_id = (SELECT id FROM separations_reasoncode
                                               WHERE code = 'ZERO_TOLERANCE_PROSECUTION')
        WHERE reason_code_id IS NULL
        """
    )
    cursor.execute(
        """
        ALTER TABLE bench_sep ADD COLUMN decided_at timestamptz, ADD COLUMN ended_at timestamptz,
            ADD COLUMN end_recorded_at timestamptz, ADD COLUMN corrected_at timestamptz;
        UPDATE bench_sep SET
            decided_at = CASE WHEN final_status <> 'requested'
                              THEN recorded_at + interval '30 minutes' + r1 * interval '24 hours' END,
            ended_at = CASE WHEN final_status = 'ended'
                            THEN occurred_at + interval '10 days' + r2 * interval '190 days' END,
            corrected_at = CASE WHEN corrected
                                THEN recorded_at + interval '2 days' + r3 * interval '18 days' END;
        UPDATE bench_sep SET
            ended_at = greatest(ended_at, decided_at + interval '1 hour'),
            end_recorded_at = greatest(ended_at, decided_at + interval '1 hour') + r3 * interval '48 hours'
        WHERE final_status = 'ended';
        """
    )
    log(f"separations: {count:,} planned", started)
    # Every event of each separation, and the state the record had right after it.
    cursor.execute(
        """
        CREATE TEMP TABLE bench_sep_event AS
        SELECT s.*, e.at, e.kind,
               CASE WHEN s.end_recorded_at <= e.at THEN 'ended'
                    WHEN s.decided_at <= e.at THEN CASE WHEN s.final_status = 'rejected' THEN 'rejected'
                                                        ELSE 'in_effect' END
                    ELSE 'requested' END AS st,
               CASE WHEN s.corrected_at <= e.at OR NOT s.corrected THEN s.occurred_at
                    ELSE s.first_occurred END AS occ,
               row_number() OVER (PARTITION BY s.id ORDER BY e.at) AS version
        FROM bench_sep s
        CROSS JOIN LATERAL (VALUES (s.recorded_at, 'requested'), (s.decided_at, 'decided'),
                                   (s.corrected_at, 'corrected'), (s.end_recorded_at, 'ended')) e(at, kind)
        WHERE e.at IS NOT NULL
        """
    )
    cursor.execute(
        f"""
        INSERT INTO separations_historicalseparation ({SEPARATION_COLS}, history_date, history_change_reason,
            history_type, history_user_id)
        SELECT id, recorded_at, at, version, NULL, '', occ, recorded_at, 'bench', 'bench scenario', st,
               CASE WHEN st <> 'requested' THEN decided_at END, '',
               CASE WHEN st = 'ended' THEN ended_at END,
               CASE WHEN st = 'ended' THEN 'reunified' ELSE '' END, '', %(agent)s,
               CASE WHEN st <> 'requested' THEN %(supervisor)s END, unit_id, reason_code_id, %(agent)s,
               station_id, NULL, CASE WHEN st = 'ended' THEN %(supervisor)s END,
               at, kind, CASE WHEN version = 1 THEN '+' ELSE '~' END,
               CASE WHEN kind IN ('decided', 'ended') THEN %(supervisor)s ELSE %(agent)s END
        FROM bench_sep_event
        """,  # noqa: S608
        {"agent": agent, "supervisor": supervisor},
    )
    cursor.execute(
        f"""
        INSERT INTO separations_separation ({SEPARATION_COLS})
        SELECT DISTINCT ON (h.id) {SEPARATION_COLS}
        FROM separations_historicalseparation h
        WHERE h.id IN (SELECT id FROM bench_sep)
        ORDER BY h.id, h.history_date DESC, h.history_id DESC
        """  # noqa: S608
    )
    log("separations: separations and their history written", started)
    member_cols = f"{', '.join(BASE)}, side, person_id, separation_id"
    cursor.execute(
        f"""
        INSERT INTO separations_separationmember ({member_cols})
        SELECT gen_random_uuid(), s.recorded_at, s.recorded_at, 1, NULL::timestamptz, '', %(agent)s,
               NULL::bigint, 'child', m.person_id, s.id
        FROM bench_sep s
        JOIN apprehensions_familymembership m ON m.family_unit_id = s.unit_id AND m.role = 'child'
        UNION ALL
        SELECT gen_random_uuid(), s.recorded_at, s.recorded_at, 1, NULL::timestamptz, '', %(agent)s,
               NULL::bigint, 'adult', a.person_id, s.id
        FROM bench_sep s
        CROSS JOIN LATERAL (SELECT m.person_id FROM apprehensions_familymembership m
                            WHERE m.family_unit_id = s.unit_id AND m.role = 'adult'
                            ORDER BY m.person_id LIMIT 1) a
        """,  # noqa: S608
        {"agent": agent},
    )
    cursor.execute(
        f"""
        INSERT INTO separations_historicalseparationmember ({member_cols}, history_date,
            history_change_reason, history_type, history_user_id)
        SELECT {member_cols}, created_at, 'bench scenario', '+', created_by_id
        FROM separations_separationmember WHERE separation_id IN (SELECT id FROM bench_sep)
        """  # noqa: S608
    )
    log("separations: members and their history written", started)
    # Custody: everyone on a separation starts with CBP at apprehension; children then go to HHS ORR,
    # adults to ICE (or the U.S. Marshals for criminal custody) about a day after the separation.
    custody_cols = f"{', '.join(BASE)}, agency, facility, started_at, ended_at, person_id, recorded_by_id"
    cursor.execute(
        """
        CREATE TEMP TABLE bench_move AS
        SELECT m.person_id, m.side, s.occurred_at - interval '20 hours' AS cbp_from,
               s.occurred_at + interval '4 hours' + s.r2 * interval '40 hours' AS moved_at,
               CASE WHEN m.side = 'child' THEN 'HHS_ORR' WHEN s.r1 < 0.3 THEN 'USMS' ELSE 'ICE' END AS agency,
               row_number() OVER (PARTITION BY m.person_id ORDER BY s.occurred_at) AS nth
        FROM separations_separationmember m JOIN bench_sep s ON s.id = m.separation_id
        WHERE NOT EXISTS (SELECT 1 FROM separations_custodyperiod c WHERE c.person_id = m.person_id)
        """
    )
    cursor.execute(
        f"""
        INSERT INTO separations_custodyperiod ({custody_cols})
        SELECT gen_random_uuid(), cbp_from, moved_at, 2, NULL::timestamptz, '', %(agent)s, NULL::bigint,
               'CBP', 'bench station', cbp_from, moved_at, person_id, %(agent)s
        FROM bench_move WHERE nth = 1
        UNION ALL
        SELECT gen_random_uuid(), moved_at, moved_at, 1, NULL::timestamptz, '', %(agent)s, NULL::bigint,
               agency, 'bench facility', moved_at, NULL::timestamptz, person_id, %(agent)s
        FROM bench_move WHERE nth = 1
        """,  # noqa: S608
        {"agent": agent},
    )
    cursor.execute(
        f"""
        INSERT INTO separations_historicalcustodyperiod ({custody_cols}, history_date, history_change_reason,
            history_type, history_user_id)
        SELECT id, created_at, created_at, 1, withdrawn_at, withdrawn_reason, created_by_id, withdrawn_by_id,
               agency, facility, started_at, NULL::timestamptz, person_id, recorded_by_id, created_at,
               'bench scenario', '+', created_by_id
        FROM separations_custodyperiod WHERE person_id IN (SELECT person_id FROM bench_move)
        UNION ALL
        SELECT {custody_cols}, ended_at, 'custody transfer', '~', created_by_id
        FROM separations_custodyperiod
        WHERE ended_at IS NOT NULL AND person_id IN (SELECT person_id FROM bench_move)
        """,  # noqa: S608
    )
    log("separations: custody periods and their history written", started)
    cursor.execute("DROP TABLE bench_sep_event; DROP TABLE bench_move; DROP TABLE bench_sep")


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--persons", type=int, default=1_000_000)
    parser.add_argument("--separations", type=int, default=50_000)
    parser.add_argument("--seed", type=float, default=0.42)
    parser.add_argument("--force", action="store_true", help="allow a database without 'bench' in its name")
    args = parser.parse_args()
    name = connection.settings_dict["NAME"]
    if "bench" not in name and not args.force:
        sys.exit(f"Refusing to write scale data into {name!r}; point DATABASE_URL at a *bench* database.")
    started = time.perf_counter()
    agent, supervisor = ensure_reference()
    with transaction.atomic(), connection.cursor() as cursor:
        generate_persons(cursor, args.persons, args.seed, started)
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM separations_separation")
        have = cursor.fetchone()[0]
        missing = args.separations - have
        if missing > 0:
            generate_separations(cursor, missing, args.seed / 2, agent, supervisor, started)
        else:
            log(f"separations: {have:,} already on file; none added", started)
    with connection.cursor() as cursor:
        # History tables are append-only: VACUUM sets their pages all-visible for index-only scans.
        cursor.execute("VACUUM ANALYZE")
        counts = {}
        for table in ("apprehensions_person", "separations_separation", "separations_separationmember",
                      "separations_historicalseparation", "separations_historicalseparationmember",
                      "separations_custodyperiod"):  # fmt: skip
            cursor.execute(f"SELECT count(*) FROM {table}")  # noqa: S608
            counts[table] = cursor.fetchone()[0]
    log("done: " + ", ".join(f"{t}={n:,}" for t, n in counts.items()), started)


if __name__ == "__main__":
    main()
