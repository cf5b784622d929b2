"""When a therapist, a room and a patient are free: hand-worked examples on
Monday 16 November 2026, with "now" frozen at 07:00 that morning."""

import datetime
from zoneinfo import ZoneInfo

import pytest

from patients.tests.factories import PatientFactory
from scheduling.availability import (
    alternatives,
    capacity,
    clinic_windows,
    free_slots,
    local,
    problems_for,
    working_windows,
)
from scheduling.models import ClinicHours
from scheduling.tests.factories import (
    AppointmentFactory,
    ClinicClosureFactory,
    ClinicHoursFactory,
    RoomFactory,
    WorkingHoursExceptionFactory,
    WorkingHoursFactory,
)

pytestmark = pytest.mark.django_db

CLINIC = ZoneInfo("America/New_York")
MONDAY = datetime.date(2026, 11, 16)
TUESDAY = MONDAY + datetime.timedelta(days=1)
WEDNESDAY = MONDAY + datetime.timedelta(days=2)
THURSDAY = MONDAY + datetime.timedelta(days=3)
NOW = datetime.datetime(2026, 11, 16, 7, 0, tzinfo=CLINIC)


def at(day, hour, minute=0):
    return local(day, datetime.time(hour, minute))


def times(slots):
    """Slots as clinic-local "HH:MM" strings, for readable assertions."""
    return [f"{slot.astimezone(CLINIC):%H:%M}" for slot in slots]


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


MORNING = ["08:00", "08:15", "08:30", "08:45", "09:00", "09:15", "09:30", "09:45", "10:00"]
MORNING += ["10:15", "10:30", "10:45", "11:00", "11:15"]
AFTERNOON = ["13:00", "13:15", "13:30", "13:45", "14:00", "14:15", "14:30", "14:45", "15:00"]
AFTERNOON += ["15:15", "15:30", "15:45", "16:00", "16:15"]


def test_it_lists_every_quarter_hour_a_45_minute_visit_fits(working_week):
    slots = free_slots(therapist=working_week, day=MONDAY, minutes=45)

    assert times(slots) == MORNING + AFTERNOON
    assert slots[0] == datetime.datetime(2026, 11, 16, 13, 0, tzinfo=datetime.UTC)


def test_it_leaves_out_slots_overlapping_an_appointment_half_open(working_week):
    AppointmentFactory(therapist=working_week, starts_at=at(MONDAY, 9), ends_at=at(MONDAY, 9, 45))

    slots = times(free_slots(therapist=working_week, day=MONDAY, minutes=45))

    # 08:15 + 45 minutes ends at 09:00 exactly: it fits before the 09:00 visit.
    assert "08:15" in slots
    for taken in ["08:30", "08:45", "09:00", "09:15", "09:30"]:
        assert taken not in slots
    assert "09:45" in slots
    assert len(slots) == len(MORNING + AFTERNOON) - 5


def test_it_ignores_cancelled_appointments(working_week):
    AppointmentFactory(
        therapist=working_week, starts_at=at(MONDAY, 9), ends_at=at(MONDAY, 9, 45), status="cancelled"
    )

    assert times(free_slots(therapist=working_week, day=MONDAY, minutes=45)) == MORNING + AFTERNOON


def test_it_leaves_out_times_when_the_room_or_patient_is_busy(working_week, room, patient):
    AppointmentFactory(room=room, starts_at=at(MONDAY, 8), ends_at=at(MONDAY, 12))
    AppointmentFactory(patient=patient, starts_at=at(MONDAY, 13), ends_at=at(MONDAY, 16))

    slots = free_slots(therapist=working_week, day=MONDAY, minutes=45, room=room, patient=patient)

    assert times(slots) == ["16:00", "16:15"]


def test_it_leaves_out_times_already_past(working_week, time_machine):
    time_machine.move_to(datetime.datetime(2026, 11, 16, 10, 5, tzinfo=CLINIC), tick=False)

    slots = times(free_slots(therapist=working_week, day=MONDAY, minutes=45))

    assert slots[:2] == ["10:15", "10:30"]


def test_it_offers_nothing_on_a_day_off(working_week):
    WorkingHoursExceptionFactory(therapist=working_week, date=MONDAY)

    assert free_slots(therapist=working_week, day=MONDAY, minutes=45) == []
    assert times(free_slots(therapist=working_week, day=TUESDAY, minutes=45)) == MORNING + AFTERNOON


