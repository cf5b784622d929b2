"""Whatever the front desk does (book, cancel, move, book a series) on the
days around the change from daylight saving time (Sunday 1 November 2026),
no therapist, room or patient is ever in two appointments at once, and the
day totals the dashboard reads always agree with the appointments."""

import contextlib
import datetime
from zoneinfo import ZoneInfo

import pytest
from django.db.models import Q
from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, rule, run_state_machine_as_test

from clinic.tests import factories as people
from patients.tests.factories import PatientFactory
from scheduling import services, totals
from scheduling.availability import local
from scheduling.models import Appointment, AppointmentChange, AppointmentSeries, DayTotal
from scheduling.services import SchedulingError
from scheduling.tests.factories import AppointmentTypeFactory, RoomFactory, WorkingHoursFactory

CLINIC = ZoneInfo("America/New_York")
NOW = datetime.datetime(2026, 10, 26, 7, 0, tzinfo=CLINIC)
# Thursday 29 October to Wednesday 4 November; the clocks go back on the Sunday.
DAYS = [datetime.date(2026, 10, 29) + datetime.timedelta(days=n) for n in range(7)]
TIMES = [datetime.time(8 + quarter // 4, 15 * (quarter % 4)) for quarter in range(4 * 10)]

starts = st.builds(local, st.sampled_from(DAYS), st.sampled_from(TIMES))
indexes = st.integers(min_value=0, max_value=1000)


def overlaps():
    """Pairs of appointments holding the same therapist, room or patient at once."""
    clashes = []
    for appointment in Appointment.objects.occupying():
        clash = (
            Appointment.objects.occupying()
            .overlapping(appointment.starts_at, appointment.ends_at)
            .exclude(pk=appointment.pk)
            .filter(
                Q(therapist=appointment.therapist_id)
                | Q(room=appointment.room_id)
                | Q(patient=appointment.patient_id)
            )
        )
        clashes += [(appointment.pk, other) for other in clash.values_list("pk", flat=True)]
    return clashes


def front_desk_machine(*, therapists, rooms, patients, types, receptionist):
    class FrontDesk(RuleBasedStateMachine):
        @rule(
            therapist=st.sampled_from(therapists),
            room=st.sampled_from(rooms),
            patient=st.sampled_from(patients),
            appointment_type=st.sampled_from(types),
            starts_at=starts,
        )
        def book(self, therapist, room, patient, appointment_type, starts_at):
            with contextlib.suppress(SchedulingError):
                services.appointment_book(
                    patient=patient,
                    therapist=therapist,
                    room=room,
                    appointment_type=appointment_type,
                    starts_at=starts_at,
                    booked_by=receptionist,
                )

        @rule(index=indexes, cancelled_by=st.sampled_from(["clinic", "patient"]))
        def cancel(self, index, cancelled_by):
            appointments = list(Appointment.objects.order_by("pk"))
            if appointments:
                with contextlib.suppress(SchedulingError):
                    services.appointment_cancel(
                        appointment=appointments[index % len(appointments)], cancelled_by=cancelled_by
                    )

        @rule(index=indexes, starts_at=starts, room=st.one_of(st.none(), st.sampled_from(rooms)))
        def reschedule(self, index, starts_at, room):
            appointments = list(Appointment.objects.order_by("pk"))
            if appointments:
                with contextlib.suppress(SchedulingError):
                    services.appointment_reschedule(
                        appointment=appointments[index % len(appointments)],
                        starts_at=starts_at,
                        user=receptionist,
                        room=room,
                    )

        @rule(
            therapist=st.sampled_from(therapists),
            room=st.sampled_from(rooms),
            patient=st.sampled_from(patients),
            appointment_type=st.sampled_from(types),
            first_day=st.sampled_from(DAYS),
            time=st.sampled_from(TIMES),
            weekdays=st.sets(st.integers(min_value=0, max_value=5), min_size=1, max_size=3),
            count=st.integers(min_value=1, max_value=4),
        )
        def book_series(self, therapist, room, patient, appointment_type, first_day, time, weekdays, count):
            with contextlib.suppress(SchedulingError):
                services.series_book(
                    patient=patient,
                    therapist=therapist,
                    room=room,
                    appointment_type=appointment_type,
                    starts=services.series_dates(
                        first_day=first_day, time=time, weekdays=weekdays, interval_weeks=1, count=count
                    ),
                    booked_by=receptionist,
                    description="A course of sessions",
                )

        @invariant()
        def nobody_is_in_two_places_at_once(self):
            assert overlaps() == []

        @invariant()
        def day_totals_agree_with_the_appointments(self):
            assert totals.stale_days() == []

        def teardown(self):
            DayTotal.objects.all().delete()
            AppointmentChange.objects.all().delete()
            Appointment.objects.all().delete()
            AppointmentSeries.objects.all().delete()

    return FrontDesk


@pytest.mark.django_db
def test_no_one_is_ever_double_booked(time_machine, receptionist):
    time_machine.move_to(NOW, tick=False)
    therapists = [people.therapist(username="theo"), people.therapist(username="priya")]
    for therapist in therapists:
        for weekday in range(6):
            WorkingHoursFactory(
                therapist=therapist, weekday=weekday, starts_at=datetime.time(8), ends_at=datetime.time(18)
            )
    machine = front_desk_machine(
        therapists=therapists,
        rooms=[RoomFactory(name="Room A"), RoomFactory(name="Room B")],
        patients=[PatientFactory() for _ in range(3)],
        types=[
            AppointmentTypeFactory(name="Follow-up", default_minutes=45),
            AppointmentTypeFactory(name="Assessment", default_minutes=60),
        ],
        receptionist=receptionist,
    )

    run_state_machine_as_test(
        machine, settings=settings(max_examples=25, stateful_step_count=15, deadline=None)
    )
