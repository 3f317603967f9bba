"""PostgreSQL extensions for name search, and a trigram index on the folded name."""

from django.contrib.postgres.operations import TrigramExtension, UnaccentExtension
from django.db import migrations
from django.contrib.postgres.operations import CreateExtension


class Migration(migrations.Migration):
    dependencies = [("apprehensions", "0002_initial")]

    operations = [
        TrigramExtension(),
        UnaccentExtension(),
        CreateExtension("fuzzystrmatch"),
        migrations.RunSQL(
            "CREATE INDEX IF NOT EXISTS person_name_trgm ON apprehensions_person "
            "USING gin (name_normalized gin_trgm_ops)",
            "DROP INDEX IF EXISTS person_name_trgm",
        ),
    ]
