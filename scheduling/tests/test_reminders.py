"""The reminders outbox: which emails booking, cancelling, moving and
completing a visit schedule, and how the dispatcher sends each exactly once,
with "now" frozen at Monday 16 November 2026, 09:00 in the clinic.

Rows are written by the real services; the dispatcher is run in-process
(claim the due rows, then send each id), as a worker would run it."""

import datetime
import smtplib
from pathlib import Path
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo

import pytest
from django.conf import settings as django_settings
from django.core import mail
from django.core.exceptions import ValidationError
from django.core.mail.backends.locmem import EmailBackend as LocmemBackend
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone as django_timezone

from patients.models import Patient
from patients.tests.factories import PatientFactory
from scheduling import reminders, services, tasks
from scheduling.availability import local
from scheduling.models import Appointment, ClinicHours, EmailWording, Reminder, WorkingHours
from scheduling.tests.factories import (
    AppointmentTypeFactory,
    RoomFactory,
    WorkingHoursFactory,
    aftercare,
    working_week,
)

pytestmark = pytest.mark.django_db

CLINIC = ZoneInfo("America/New_York")
UTC = datetime.UTC
MONDAY = datetime.date(2026, 11, 16)
TUESDAY = datetime.date(2026, 11, 17)
WEDNESDAY = datetime.date(2026, 11, 18)
THURSDAY = datetime.date(2026, 11, 19)
NOW = datetime.datetime(2026, 11, 16, 9, 0, tzinfo=CLINIC)
Kind, Status = Reminder.Kind, Reminder.Status
AFTERCARE = aftercare(
    muscles=[("Piriformis", "Left"), ("Upper trapezius", "Right")],
    advice=[
        ("hydration", "Hydration", "Drink plenty of water."),
        ("heat", "Heat", "A warm pack for 15 minutes eases soreness."),
    ],
)


def at(day, hour, minute=0):
    return local(day, datetime.time(hour, minute))


class FlakyBackend(LocmemBackend):
    """The outside world's SMTP server hanging up: the first `failures`
    messages fail, the rest reach django.core.mail.outbox."""

    failures = 0
    calls = 0

    def send_messages(self, messages):
        FlakyBackend.calls += 1
        if FlakyBackend.failures > 0:
            FlakyBackend.failures -= 1
            raise smtplib.SMTPServerDisconnected("Connection unexpectedly closed")
        return super().send_messages(messages)


@pytest.fixture(autouse=True)
def frozen_now(time_machine, settings):
    time_machine.move_to(NOW, tick=False)
    settings.SITE_URL = "https://clinic.example"
    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
    FlakyBackend.failures = FlakyBackend.calls = 0


@pytest.fixture
def clinic(therapist, receptionist):
    """Theo works 08:00-12:00 and 13:00-17:00 on weekdays, in Room A."""
    working_week(therapist)
    return {
        "therapist": therapist,
        "room": RoomFactory(name="Room A"),
        "appointment_type": AppointmentTypeFactory(name="Follow-up", default_minutes=45),
        "booked_by": receptionist,
    }


@pytest.fixture
def patient():
    return PatientFactory(first_name="Maria", last_name="Lopez", email="maria@patient.example")


@pytest.fixture
def book(clinic, patient):
    def book(starts_at, **kwargs):
        return services.appointment_book(**{**clinic, "patient": patient, "starts_at": starts_at, **kwargs})

    return book


@pytest.fixture
def book_series(clinic, patient):
    def book_series(starts, **kwargs):
        return services.series_book(
            **{**clinic, "patient": patient, "starts": starts, "description": "Lower back", **kwargs}
        )

    return book_series


def rows(appointment=None):
    qs = Reminder.objects.all() if appointment is None else Reminder.objects.filter(appointment=appointment)
    return {r.kind: r for r in qs}


def dispatch():
    """One run of the dispatcher: claim what is due, send each claimed id."""
    return {pk: tasks.send_reminder(pk) for pk in reminders.claim_due()}


def travel(time_machine, moment):
    time_machine.move_to(moment, tick=False)


def email_for(reminder):
    """The one email sent for a reminder, found by its Message-ID."""
    found = [m for m in mail.outbox if m.extra_headers["Message-ID"] == reminders.message_id(reminder)]
    assert len(found) == 1, f"{len(found)} emails for {reminder}"
    return found[0]


def html_of(message):
    [(html, mimetype)] = message.alternatives
    assert mimetype == "text/html"
    return html


def calendars_of(message):
    return [(a[0], a[1]) for a in message.attachments if a[2] == "text/calendar"]


# What the services schedule.


