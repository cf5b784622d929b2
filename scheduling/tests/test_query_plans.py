"""What PostgreSQL does with the queries the services run over a long
history: an index, never a scan of every appointment ever booked."""

import datetime

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from clinic import roles
from clinic.tests.factories import UserFactory
from patients.tests.factories import PatientFactory
from scheduling.availability import free_slots, local, problems_for
from scheduling.models import Appointment
from scheduling.tests.factories import AppointmentTypeFactory, RoomFactory, WorkingHoursFactory
from scheduling.views.booking import free_rooms

pytestmark = [pytest.mark.postgresql, pytest.mark.django_db]

MONDAY = datetime.date(2026, 11, 16)
HISTORY = 6000


@pytest.fixture
def history(time_machine):
    """Three therapists, rooms and twenty patients with an hour-by-hour
    history going back months, analysed as a nightly autovacuum would."""
    time_machine.move_to(local(MONDAY, datetime.time(7)), tick=False)
    therapists = [UserFactory(role=roles.THERAPIST) for _ in range(3)]
    rooms = [RoomFactory() for _ in range(3)]
    patients = [PatientFactory() for _ in range(20)]
    kind = AppointmentTypeFactory()
    first = local(MONDAY, datetime.time(8)) - datetime.timedelta(hours=HISTORY)
    Appointment.objects.bulk_create(
        Appointment(
            patient=patients[n % 20],
            therapist=therapists[n % 3],
            room=rooms[n % 3],
            appointment_type=kind,
            starts_at=first + datetime.timedelta(hours=n),
            ends_at=first + datetime.timedelta(hours=n, minutes=45),
            status=Appointment.Status.COMPLETED,
        )
        for n in range(HISTORY)
    )
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE scheduling_appointment")
    for therapist in therapists:
        WorkingHoursFactory(
            therapist=therapist, weekday=0, starts_at=datetime.time(8), ends_at=datetime.time(17)
        )
    return therapists[0], rooms[0], patients[0]


def plans_of_appointment_queries(run):
    with CaptureQueriesContext(connection) as queries:
        run()
    plans = []
    with connection.cursor() as cursor:
        for query in queries.captured_queries:
            if 'FROM "scheduling_appointment"' in query["sql"]:
                cursor.execute(f"EXPLAIN {query['sql']}")
                plans.append("\n".join(row[0] for row in cursor.fetchall()))
    assert plans
    return plans


def test_the_conflict_checks_use_the_range_indexes(history):
    therapist, room, patient = history
    starts_at = local(MONDAY, datetime.time(10))

    plans = plans_of_appointment_queries(
        lambda: problems_for(
            therapist=therapist,
            room=room,
            patient=patient,
            starts_at=starts_at,
            ends_at=starts_at + datetime.timedelta(minutes=45),
        )
    )

    assert len(plans) == 3  # therapist, room, patient
    for plan in plans:
        assert "Seq Scan on scheduling_appointment" not in plan, plan
        assert "appointment_no_double_booking" in plan, plan


def test_the_free_slots_of_a_day_use_the_range_indexes(history):
    therapist, room, patient = history

    plans = plans_of_appointment_queries(
        lambda: free_slots(therapist=therapist, day=MONDAY, minutes=45, room=room, patient=patient)
    )

    for plan in plans:
        assert "Seq Scan on scheduling_appointment" not in plan, plan
        assert "appointment_no_double_booking" in plan, plan


def test_the_free_rooms_of_a_time_use_the_range_indexes(history):
    starts_at = local(MONDAY, datetime.time(10))

    plans = plans_of_appointment_queries(
        lambda: list(free_rooms(starts_at, starts_at + datetime.timedelta(minutes=45)))
    )

    for plan in plans:
        assert "Seq Scan on scheduling_appointment" not in plan, plan
        assert "appointment_no_double_booking" in plan, plan
