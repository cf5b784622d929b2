"""Booking, series, cancelling, moving and status changes, with "now" frozen
at Monday 16 November 2026, 07:00 in the clinic."""

import datetime
from zoneinfo import ZoneInfo

import pytest

from patients.tests.factories import PatientFactory
from scheduling import services
from scheduling.availability import local
from scheduling.models import Appointment, AppointmentChange, AppointmentSeries
from scheduling.services import SchedulingError, SeriesConflict, SlotUnavailable
from scheduling.tests.factories import (
    AppointmentFactory,
    AppointmentTypeFactory,
    RoomFactory,
    WorkingHoursExceptionFactory,
    WorkingHoursFactory,
)

pytestmark = pytest.mark.django_db

CLINIC = ZoneInfo("America/New_York")
MONDAY = datetime.date(2026, 11, 16)
TUESDAY = datetime.date(2026, 11, 17)
NOW = datetime.datetime(2026, 11, 16, 7, 0, tzinfo=CLINIC)
Status = Appointment.Status


def at(day, hour, minute=0):
    return local(day, datetime.time(hour, minute))


@pytest.fixture(autouse=True)
def frozen_now(time_machine):
    time_machine.move_to(NOW, tick=False)


@pytest.fixture
def working_week(therapist):
    """Monday to Friday, 08:00-12:00 and 13:00-17:00."""
    for weekday in range(5):
        WorkingHoursFactory(
            therapist=therapist, weekday=weekday, starts_at=datetime.time(8), ends_at=datetime.time(12)
        )
        WorkingHoursFactory(
            therapist=therapist, weekday=weekday, starts_at=datetime.time(13), ends_at=datetime.time(17)
        )
    return therapist


@pytest.fixture
def room():
    return RoomFactory(name="Room A")


@pytest.fixture
def patient():
    return PatientFactory()


@pytest.fixture
def follow_up():
    return AppointmentTypeFactory(name="Follow-up", default_minutes=45)


@pytest.fixture
def book(working_week, room, patient, follow_up, receptionist):
    def book(starts_at, **kwargs):
        arguments = {
            "patient": patient,
            "therapist": working_week,
            "room": room,
            "appointment_type": follow_up,
            "booked_by": receptionist,
        }
        return services.appointment_book(starts_at=starts_at, **(arguments | kwargs))

    return book


@pytest.fixture
def book_series(working_week, room, patient, follow_up, receptionist):
    def book_series(starts):
        return services.series_book(
            patient=patient,
            therapist=working_week,
            room=room,
            appointment_type=follow_up,
            starts=starts,
            booked_by=receptionist,
            description="Six sessions for the lower back",
        )

    return book_series


def tuesdays(count=6):
    return services.series_dates(
        first_day=TUESDAY, time=datetime.time(9), weekdays=[1], interval_weeks=1, count=count
    )


# Booking one appointment.


def test_it_books_and_logs_the_booking(book, receptionist, working_week):
    appointment = book(at(MONDAY, 10))

    appointment.refresh_from_db()
    assert appointment.status == Status.BOOKED
    assert appointment.ends_at == at(MONDAY, 10, 45)
    change = AppointmentChange.objects.get(appointment=appointment)
    assert change.action == "booked"
    assert change.changed_by == receptionist
    assert change.detail == {
        "starts_at": "2026-11-16T10:00:00-05:00",
        "room": "Room A",
        "therapist": working_week.pk,
    }


def test_it_refuses_a_busy_slot_and_offers_alternatives(book, working_week):
    AppointmentFactory(therapist=working_week, starts_at=at(MONDAY, 10), ends_at=at(MONDAY, 10, 45))

    with pytest.raises(SlotUnavailable) as error:
        book(at(MONDAY, 10))

    assert [problem.code for problem in error.value.problems] == ["therapist_busy"]
    assert str(error.value) == f"That slot was just taken: {working_week.get_full_name()} is busy then."
    assert error.value.alternatives == [at(MONDAY, 9, 15), at(MONDAY, 10, 45), at(MONDAY, 9)]
    assert Appointment.objects.count() == 1
    assert not AppointmentChange.objects.exists()


