from django.apps import AppConfig


class LegacyConfig(AppConfig):
    """Field spreadsheet import: the top floor, above reunification; nothing imports it."""

    name = "legacy"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from familylink.common import navigation

        navigation.register("Import spreadsheets", "legacy:batch_list", "import_legacy", order=80)
