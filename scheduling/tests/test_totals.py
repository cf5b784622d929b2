"""The day totals the dashboard reads (scheduling.totals): kept by every
service that writes an appointment, repaired nightly when a write went round
them, and right when two people change one therapist's day at once. The
state machine of test_state_machine checks them after every step."""

import datetime
import logging
import threading

import pytest
import time_machine
from django.conf import settings
from django.db import transaction

from clinic.tests import factories as people
from patients.tests.factories import PatientFactory
from patients.tests.test_audit import in_a_thread
from scheduling import services, totals
from scheduling.availability import local
from scheduling.models import Appointment, DayTotal
from scheduling.tasks import repair_day_totals
from scheduling.tests.factories import (
    AppointmentFactory,
    AppointmentTypeFactory,
    RoomFactory,
    WorkingHoursFactory,
)

MONDAY = datetime.date(2026, 3, 2)
TUESDAY = MONDAY + datetime.timedelta(days=1)


def at(day, hour, minute=0):
    return local(day, datetime.time(hour, minute))


def stored(therapist):
    return {
        (row.day, row.room.name): (row.occupying, row.booked_minutes, row.no_shows, row.late_cancellations)
        for row in DayTotal.objects.filter(therapist=therapist).select_related("room")
    }


@pytest.fixture
def clinic(db):
    therapist = people.therapist(username="theo")
    for weekday in range(5):
        WorkingHoursFactory(
            therapist=therapist, weekday=weekday, starts_at=datetime.time(8), ends_at=datetime.time(18)
        )
    return {
        "therapist": therapist,
        "room_a": RoomFactory(name="Room A"),
        "room_b": RoomFactory(name="Room B"),
        "type": AppointmentTypeFactory(name="Follow-up", default_minutes=45),
    }


def book(clinic, receptionist, starts_at, **fields):
    return services.appointment_book(
        patient=fields.get("patient") or PatientFactory(),
        therapist=clinic["therapist"],
        room=fields.get("room", clinic["room_a"]),
        appointment_type=clinic["type"],
        starts_at=starts_at,
        booked_by=receptionist,
    )


def test_each_service_that_writes_an_appointment_keeps_its_day_counted(clinic, receptionist):
    therapist = clinic["therapist"]
    with time_machine.travel(at(MONDAY, 7), tick=False):
        first = book(clinic, receptionist, at(MONDAY, 9))
        second = book(clinic, receptionist, at(MONDAY, 10))
        services.series_book(
            patient=PatientFactory(),
            therapist=therapist,
            room=clinic["room_b"],
            appointment_type=clinic["type"],
            starts=[at(MONDAY, 11), at(TUESDAY, 11)],
            booked_by=receptionist,
            description="Two sessions",
        )
        assert stored(therapist) == {
            (MONDAY, "Room A"): (2, 90, 0, 0),
            (MONDAY, "Room B"): (1, 45, 0, 0),
            (TUESDAY, "Room B"): (1, 45, 0, 0),
        }
        # The patient cancels within 24 hours: a late cancellation, no longer holding its time.
        services.appointment_cancel(appointment=second, cancelled_by=Appointment.CancelledBy.PATIENT)
        # Moved to Tuesday in the other room: counted there, gone from Monday.
        services.appointment_reschedule(
            appointment=first, starts_at=at(TUESDAY, 9), user=receptionist, room=clinic["room_b"]
        )
    assert stored(therapist) == {
        (MONDAY, "Room A"): (0, 0, 0, 1),
        (MONDAY, "Room B"): (1, 45, 0, 0),
        (TUESDAY, "Room B"): (2, 90, 0, 0),
    }
    with time_machine.travel(at(TUESDAY, 9, 20), tick=False):
        services.appointment_mark_no_show(appointment=first, user=receptionist)
    assert stored(therapist)[TUESDAY, "Room B"] == (2, 90, 1, 0)
    assert totals.stale_days() == []


