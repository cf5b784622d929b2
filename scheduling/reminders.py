"""The reminders outbox: which emails an appointment's life schedules, and
how the dispatcher sends each exactly once.

Rows are written in the same transaction as the change that causes them
(booking, cancelling, moving, completing a visit). Celery beat runs the
dispatcher every minute: it claims the due rows under a lease, a batch at a
time, until none is left, and hands each batch to a send task that delivers
it over one SMTP connection. A send first moves its row from "sending" to
"delivering"; only one task can, so a retry, a duplicate delivery or two
dispatchers at once send nothing twice. A row left "sending" or "delivering" by a dead worker is
claimed again when its lease ends (a kill in the middle of an SMTP
conversation can then repeat that one message).
No Celery ETA or countdown is used: the database is the schedule.
"""

import datetime
import logging
import time

from django.conf import settings
from django.core.mail import EmailMultiAlternatives, get_connection
from django.db import connection, transaction
from django.db.models import Q
from django.template import Context, Template
from django.template.loader import get_template
from django.utils import timezone

from patients import gate
from scheduling import emails
from scheduling.availability import local
from scheduling.models import Appointment, EmailWording, Reminder

logger = logging.getLogger(__name__)

Kind, Status = Reminder.Kind, Reminder.Status
AFTERCARE_DELAYS = {
    Kind.AFTERCARE_SAME_DAY: datetime.timedelta(0),
    Kind.AFTERCARE_24H: datetime.timedelta(hours=24),
    Kind.AFTERCARE_48H: datetime.timedelta(hours=48),
}


def deliverable(moment: datetime.datetime) -> datetime.datetime:
    """The moment itself, or 08:00 clinic time if it falls in the quiet hours
    (21:00 to 08:00): no email reaches a patient at night."""
    wall = timezone.localtime(moment)
    start, end = settings.REMINDER_QUIET_HOURS
    if wall.hour >= start:
        day = wall.date() + datetime.timedelta(days=1)
    elif wall.hour < end:
        day = wall.date()
    else:
        return moment
    return local(day, datetime.time(end))


def may_email(patient) -> bool:
    return bool(patient.email) and patient.email_consent


def _schedule(appointment, kind, due_at, context=None):
    """Write (or re-time) one outbox row; a patient who gets no email gets a
    'skipped' row, so the front desk can see it."""
    status = Status.PENDING if may_email(appointment.patient) else Status.SKIPPED
    reminder, created = Reminder.objects.get_or_create(
        appointment=appointment,
        kind=kind,
        defaults={"due_at": deliverable(due_at), "status": status, "context": context or {}},
    )
    if not created and reminder.status in (Status.PENDING, Status.CANCELLED, Status.SKIPPED):
        Reminder.objects.filter(pk=reminder.pk).update(
            due_at=deliverable(due_at), status=status, context=context or reminder.context
        )
    return reminder


def on_booked(appointments: list[Appointment]) -> None:
    """One confirmation for a booking (a whole series in one email, on its
    first appointment) and a reminder before each appointment."""
    now = timezone.now()
    first = appointments[0]
    _schedule(
        first,
        Kind.BOOKING_CONFIRMATION,
        now,
        {"appointments": [a.pk for a in appointments]},
    )
    lead = datetime.timedelta(hours=settings.REMINDER_LEAD_HOURS)
    for appointment in appointments:
        if appointment.starts_at - lead > now:
            _schedule(appointment, Kind.APPOINTMENT_REMINDER, appointment.starts_at - lead)


def on_cancelled(appointment: Appointment) -> None:
    """Nothing more is sent about a cancelled appointment."""
    Reminder.objects.filter(appointment=appointment, status__in=[Status.PENDING, Status.SKIPPED]).update(
        status=Status.CANCELLED
    )


