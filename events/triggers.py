"""The outbox writers: PostgreSQL triggers that record each event in the transaction of its change.

Why triggers rather than Python signals: some writes never pass through `Model.save()` — the
worklist claim moves cases to `in_progress` in one set-based statement, intake inserts rows in
bulk — and a signal would miss them. A trigger sees every write path, present and future, and
runs inside the writing transaction, so an event exists exactly when its change commits.

Each trigger is a deferred constraint trigger: it is queued when the row changes (with the row
as it was then) and runs just before COMMIT, in the order of the changes, when the whole
transaction's rows exist (a separation's members, a case's adults). `SET CONSTRAINTS ALL
IMMEDIATE` runs the queued ones at once (tests use it to look inside an open transaction).

The functions and triggers are (re)installed after every `migrate` (idempotent), like the
no-delete triggers of familylink/common/no_delete.py.
"""

from typing import Any

from django.db import connections, transaction

from audit.chain import BATCH_SETTING

SEQUENCE_SQL = "CREATE SEQUENCE IF NOT EXISTS events_event_position_seq AS bigint"

# The triggers' look-ups (a separation's members, a case's adults, a person's previous custody) are
# point look-ups by an indexed key. PL/pgSQL plans each once per session and keeps the plan; planned
# while a table was small (a fresh database, or statistics not refreshed since: the app role cannot
# ANALYZE), that plan is a sequential scan, kept while an import grows the table by tens of
# thousands of rows: 0.3-0.7 ms per event by the end of a 10,000-row sheet, 10 s of its commits.
# Without sequential scans (`SET enable_seqscan = off` on those functions) the plan is the index
# look-up, whatever the statistics say.

# An event's history row is one row a statement: in a transaction that batches its audit links
# (audit.chain.batch_links) it is still linked by the row trigger, whose cost per row is lower than
# the batch path's fixed cost per statement (the setting is put back at once).
EMIT_SQL = f"""
CREATE OR REPLACE FUNCTION familylink_event_emit(
    p_type text, p_occurred_at timestamptz, p_resource_type text, p_resource_id uuid,
    p_changes jsonb, p_person_ids uuid[]
) RETURNS void LANGUAGE plpgsql AS $$
DECLARE
    v_id uuid := gen_random_uuid();
    v_position bigint := nextval('events_event_position_seq');
    v_xid bigint := pg_current_xact_id()::text::bigint;
    v_now timestamptz := clock_timestamp();
    v_persons uuid[] := ARRAY(
        SELECT DISTINCT x FROM unnest(coalesce(p_person_ids, '{{}}'::uuid[])) AS x
         WHERE x IS NOT NULL ORDER BY x
    );
    v_batch boolean := current_setting('{BATCH_SETTING}', true) = 'on';
BEGIN
    INSERT INTO events_event (id, position, xid, type, occurred_at, recorded_at, resource_type,
                              resource_id, changes, person_ids)
    VALUES (v_id, v_position, v_xid, p_type, coalesce(p_occurred_at, v_now), v_now, p_resource_type,
            p_resource_id, coalesce(p_changes, '{{}}'::jsonb), v_persons);
    IF v_batch THEN
        PERFORM set_config('{BATCH_SETTING}', 'off', true);
    END IF;
    INSERT INTO events_historicalevent (id, position, xid, type, occurred_at, recorded_at, resource_type,
                                        resource_id, changes, person_ids, history_date,
                                        history_change_reason, history_type, history_user_id)
    VALUES (v_id, v_position, v_xid, p_type, coalesce(p_occurred_at, v_now), v_now, p_resource_type,
            p_resource_id, coalesce(p_changes, '{{}}'::jsonb), v_persons, v_now,
            'recorded with the change it describes', '+', NULL);
    IF v_batch THEN
        PERFORM set_config('{BATCH_SETTING}', 'on', true);
    END IF;
END;
$$;
"""  # noqa: S608 - constants only

IMMUTABLE_SQL = """
CREATE OR REPLACE FUNCTION familylink_event_immutable() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION USING
        ERRCODE = 'restrict_violation',
        MESSAGE = 'FamilyLink events are a record of what happened: they are never changed.',
        HINT = 'A correction is a new change of the record itself, which writes its own event.';
END;
$$;
"""

