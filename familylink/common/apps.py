from django.apps import AppConfig


class CommonConfig(AppConfig):
    name = "familylink.common"
    label = "common"
    verbose_name = "FamilyLink common"

    def ready(self) -> None:
        from django.db.models.signals import post_migrate

        from . import checks, navigation, no_delete, reference  # noqa: F401 - checks registers

        reference.register(reference.ensure_roles)

        navigation.register("Home", "home", order=0)

        post_migrate.connect(no_delete.protect_tables_after_migrate, dispatch_uid="familylink-no-delete")
