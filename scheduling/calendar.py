"""Appointments as iCalendar (.ics): one file per appointment, the therapists'
feeds, and the files attached to appointment emails.

An event says when and where, and nothing clinical. The patient's own file
names neither patient nor therapist; a therapist's feed names the patient by
first name and last initial only, because phones sync calendars to the cloud.
Times are written in UTC, so no time-zone definitions are needed.
"""

import datetime
import hashlib
from dataclasses import dataclass
from urllib.parse import urlsplit

from django.conf import settings
from django.db.models import Count, Max, Q
from django.utils import timezone
from icalendar import Calendar, Event

from scheduling.models import Appointment

PRODID = "-//Clinic scheduling//Appointments//EN"
FEED_PAST_DAYS = 60
FEED_AHEAD_DAYS = 366


def with_sequence(appointments):
    """Annotate a queryset with each appointment's SEQUENCE (how often it was
    moved) in the same query, for lists of events."""
    return appointments.annotate(calendar_sequence=Count("changes", filter=Q(changes__action="rescheduled")))


def uid_for(appointment) -> str:
    """The event's UID: stable for the life of the appointment, so a calendar
    updates the event it has instead of adding another."""
    host = urlsplit(settings.SITE_URL).hostname or "localhost"
    return f"appointment-{appointment.pk}@{host}"


def _sequence(appointment) -> int:
    sequence = getattr(appointment, "calendar_sequence", None)
    if sequence is None:
        sequence = appointment.changes.filter(action="rescheduled").count()
    return sequence


def patient_initials(patient) -> str:
    """The patient as a therapist's calendar may show them: "Jane D."."""
    initial = f" {patient.last_name[:1]}." if patient.last_name else ""
    return f"{patient.first_name}{initial}"


def appointment_event(appointment, *, for_therapist=False, stamp=None) -> Event:
    """One VEVENT for an appointment. With for_therapist, the summary adds the
    patient's first name and last initial and the description the room.
    `stamp` is the DTSTAMP (now, in UTC, unless given)."""
    cancelled = appointment.status == Appointment.Status.CANCELLED
    summary = f"{appointment.appointment_type.name} at {settings.CLINIC_NAME}"
    if for_therapist:
        summary = f"{patient_initials(appointment.patient)}: {appointment.appointment_type.name}"
    if cancelled:
        # Some calendar apps show a cancelled event like any other.
        summary = f"Cancelled: {summary}"
    if for_therapist:
        description = (
            f"Room: {appointment.room.name}\nStatus: {appointment.get_status_display()}\n"
            f"{settings.CLINIC_NAME}: {settings.CLINIC_PHONE}"
        )
    else:
        description = f"To change or cancel, call {settings.CLINIC_NAME} on {settings.CLINIC_PHONE}."

    event = Event()
    event.add("uid", uid_for(appointment))
    event.add("dtstamp", stamp or timezone.now().astimezone(datetime.UTC))
    event.add("dtstart", appointment.starts_at.astimezone(datetime.UTC))
    event.add("dtend", appointment.ends_at.astimezone(datetime.UTC))
    event.add("sequence", _sequence(appointment))
    event.add("status", "CANCELLED" if cancelled else "CONFIRMED")
    event.add("transp", "TRANSPARENT" if cancelled else "OPAQUE")
    event.add("summary", summary)
    event.add("location", settings.CLINIC_ADDRESS)
    event.add("description", description)
    return event


def calendar_for(appointments, name, *, for_therapist=False, refresh_hours=None) -> Calendar:
    """A VCALENDAR with one event per appointment. `refresh_hours` tells a
    subscribed calendar how often to fetch a feed again."""
    calendar = Calendar()
    calendar.add("prodid", PRODID)
    calendar.add("version", "2.0")
    calendar.add("calscale", "GREGORIAN")
    calendar.add("name", name)
    calendar.add("x-wr-calname", name)
    if refresh_hours:
        calendar.add(
            "refresh-interval", datetime.timedelta(hours=refresh_hours), parameters={"VALUE": "DURATION"}
        )
        calendar.add("x-published-ttl", f"PT{refresh_hours}H")
    stamp = timezone.now().astimezone(datetime.UTC)
    for appointment in appointments:
        calendar.add_component(appointment_event(appointment, for_therapist=for_therapist, stamp=stamp))
    return calendar


def _midnight(day):
    return timezone.make_aware(datetime.datetime.combine(day, datetime.time.min))


@dataclass(frozen=True)
class FeedWindow:
    """The days a therapist's feed covers on `today`: whole clinic-local days
    from FEED_PAST_DAYS ago to a year ahead, so its contents change only when
    an appointment in it does, or when the day turns."""

    today: datetime.date

    def appointments(self, therapist_id):
        return Appointment.objects.for_therapist(therapist_id).filter(
            starts_at__gte=_midnight(self.today - datetime.timedelta(days=FEED_PAST_DAYS)),
            starts_at__lt=_midnight(self.today + datetime.timedelta(days=FEED_AHEAD_DAYS)),
        )

    def events(self, therapist_id):
        """The window's appointments with what a therapist's feed shows of
        them, and nothing more (a feed holds hundreds of events)."""
        return with_sequence(
            self.appointments(therapist_id)
            .select_related("patient", "room", "appointment_type")
            .only(
                "starts_at",
                "ends_at",
                "status",
                "patient__first_name",
                "patient__last_name",
                "room__name",
                "appointment_type__name",
            )
        )

    def version(self, therapist_id):
        """The feed's ETag and Last-Modified (a timestamp), from one aggregate
        over the window: both change when an appointment in it is added,
        changed or removed, and at midnight."""
        state = self.appointments(therapist_id).aggregate(count=Count("pk"), changed=Max("updated_at"))
        last_modified = max(filter(None, [state["changed"], _midnight(self.today)]))
        digest = hashlib.sha256(f"{self.today}:{state['count']}:{last_modified.timestamp()}".encode())
        return f'"{digest.hexdigest()[:32]}"', int(last_modified.timestamp())
