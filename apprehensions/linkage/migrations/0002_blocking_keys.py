"""Blocking keys for link discovery as immutable SQL functions, with expression indexes on persons.

linkage_fold: lower case, accents removed (unaccent with its dictionary named, so immutable),
punctuation to spaces, surname particles (de, del, la...) dropped. linkage_gkey / linkage_skey:
the Double Metaphone code of the first word of the given names / of a surname, '' when blank.
The indexes let the incremental pass after an intake find a new person's block in a few lookups.
"""

from django.db import migrations

FUNCTIONS = r"""
CREATE OR REPLACE FUNCTION linkage_fold(t text) RETURNS text
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
  SELECT btrim(regexp_replace(
    regexp_replace(
      ' ' || regexp_replace(lower(public.unaccent('public.unaccent'::regdictionary, coalesce(t, ''))),
                            '[^a-z0-9]+', ' ', 'g') || ' ',
      ' ((de|del|la|las|los|y|da|dos|van|von) )+', ' ', 'g'),
    ' +', ' ', 'g'))
$$;
CREATE OR REPLACE FUNCTION linkage_gkey(t text) RETURNS text
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
  SELECT coalesce(public.dmetaphone(split_part(linkage_fold(t), ' ', 1)), '')
$$;
CREATE OR REPLACE FUNCTION linkage_skey(t text) RETURNS text
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
  SELECT coalesce(public.dmetaphone(split_part(linkage_fold(t), ' ', 1)), '')
$$;
CREATE INDEX IF NOT EXISTS linkage_person_g_s1 ON apprehensions_person
  (linkage_gkey(given_names), linkage_skey(first_surname));
CREATE INDEX IF NOT EXISTS linkage_person_g_s2 ON apprehensions_person
  (linkage_gkey(given_names), linkage_skey(second_surname));
"""

REVERSE = """
DROP INDEX IF EXISTS linkage_person_g_s1;
DROP INDEX IF EXISTS linkage_person_g_s2;
DROP FUNCTION IF EXISTS linkage_skey(text);
DROP FUNCTION IF EXISTS linkage_gkey(text);
DROP FUNCTION IF EXISTS linkage_fold(text);
"""


class Migration(migrations.Migration):
    dependencies = [
        ("linkage", "0001_linkcandidate"),
        ("apprehensions", "0003_search"),
    ]

    operations = [migrations.RunSQL(FUNCTIONS, REVERSE)]
