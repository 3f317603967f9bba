"""The blocking keys stored on each person (generated columns), so neither pass recomputes them.

Computing unaccent, regular expressions and Double Metaphone for a million persons took most of a
full pass's blocking time, and for every neighbour an incremental pass looked at. PostgreSQL keeps
these columns in step with the names itself (GENERATED ... STORED); Django does not map them.
The one index the incremental pass needs is on the stored sounds.
"""

from django.db import migrations

FORWARD = """
ALTER TABLE apprehensions_person
  ADD COLUMN IF NOT EXISTS linkage_g text GENERATED ALWAYS AS (linkage_gkey(given_names)) STORED,
  ADD COLUMN IF NOT EXISTS linkage_s1 text GENERATED ALWAYS AS (linkage_skey(first_surname)) STORED,
  ADD COLUMN IF NOT EXISTS linkage_s2 text GENERATED ALWAYS AS (linkage_skey(second_surname)) STORED;
DROP INDEX IF EXISTS linkage_person_g_s1;
DROP INDEX IF EXISTS linkage_person_g_s2;
CREATE INDEX IF NOT EXISTS linkage_person_g_s1_stored ON apprehensions_person (linkage_g, linkage_s1);
"""

REVERSE = """
DROP INDEX IF EXISTS linkage_person_g_s1_stored;
ALTER TABLE apprehensions_person DROP COLUMN IF EXISTS linkage_g, DROP COLUMN IF EXISTS linkage_s1,
  DROP COLUMN IF EXISTS linkage_s2;
CREATE INDEX IF NOT EXISTS linkage_person_g_s1 ON apprehensions_person
  (linkage_gkey(given_names), linkage_skey(first_surname));
CREATE INDEX IF NOT EXISTS linkage_person_g_s2 ON apprehensions_person
  (linkage_gkey(given_names), linkage_skey(second_surname));
"""


class Migration(migrations.Migration):
    dependencies = [("linkage", "0002_blocking_keys")]

    operations = [migrations.RunSQL(FORWARD, REVERSE)]
