"""The services that write the schedule: completing a visit, the one way the
clinical side tells scheduling a visit happened."""

import pytest

from scheduling import services
from scheduling.models import Appointment
from scheduling.services import SchedulingError
from scheduling.tests.factories import AppointmentFactory

pytestmark = pytest.mark.django_db

Status = Appointment.Status

AFTERCARE = {
    "muscles": [{"muscle": "Piriformis", "side": "Left"}],
    "advice": [{"code": "hydration", "title": "Hydration", "patient_text": "Drink plenty of water."}],
}


@pytest.mark.parametrize("status", [Status.BOOKED, Status.CONFIRMED, Status.CHECKED_IN])
def test_it_completes_a_visit_that_is_booked_confirmed_or_checked_in(status):
    appointment = AppointmentFactory(status=status)

    services.appointment_complete(appointment=appointment, aftercare=AFTERCARE)

    assert appointment.status == Status.COMPLETED
    assert Appointment.objects.get(pk=appointment.pk).status == Status.COMPLETED


@pytest.mark.parametrize("status", [Status.COMPLETED, Status.CANCELLED, Status.NO_SHOW])
def test_it_refuses_to_complete_a_visit_that_is_completed_cancelled_or_missed(status):
    appointment = AppointmentFactory(status=status)

    with pytest.raises(SchedulingError) as error:
        services.appointment_complete(appointment=appointment, aftercare=AFTERCARE)

    assert str(error.value) == (
        "This visit cannot be completed: it is already completed, cancelled or a no-show."
    )
    assert appointment.status == status
    assert Appointment.objects.get(pk=appointment.pk).status == status


def test_it_completes_a_visit_only_once():
    appointment = AppointmentFactory()
    services.appointment_complete(appointment=appointment, aftercare=AFTERCARE)

    with pytest.raises(SchedulingError):
        services.appointment_complete(appointment=appointment, aftercare=AFTERCARE)

    assert Appointment.objects.get(pk=appointment.pk).status == Status.COMPLETED


def test_it_refuses_a_stale_copy_of_a_visit_cancelled_meanwhile():
    appointment = AppointmentFactory(status=Status.CONFIRMED)
    Appointment.objects.filter(pk=appointment.pk).update(status=Status.CANCELLED)

    with pytest.raises(SchedulingError):
        services.appointment_complete(appointment=appointment, aftercare=AFTERCARE)

    assert Appointment.objects.get(pk=appointment.pk).status == Status.CANCELLED