def on_rescheduled(appointment: Appointment) -> None:
    """The reminder follows the appointment to its new time, even if the
    reminder for the old time was already sent."""
    lead = datetime.timedelta(hours=settings.REMINDER_LEAD_HOURS)
    reminder_rows = Reminder.objects.filter(appointment=appointment, kind=Kind.APPOINTMENT_REMINDER)
    if appointment.starts_at - lead <= timezone.now():
        reminder_rows.filter(status__in=[Status.PENDING, Status.SKIPPED]).update(status=Status.CANCELLED)
        return
    reminder_rows.filter(status__in=[Status.SENT, Status.FAILED]).update(
        status=Status.PENDING, attempts=0, sent_at=None, lease_until=None, last_error=""
    )
    _schedule(appointment, Kind.APPOINTMENT_REMINDER, appointment.starts_at - lead)


def on_completed(appointment: Appointment, aftercare: dict, *, now=None) -> None:
    """Aftercare the same day, at 24 hours and at 48 hours, saying what the
    therapist did and advised at this visit, from `now` (the signature). A
    visit without needling gets only the same-day email, in its own words."""
    now = now or timezone.now()
    for kind, delay in AFTERCARE_DELAYS.items():
        if aftercare.get("needled", True) or kind == Kind.AFTERCARE_SAME_DAY:
            _schedule(appointment, kind, now + delay, aftercare)


# Sending.


BATCH_SIZE = 200
# The dispatcher stops claiming after this long, well inside beat's minute.
DISPATCH_SECONDS = 40


def claim_due(*, now=None, limit=BATCH_SIZE) -> list[int]:
    """Take up to `limit` due rows (and rows whose lease ran out) for sending,
    in one statement; returns their ids. On PostgreSQL concurrent dispatchers
    skip each other's locked rows; SQLite runs one write at a time."""
    now = now or timezone.now()
    lease_until = now + datetime.timedelta(seconds=settings.REMINDER_LEASE_SECONDS)
    due = Q(status=Status.PENDING, due_at__lte=now) | Q(
        status__in=[Status.SENDING, Status.DELIVERING], lease_until__lt=now
    )
    rows = Reminder.objects.filter(due).order_by("due_at", "id").values("pk")[:limit]
    if connection.features.has_select_for_update_skip_locked:
        rows = rows.select_for_update(skip_locked=True)
    with transaction.atomic(), connection.cursor() as cursor:
        # The ORM's UPDATE cannot say RETURNING; its SELECT, compiled here, is
        # parameterised like any other.
        select, params = rows.query.sql_with_params()
        cursor.execute(
            'UPDATE "scheduling_reminder" SET "status" = %s, "lease_until" = %s '  # noqa: S608
            f'WHERE "id" IN ({select}) RETURNING "id"',
            [Status.SENDING, connection.ops.adapt_datetimefield_value(lease_until), *params],
        )
        return sorted(pk for (pk,) in cursor.fetchall())


def claim_batches(*, batch_size=BATCH_SIZE, seconds=DISPATCH_SECONDS):
    """Claimed batches, one after the other, until no due row is left or
    `seconds` have passed; the next run of the dispatcher takes the rest."""
    deadline = time.monotonic() + seconds
    while True:
        batch = claim_due(limit=batch_size)
        if batch:
            yield batch
        if len(batch) < batch_size or time.monotonic() >= deadline:
            return


def message_id(reminder: Reminder) -> str:
    host = settings.SITE_URL.split("://", 1)[-1].split("/", 1)[0].split(":")[0] or "clinic.local"
    return f"<reminder-{reminder.pk}@{host}>"


def render(reminder: Reminder, *, context=None, wordings=None) -> tuple[str, str, str]:
    """Subject, text and HTML of a reminder: the clinic's own wording if the
    clinic admin wrote one, else templates/emails/<kind>/. A batch passes the
    context and the clinic's wordings ({kind: EmailWording}) it has read."""
    context = context or emails.context_for(reminder)
    folder = f"emails/{reminder.kind}"
    if wordings is None:
        wordings = {w.kind: w for w in EmailWording.objects.filter(kind=reminder.kind)}
    wording = wordings.get(reminder.kind)
    if wording is not None:
        # The clinic admin's own wording replaces the default templates.
        sources = {
            "subject.txt": Template(wording.subject),
            "body.txt": Template(wording.body_text),
            "body.html": Template(wording.body_html),
        }
    else:
        sources = {
            name: get_template(f"{folder}/{name}").template
            for name in ("subject.txt", "body.txt", "body.html")
        }

    def plain(name):
        # Text parts are not HTML: nothing in them is escaped.
        return sources[name].render(Context(context, autoescape=False))

    subject = " ".join(plain("subject.txt").split())
    return subject, plain("body.txt"), sources["body.html"].render(Context(context))