def test_a_cancellation_by_the_clinic_or_in_good_time_is_not_a_late_one(clinic, receptionist):
    with time_machine.travel(at(MONDAY - datetime.timedelta(days=3), 7), tick=False):
        early = book(clinic, receptionist, at(MONDAY, 9))
        services.appointment_cancel(appointment=early, cancelled_by=Appointment.CancelledBy.PATIENT)
    with time_machine.travel(at(MONDAY, 7), tick=False):
        by_clinic = book(clinic, receptionist, at(MONDAY, 10))
        services.appointment_cancel(appointment=by_clinic, cancelled_by=Appointment.CancelledBy.CLINIC)
    # Nothing left to count on the day: no row at all.
    assert stored(clinic["therapist"]) == {}


def test_the_nightly_repair_counts_again_a_day_changed_round_the_services(clinic, receptionist, caplog):
    with time_machine.travel(at(MONDAY, 7), tick=False):
        appointment = book(clinic, receptionist, at(MONDAY, 9))
    Appointment.objects.filter(pk=appointment.pk).update(status=Appointment.Status.NO_SHOW)
    assert totals.stale_days() == [(clinic["therapist"].pk, MONDAY)]

    with caplog.at_level(logging.WARNING, logger="scheduling.tasks"):
        assert repair_day_totals() == 1
    assert "Day totals of 1 therapist days were stale" in caplog.text
    assert stored(clinic["therapist"]) == {(MONDAY, "Room A"): (1, 45, 1, 0)}
    assert repair_day_totals() == 0
    assert settings.CELERY_BEAT_SCHEDULE["repair-day-totals"]["task"] == repair_day_totals.name


def test_refresh_all_counts_every_day_from_scratch(clinic, receptionist):
    with time_machine.travel(at(MONDAY, 7), tick=False):
        book(clinic, receptionist, at(MONDAY, 9))
        book(clinic, receptionist, at(TUESDAY, 9), room=clinic["room_b"])
    DayTotal.objects.all().delete()
    totals.refresh_all()
    assert stored(clinic["therapist"]) == {
        (MONDAY, "Room A"): (1, 45, 0, 0),
        (TUESDAY, "Room B"): (1, 45, 0, 0),
    }


def test_a_day_is_the_clinic_day_of_the_start_whatever_the_server_time_zone(clinic):
    # 23:00 clinic time is already the next day in UTC.
    late = AppointmentFactory(therapist=clinic["therapist"], room=clinic["room_a"], starts_at=at(MONDAY, 23))
    assert list(DayTotal.objects.values_list("day", flat=True)) == [MONDAY]
    totals.refresh_all()
    assert list(DayTotal.objects.values_list("day", flat=True)) == [MONDAY]
    assert late.starts_at.astimezone(datetime.UTC).date() == TUESDAY


@pytest.mark.postgresql
@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_two_cancellations_of_one_therapists_day_at_once_are_both_counted(postgresql, receptionist):
    therapist = people.therapist(username="theo")
    WorkingHoursFactory(therapist=therapist, weekday=0, starts_at=datetime.time(8), ends_at=datetime.time(18))
    clinic = {
        "therapist": therapist,
        "room_a": RoomFactory(name="Room A"),
        "type": AppointmentTypeFactory(name="Follow-up", default_minutes=45),
    }
    with time_machine.travel(at(MONDAY, 7), tick=False):
        first = book(clinic, receptionist, at(MONDAY, 9))
        second = book(clinic, receptionist, at(MONDAY, 10))
        cancelled, finish = threading.Event(), threading.Event()

        def cancel_and_wait():
            with transaction.atomic():
                services.appointment_cancel(appointment=first, cancelled_by=Appointment.CancelledBy.PATIENT)
                cancelled.set()
                assert finish.wait(timeout=30)

        one = in_a_thread(cancel_and_wait)
        assert cancelled.wait(timeout=30)
        other = in_a_thread(
            lambda: services.appointment_cancel(
                appointment=second, cancelled_by=Appointment.CancelledBy.PATIENT
            )
        )
        other.join(timeout=2)
        assert other.is_alive(), "the second cancellation counted the day before the first had committed"
        finish.set()
        one.join(timeout=30)
        other.join(timeout=30)

    assert "error" not in one.outcome, one.outcome
    assert "error" not in other.outcome, other.outcome
    assert stored(therapist) == {(MONDAY, "Room A"): (0, 0, 0, 2)}
    assert totals.stale_days() == []