def test_it_offers_only_the_hours_of_a_changed_day(working_week):
    WorkingHoursExceptionFactory(
        therapist=working_week, date=MONDAY, starts_at=datetime.time(10), ends_at=datetime.time(14)
    )

    slots = times(free_slots(therapist=working_week, day=MONDAY, minutes=45))

    assert slots == [
        "10:00", "10:15", "10:30", "10:45", "11:00", "11:15", "11:30", "11:45",
        "12:00", "12:15", "12:30", "12:45", "13:00", "13:15",
    ]  # fmt: skip


def test_it_offers_nothing_when_the_clinic_is_closed(working_week, room, patient):
    ClinicClosureFactory(date=MONDAY, reason="Staff training")

    assert free_slots(therapist=working_week, day=MONDAY, minutes=45) == []
    problems = problems_for(
        therapist=working_week, room=room, patient=patient, starts_at=at(MONDAY, 9), ends_at=at(MONDAY, 9, 45)
    )
    assert [problem.code for problem in problems] == ["clinic_closed"]
    assert problems[0].message == "The clinic is closed on Mon 16 Nov (Staff training)."


def test_it_keeps_working_hours_inside_opening_hours(therapist):
    # The clinic opens 08:00-14:00 on Saturdays (migration 0004).
    WorkingHoursFactory(therapist=therapist, weekday=5, starts_at=datetime.time(7), ends_at=datetime.time(16))

    slots = times(free_slots(therapist=therapist, day=datetime.date(2026, 11, 21), minutes=60))

    assert slots[0] == "08:00"
    assert slots[-1] == "13:00"


def test_it_finds_no_problem_with_a_free_time(working_week, room, patient):
    assert (
        problems_for(
            therapist=working_week,
            room=room,
            patient=patient,
            starts_at=at(MONDAY, 9),
            ends_at=at(MONDAY, 9, 45),
        )
        == []
    )


def test_it_names_a_busy_therapist_room_and_patient(working_week, room, patient):
    AppointmentFactory(therapist=working_week, starts_at=at(MONDAY, 9), ends_at=at(MONDAY, 9, 45))
    AppointmentFactory(room=room, starts_at=at(MONDAY, 9, 30), ends_at=at(MONDAY, 10))
    AppointmentFactory(patient=patient, starts_at=at(MONDAY, 8, 30), ends_at=at(MONDAY, 9, 15))

    problems = problems_for(
        therapist=working_week, room=room, patient=patient, starts_at=at(MONDAY, 9), ends_at=at(MONDAY, 9, 45)
    )

    assert [problem.code for problem in problems] == ["therapist_busy", "room_busy", "patient_busy"]
    assert problems[0].message == f"{working_week.get_full_name()} is busy then."
    assert problems[1].message == "Room A is taken then."
    assert problems[2].message == "The patient already has an appointment then."


def test_it_accepts_a_visit_starting_when_another_ends(working_week, room, patient):
    AppointmentFactory(therapist=working_week, room=room, patient=patient, starts_at=at(MONDAY, 8))

    problems = problems_for(
        therapist=working_week,
        room=room,
        patient=patient,
        starts_at=at(MONDAY, 8, 45),
        ends_at=at(MONDAY, 9, 30),
    )

    assert problems == []


def test_it_names_a_time_outside_working_hours(working_week, room, patient):
    problems = problems_for(
        therapist=working_week,
        room=room,
        patient=patient,
        starts_at=at(MONDAY, 11, 30),
        ends_at=at(MONDAY, 12, 15),
    )

    assert [problem.code for problem in problems] == ["outside_working_hours"]
    assert problems[0].message == f"{working_week.get_full_name()} does not work then."


def test_it_names_a_time_in_the_past(working_week, room, patient, time_machine):
    time_machine.move_to(datetime.datetime(2026, 11, 16, 10, 0, tzinfo=CLINIC), tick=False)

    problems = problems_for(
        therapist=working_week, room=room, patient=patient, starts_at=at(MONDAY, 9), ends_at=at(MONDAY, 9, 45)
    )

    assert [problem.code for problem in problems] == ["in_the_past"]
    assert problems[0].message == "That time has already passed."


