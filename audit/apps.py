from django.apps import AppConfig


def ensure_verify_schedule() -> None:
    """The nightly chain verification and signed checkpoint, at AUDIT_VERIFY_HOUR."""
    from django.conf import settings

    from familylink.common.schedule import ensure_periodic_task

    ensure_periodic_task(
        name="Verify the audit chains and record a checkpoint",
        task="audit.verify_audit_chain",
        minute="30",
        hour=str(settings.AUDIT_VERIFY_HOUR),
    )


class AuditConfig(AppConfig):
    name = "audit"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from django.db.models.signals import post_migrate

        from familylink.common import navigation
        from familylink.common.reference import register

        from . import chain, security

        post_migrate.connect(chain.install_after_migrate, dispatch_uid="familylink-audit-chain")
        register(ensure_verify_schedule)
        security.connect()

        navigation.register("Access log", "audit:access_log", "read_access_log", order=90)
