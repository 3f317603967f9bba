from django.db import migrations

# The full pass plans its joins over every person from the tables' statistics. Without them (a
# table never analyzed, or written in bulk since: a large import, a fresh database) the planner
# took 20,000 persons for ten and walked the relationship pairs in nested loops: 280 s instead of
# 0.4 s (docs/benchmarks.md). Autovacuum analyzes such tables in time, when it runs; this function
# lets the pass do it first where autovacuum has not (same rule: 50 + 10 % of the rows changed
# since the last ANALYZE, or never analyzed). The app role does not own the tables, and PostgreSQL
# skips an ANALYZE by a non-owner with a mere warning: SECURITY DEFINER runs it as the owner, with
# a fixed search_path, on these tables only; it returns the tables it analyzed.
FORWARD = """
CREATE OR REPLACE FUNCTION linkage_analyze_stale() RETURNS text[]
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = public, pg_temp
AS $$
DECLARE
    t text;
    analyzed text[] := '{}';
BEGIN
    FOREACH t IN ARRAY ARRAY['apprehensions_person', 'apprehensions_apprehensionperson',
                             'apprehensions_apprehension', 'apprehensions_familymembership',
                             'apprehensions_relationship', 'linkage_personmerge'] LOOP
        IF EXISTS (
            SELECT 1 FROM pg_class c LEFT JOIN pg_stat_user_tables s ON s.relid = c.oid
            WHERE c.oid = t::regclass
              AND (c.reltuples < 0 OR s.last_analyze IS NULL AND s.last_autoanalyze IS NULL
                   OR s.n_mod_since_analyze > 50 + 0.1 * c.reltuples)
        ) THEN
            EXECUTE format('ANALYZE %I', t);
            analyzed := analyzed || t;
        END IF;
    END LOOP;
    RETURN analyzed;
END;
$$;
"""

REVERSE = "DROP FUNCTION IF EXISTS linkage_analyze_stale();"


class Migration(migrations.Migration):
    dependencies = [("linkage", "0003_person_blocking_columns")]

    operations = [migrations.RunSQL(FORWARD, REVERSE)]