def test_it_offers_the_nearest_times_on_the_same_day_first(working_week, room, patient):
    AppointmentFactory(therapist=working_week, starts_at=at(MONDAY, 10), ends_at=at(MONDAY, 10, 45))

    found = alternatives(
        therapist=working_week, room=room, patient=patient, starts_at=at(MONDAY, 10), minutes=45
    )

    # 09:15 and 10:45 are both 45 minutes away; 09:00 is next (an hour away,
    # as is 11:00: the earlier comes first).
    assert found == [at(MONDAY, 9, 15), at(MONDAY, 10, 45), at(MONDAY, 9)]


def test_it_offers_the_nearest_day_of_the_week_at_the_same_time_of_day(working_week, room, patient):
    WorkingHoursExceptionFactory(therapist=working_week, date=WEDNESDAY)
    WorkingHoursExceptionFactory(therapist=working_week, date=TUESDAY)

    found = alternatives(
        therapist=working_week, room=room, patient=patient, starts_at=at(WEDNESDAY, 10), minutes=45
    )

    assert found == [at(THURSDAY, 10), at(THURSDAY, 9, 45), at(THURSDAY, 10, 15)]


def test_it_fills_up_with_other_days_when_the_same_day_has_too_few(working_week, room, patient):
    WorkingHoursExceptionFactory(
        therapist=working_week, date=TUESDAY, starts_at=datetime.time(9), ends_at=datetime.time(9, 45)
    )

    found = alternatives(
        therapist=working_week, room=room, patient=patient, starts_at=at(TUESDAY, 10), minutes=45
    )

    # Tuesday offers only 09:00; then Monday and Wednesday (a day away each) at 10:00.
    assert found == [at(TUESDAY, 9), at(MONDAY, 10), at(WEDNESDAY, 10)]


def test_it_keeps_alternatives_in_the_same_week(working_week, room, patient):
    friday = MONDAY + datetime.timedelta(days=4)
    for day in [MONDAY, TUESDAY, WEDNESDAY, THURSDAY, friday]:
        WorkingHoursExceptionFactory(therapist=working_week, date=day)

    assert (
        alternatives(
            therapist=working_week, room=room, patient=patient, starts_at=at(THURSDAY, 10), minutes=45
        )
        == []
    )


def test_capacity_over_weeks_agrees_with_each_days_working_windows():
    """The reports' capacity (the weekly pattern laid over a range) gives every
    day the minutes the booking code's own windows give it: across the
    change from daylight saving time (Sunday 1 November 2026), a day off, a
    changed day, a closure and a clinic that opens early on Sundays."""
    ClinicHours.objects.filter(weekday=6).delete()
    ClinicHoursFactory(weekday=6, opens_at=datetime.time(0, 30), closes_at=datetime.time(4))
    theo, priya = WorkingHoursFactory().therapist, WorkingHoursFactory(weekday=6).therapist
    WorkingHoursFactory(therapist=theo, weekday=6, starts_at=datetime.time(0, 30), ends_at=datetime.time(3))
    WorkingHoursFactory(therapist=theo, weekday=2, starts_at=datetime.time(13), ends_at=datetime.time(17))
    WorkingHoursExceptionFactory(therapist=theo, date=datetime.date(2026, 10, 26))
    WorkingHoursExceptionFactory(
        therapist=priya, date=datetime.date(2026, 11, 1), starts_at=datetime.time(1), ends_at=datetime.time(2)
    )
    ClinicClosureFactory(date=datetime.date(2026, 11, 4))
    first, last = datetime.date(2026, 10, 19), datetime.date(2026, 11, 15)

    found = capacity([theo.pk, priya.pk], first, last)

    def minutes(windows):
        return sum(int((end - start).total_seconds() // 60) for start, end in windows)

    day = first
    while day <= last:
        assert found.opening_minutes[day] == minutes(clinic_windows(day)), day
        for therapist in (theo, priya):
            assert found.therapist_minutes[therapist.pk, day] == minutes(working_windows(therapist, day)), day
        day += datetime.timedelta(days=1)
    # Hours are counted on the clock on the wall, the night the clocks go back too.
    assert found.therapist_minutes[theo.pk, datetime.date(2026, 11, 1)] == 150
    assert found.therapist_minutes[priya.pk, datetime.date(2026, 11, 1)] == 60
    assert found.therapist_minutes[theo.pk, datetime.date(2026, 10, 26)] == 0
    assert found.opening_minutes[datetime.date(2026, 11, 4)] == 0