def test_it_refuses_a_time_outside_working_hours(book):
    with pytest.raises(SlotUnavailable) as error:
        book(at(MONDAY, 12))

    assert [problem.code for problem in error.value.problems] == ["outside_working_hours"]
    assert error.value.alternatives == [at(MONDAY, 11, 15), at(MONDAY, 11), at(MONDAY, 13)]
    assert not Appointment.objects.exists()


# Series dates.


def test_it_lists_six_weekly_tuesdays():
    assert tuesdays() == [
        at(datetime.date(2026, 11, 17), 9),
        at(datetime.date(2026, 11, 24), 9),
        at(datetime.date(2026, 12, 1), 9),
        at(datetime.date(2026, 12, 8), 9),
        at(datetime.date(2026, 12, 15), 9),
        at(datetime.date(2026, 12, 22), 9),
    ]


def test_it_lists_twice_a_week_from_the_first_day_on():
    starts = services.series_dates(
        first_day=datetime.date(2026, 11, 18),
        time=datetime.time(14),
        weekdays=[3, 0],
        interval_weeks=1,
        count=4,
    )

    assert starts == [
        at(datetime.date(2026, 11, 19), 14),
        at(datetime.date(2026, 11, 23), 14),
        at(datetime.date(2026, 11, 26), 14),
        at(datetime.date(2026, 11, 30), 14),
    ]


def test_it_lists_every_other_week():
    starts = services.series_dates(
        first_day=TUESDAY, time=datetime.time(9), weekdays=[1], interval_weeks=2, count=3
    )

    assert starts == [
        at(datetime.date(2026, 11, 17), 9),
        at(datetime.date(2026, 12, 1), 9),
        at(datetime.date(2026, 12, 15), 9),
    ]


@pytest.mark.parametrize(
    ("weekdays", "interval_weeks", "count", "message"),
    [
        ([1], 1, 0, "A series needs at least one session."),
        ([], 1, 3, "Choose at least one weekday."),
        ([1], 0, 3, "The interval is at least one week."),
    ],
)
def test_it_refuses_a_series_that_makes_no_sense(weekdays, interval_weeks, count, message):
    with pytest.raises(SchedulingError, match=message):
        services.series_dates(
            first_day=TUESDAY,
            time=datetime.time(9),
            weekdays=weekdays,
            interval_weeks=interval_weeks,
            count=count,
        )


def test_it_keeps_the_wall_clock_time_across_the_change_from_daylight_saving_time():
    # New York's clocks go back on Sunday 1 November 2026.
    starts = services.series_dates(
        first_day=datetime.date(2026, 10, 23), time=datetime.time(9), weekdays=[4], interval_weeks=1, count=3
    )

    assert [start.astimezone(CLINIC).strftime("%Y-%m-%d %H:%M") for start in starts] == [
        "2026-10-23 09:00",
        "2026-10-30 09:00",
        "2026-11-06 09:00",
    ]
    assert [start.astimezone(datetime.UTC).hour for start in starts] == [13, 13, 14]


# Booking a series.


def test_it_books_a_whole_series(book_series, receptionist):
    series = book_series(tuesdays())

    appointments = list(series.appointments.order_by("starts_at"))
    assert [appointment.starts_at for appointment in appointments] == tuesdays()
    assert all(appointment.status == Status.BOOKED for appointment in appointments)
    assert AppointmentChange.objects.filter(action="booked", changed_by=receptionist).count() == 6
    assert series.booked_by == receptionist


