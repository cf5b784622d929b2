"""No double booking under load, on PostgreSQL: fifty front desks book the
same time at once and exactly one wins; the others are told the slot is gone.
The exclusion constraints of migration 0004 are the last word."""

import datetime
import threading
from zoneinfo import ZoneInfo

import pytest
from django.db import IntegrityError, connection, transaction

from clinic.tests import factories as people
from patients.tests.factories import PatientFactory
from scheduling import services
from scheduling.availability import local
from scheduling.models import Appointment
from scheduling.services import SlotUnavailable
from scheduling.tests.factories import (
    AppointmentFactory,
    AppointmentTypeFactory,
    RoomFactory,
    WorkingHoursFactory,
)

pytestmark = pytest.mark.postgresql

CLINIC = ZoneInfo("America/New_York")
MONDAY = datetime.date(2026, 11, 16)
NOW = datetime.datetime(2026, 11, 16, 7, 0, tzinfo=CLINIC)
THREADS = 50


def at(hour, minute=0):
    return local(MONDAY, datetime.time(hour, minute))


def works_mondays(therapist):
    WorkingHoursFactory(therapist=therapist, weekday=0, starts_at=datetime.time(8), ends_at=datetime.time(17))
    return therapist


def book_at_once(bookings):
    """Run every booking in its own thread, all released together; return
    what each one gave: an Appointment or the exception it raised."""
    barrier = threading.Barrier(len(bookings))
    results = [None] * len(bookings)

    def run(index, booking):
        try:
            barrier.wait(timeout=30)
            results[index] = services.appointment_book(**booking)
        except Exception as error:
            results[index] = error
        finally:
            connection.close()

    threads = [threading.Thread(target=run, args=(i, booking)) for i, booking in enumerate(bookings)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    return results


def assert_exactly_one_won(results):
    won = [result for result in results if isinstance(result, Appointment)]
    refused = [result for result in results if isinstance(result, SlotUnavailable)]
    others = [result for result in results if not isinstance(result, Appointment | SlotUnavailable)]
    assert others == []
    assert len(won) == 1
    assert len(refused) == THREADS - 1
    for refusal in refused:
        assert {problem.code for problem in refusal.problems} <= {"therapist_busy", "room_busy", "just_taken"}
    assert list(Appointment.objects.values_list("pk", flat=True)) == [won[0].pk]


@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_it_books_a_therapist_once_when_fifty_desks_try_at_once(postgresql, time_machine, receptionist):
    time_machine.move_to(NOW, tick=False)
    therapist = works_mondays(people.therapist(username="theo"))
    follow_up = AppointmentTypeFactory()
    bookings = [
        {
            "patient": PatientFactory(),
            "therapist": therapist,
            "room": RoomFactory(name=f"Room {n}"),
            "appointment_type": follow_up,
            "starts_at": at(10),
            "booked_by": receptionist,
        }
        for n in range(THREADS)
    ]

    results = book_at_once(bookings)

    assert_exactly_one_won(results)


@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_it_books_a_room_once_when_fifty_desks_try_at_once(postgresql, time_machine, receptionist):
    time_machine.move_to(NOW, tick=False)
    room = RoomFactory(name="Room A")
    follow_up = AppointmentTypeFactory()
    bookings = [
        {
            "patient": PatientFactory(),
            "therapist": works_mondays(people.therapist(username=f"therapist{n}")),
            "room": room,
            "appointment_type": follow_up,
            "starts_at": at(10),
            "booked_by": receptionist,
        }
        for n in range(THREADS)
    ]

    results = book_at_once(bookings)

    assert_exactly_one_won(results)


@pytest.mark.django_db
def test_the_database_refuses_an_overlapping_appointment_for_a_therapist(postgresql, therapist):
    AppointmentFactory(therapist=therapist, starts_at=at(10), ends_at=at(10, 45))

    with pytest.raises(IntegrityError, match="appointment_no_double_booking_therapist"), transaction.atomic():
        AppointmentFactory(therapist=therapist, starts_at=at(10, 30), ends_at=at(11, 15))

    # Half-open: one ending at 10:45 leaves 10:45 free.
    AppointmentFactory(therapist=therapist, starts_at=at(10, 45), ends_at=at(11, 30))
    assert Appointment.objects.filter(therapist=therapist).count() == 2


@pytest.mark.django_db
def test_the_database_refuses_an_overlapping_appointment_for_a_room_or_patient(postgresql):
    room, patient = RoomFactory(name="Room A"), PatientFactory()
    AppointmentFactory(room=room, patient=patient, starts_at=at(10), ends_at=at(10, 45))

    with pytest.raises(IntegrityError, match="appointment_no_double_booking_room"), transaction.atomic():
        AppointmentFactory(room=room, starts_at=at(10, 15), ends_at=at(11))
    with pytest.raises(IntegrityError, match="appointment_no_double_booking_patient"), transaction.atomic():
        AppointmentFactory(patient=patient, starts_at=at(9, 30), ends_at=at(10, 15))


@pytest.mark.django_db
def test_the_database_lets_a_cancelled_appointment_be_overlapped(postgresql, therapist):
    AppointmentFactory(therapist=therapist, starts_at=at(10), ends_at=at(10, 45), status="cancelled")

    AppointmentFactory(therapist=therapist, starts_at=at(10), ends_at=at(10, 45))

    assert Appointment.objects.filter(therapist=therapist).count() == 2