def test_it_schedules_a_confirmation_now_and_a_reminder_24_hours_before(book):
    appointment = book(at(TUESDAY, 10))

    scheduled = rows(appointment)
    assert set(scheduled) == {Kind.BOOKING_CONFIRMATION, Kind.APPOINTMENT_REMINDER}
    assert scheduled[Kind.BOOKING_CONFIRMATION].due_at == NOW
    assert scheduled[Kind.APPOINTMENT_REMINDER].due_at == at(MONDAY, 10)
    assert {r.status for r in scheduled.values()} == {Status.PENDING}


def test_it_schedules_no_reminder_for_an_appointment_less_than_24_hours_away(book):
    appointment = book(at(MONDAY, 14))

    assert set(rows(appointment)) == {Kind.BOOKING_CONFIRMATION}


def test_it_confirms_a_series_once_and_reminds_before_each_session(book_series):
    starts = [at(TUESDAY, 10), at(THURSDAY, 10), at(TUESDAY + datetime.timedelta(weeks=1), 10)]
    series = book_series(starts)

    appointments = list(series.appointments.order_by("starts_at"))
    confirmations = Reminder.objects.filter(kind=Kind.BOOKING_CONFIRMATION)
    assert [(c.appointment_id, c.due_at) for c in confirmations] == [(appointments[0].pk, NOW)]
    assert confirmations[0].context["appointments"] == [a.pk for a in appointments]
    reminder_rows = Reminder.objects.filter(kind=Kind.APPOINTMENT_REMINDER).order_by("due_at")
    assert [(r.appointment_id, r.due_at) for r in reminder_rows] == [
        (a.pk, a.starts_at - datetime.timedelta(hours=24)) for a in appointments
    ]


def test_it_writes_skipped_rows_and_never_emails_a_patient_without_consent(
    book, book_series, clinic, time_machine
):
    shy = PatientFactory(email_consent=False)
    appointment = book(at(TUESDAY, 10), patient=shy)
    book_series([at(WEDNESDAY, 10), at(THURSDAY, 10)], patient=shy)

    assert Reminder.objects.count() == 2 + 3
    assert set(Reminder.objects.values_list("status", flat=True)) == {Status.SKIPPED}

    travel(time_machine, at(TUESDAY, 10, 45))
    services.appointment_check_in(appointment=appointment, user=None)
    services.appointment_complete(
        appointment=appointment, aftercare=AFTERCARE, completed_by=clinic["therapist"]
    )
    assert {r.status for r in rows(appointment).values()} == {Status.SKIPPED}
    for day in range(5):
        travel(time_machine, at(TUESDAY + datetime.timedelta(days=day), 12))
        dispatch()
    assert mail.outbox == []


def test_it_writes_skipped_rows_for_a_patient_without_an_email_address(book):
    # Consent without an address is refused (patient_email_consent_needs_email).
    appointment = book(at(TUESDAY, 10), patient=PatientFactory(email="", email_consent=False))

    assert {r.status for r in rows(appointment).values()} == {Status.SKIPPED}


def test_it_cancels_what_is_pending_when_the_appointment_is_cancelled(book, time_machine):
    appointment = book(at(TUESDAY, 10))
    dispatch()  # the confirmation goes out

    services.appointment_cancel(appointment=appointment, cancelled_by=Appointment.CancelledBy.PATIENT)

    scheduled = rows(appointment)
    assert scheduled[Kind.BOOKING_CONFIRMATION].status == Status.SENT
    assert scheduled[Kind.APPOINTMENT_REMINDER].status == Status.CANCELLED
    travel(time_machine, at(MONDAY, 11))
    assert dispatch() == {}
    assert len(mail.outbox) == 1


def test_it_cancels_the_confirmation_too_if_it_had_not_gone_yet(book):
    appointment = book(at(TUESDAY, 10))

    services.appointment_cancel(appointment=appointment, cancelled_by=Appointment.CancelledBy.CLINIC)

    assert {r.status for r in rows(appointment).values()} == {Status.CANCELLED}
    assert dispatch() == {}


def test_it_moves_the_reminder_with_the_appointment(book, therapist):
    appointment = book(at(TUESDAY, 10))

    services.appointment_reschedule(appointment=appointment, starts_at=at(THURSDAY, 14), user=therapist)

    reminder = rows(appointment)[Kind.APPOINTMENT_REMINDER]
    assert (reminder.due_at, reminder.status) == (at(WEDNESDAY, 14), Status.PENDING)
    assert Reminder.objects.filter(appointment=appointment, kind=Kind.APPOINTMENT_REMINDER).count() == 1


def test_it_cancels_the_reminder_when_the_appointment_moves_closer_than_24_hours(book, therapist):
    appointment = book(at(TUESDAY, 10))

    services.appointment_reschedule(appointment=appointment, starts_at=at(MONDAY, 15), user=therapist)

    assert rows(appointment)[Kind.APPOINTMENT_REMINDER].status == Status.CANCELLED


