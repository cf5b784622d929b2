"""Thin Celery wrappers around the reminders outbox (ids in, services do
the work), and the nightly repair of the day totals."""

import logging

from celery import shared_task

from scheduling import reminders, totals

logger = logging.getLogger(__name__)


@shared_task
def dispatch_reminders():
    """Beat, every minute: claim the due reminders a batch at a time until
    none is left, and send each batch in its own task."""
    claimed = 0
    for batch in reminders.claim_batches():
        send_reminders.delay(batch)
        claimed += len(batch)
    return claimed


@shared_task
def send_reminders(reminder_ids):
    """A batch, over one SMTP connection."""
    return reminders.send_batch(reminder_ids)


@shared_task
def send_reminder(reminder_id):
    """One reminder (tasks queued before batches existed, and the tests)."""
    return reminders.send(reminder_id)


@shared_task
def repair_day_totals():
    """Nightly, the net under the services that keep the day totals: a day
    whose totals differ from its appointments is logged (a write went round
    the services: a bug to find) and counted again."""
    stale = totals.stale_days()
    if stale:
        logger.warning("Day totals of %d therapist days were stale: %s", len(stale), stale[:20])
        totals.refresh(stale)
    return len(stale)
