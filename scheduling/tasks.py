"""Thin Celery wrappers around the reminders outbox: ids in, services do the work."""

from celery import shared_task

from scheduling import reminders


@shared_task
def dispatch_reminders():
    """Beat, every minute: claim the due reminders and send each in its own task."""
    claimed = reminders.claim_due()
    for reminder_id in claimed:
        send_reminder.delay(reminder_id)
    return len(claimed)


@shared_task
def send_reminder(reminder_id):
    return reminders.send(reminder_id)
