"""Reminders delivered for real: due rows claimed by the dispatcher, sent by
a real Celery worker process through Redis to a real SMTP server on
loopback, each exactly once. And two dispatchers at once never claim the
same row (skip_locked on PostgreSQL, a conditional update on SQLite)."""

import datetime
import email
import socket
import threading
import time
from email import policy

import pytest
from aiosmtpd.controller import Controller
from celery import Celery
from django.db import connection
from django.utils import timezone

from clinic.tests.factories import therapist as make_therapist
from patients.tests.factories import PatientFactory
from scheduling import reminders
from scheduling.models import Appointment, Reminder
from scheduling.tests.factories import AppointmentTypeFactory, RoomFactory

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True, serialized_rollback=True)]

Kind, Status = Reminder.Kind, Reminder.Status


class RecordingHandler:
    """An SMTP server's DATA handler that keeps the Message-ID of every
    message, and the connection (session) each came over."""

    def __init__(self):
        self.message_ids = []
        self.sessions = []
        self.lock = threading.Lock()

    async def handle_DATA(self, server, session, envelope):
        message = email.message_from_bytes(envelope.content, policy=policy.default)
        with self.lock:
            self.message_ids.append(str(message["Message-ID"]))
            if not any(seen is session for seen in self.sessions):
                self.sessions.append(session)
        return "250 Message accepted for delivery"

    def distinct(self):
        with self.lock:
            return set(self.message_ids)


def free_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture
def smtp_server():
    handler = RecordingHandler()
    controller = Controller(handler, hostname="127.0.0.1", port=free_port())
    controller.start()
    yield controller, handler
    controller.stop()


def client_app(**config):
    """A Celery app of its own, so the test talks to the worker only through the broker."""
    client = Celery("test-client")
    client.conf.update(task_serializer="json", accept_content=["json"], result_serializer="json", **config)
    return client


def due_reminders(count):
    """`count` confirmations due a minute ago, one per appointment, for a
    patient who agreed to emails. Appointments an hour apart, so no two
    overlap (PostgreSQL forbids it)."""
    patient = PatientFactory(email="maria@patient.example", email_consent=True)
    therapist = make_therapist(username="theo")
    room = RoomFactory(name="Room A")
    appointment_type = AppointmentTypeFactory(name="Follow-up", default_minutes=45)
    now = timezone.now()
    first = now.replace(minute=0, second=0, microsecond=0) + datetime.timedelta(days=2)
    appointments = Appointment.objects.bulk_create(
        Appointment(
            patient=patient,
            therapist=therapist,
            room=room,
            appointment_type=appointment_type,
            starts_at=first + datetime.timedelta(hours=n),
            ends_at=first + datetime.timedelta(hours=n, minutes=45),
        )
        for n in range(count)
    )
    return Reminder.objects.bulk_create(
        Reminder(
            appointment=appointment,
            kind=Kind.BOOKING_CONFIRMATION,
            due_at=now - datetime.timedelta(minutes=1),
            status=Status.PENDING,
        )
        for appointment in appointments
    )


def worker_sending_to(smtp_server, redis_url, start_celery_worker, settings):
    """A real worker on Redis that sends to the SMTP server on loopback, and
    a client to queue its tasks."""
    controller, handler = smtp_server
    settings.SITE_URL = "http://127.0.0.1:8000"  # what the worker's settings say too
    worker = start_celery_worker(
        broker_url=redis_url,
        result_backend=redis_url,
        extra_env={
            "EMAIL_HOST": "127.0.0.1",
            "EMAIL_PORT": str(controller.port),
            "SITE_URL": settings.SITE_URL,
        },
    )
    return handler, worker, client_app(broker_url=redis_url, result_backend=redis_url)


def test_it_delivers_500_reminders_through_a_worker_to_smtp_exactly_once(
    redis_url, start_celery_worker, smtp_server, settings
):
    handler, worker, client = worker_sending_to(smtp_server, redis_url, start_celery_worker, settings)
    rows = due_reminders(500)

    claimed = reminders.claim_due(limit=1000)
    assert sorted(claimed) == sorted(r.pk for r in rows)
    for reminder_id in claimed:
        client.send_task("scheduling.tasks.send_reminder", args=[reminder_id], queue=worker.queue)

    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        if len(handler.distinct()) >= 500 and not Reminder.objects.exclude(status=Status.SENT).exists():
            break
        time.sleep(0.5)
    else:
        print(worker.output()[-5000:])

    time.sleep(1)  # anything sent twice would arrive now
    assert len(handler.message_ids) == len(handler.distinct()) == 500
    assert handler.distinct() == {f"<reminder-{r.pk}@127.0.0.1>" for r in rows}
    assert set(Reminder.objects.values_list("status", flat=True)) == {Status.SENT}
    assert not Reminder.objects.filter(sent_at=None).exists()
    assert reminders.claim_due() == []


def test_it_delivers_450_reminders_in_batches_each_over_one_smtp_connection(
    redis_url, start_celery_worker, smtp_server, settings
):
    handler, worker, client = worker_sending_to(smtp_server, redis_url, start_celery_worker, settings)
    rows = due_reminders(450)

    # What the beat dispatcher does, with the worker's queue named.
    batches = list(reminders.claim_batches())
    for batch in batches:
        client.send_task("scheduling.tasks.send_reminders", args=[batch], queue=worker.queue)

    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        if len(handler.distinct()) >= 450 and not Reminder.objects.exclude(status=Status.SENT).exists():
            break
        time.sleep(0.5)
    else:
        print(worker.output()[-5000:])

    time.sleep(1)
    assert [len(batch) for batch in batches] == [200, 200, 50]
    assert len(handler.message_ids) == len(handler.distinct()) == 450
    assert handler.distinct() == {f"<reminder-{r.pk}@127.0.0.1>" for r in rows}
    assert len(handler.sessions) == 3
    assert set(Reminder.objects.values_list("status", flat=True)) == {Status.SENT}


def test_two_dispatchers_at_once_claim_each_row_once():
    rows = due_reminders(1000)
    barrier = threading.Barrier(2)
    claimed = [None, None]
    errors = []

    def dispatcher(n):
        try:
            barrier.wait(timeout=10)
            claimed[n] = reminders.claim_due(limit=1000)
        except Exception as error:
            errors.append(error)
        finally:
            connection.close()

    threads = [threading.Thread(target=dispatcher, args=(n,)) for n in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)

    assert errors == []
    first, second = claimed
    assert set(first).isdisjoint(second)
    assert sorted(first + second) == sorted(r.pk for r in rows)
    assert Reminder.objects.filter(status=Status.SENDING).count() == 1000