def test_it_books_nothing_when_one_session_conflicts(book_series, working_week):
    WorkingHoursExceptionFactory(therapist=working_week, date=datetime.date(2026, 12, 8))

    with pytest.raises(SeriesConflict) as error:
        book_series(tuesdays())

    assert error.value.session_number == 4
    assert error.value.starts_at == at(datetime.date(2026, 12, 8), 9)
    assert str(error.value) == (
        f"Session 4 on Tue 08 Dec 2026 at 09:00: {working_week.get_full_name()} does not work then. "
        "Nothing was booked."
    )
    assert not Appointment.objects.exists()
    assert not AppointmentSeries.objects.exists()
    assert not AppointmentChange.objects.exists()


def test_it_previews_each_session_with_its_problems_and_alternatives(working_week, room, patient, follow_up):
    WorkingHoursExceptionFactory(therapist=working_week, date=datetime.date(2026, 12, 8))

    sessions = services.series_preview(
        patient=patient, therapist=working_week, room=room, appointment_type=follow_up, starts=tuesdays()
    )

    assert [session.number for session in sessions] == [1, 2, 3, 4, 5, 6]
    assert [[problem.code for problem in session.problems] for session in sessions] == [
        [], [], [], ["outside_working_hours"], [], [],
    ]  # fmt: skip
    assert [session.alternatives for session in sessions if not session.problems] == [[]] * 5
    # Nothing on Tuesday 8 December; Monday and Wednesday at 09:00, then 08:45 on Monday.
    assert sessions[3].alternatives == [
        at(datetime.date(2026, 12, 7), 9),
        at(datetime.date(2026, 12, 9), 9),
        at(datetime.date(2026, 12, 7), 8, 45),
    ]
    assert not Appointment.objects.exists()


def test_it_previews_sessions_of_a_series_that_overlap_each_other(working_week, room, patient, follow_up):
    starts = [at(TUESDAY, 9), at(TUESDAY, 9, 30)]

    sessions = services.series_preview(
        patient=patient, therapist=working_week, room=room, appointment_type=follow_up, starts=starts
    )

    assert [[problem.code for problem in session.problems] for session in sessions] == [
        [],
        ["series_overlap"],
    ]


# Cancelling.


def test_it_marks_a_cancellation_within_24_hours_late(book):
    appointment = book(at(MONDAY, 15))

    services.appointment_cancel(appointment=appointment, cancelled_by="patient")

    appointment.refresh_from_db()
    assert appointment.status == Status.CANCELLED
    assert appointment.cancelled_by == "patient"
    assert appointment.late_cancellation is True
    change = appointment.changes.get(action="cancelled")
    assert change.detail == {"by": "patient", "late": True}


def test_it_does_not_mark_a_cancellation_more_than_24_hours_ahead_late(book):
    appointment = book(at(TUESDAY, 9))

    services.appointment_cancel(appointment=appointment, cancelled_by="clinic")

    appointment.refresh_from_db()
    assert appointment.status == Status.CANCELLED
    assert appointment.late_cancellation is False


def test_it_frees_the_slot_of_a_cancelled_appointment(book):
    appointment = book(at(MONDAY, 10))
    services.appointment_cancel(appointment=appointment, cancelled_by="patient")

    again = book(at(MONDAY, 10), patient=PatientFactory())

    assert again.pk != appointment.pk
    assert Appointment.objects.occupying().get() == again


def test_it_refuses_to_cancel_twice(book):
    appointment = book(at(MONDAY, 10))
    services.appointment_cancel(appointment=appointment, cancelled_by="patient")

    with pytest.raises(SchedulingError, match="Only a booked or confirmed appointment can be cancelled"):
        services.appointment_cancel(appointment=appointment, cancelled_by="patient")


# Moving.


def test_it_reschedules_and_keeps_the_history(book, receptionist):
    appointment = book(at(MONDAY, 10))
    other_room = RoomFactory(name="Room B")

    moved = services.appointment_reschedule(
        appointment=appointment, starts_at=at(TUESDAY, 14), user=receptionist, room=other_room
    )

    moved.refresh_from_db()
    assert (moved.starts_at, moved.ends_at, moved.room) == (at(TUESDAY, 14), at(TUESDAY, 14, 45), other_room)
    change = moved.changes.get(action="rescheduled")
    assert change.changed_by == receptionist
    assert change.detail == {
        "before": {"starts_at": "2026-11-16T10:00:00-05:00", "room": "Room A"},
        "after": {"starts_at": "2026-11-17T14:00:00-05:00", "room": "Room B"},
    }
    assert [change.action for change in moved.changes.all()] == ["booked", "rescheduled"]


