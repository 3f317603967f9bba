"""Functions the data migrations share (kept out of migrations/ so later migrations can reuse them)."""

from typing import Any

from familylink.common.roles import ROLE_CAPABILITIES


def sync_roles(apps: Any, schema_editor: Any) -> None:
    """The six roles as groups with exactly the capabilities of `ROLE_CAPABILITIES` (idempotent)."""
    Group = apps.get_model("auth", "Group")
    Permission = apps.get_model("auth", "Permission")
    ContentType = apps.get_model("contenttypes", "ContentType")
    Capability = apps.get_model("common", "Capability")
    content_type, _ = ContentType.objects.get_or_create(app_label="common", model="capability")
    labels = dict(Capability._meta.permissions)
    for role, capabilities in ROLE_CAPABILITIES.items():
        group, _ = Group.objects.get_or_create(name=str(role))
        perms = [
            Permission.objects.get_or_create(
                content_type=content_type,
                codename=codename,
                defaults={"name": labels.get(codename, codename)},
            )[0]
            for codename in capabilities
        ]
        group.permissions.set(perms)
