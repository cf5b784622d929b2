"""Thin Celery wrappers around the access log: the services do the work."""

from celery import shared_task

from patients import audit


@shared_task
def seal_audit_log():
    """Beat, every minute: seal the access log's new rows and write a
    checkpoint. Returns how many rows the chain holds (None: nothing new)."""
    checkpoint = audit.seal_pending()
    return checkpoint.row_count if checkpoint else None