def test_it_reschedules_within_its_own_time(book, receptionist):
    appointment = book(at(MONDAY, 10))

    moved = services.appointment_reschedule(
        appointment=appointment, starts_at=at(MONDAY, 10, 15), user=receptionist
    )

    assert moved.starts_at == at(MONDAY, 10, 15)


def test_it_refuses_to_reschedule_to_a_busy_time(book, receptionist, working_week):
    appointment = book(at(MONDAY, 10))
    AppointmentFactory(therapist=working_week, starts_at=at(MONDAY, 14), ends_at=at(MONDAY, 15))

    with pytest.raises(SlotUnavailable) as error:
        services.appointment_reschedule(
            appointment=appointment, starts_at=at(MONDAY, 14, 30), user=receptionist
        )

    assert [problem.code for problem in error.value.problems] == ["therapist_busy"]
    appointment.refresh_from_db()
    assert appointment.starts_at == at(MONDAY, 10)
    assert not appointment.changes.filter(action="rescheduled").exists()


def test_it_refuses_to_reschedule_a_cancelled_appointment(book, receptionist):
    appointment = book(at(MONDAY, 10))
    services.appointment_cancel(appointment=appointment, cancelled_by="patient")

    with pytest.raises(SchedulingError, match="Only a booked or confirmed appointment can be moved"):
        services.appointment_reschedule(appointment=appointment, starts_at=at(MONDAY, 14), user=receptionist)


def test_it_cancels_only_the_upcoming_rest_of_a_series(book_series, receptionist, time_machine):
    series = book_series(tuesdays())
    first, _second, third, *_ = series.appointments.order_by("starts_at")
    Appointment.objects.filter(pk=first.pk).update(status=Status.COMPLETED)
    Appointment.objects.filter(pk=third.pk).update(status=Status.CONFIRMED)
    # Between the second session (24 November, 09:00) and the third.
    time_machine.move_to(datetime.datetime(2026, 11, 24, 12, 0, tzinfo=CLINIC), tick=False)

    cancelled = services.series_cancel_rest(series=series, cancelled_by="patient", user=receptionist)

    assert cancelled == 4
    statuses = list(series.appointments.order_by("starts_at").values_list("status", flat=True))
    assert statuses == [Status.COMPLETED, Status.BOOKED] + [Status.CANCELLED] * 4


# Arriving, or not.


@pytest.mark.parametrize("status", [Status.BOOKED, Status.CONFIRMED])
def test_it_checks_in_an_upcoming_appointment(book, receptionist, status, time_machine):
    appointment = book(at(MONDAY, 10))
    Appointment.objects.filter(pk=appointment.pk).update(status=status)
    time_machine.move_to(at(MONDAY, 9, 50), tick=False)

    services.appointment_check_in(appointment=appointment, user=receptionist)

    appointment.refresh_from_db()
    assert appointment.status == Status.CHECKED_IN
    assert appointment.changes.filter(action="checked_in", changed_by=receptionist).exists()