def test_it_reminds_again_when_an_appointment_is_moved_after_its_reminder_went(book, therapist, time_machine):
    """The reminder for Tuesday went out on Monday; the patient then moves to
    Thursday. Thursday's visit needs its own reminder on Wednesday."""
    appointment = book(at(TUESDAY, 10))
    travel(time_machine, at(MONDAY, 10))
    dispatch()
    assert rows(appointment)[Kind.APPOINTMENT_REMINDER].status == Status.SENT

    services.appointment_reschedule(appointment=appointment, starts_at=at(THURSDAY, 10), user=therapist)

    reminder = rows(appointment)[Kind.APPOINTMENT_REMINDER]
    assert (reminder.status, reminder.due_at) == (Status.PENDING, at(WEDNESDAY, 10))


def test_completing_a_visit_schedules_aftercare_with_the_muscles_and_advice(book, therapist, time_machine):
    appointment = book(at(MONDAY, 10))
    travel(time_machine, at(MONDAY, 10, 50))

    services.appointment_check_in(appointment=appointment, user=None)

    services.appointment_complete(appointment=appointment, aftercare=AFTERCARE, completed_by=therapist)

    scheduled = rows(appointment)
    assert scheduled[Kind.AFTERCARE_SAME_DAY].due_at == at(MONDAY, 10, 50)
    assert scheduled[Kind.AFTERCARE_24H].due_at == at(TUESDAY, 10, 50)
    assert scheduled[Kind.AFTERCARE_48H].due_at == at(WEDNESDAY, 10, 50)
    for kind in (Kind.AFTERCARE_SAME_DAY, Kind.AFTERCARE_24H, Kind.AFTERCARE_48H):
        assert scheduled[kind].status == Status.PENDING
        assert scheduled[kind].context == AFTERCARE


def test_a_no_show_gets_no_aftercare(book, therapist, time_machine):
    appointment = book(at(MONDAY, 10))
    travel(time_machine, at(MONDAY, 10, 20))

    services.appointment_mark_no_show(appointment=appointment, user=therapist)

    assert set(rows(appointment)) == {Kind.BOOKING_CONFIRMATION}


# Quiet hours.


@pytest.fixture
def late_clinic(clinic):
    """The clinic opens early and closes late, and Theo works all of it:
    06:00 to 23:45 every weekday."""
    ClinicHours.objects.update(opens_at=datetime.time(6), closes_at=datetime.time(23, 45))
    WorkingHours.objects.filter(therapist=clinic["therapist"]).delete()
    for weekday in range(5):
        WorkingHoursFactory(
            therapist=clinic["therapist"],
            weekday=weekday,
            starts_at=datetime.time(6),
            ends_at=datetime.time(23, 45),
        )
    return clinic


@pytest.mark.parametrize(
    ("starts", "due"),
    [
        (at(WEDNESDAY, 22, 30), at(WEDNESDAY, 8)),  # would be Tuesday 22:30
        (at(WEDNESDAY, 6), at(TUESDAY, 8)),  # would be Tuesday 06:00
        (at(WEDNESDAY, 8), at(TUESDAY, 8)),
        (at(WEDNESDAY, 20, 45), at(TUESDAY, 20, 45)),
    ],
)
def test_a_reminder_never_falls_in_the_quiet_hours(late_clinic, book, starts, due):
    appointment = book(starts)

    assert rows(appointment)[Kind.APPOINTMENT_REMINDER].due_at == due


def test_a_confirmation_booked_at_night_waits_for_the_morning(late_clinic, book, time_machine):
    travel(time_machine, at(MONDAY, 22, 15))

    appointment = book(at(THURSDAY, 10))

    assert rows(appointment)[Kind.BOOKING_CONFIRMATION].due_at == at(TUESDAY, 8)


