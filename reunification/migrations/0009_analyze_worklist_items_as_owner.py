from django.db import migrations

# The morning build ends with ANALYZE of the new items so the first claims reach them through the
# partial index (with stale statistics the planner took a 100,000-item list for empty and sorted it
# on every claim). But the app connects as familylink_app, which does not own the table, and
# PostgreSQL 15 skips ANALYZE of a table one does not own with only a WARNING: the build's ANALYZE
# never ran outside benchmarks connected as a superuser. This function runs it as the owner
# (SECURITY DEFINER, fixed search_path); it only analyzes, so the app gains no other right.
ANALYZE_SQL = """
CREATE OR REPLACE FUNCTION reunification_analyze_worklist_items() RETURNS void
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = public, pg_temp
AS $$
BEGIN
    ANALYZE reunification_worklistitem (worklist_id);
END;
$$;
"""

DROP_SQL = "DROP FUNCTION IF EXISTS reunification_analyze_worklist_items();"


class Migration(migrations.Migration):
    dependencies = [
        ("reunification", "0008_team"),
    ]

    operations = [migrations.RunSQL(ANALYZE_SQL, DROP_SQL)]