@pytest.mark.parametrize(
    ("moment", "message"),
    [
        (at(MONDAY, 3, 30), "Check-in opens 60 minutes before the visit: 09:45."),
        (at(MONDAY, 9, 44), "Check-in opens 60 minutes before the visit: 09:45."),
        (
            at(MONDAY - datetime.timedelta(days=1), 10),
            "Check-in opens 60 minutes before the visit: Mon 16 Nov 2026 at 09:45.",
        ),
        (at(TUESDAY, 0, 5), "This visit was on Mon 16 Nov 2026; it can no longer be checked in."),
    ],
)
def test_it_checks_in_only_on_the_visits_day_from_an_hour_before(
    book, receptionist, time_machine, moment, message
):
    appointment = book(at(MONDAY, 10, 45))
    time_machine.move_to(moment, tick=False)

    with pytest.raises(SchedulingError) as error:
        services.appointment_check_in(appointment=appointment, user=receptionist)

    assert str(error.value) == message
    assert Appointment.objects.get(pk=appointment.pk).status == Status.BOOKED
    assert not appointment.changes.filter(action="checked_in").exists()


@pytest.mark.parametrize("moment", [at(MONDAY, 9, 45), at(MONDAY, 12), at(MONDAY, 23, 59)])
def test_it_checks_in_from_an_hour_before_to_the_end_of_the_day(book, receptionist, time_machine, moment):
    appointment = book(at(MONDAY, 10, 45))
    time_machine.move_to(moment, tick=False)

    services.appointment_check_in(appointment=appointment, user=receptionist)

    assert Appointment.objects.get(pk=appointment.pk).status == Status.CHECKED_IN


def test_the_check_in_window_follows_the_setting(book, receptionist, time_machine, settings):
    settings.CHECK_IN_OPENS_MINUTES = 15
    appointment = book(at(MONDAY, 10, 45))
    time_machine.move_to(at(MONDAY, 10, 20), tick=False)

    with pytest.raises(SchedulingError, match=r"Check-in opens 15 minutes before the visit: 10:30\."):
        services.appointment_check_in(appointment=appointment, user=receptionist)


def test_it_refuses_to_check_in_a_cancelled_appointment(book, receptionist):
    appointment = book(at(MONDAY, 10))
    services.appointment_cancel(appointment=appointment, cancelled_by="patient")

    with pytest.raises(SchedulingError) as error:
        services.appointment_check_in(appointment=appointment, user=receptionist)

    assert str(error.value) == "This appointment is cancelled; it cannot be checked in."
    assert Appointment.objects.get(pk=appointment.pk).status == Status.CANCELLED


def test_it_marks_a_no_show_once_the_appointment_has_begun(book, receptionist, time_machine):
    appointment = book(at(MONDAY, 10))
    time_machine.move_to(datetime.datetime(2026, 11, 16, 10, 20, tzinfo=CLINIC), tick=False)

    services.appointment_mark_no_show(appointment=appointment, user=receptionist)

    appointment.refresh_from_db()
    assert appointment.status == Status.NO_SHOW
    assert appointment.changes.filter(action="no_show").exists()


def test_it_refuses_a_no_show_before_the_start(book, receptionist):
    appointment = book(at(MONDAY, 10))

    with pytest.raises(SchedulingError, match="only be marked a no-show once the appointment has begun"):
        services.appointment_mark_no_show(appointment=appointment, user=receptionist)

    assert Appointment.objects.get(pk=appointment.pk).status == Status.BOOKED


def test_it_refuses_a_no_show_for_a_checked_in_patient(book, receptionist, time_machine):
    appointment = book(at(MONDAY, 10))
    Appointment.objects.filter(pk=appointment.pk).update(status=Status.CHECKED_IN)
    time_machine.move_to(datetime.datetime(2026, 11, 16, 10, 20, tzinfo=CLINIC), tick=False)

    with pytest.raises(SchedulingError) as error:
        services.appointment_mark_no_show(appointment=appointment, user=receptionist)

    assert str(error.value) == "This appointment is checked in; it cannot be marked a no-show."
    assert Appointment.objects.get(pk=appointment.pk).status == Status.CHECKED_IN


def test_it_confirms_a_booked_appointment(book):
    appointment = book(at(MONDAY, 10))

    services.appointment_confirm(appointment=appointment)

    assert Appointment.objects.get(pk=appointment.pk).status == Status.CONFIRMED
    assert appointment.changes.filter(action="confirmed", changed_by=None).exists()
