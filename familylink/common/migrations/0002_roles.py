"""The six roles of the API contract as groups, each with exactly its capabilities."""

from django.db import migrations

from familylink.common.roles import ROLE_CAPABILITIES


def create_roles(apps, schema_editor):
    Group = apps.get_model("auth", "Group")
    Permission = apps.get_model("auth", "Permission")
    ContentType = apps.get_model("contenttypes", "ContentType")
    Capability = apps.get_model("common", "Capability")
    content_type, _ = ContentType.objects.get_or_create(app_label="common", model="capability")
    labels = dict(Capability._meta.permissions)
    for role, capabilities in ROLE_CAPABILITIES.items():
        group, _ = Group.objects.get_or_create(name=str(role))
        perms = []
        for codename in capabilities:
            perm, _ = Permission.objects.get_or_create(
                content_type=content_type, codename=codename, defaults={"name": labels[codename]}
            )
            perms.append(perm)
        group.permissions.set(perms)


class Migration(migrations.Migration):
    dependencies = [
        ("common", "0001_initial"),
        ("auth", "0012_alter_user_first_name_max_length"),
        ("contenttypes", "0002_remove_content_type_name"),
    ]

    operations = [migrations.RunPython(create_roles, migrations.RunPython.noop)]
