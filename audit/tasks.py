"""Nightly verification of the audit chains; holds no logic (audit.services)."""

from celery import shared_task

from .services import audit_checkpoint_record


@shared_task(name="audit.verify_audit_chain", acks_late=True, reject_on_worker_lost=True)
def verify_audit_chain() -> dict:
    """Walk every chain and record a signed checkpoint (a second run simply records another)."""
    checkpoint = audit_checkpoint_record()
    return {"checkpoint": checkpoint.pk, "verified": checkpoint.verified, "chains": len(checkpoint.heads)}
