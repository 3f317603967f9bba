"""Person search: a token index on the folded name, an equality index on it, and the vocabulary of
name words (with their double-metaphone keys) that typo-tolerant search expands query words against.

The vocabulary is kept by statement-level triggers on the person table, so every write path (the
intake form, the API, the bulk scenario loader, SQL) keeps it whole; words are only ever added.
"""

from django.db import migrations

from familylink.common.no_delete import FUNCTION_SQL, TRIGGER_NAME

VOCABULARY = "apprehensions_name_token"

FORWARD = [
    FUNCTION_SQL,
    f"""
    CREATE TABLE IF NOT EXISTS {VOCABULARY} (
        token text PRIMARY KEY,
        dmeta text NOT NULL,
        dmeta_alt text NOT NULL
    )
    """,
    f"""
    CREATE OR REPLACE FUNCTION apprehensions_name_token_add() RETURNS trigger
    LANGUAGE plpgsql AS $$
    BEGIN
        INSERT INTO {VOCABULARY} (token, dmeta, dmeta_alt)
        SELECT w, dmetaphone(w), dmetaphone_alt(w)
        FROM (SELECT DISTINCT unnest(string_to_array(name_normalized, ' ')) AS w FROM new_rows) words
        WHERE w <> '' AND NOT EXISTS (SELECT 1 FROM {VOCABULARY} v WHERE v.token = words.w)
        ORDER BY w
        ON CONFLICT (token) DO NOTHING;
        RETURN NULL;
    END;
    $$
    """,
    "CREATE OR REPLACE TRIGGER apprehensions_name_token_on_insert AFTER INSERT ON apprehensions_person "
    "REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION apprehensions_name_token_add()",
    "CREATE OR REPLACE TRIGGER apprehensions_name_token_on_update AFTER UPDATE ON apprehensions_person "
    "REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION apprehensions_name_token_add()",
    f"""
    INSERT INTO {VOCABULARY} (token, dmeta, dmeta_alt)
    SELECT w, dmetaphone(w), dmetaphone_alt(w)
    FROM (SELECT DISTINCT unnest(string_to_array(name_normalized, ' ')) AS w FROM apprehensions_person) words
    WHERE w <> ''
    ON CONFLICT (token) DO NOTHING
    """,
    f'CREATE OR REPLACE TRIGGER {TRIGGER_NAME} BEFORE DELETE OR TRUNCATE ON "{VOCABULARY}" '
    "FOR EACH STATEMENT EXECUTE FUNCTION familylink_refuse_delete()",
    "CREATE INDEX IF NOT EXISTS person_name_tokens ON apprehensions_person "
    "USING gin (string_to_array(name_normalized, ' '))",
    "CREATE INDEX IF NOT EXISTS person_name_exact ON apprehensions_person (name_normalized)",
]

BACKWARD = [
    "DROP INDEX IF EXISTS person_name_exact",
    "DROP INDEX IF EXISTS person_name_tokens",
    "DROP TRIGGER IF EXISTS apprehensions_name_token_on_update ON apprehensions_person",
    "DROP TRIGGER IF EXISTS apprehensions_name_token_on_insert ON apprehensions_person",
    "DROP FUNCTION IF EXISTS apprehensions_name_token_add()",
    f"DROP TABLE IF EXISTS {VOCABULARY}",
]


class Migration(migrations.Migration):
    dependencies = [("apprehensions", "0005_change_reason_text")]

    operations = [migrations.RunSQL(FORWARD, BACKWARD)]
