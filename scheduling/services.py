"""Writes to the schedule. Each runs in one transaction; errors a person can
cause are SchedulingError with a message fit to show them."""

from django.db import transaction

from scheduling.models import Appointment


class SchedulingError(Exception):
    """A change to the schedule that cannot be made, with the reason."""


# Statuses from which a visit can be completed.
COMPLETABLE = (Appointment.Status.BOOKED, Appointment.Status.CONFIRMED, Appointment.Status.CHECKED_IN)


@transaction.atomic
def appointment_complete(*, appointment: Appointment, aftercare: dict) -> None:
    """Mark a visit completed when its chart is signed.

    The one entry point through which the clinical side tells scheduling a
    visit happened. `aftercare` is what the patient's aftercare emails will
    say (the muscles treated and the advice ticked), handed over as plain data
    so that scheduling never imports treatments; the reminders outbox stores
    it. Completing twice is refused, so a visit is completed exactly once.
    """
    completed = Appointment.objects.filter(pk=appointment.pk, status__in=COMPLETABLE).update(
        status=Appointment.Status.COMPLETED
    )
    if not completed:
        raise SchedulingError(
            "This visit cannot be completed: it is already completed, cancelled or a no-show."
        )
    appointment.status = Appointment.Status.COMPLETED
