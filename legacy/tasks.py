"""Celery tasks of the legacy import: they take ids and call the service. No logic here."""

from typing import Any

from celery import shared_task

from familylink.common.models import User

from .services import batch_run


@shared_task(name="legacy.run_batch")
def run_batch(batch_id: str, user_id: Any, dry_run: bool) -> dict[str, Any]:
    """Dry-run (preview) or import a batch's pending rows; a retry skips rows already done."""
    batch = batch_run(batch_id=batch_id, by=User.objects.get(pk=user_id), dry_run=dry_run)
    return {"status": batch.status, "imported": batch.rows_imported, "quarantined": batch.rows_quarantined}