CUSTODY_SQL = """
CREATE OR REPLACE FUNCTION familylink_event_custody() RETURNS trigger LANGUAGE plpgsql
SET enable_seqscan = off AS $$
DECLARE
    prev record;
BEGIN
    SELECT agency, facility, started_at INTO prev
      FROM separations_custodyperiod
     WHERE person_id = NEW.person_id AND id <> NEW.id AND withdrawn_at IS NULL
       AND started_at <= NEW.started_at
     ORDER BY started_at DESC, created_at DESC
     LIMIT 1;
    PERFORM familylink_event_emit(
        'custody.transferred', NEW.started_at, 'person', NEW.person_id,
        jsonb_build_object(
            'agency', jsonb_build_array(prev.agency, NEW.agency),
            'facility', jsonb_build_array(prev.facility, NEW.facility),
            'started_at', jsonb_build_array(prev.started_at, NEW.started_at)),
        ARRAY[NEW.person_id]);
    RETURN NULL;
END;
$$;
"""

SEPARATION_SQL = """
CREATE OR REPLACE FUNCTION familylink_event_separation() RETURNS trigger LANGUAGE plpgsql
SET enable_seqscan = off AS $$
DECLARE
    v_children uuid[];
    v_adults uuid[];
    v_changes jsonb;
    v_when timestamptz;
BEGIN
    SELECT coalesce(array_agg(person_id ORDER BY person_id) FILTER (WHERE side = 'child'), '{}'),
           coalesce(array_agg(person_id ORDER BY person_id) FILTER (WHERE side = 'adult'), '{}')
      INTO v_children, v_adults
      FROM separations_separationmember
     WHERE separation_id = NEW.id AND withdrawn_at IS NULL;
    IF TG_OP = 'INSERT' THEN
        v_changes := jsonb_build_object(
            'status', jsonb_build_array(NULL, NEW.status),
            'occurred_at', jsonb_build_array(NULL, NEW.occurred_at),
            'reason_code', jsonb_build_array(
                NULL, (SELECT code FROM separations_reasoncode WHERE id = NEW.reason_code_id)),
            'station', jsonb_build_array(
                NULL, (SELECT code FROM apprehensions_station WHERE id = NEW.station_id)),
            'children', jsonb_build_array(NULL, to_jsonb(v_children)),
            'adults', jsonb_build_array(NULL, to_jsonb(v_adults)));
    ELSE
        v_changes := jsonb_build_object('status', jsonb_build_array(OLD.status, NEW.status));
        IF NEW.status = 'ended' THEN
            v_changes := v_changes || jsonb_build_object(
                'ended_at', jsonb_build_array(OLD.ended_at, NEW.ended_at),
                'end_outcome', jsonb_build_array(nullif(OLD.end_outcome, ''), nullif(NEW.end_outcome, '')));
        END IF;
    END IF;
    v_when := CASE NEW.status
        WHEN 'requested' THEN NEW.recorded_at
        WHEN 'ended' THEN NEW.ended_at
        ELSE NEW.decided_at END;
    PERFORM familylink_event_emit(
        'separation.' || NEW.status, coalesce(v_when, NEW.updated_at), 'separation', NEW.id, v_changes,
        v_children || v_adults);
    RETURN NULL;
END;
$$;
"""

CHILD_ENDED_SQL = """
CREATE OR REPLACE FUNCTION familylink_event_child_ended() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM familylink_event_emit(
        'separation.child_ended', NEW.ended_at, 'separation', NEW.separation_id,
        jsonb_build_object(
            'child', jsonb_build_array(NULL, NEW.person_id),
            'ended_at', jsonb_build_array(NULL, NEW.ended_at),
            'end_outcome', jsonb_build_array(NULL, nullif(NEW.end_outcome, ''))),
        ARRAY[NEW.person_id]);
    RETURN NULL;
END;
$$;
"""

