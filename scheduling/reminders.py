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

from core import links
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
    """Send claimed reminders over one email connection; returns what
    happened to each, for the logs. The batch is taken and read in a few
    queries; each row is marked sent as soon as its message is, so a worker
    killed mid-batch repeats at most the one message it was sending. A
    message that fails is recorded for its row alone and the connection
    opened again for the next."""
    outcome = dict.fromkeys(reminder_ids, "not claimed")  # sent, cancelled or reclaimed meanwhile
    # Take the rows for this task alone: of two tasks for the same claim (a
    # reclaimed lease, a redelivered message) only one moves each row on.
    lease = timezone.now() + datetime.timedelta(seconds=settings.REMINDER_LEASE_SECONDS)
    if not Reminder.objects.filter(pk__in=reminder_ids, status=Status.SENDING).update(
        status=Status.DELIVERING, lease_until=lease
    ):
        return outcome
    mine = Reminder.objects.filter(pk__in=reminder_ids, status=Status.DELIVERING, lease_until=lease)
    taken = list(
        mine.select_related("appointment__patient", "appointment__appointment_type", "appointment__therapist")
        .annotate(**gate.annotations("appointment__patient"))  # each patient's clearance, in the same query
        .order_by("due_at", "id")
    )
    skipped = [reminder.pk for reminder in taken if not may_email(reminder.appointment.patient)]
    if skipped:
        mine.filter(pk__in=skipped).update(status=Status.SKIPPED, lease_until=None)
        outcome.update(dict.fromkeys(skipped, "skipped"))
    to_send = [reminder for reminder in taken if reminder.pk not in skipped]
    if not to_send:
        return outcome
    wordings = {w.kind: w for w in EmailWording.objects.all()}
    appointments = emails.appointments_of(to_send)
    # Past half its lease a slow batch hands the rest back to be claimed
    # again, long before the lease ends and another task could take them.
    hand_back_at = lease - datetime.timedelta(seconds=settings.REMINDER_LEASE_SECONDS / 2)
    email_connection = get_connection()
    try:
        for index, reminder in enumerate(to_send):
            if timezone.now() >= hand_back_at:
                rest = [r.pk for r in to_send[index:]]
                mine.filter(pk__in=rest).update(status=Status.PENDING, lease_until=None)
                logger.warning("a slow batch handed %d reminders back to be sent later", len(rest))
                break
            outcome[reminder.pk] = _deliver(
                reminder, mine.filter(pk=reminder.pk), email_connection, wordings, appointments
            )
    finally:
        email_connection.close()
    return outcome


def send(reminder_id: int) -> str:
    """Send one claimed reminder (tasks queued before batches existed)."""
    return send_batch([reminder_id])[reminder_id]


def _deliver(reminder, mine, email_connection, wordings, appointments) -> str:
    patient = reminder.appointment.patient
    try:
        clearance = gate.Clearance.from_row(reminder, timezone.localdate())
        about = appointments.get(reminder.pk, [])
        context = emails.context_for(reminder, clearance=clearance, about=about)
        subject, text, html = render(reminder, context=context, wordings=wordings)
        message = EmailMultiAlternatives(
            subject=subject,
            body=text,
            to=[patient.email],
            headers={
                "Message-ID": message_id(reminder),
                "List-Unsubscribe": f"<{links.UNSUBSCRIBE.url(patient.pk)}>",
                "List-Unsubscribe-Post": "List-Unsubscribe=One-Click",
            },
        )
        message.attach_alternative(html, "text/html")
        for name, content in emails.calendar_attachments(reminder, about):
            message.attach(name, content, "text/calendar")
        email_connection.open()  # once: later calls find it open
        message.connection = email_connection
        message.send()
    except Exception as error:
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