@pytest.mark.parametrize(
    ("moment", "expected"),
    [
        # The night clocks go back (Sunday 1 November 2026, 02:00 EDT -> 01:00 EST).
        (
            datetime.datetime(2026, 10, 31, 22, 30, tzinfo=CLINIC),
            datetime.datetime(2026, 11, 1, 13, 0, tzinfo=UTC),
        ),
        (
            datetime.datetime(2026, 11, 1, 1, 30, tzinfo=CLINIC),
            datetime.datetime(2026, 11, 1, 13, 0, tzinfo=UTC),
        ),
        (
            datetime.datetime(2026, 11, 1, 1, 30, fold=1, tzinfo=CLINIC),
            datetime.datetime(2026, 11, 1, 13, 0, tzinfo=UTC),
        ),
        (
            datetime.datetime(2026, 11, 1, 7, 59, tzinfo=CLINIC),
            datetime.datetime(2026, 11, 1, 13, 0, tzinfo=UTC),
        ),
        (
            datetime.datetime(2026, 10, 31, 7, 0, tzinfo=CLINIC),
            datetime.datetime(2026, 10, 31, 12, 0, tzinfo=UTC),
        ),
        (
            datetime.datetime(2026, 11, 1, 21, 0, tzinfo=CLINIC),
            datetime.datetime(2026, 11, 2, 13, 0, tzinfo=UTC),
        ),
        # In UTC: 02:30 UTC on 1 November is 22:30 EDT on 31 October.
        (
            datetime.datetime(2026, 11, 1, 2, 30, tzinfo=UTC),
            datetime.datetime(2026, 11, 1, 13, 0, tzinfo=UTC),
        ),
        # The night clocks go forward (Sunday 8 March 2026).
        (
            datetime.datetime(2026, 3, 8, 1, 30, tzinfo=CLINIC),
            datetime.datetime(2026, 3, 8, 12, 0, tzinfo=UTC),
        ),
        # Outside the quiet hours a moment is left alone.
        (
            datetime.datetime(2026, 11, 1, 8, 0, tzinfo=CLINIC),
            datetime.datetime(2026, 11, 1, 13, 0, tzinfo=UTC),
        ),
        (
            datetime.datetime(2026, 11, 1, 20, 59, tzinfo=CLINIC),
            datetime.datetime(2026, 11, 2, 1, 59, tzinfo=UTC),
        ),
    ],
)
def test_deliverable_moves_the_quiet_hours_to_8_in_the_morning_across_dst(moment, expected):
    delivered = reminders.deliverable(moment)

    assert delivered == expected
    assert delivered.astimezone(CLINIC).hour in (8, 20)


# Sending.


def test_nothing_is_sent_before_it_is_due(book, time_machine):
    appointment = book(at(TUESDAY, 10))
    dispatch()
    assert [m.subject for m in mail.outbox] == [
        "Your appointment at Riverside Physiotherapy on Tue 17 Nov is booked"
    ]

    travel(time_machine, at(MONDAY, 10) - datetime.timedelta(seconds=1))
    assert dispatch() == {}
    assert len(mail.outbox) == 1

    travel(time_machine, at(MONDAY, 10))
    reminder = rows(appointment)[Kind.APPOINTMENT_REMINDER]
    assert dispatch() == {reminder.pk: "sent"}
    assert len(mail.outbox) == 2


def test_two_dispatcher_runs_send_everything_that_is_due(book, book_series, therapist, time_machine):
    single = book(at(MONDAY, 10))
    book_series([at(TUESDAY, 10), at(WEDNESDAY, 10), at(THURSDAY, 10)])
    travel(time_machine, at(MONDAY, 10, 45))
    services.appointment_check_in(appointment=single, user=None)
    services.appointment_complete(appointment=single, aftercare=AFTERCARE, completed_by=therapist)
    travel(time_machine, at(MONDAY + datetime.timedelta(days=7), 12))
    due = Reminder.objects.filter(status=Status.PENDING).count()
    assert due == 1 + 1 + 3 + 3  # confirmations, reminders, aftercare

    first, second = dispatch(), dispatch()

    assert set(first.values()) == {"sent"}
    assert second == {}
    assert len(mail.outbox) == due
    assert set(Reminder.objects.values_list("status", flat=True)) == {Status.SENT}


