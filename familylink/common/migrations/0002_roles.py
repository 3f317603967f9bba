"""The six roles of the API contract as groups, each with exactly its capabilities."""

from django.db import migrations

from familylink.common.migrations_support import sync_roles


class Migration(migrations.Migration):
    dependencies = [
        ("common", "0001_initial"),
        ("auth", "0012_alter_user_first_name_max_length"),
        ("contenttypes", "0002_remove_content_type_name"),
    ]

    operations = [migrations.RunPython(sync_roles, migrations.RunPython.noop)]