CASE_SQL = """
CREATE OR REPLACE FUNCTION familylink_event_case() RETURNS trigger LANGUAGE plpgsql
SET enable_seqscan = off AS $$
DECLARE
    v_persons uuid[];
BEGIN
    v_persons := ARRAY[NEW.child_id] || ARRAY(
        SELECT person_id FROM reunification_caseadult WHERE case_id = NEW.id AND withdrawn_at IS NULL);
    IF TG_OP = 'INSERT' THEN
        PERFORM familylink_event_emit(
            'case.opened', NEW.created_at, 'reunification_case', NEW.id,
            jsonb_build_object(
                'status', jsonb_build_array(NULL, NEW.status),
                'child', jsonb_build_array(NULL, NEW.child_id),
                'separation', jsonb_build_array(NULL, NEW.separation_id),
                'team', jsonb_build_array(NULL, NEW.team),
                'reunify_due_at', jsonb_build_array(NULL, NEW.reunify_due_at)),
            v_persons);
    ELSIF NEW.status IN ('reunified', 'closed') THEN
        PERFORM familylink_event_emit(
            'case.closed', coalesce(NEW.closed_at, NEW.updated_at), 'reunification_case', NEW.id,
            jsonb_build_object(
                'status', jsonb_build_array(OLD.status, NEW.status),
                'outcome', jsonb_build_array(nullif(OLD.outcome, ''), nullif(NEW.outcome, ''))),
            v_persons);
    ELSE
        PERFORM familylink_event_emit(
            'case.status_changed', NEW.updated_at, 'reunification_case', NEW.id,
            jsonb_build_object('status', jsonb_build_array(OLD.status, NEW.status)),
            v_persons);
    END IF;
    RETURN NULL;
END;
$$;
"""

A_NUMBER_SQL = """
CREATE OR REPLACE FUNCTION familylink_event_a_number() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM familylink_event_emit(
        'person.identifiers_changed', NEW.updated_at, 'person', NEW.id,
        jsonb_build_object('a_number', jsonb_build_array(OLD.a_number, NEW.a_number)),
        ARRAY[NEW.id]);
    RETURN NULL;
END;
$$;
"""

# An identifier recorded with a brand-new person (intake) is part of the person's creation, not
# a change of a known person's identifiers: a person whose "created" history row is dated within
# this transaction (history_date >= now(), the transaction's start) is skipped.
IDENTIFIER_SQL = """
CREATE OR REPLACE FUNCTION familylink_event_identifier() RETURNS trigger LANGUAGE plpgsql
SET enable_seqscan = off AS $$
DECLARE
    v_changes jsonb := '{}'::jsonb;
    v_old text;
    v_new text := CASE WHEN NEW.withdrawn_at IS NULL THEN NEW.value END;
BEGIN
    IF TG_OP = 'INSERT' THEN
        IF EXISTS (SELECT 1 FROM apprehensions_historicalperson h
                    WHERE h.id = NEW.person_id AND h.history_type = '+' AND h.history_date >= now()) THEN
            RETURN NULL;
        END IF;
        v_changes := jsonb_build_object('identifiers.' || NEW.kind, jsonb_build_array(NULL, v_new));
    ELSE
        v_old := CASE WHEN OLD.withdrawn_at IS NULL THEN OLD.value END;
        IF OLD.kind <> NEW.kind THEN
            v_changes := jsonb_build_object(
                'identifiers.' || OLD.kind, jsonb_build_array(v_old, NULL),
                'identifiers.' || NEW.kind, jsonb_build_array(NULL, v_new));
        ELSE
            v_changes := jsonb_build_object('identifiers.' || NEW.kind, jsonb_build_array(v_old, v_new));
        END IF;
    END IF;
    PERFORM familylink_event_emit(
        'person.identifiers_changed', NEW.updated_at, 'person', NEW.person_id, v_changes,
        ARRAY[NEW.person_id]);
    RETURN NULL;
END;
$$;
"""

# A duplicate merged (apprehensions.linkage): a partner holding the merged record's id learns that its
# apprehensions, custody, separations and cases are now on the survivor's; and, when the merge is
# undone, that they are back. Both persons, so a reader of either sees it.
MERGE_SQL = """
CREATE OR REPLACE FUNCTION familylink_event_merge() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'INSERT' THEN
        PERFORM familylink_event_emit(
            'person.merged', NEW.created_at, 'person', NEW.merged_id,
            jsonb_build_object('merged_into', jsonb_build_array(NULL, NEW.survivor_id::text)),
            ARRAY[NEW.merged_id, NEW.survivor_id]);
    ELSE
        PERFORM familylink_event_emit(
            'person.unmerged', NEW.undone_at, 'person', NEW.merged_id,
            jsonb_build_object('merged_into', jsonb_build_array(NEW.survivor_id::text, NULL)),
            ARRAY[NEW.merged_id, NEW.survivor_id]);
    END IF;
    RETURN NULL;
END;
$$;
"""

