"""What PostgreSQL does with the dashboard's queries over a long history:
the rows a figure counts, through an index, never the whole table."""

import datetime

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from clinic import reports, roles
from clinic.tests.factories import UserFactory
from patients.tests.factories import PatientFactory
from scheduling.models import Appointment, Reminder
from scheduling.tests.factories import AppointmentTypeFactory, RoomFactory

pytestmark = [pytest.mark.postgresql, pytest.mark.django_db]

NOW = datetime.datetime(2026, 11, 16, 14, 0, tzinfo=datetime.UTC)
BODY = "Dear patient, your appointment is booked. " * 25


@pytest.fixture
def outbox_history(time_machine):
    """Years of sent emails (bodies and all), a few waiting and one failed."""
    time_machine.move_to(NOW, tick=False)
    patient, therapist, room = PatientFactory(), UserFactory(role=roles.THERAPIST), RoomFactory()
    kind = AppointmentTypeFactory()
    first = NOW - datetime.timedelta(hours=8000)
    appointments = Appointment.objects.bulk_create(
        Appointment(
            patient=patient,
            therapist=therapist,
            room=room,
            appointment_type=kind,
            starts_at=first + datetime.timedelta(hours=n),
            ends_at=first + datetime.timedelta(hours=n, minutes=45),
        )
        for n in range(8000)
    )
    sent = [
        Reminder(
            appointment=appointment,
            kind=kind_,
            due_at=appointment.starts_at - datetime.timedelta(days=1),
            sent_at=appointment.starts_at - datetime.timedelta(days=1),
            status=Reminder.Status.SENT,
            subject="Your appointment",
            body_text=BODY,
            body_html=f"<p>{BODY}</p>",
        )
        for appointment in appointments[:-20]
        for kind_ in (Reminder.Kind.BOOKING_CONFIRMATION, Reminder.Kind.APPOINTMENT_REMINDER)
    ]
    waiting = [
        Reminder(appointment=appointment, kind=Reminder.Kind.BOOKING_CONFIRMATION, due_at=timezone.now())
        for appointment in appointments[-20:]
    ]
    sent[-1].status, sent[-1].sent_at = Reminder.Status.FAILED, None
    Reminder.objects.bulk_create(sent + waiting)
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE scheduling_reminder")


def test_the_email_panel_reads_only_the_rows_it_counts(outbox_history):
    with CaptureQueriesContext(connection) as queries:
        panel = reports.reminders_panel()

    assert panel.figures["pending"] == 20
    assert panel.figures["failed"] == 1
    assert panel.figures["sent_today"] == 0
    counted = [q["sql"] for q in queries.captured_queries if 'FROM "scheduling_reminder"' in q["sql"]]
    assert len(counted) == 3  # waiting and overdue, sent today, failed
    with connection.cursor() as cursor:
        for query in counted:
            cursor.execute(f"EXPLAIN {query}")
            plan = "\n".join(row[0] for row in cursor.fetchall())
            assert "Seq Scan on scheduling_reminder" not in plan, plan
            assert "reminder_due_idx" in plan or "reminder_sent_idx" in plan, plan