def test_the_confirmation_email(book, patient):
    appointment = book(at(TUESDAY, 10))
    dispatch()

    reminder = rows(appointment)[Kind.BOOKING_CONFIRMATION]
    message = email_for(reminder)
    assert message.to == ["maria@patient.example"]
    assert message.subject == "Your appointment at Riverside Physiotherapy on Tue 17 Nov is booked"
    assert "Dear Maria," in message.body
    assert "Tuesday 17 November 2026 at 10:00: Follow-up" in message.body
    assert "Tuesday 17 November 2026 at 10:00" in html_of(message)
    headers = message.message()
    assert headers["Message-ID"] == f"<reminder-{reminder.pk}@clinic.example>"
    assert headers["List-Unsubscribe"].startswith("<https://clinic.example/")
    assert headers["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    [(name, content)] = calendars_of(message)
    assert name == f"appointment-{appointment.pk}.ics"
    assert "BEGIN:VEVENT" in str(content)

    reminder.refresh_from_db()
    assert reminder.status == Status.SENT
    assert reminder.sent_at == NOW
    assert (reminder.subject, reminder.body_text, reminder.body_html) == (
        message.subject,
        message.body,
        html_of(message),
    )


def test_the_series_confirmation_lists_every_session_and_carries_an_ics_for_each(book_series):
    series = book_series([at(TUESDAY, 10), at(THURSDAY, 14), at(TUESDAY + datetime.timedelta(weeks=1), 10)])
    dispatch()

    [message] = mail.outbox
    assert message.subject == "Your 3 appointments at Riverside Physiotherapy are booked"
    for text in (message.body, html_of(message)):
        assert "Tuesday 17 November 2026 at 10:00" in text
        assert "Thursday 19 November 2026 at 14:00" in text
        assert "Tuesday 24 November 2026 at 10:00" in text
    appointments = list(series.appointments.order_by("starts_at"))
    assert [name for name, _ in calendars_of(message)] == [f"appointment-{a.pk}.ics" for a in appointments]


def test_the_reminder_email_carries_the_appointment_and_its_ics(book, time_machine):
    appointment = book(at(TUESDAY, 10))
    travel(time_machine, at(MONDAY, 10))
    dispatch()

    message = email_for(rows(appointment)[Kind.APPOINTMENT_REMINDER])
    assert message.subject == "Reminder: your appointment at Riverside Physiotherapy on Tue 17 Nov at 10:00"
    assert "Tuesday 17 November 2026 at 10:00, Follow-up" in message.body
    assert "https://clinic.example/" in message.body  # the confirm-or-cancel link
    assert [name for name, _ in calendars_of(message)] == [f"appointment-{appointment.pk}.ics"]


def test_aftercare_emails_name_the_muscles_the_advice_and_the_next_appointment(book, therapist, time_machine):
    appointment = book(at(MONDAY, 10))
    book(at(THURSDAY, 14))
    travel(time_machine, at(MONDAY, 10, 50))
    services.appointment_check_in(appointment=appointment, user=None)
    services.appointment_complete(appointment=appointment, aftercare=AFTERCARE, completed_by=therapist)
    travel(time_machine, at(WEDNESDAY, 12))
    dispatch()

    scheduled = rows(appointment)
    same_day = email_for(scheduled[Kind.AFTERCARE_SAME_DAY])
    assert same_day.subject == "After today's treatment at Riverside Physiotherapy"
    for text in (same_day.body, html_of(same_day)):
        assert "Piriformis (left)" in text
        assert "Upper trapezius (right)" in text
        assert "Drink plenty of water." in text
        assert "A warm pack for 15 minutes eases soreness." in text
    assert calendars_of(same_day) == []
    day_after = email_for(scheduled[Kind.AFTERCARE_24H])
    assert "(Piriformis, Upper trapezius)" in day_after.body
    two_days = email_for(scheduled[Kind.AFTERCARE_48H])
    assert "Your next appointment: Thursday 19 November 2026 at 14:00" in two_days.body
    assert "Thursday 19 November 2026 at 14:00" in html_of(two_days)


def test_message_ids_are_stable_and_unique_per_reminder(book_series, time_machine):
    book_series([at(TUESDAY, 10), at(WEDNESDAY, 10), at(THURSDAY, 10)])
    travel(time_machine, at(THURSDAY, 12))
    dispatch()

    sent = {m.extra_headers["Message-ID"] for m in mail.outbox}
    assert len(sent) == len(mail.outbox) == Reminder.objects.count() == 4
    assert sent == {f"<reminder-{r.pk}@clinic.example>" for r in Reminder.objects.all()}
    assert {reminders.message_id(r) for r in Reminder.objects.all()} == sent  # the same when computed again


# Once and only once.


def test_sending_twice_sends_one_email(book):
    appointment = book(at(TUESDAY, 10))
    [claimed] = reminders.claim_due()

    assert reminders.send(claimed) == "sent"
    assert reminders.send(claimed) == "not claimed"
    assert tasks.send_reminder(claimed) == "not claimed"  # a duplicate delivery of the task

    assert len(mail.outbox) == 1
    assert rows(appointment)[Kind.BOOKING_CONFIRMATION].status == Status.SENT


def test_an_unclaimed_row_is_not_sent(book):
    appointment = book(at(TUESDAY, 10))
    confirmation = rows(appointment)[Kind.BOOKING_CONFIRMATION]

    assert reminders.send(confirmation.pk) == "not claimed"
    assert mail.outbox == []


def test_a_claimed_row_is_claimed_again_only_when_its_lease_ends(book, settings, time_machine):
    settings.REMINDER_LEASE_SECONDS = 120
    appointment = book(at(TUESDAY, 10))
    confirmation = rows(appointment)[Kind.BOOKING_CONFIRMATION]

    assert reminders.claim_due() == [confirmation.pk]
    confirmation.refresh_from_db()
    assert (confirmation.status, confirmation.lease_until) == (
        Status.SENDING,
        NOW + datetime.timedelta(seconds=120),
    )
    assert reminders.claim_due() == []
    travel(time_machine, NOW + datetime.timedelta(seconds=120))
    assert reminders.claim_due() == []

    # The worker that took it died; once the lease is over another one sends it.
    travel(time_machine, NOW + datetime.timedelta(seconds=121))
    assert reminders.claim_due() == [confirmation.pk]
    assert reminders.send(confirmation.pk) == "sent"
    assert reminders.claim_due() == []
    assert len(mail.outbox) == 1


# The dispatcher: batches until nothing is due, one connection per batch.


class CountingBackend(LocmemBackend):
    """The outside world's SMTP server, as Django's SMTP backend meets it: a
    connection opened by open() stays open for every message until close();
    without one, each send opens and closes its own. Messages to
    `refused` addresses are refused."""

    opened = 0
    refused = set()
    on_send = None  # what else happens as a message is sent (a slow server)

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.is_open = False

    def open(self):
        if self.is_open:
            return False
        self.is_open = True
        CountingBackend.opened += 1
        return True

    def close(self):
        self.is_open = False

    def send_messages(self, messages):
        new_connection = self.open()
        try:
            for message in messages:
                if set(message.to) & CountingBackend.refused:
                    raise smtplib.SMTPRecipientsRefused({message.to[0]: (550, b"Mailbox unavailable")})
                if CountingBackend.on_send:
                    CountingBackend.on_send(message)
            return super().send_messages(messages)
        finally:
            if new_connection:
                self.close()


@pytest.fixture
def counting_smtp(settings):
    settings.EMAIL_BACKEND = f"{__name__}.CountingBackend"
    CountingBackend.opened, CountingBackend.refused, CountingBackend.on_send = 0, set(), None
    return CountingBackend


@pytest.fixture
def eager_celery():
    from clinic.celery import app

    app.conf.task_always_eager = True
    yield
    app.conf.task_always_eager = False


def due_confirmations(clinic, count):
    """`count` booking confirmations due now, to as many patients."""
    patients = PatientFactory.create_batch(count, email_consent=True)
    first = at(WEDNESDAY, 8)
    appointments = Appointment.objects.bulk_create(
        Appointment(
            patient=patient,
            therapist=clinic["therapist"],
            room=clinic["room"],
            appointment_type=clinic["appointment_type"],
            starts_at=first + datetime.timedelta(hours=n),
            ends_at=first + datetime.timedelta(hours=n, minutes=45),
        )
        for n, patient in enumerate(patients)
    )
    return Reminder.objects.bulk_create(
        Reminder(appointment=appointment, kind=Kind.BOOKING_CONFIRMATION, due_at=NOW, status=Status.PENDING)
        for appointment in appointments
    )


def test_one_dispatcher_run_delivers_every_due_reminder_in_batches_of_200(
    clinic, counting_smtp, eager_celery, django_assert_max_num_queries
):
    due = due_confirmations(clinic, 450)

    # Each batch costs a claim (one statement, in a savepoint here), then four
    # queries (its rows taken, read with their patients' clearance, the
    # clinic's wordings, the appointments they are about); each email one
    # more (its outcome), whatever the backlog.
    with django_assert_max_num_queries(450 + 3 * (3 + 4)):
        assert tasks.dispatch_reminders() == 450

    assert len(mail.outbox) == 450
    assert {m.extra_headers["Message-ID"] for m in mail.outbox} == {reminders.message_id(r) for r in due}
    assert set(Reminder.objects.values_list("status", flat=True)) == {Status.SENT}
    assert counting_smtp.opened == 3  # 200 + 200 + 50, one connection each
    assert tasks.dispatch_reminders() == 0


def test_the_dispatcher_claims_a_batch_in_one_statement(clinic):
    due = due_confirmations(clinic, 30)

    with CaptureQueriesContext(connection) as queries:
        claimed = reminders.claim_due(limit=20)

    statements = [q["sql"] for q in queries.captured_queries if "scheduling_reminder" in q["sql"]]
    assert len(statements) == 1
    assert statements[0].startswith("UPDATE")
    assert claimed == sorted(r.pk for r in due[:20])  # the first due, by due time and id
    assert Reminder.objects.filter(status=Status.SENDING).count() == 20
    assert reminders.claim_due(limit=20) == sorted(r.pk for r in due[20:])


def test_a_refused_message_in_the_middle_of_a_batch_retries_only_that_row(
    clinic, counting_smtp, time_machine
):
    due = due_confirmations(clinic, 5)
    refused = due[2]
    counting_smtp.refused = {refused.appointment.patient.email}

    outcome = reminders.send_batch(reminders.claim_due())

    assert outcome == {r.pk: "failed" if r == refused else "sent" for r in due}
    assert len(mail.outbox) == 4
    assert counting_smtp.opened == 2  # opened again after the refusal
    refused.refresh_from_db()
    assert (refused.status, refused.attempts, refused.sent_at) == (Status.PENDING, 1, None)
    assert refused.due_at == NOW + datetime.timedelta(minutes=1)
    assert "SMTPRecipientsRefused" in refused.last_error
    assert Reminder.objects.filter(status=Status.SENT).count() == 4

    counting_smtp.refused = set()
    travel(time_machine, NOW + datetime.timedelta(minutes=1))
    assert reminders.send_batch(reminders.claim_due()) == {refused.pk: "sent"}
    assert len(mail.outbox) == 5


def test_a_slow_batch_hands_back_what_it_has_not_sent_before_its_lease_can_end(
    clinic, counting_smtp, time_machine, settings
):
    due = due_confirmations(clinic, 4)
    claimed = reminders.claim_due()

    def slow_server(message):
        # Each message takes 40 seconds: past half the lease after the second.
        travel(time_machine, django_timezone.now() + datetime.timedelta(seconds=40))

    counting_smtp.on_send = staticmethod(slow_server)
    outcome = reminders.send_batch(claimed)

    assert settings.REMINDER_LEASE_SECONDS == 120
    assert outcome == {
        due[0].pk: "sent",
        due[1].pk: "sent",
        due[2].pk: "not claimed",
        due[3].pk: "not claimed",
    }
    assert len(mail.outbox) == 2
    handed_back = Reminder.objects.filter(pk__in=[due[2].pk, due[3].pk])
    assert set(handed_back.values_list("status", "lease_until")) == {(Status.PENDING, None)}
    # The next run of the dispatcher sends them, once.
    assert reminders.send_batch(reminders.claim_due()) == {due[2].pk: "sent", due[3].pk: "sent"}
    assert len(mail.outbox) == 4


def test_a_batch_sends_nothing_twice(clinic, counting_smtp):
    due = due_confirmations(clinic, 3)
    claimed = reminders.claim_due()

    assert reminders.send_batch(claimed) == {r.pk: "sent" for r in due}
    assert reminders.send_batch(claimed) == {r.pk: "not claimed" for r in due}  # a duplicate delivery
    assert len(mail.outbox) == 3


# Failures.


@pytest.fixture
def flaky(settings):
    settings.EMAIL_BACKEND = f"{__name__}.FlakyBackend"

    def fail(times):
        FlakyBackend.failures = times

    return fail


def test_a_failed_send_is_retried_a_minute_later(book, flaky, time_machine):
    flaky(1)
    appointment = book(at(TUESDAY, 10))

    assert dispatch() == {rows(appointment)[Kind.BOOKING_CONFIRMATION].pk: "failed"}

    confirmation = rows(appointment)[Kind.BOOKING_CONFIRMATION]
    assert confirmation.status == Status.PENDING
    assert confirmation.attempts == 1
    assert confirmation.last_error == "SMTPServerDisconnected: Connection unexpectedly closed"
    assert confirmation.due_at == NOW + datetime.timedelta(minutes=1)
    assert confirmation.lease_until is None
    assert mail.outbox == []
    assert dispatch() == {}

    travel(time_machine, NOW + datetime.timedelta(minutes=1))
    assert dispatch() == {confirmation.pk: "sent"}
    [message] = mail.outbox
    assert message.extra_headers["Message-ID"] == f"<reminder-{confirmation.pk}@clinic.example>"
    confirmation.refresh_from_db()
    assert (confirmation.status, confirmation.last_error) == (Status.SENT, "")


def test_retries_back_off_and_give_up_after_the_last_attempt(book, flaky, settings, time_machine):
    settings.REMINDER_MAX_ATTEMPTS = 5
    flaky(100)
    appointment = book(at(MONDAY, 14))  # too soon for a reminder: one email in play
    pk = rows(appointment)[Kind.BOOKING_CONFIRMATION].pk
    moment = NOW

    for attempt, backoff in enumerate([1, 2, 4, 8], start=1):
        assert dispatch() == {pk: "failed"}
        confirmation = Reminder.objects.get(pk=pk)
        assert (confirmation.status, confirmation.attempts) == (Status.PENDING, attempt)
        assert confirmation.due_at == moment + datetime.timedelta(minutes=backoff)
        moment = confirmation.due_at
        travel(time_machine, moment)

    assert dispatch() == {pk: "failed"}
    confirmation = Reminder.objects.get(pk=pk)
    assert (confirmation.status, confirmation.attempts) == (Status.FAILED, 5)
    assert confirmation.last_error.startswith("SMTPServerDisconnected")
    travel(time_machine, moment + datetime.timedelta(days=1))
    assert dispatch() == {}
    assert FlakyBackend.calls == 5
    assert mail.outbox == []

    # The clinic admin sends it again, and this time the server answers.
    FlakyBackend.failures = 0
    reminders.resend(confirmation)
    confirmation.refresh_from_db()
    assert (confirmation.status, confirmation.attempts, confirmation.due_at) == (
        Status.PENDING,
        0,
        moment + datetime.timedelta(days=1),
    )
    assert dispatch() == {pk: "sent"}
    assert len(mail.outbox) == 1


def test_resend_leaves_alone_a_reminder_that_did_not_fail(book):
    appointment = book(at(TUESDAY, 10))
    dispatch()
    confirmation = rows(appointment)[Kind.BOOKING_CONFIRMATION]

    reminders.resend(confirmation)

    assert rows(appointment)[Kind.BOOKING_CONFIRMATION].status == Status.SENT
    assert dispatch() == {}
    assert len(mail.outbox) == 1


# Unsubscribing.


def test_the_unsubscribe_link_stops_the_emails(book, client, patient, time_machine):
    appointment = book(at(TUESDAY, 10))
    dispatch()
    [message] = mail.outbox
    link = message.message()["List-Unsubscribe"].strip("<>")
    assert f"Stop these emails: {link}" in message.body
    assert link.startswith(django_settings.SITE_URL)
    path = urlsplit(link).path

    response = client.get(path)
    assert response.status_code == 200
    assert "Stop emails from Riverside Physiotherapy?" in response.text
    assert Patient.objects.get(pk=patient.pk).email_consent is True

    response = client.post(path)
    assert response.status_code == 302
    patient.refresh_from_db()
    assert patient.email_consent is False
    assert patient.email_consent_changed_at == NOW
    assert "You will get no more emails from us" in client.get(path).text

    travel(time_machine, at(MONDAY, 10))
    assert dispatch() == {rows(appointment)[Kind.APPOINTMENT_REMINDER].pk: "skipped"}
    assert rows(appointment)[Kind.APPOINTMENT_REMINDER].status == Status.SKIPPED
    later = book(at(THURSDAY, 10))
    assert {r.status for r in rows(later).values()} == {Status.SKIPPED}
    travel(time_machine, at(THURSDAY, 12))
    dispatch()
    assert len(mail.outbox) == 1


def test_a_tampered_unsubscribe_link_changes_nothing(client, patient):
    response = client.post(reverse("scheduling:unsubscribe", args=["not-a-token"]))

    assert response.status_code in (400, 404)
    assert Patient.objects.get(pk=patient.pk).email_consent is True


# The clinic's own wording.


def test_it_sends_the_clinic_admins_own_wording_instead_of_the_default(book):
    EmailWording.objects.create(
        kind=Reminder.Kind.BOOKING_CONFIRMATION,
        subject="Booked: {{ appointment.starts_at|date:'D j M' }} at {{ clinic_name }}",
        body_text="Hi {{ patient.first_name }}, see you {{ appointment.starts_at|date:'l' }}. O'Neill & co.",
        body_html="<p>Hello {{ patient.first_name }} &amp; welcome</p>",
    )
    appointment = book(at(NOW.date() + datetime.timedelta(days=2), 10))

    dispatch()

    message = email_for(rows(appointment)[Reminder.Kind.BOOKING_CONFIRMATION])
    assert message.subject == f"Booked: Wed 18 Nov at {django_settings.CLINIC_NAME}"
    assert message.body == f"Hi {appointment.patient.first_name}, see you Wednesday. O'Neill & co."
    assert html_of(message) == f"<p>Hello {appointment.patient.first_name} &amp; welcome</p>"


def test_it_refuses_wording_with_a_template_error():
    wording = EmailWording(kind=Reminder.Kind.AFTERCARE_24H, subject="{% if %}", body_text="x", body_html="x")

    with pytest.raises(ValidationError) as error:
        wording.full_clean()

    assert "template error" in str(error.value)


@pytest.mark.parametrize(
    ("field", "source"),
    [
        ("body_text", "Your therapist's key: {{ appointment.therapist.password }}"),
        ("body_html", "{% if appointment.therapist.password %}x{% endif %}"),
        ("subject", "{{ appointment.therapist.password|slice:':9' }}"),
        ("body_html", "{% debug %}"),
    ],
)
def test_it_refuses_wording_that_reaches_past_the_patients_details(field, source):
    wording = EmailWording(
        kind=Reminder.Kind.AFTERCARE_24H,
        **{"subject": "Your visit", "body_text": "x", "body_html": "x"} | {field: source},
    )

    with pytest.raises(ValidationError) as error:
        wording.full_clean()

    assert "no password" in str(error.value)


def test_it_accepts_wording_built_like_the_defaults():
    wording = EmailWording(
        kind=Reminder.Kind.AFTERCARE_24H,
        subject="Your visit on {{ appointment.starts_at|date:'D j M' }}",
        body_text=(Path(django_settings.BASE_DIR) / "templates/emails/aftercare_24h/body.txt").read_text(),
        body_html=(Path(django_settings.BASE_DIR) / "templates/emails/aftercare_24h/body.html").read_text(),
    )

    wording.full_clean()
