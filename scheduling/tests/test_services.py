"""The services that write the schedule: completing a visit, the one way the
clinical side tells scheduling a visit happened."""

import datetime

import pytest
from django.utils import timezone

from scheduling import services
from scheduling.models import Appointment, Reminder
from scheduling.services import SchedulingError
from scheduling.tests.factories import AppointmentFactory

pytestmark = pytest.mark.django_db

Status = Appointment.Status

AFTERCARE = {
    "muscles": [{"muscle": "Piriformis", "side": "Left"}],
    "advice": [{"code": "hydration", "title": "Hydration", "patient_text": "Drink plenty of water."}],
}


def began(minutes_ago=30, **fields):
    """A visit that began a while ago."""
    return AppointmentFactory(starts_at=timezone.now() - datetime.timedelta(minutes=minutes_ago), **fields)


def test_it_completes_a_checked_in_visit_that_has_begun():
    appointment = began(status=Status.CHECKED_IN)

    services.appointment_complete(appointment=appointment, aftercare=AFTERCARE)

    assert appointment.status == Status.COMPLETED
    assert Appointment.objects.get(pk=appointment.pk).status == Status.COMPLETED


@pytest.mark.parametrize(
    ("status", "label"),
    [
        (Status.BOOKED, "booked"),
        (Status.CONFIRMED, "confirmed"),
        (Status.COMPLETED, "completed"),
        (Status.CANCELLED, "cancelled"),
        (Status.NO_SHOW, "no-show"),
    ],
)
def test_it_completes_no_visit_that_is_not_checked_in(status, label):
    appointment = began(status=status)

    with pytest.raises(SchedulingError) as error:
        services.appointment_complete(appointment=appointment, aftercare=AFTERCARE)

    assert str(error.value) == f"This visit is {label}; only a checked-in visit can be completed."
    assert Appointment.objects.get(pk=appointment.pk).status == status
    assert not Reminder.objects.exists()


def test_it_completes_no_visit_before_it_begins_and_schedules_no_aftercare():
    appointment = AppointmentFactory(
        status=Status.CHECKED_IN, starts_at=timezone.now() + datetime.timedelta(days=7)
    )

    with pytest.raises(SchedulingError, match=r"This visit has not begun yet; it cannot be completed\."):
        services.appointment_complete(appointment=appointment, aftercare=AFTERCARE)

    assert Appointment.objects.get(pk=appointment.pk).status == Status.CHECKED_IN
    assert not Reminder.objects.exists()


def test_it_completes_a_visit_only_once():
    appointment = began(status=Status.CHECKED_IN)
    services.appointment_complete(appointment=appointment, aftercare=AFTERCARE)

    with pytest.raises(SchedulingError):
        services.appointment_complete(appointment=appointment, aftercare=AFTERCARE)

    assert Appointment.objects.get(pk=appointment.pk).status == Status.COMPLETED


def test_it_refuses_a_stale_copy_of_a_visit_cancelled_meanwhile():
    appointment = began(status=Status.CHECKED_IN)
    Appointment.objects.filter(pk=appointment.pk).update(status=Status.CANCELLED)

    with pytest.raises(SchedulingError):
        services.appointment_complete(appointment=appointment, aftercare=AFTERCARE)

    assert Appointment.objects.get(pk=appointment.pk).status == Status.CANCELLED


def test_a_visit_without_needling_gets_only_the_same_day_email():
    appointment = began(status=Status.CHECKED_IN)

    services.appointment_complete(appointment=appointment, aftercare={**AFTERCARE, "needled": False})

    assert list(Reminder.objects.values_list("kind", flat=True)) == [Reminder.Kind.AFTERCARE_SAME_DAY]