def send_batch(reminder_ids: list[int]) -> dict[int, str]:
    """Send claimed reminders over one email connection, each as `send` would;
    a message that fails is recorded for its row alone and the connection
    opened again for the next."""
    email_connection = get_connection()
    wordings = {w.kind: w for w in EmailWording.objects.all()}
    try:
        return {pk: send(pk, email_connection=email_connection, wordings=wordings) for pk in reminder_ids}
    finally:
        email_connection.close()


def send(reminder_id: int, *, email_connection=None, wordings=None) -> str:
    """Send one claimed reminder, over `email_connection` if given (it is
    opened if it is not open yet). Returns what happened, for the logs."""
    reminder = (
        Reminder.objects.select_related(
            "appointment__patient", "appointment__appointment_type", "appointment__therapist"
        )
        .annotate(**gate.annotations("appointment__patient"))  # the patient's clearance, in the same query
        .get(pk=reminder_id)
    )
    if reminder.status != Status.SENDING:
        return "not claimed"  # sent, cancelled or reclaimed meanwhile
    # Take the row for this task alone: of two tasks for the same claim (a
    # reclaimed lease, a redelivered message) only one moves it on.
    lease = timezone.now() + datetime.timedelta(seconds=settings.REMINDER_LEASE_SECONDS)
    took = Reminder.objects.filter(pk=reminder.pk, status=Status.SENDING).update(
        status=Status.DELIVERING, lease_until=lease
    )
    if not took:
        return "not claimed"
    mine = Reminder.objects.filter(pk=reminder.pk, status=Status.DELIVERING, lease_until=lease)
    patient = reminder.appointment.patient
    if not may_email(patient):
        mine.update(status=Status.SKIPPED, lease_until=None)
        return "skipped"
    try:
        clearance = gate.Clearance.from_row(reminder, timezone.localdate())
        context = emails.context_for(reminder, clearance=clearance)
        subject, text, html = render(reminder, context=context, wordings=wordings)
        message = EmailMultiAlternatives(
            subject=subject,
            body=text,
            to=[patient.email],
            headers={
                "Message-ID": message_id(reminder),
                "List-Unsubscribe": f"<{emails.unsubscribe_url(patient)}>",
                "List-Unsubscribe-Post": "List-Unsubscribe=One-Click",
            },
        )
        message.attach_alternative(html, "text/html")
        for name, content in emails.calendar_attachments(reminder, context["appointments"]):
            message.attach(name, content, "text/calendar")
        if email_connection is not None:
            email_connection.open()  # once: later calls find it open
            message.connection = email_connection
        message.send()
    except Exception as error:
        if email_connection is not None:
            email_connection.close()  # a broken conversation is not reused
        _failed(reminder, error, mine)
        return "failed"
    mine.update(
        status=Status.SENT,
        sent_at=timezone.now(),
        subject=subject,
        body_text=text,
        body_html=html,
        lease_until=None,
        last_error="",
    )
    return "sent"


def _failed(reminder, error, mine):
    attempts = reminder.attempts + 1
    logger.warning("reminder %s failed (attempt %s): %s", reminder.pk, attempts, error)
    if attempts >= settings.REMINDER_MAX_ATTEMPTS:
        fields = {"status": Status.FAILED}
    else:
        backoff = datetime.timedelta(minutes=2 ** (attempts - 1))
        fields = {"status": Status.PENDING, "due_at": timezone.now() + backoff}
    mine.update(
        attempts=attempts, last_error=f"{type(error).__name__}: {error}"[:2000], lease_until=None, **fields
    )


def resend(reminder: Reminder) -> None:
    """The clinic admin sends a failed reminder again."""
    Reminder.objects.filter(pk=reminder.pk, status=Status.FAILED).update(
        status=Status.PENDING, due_at=timezone.now(), attempts=0
    )
