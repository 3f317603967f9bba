from django.apps import AppConfig


class ReportsConfig(AppConfig):
    """The top floor: the dashboard, the court status report and exports read every app below."""

    name = "reports"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from familylink.common import navigation

        from .views import home_for

        navigation.register_home(home_for)

        navigation.register(
            "Dashboard", "reports:dashboard", "report_separated_all", "report_separated_station", order=5
        )
        navigation.register(
            "Court status", "reports:court_status", "read_cases_all", "read_cases_station", order=45
        )