# (trigger name, table, events, WHEN condition, function)
TRIGGERS: list[tuple[str, str, str, str, str]] = [
    (
        "fl_event_custody",
        "separations_custodyperiod",
        "INSERT",
        "NEW.withdrawn_at IS NULL",
        "familylink_event_custody",
    ),
    (
        "fl_event_separation_new",
        "separations_separation",
        "INSERT",
        "NEW.withdrawn_at IS NULL",
        "familylink_event_separation",
    ),
    (
        "fl_event_separation_status",
        "separations_separation",
        "UPDATE",
        "OLD.status IS DISTINCT FROM NEW.status",
        "familylink_event_separation",
    ),
    (
        "fl_event_child_ended",
        "separations_separationmember",
        "UPDATE",
        "NEW.side = 'child' AND OLD.ended_at IS NULL AND NEW.ended_at IS NOT NULL",
        "familylink_event_child_ended",
    ),
    ("fl_event_case_new", "reunification_reunificationcase", "INSERT", "true", "familylink_event_case"),
    (
        "fl_event_case_status",
        "reunification_reunificationcase",
        "UPDATE",
        "OLD.status IS DISTINCT FROM NEW.status",
        "familylink_event_case",
    ),
    (
        "fl_event_a_number",
        "apprehensions_person",
        "UPDATE",
        "OLD.a_number IS DISTINCT FROM NEW.a_number",
        "familylink_event_a_number",
    ),
    (
        "fl_event_identifier_new",
        "apprehensions_personidentifier",
        "INSERT",
        "NEW.withdrawn_at IS NULL",
        "familylink_event_identifier",
    ),
    (
        "fl_event_identifier_change",
        "apprehensions_personidentifier",
        "UPDATE",
        "(OLD.kind, OLD.value, OLD.withdrawn_at IS NULL) "
        "IS DISTINCT FROM (NEW.kind, NEW.value, NEW.withdrawn_at IS NULL)",
        "familylink_event_identifier",
    ),
    ("fl_event_merge", "linkage_personmerge", "INSERT", "NEW.undone_at IS NULL", "familylink_event_merge"),
    (
        "fl_event_unmerge",
        "linkage_personmerge",
        "UPDATE",
        "OLD.undone_at IS NULL AND NEW.undone_at IS NOT NULL",
        "familylink_event_merge",
    ),
]

FUNCTIONS = [
    EMIT_SQL,
    IMMUTABLE_SQL,
    CUSTODY_SQL,
    SEPARATION_SQL,
    CHILD_ENDED_SQL,
    CASE_SQL,
    A_NUMBER_SQL,
    IDENTIFIER_SQL,
    MERGE_SQL,
]


def install(using: str = "default") -> list[str]:
    """Create the sequence, the functions and every event trigger (idempotent); returns trigger names.

    One transaction: a write committed between a DROP TRIGGER and its CREATE would have no event.
    """
    with transaction.atomic(using=using), connections[using].cursor() as cursor:
        cursor.execute(SEQUENCE_SQL)
        for sql in FUNCTIONS:
            cursor.execute(sql)
        cursor.execute(
            "CREATE OR REPLACE TRIGGER fl_event_immutable BEFORE UPDATE ON events_event "
            "FOR EACH STATEMENT EXECUTE FUNCTION familylink_event_immutable()"
        )
        for name, table, event, when, function in TRIGGERS:
            # Constraint triggers have no CREATE OR REPLACE; dropping a trigger deletes no data.
            cursor.execute(f'DROP TRIGGER IF EXISTS {name} ON "{table}"')
            cursor.execute(
                f'CREATE CONSTRAINT TRIGGER {name} AFTER {event} ON "{table}" '
                f"DEFERRABLE INITIALLY DEFERRED FOR EACH ROW WHEN ({when}) EXECUTE FUNCTION {function}()"
            )
    return [name for name, *_ in TRIGGERS]


def install_after_migrate(sender: Any, using: str = "default", **kwargs: Any) -> None:
    install(using)
