"""What the patient emails say: the template context of each reminder and
the calendar files they carry."""

from django.conf import settings
from django.utils import timezone

from core import links
from patients import gate
from scheduling import calendar
from scheduling.models import Appointment, Reminder

WITH_CALENDAR = (Reminder.Kind.BOOKING_CONFIRMATION, Reminder.Kind.APPOINTMENT_REMINDER)


def appointments_of(reminders) -> dict[int, list[Appointment]]:
    """By reminder id, the appointments a booking confirmation (all of a
    series) or a reminder is about, with their calendar SEQUENCE for the .ics
    files they carry: one query for a whole batch."""
    ids_of = {
        reminder.pk: reminder.context.get("appointments") or [reminder.appointment_id]
        for reminder in reminders
        if reminder.kind in WITH_CALENDAR
    }
    if not ids_of:
        return {}
    wanted = {pk for ids in ids_of.values() for pk in ids}
    found = {
        a.pk: a
        for a in calendar.with_sequence(Appointment.objects.filter(pk__in=wanted)).select_related(
            "therapist", "room", "appointment_type"
        )
    }
    return {
        reminder_id: sorted((found[pk] for pk in ids if pk in found), key=lambda a: (a.starts_at, a.pk))
        for reminder_id, ids in ids_of.items()
    }


def _next_appointment(reminder):
    appointment = reminder.appointment
    return (
        Appointment.objects.filter(
            patient_id=appointment.patient_id,
            starts_at__gt=appointment.starts_at,
            status__in=[Appointment.Status.BOOKED, Appointment.Status.CONFIRMED],
        )
        .select_related("therapist")
        .order_by("starts_at")
        .first()
    )


def _mark_needling_on_hold(clearance, appointments):
    """A needling visit on a day the patient is no longer cleared for (a new
    screening, consent withdrawn, the screening expired): its email does not
    promise needling."""
    for appointment in appointments:
        appointment.needling_on_hold = appointment.appointment_type.involves_needling and not (
            clearance.cleared_on(timezone.localdate(appointment.starts_at))
        )


def context_for(reminder: Reminder, *, clearance: gate.Clearance | None = None, about=None) -> dict:
    """The template context; `clearance` is the patient's and `about` the
    reminder's entry of appointments_of, if already read."""
    appointment = reminder.appointment
    patient = appointment.patient
    if about is None:
        about = appointments_of([reminder]).get(reminder.pk, [])
    appointments = about if reminder.kind == Reminder.Kind.BOOKING_CONFIRMATION else []
    _mark_needling_on_hold(clearance or gate.needling_clearance(patient), [appointment, *appointments])
    return {
        "reminder": reminder,
        "patient": patient,
        "appointment": appointment,
        "appointments": appointments,
        "needling_on_hold": appointment.needling_on_hold,
        "needled": reminder.context.get("needled", True),
        "muscles": reminder.context.get("muscles", []),
        "advice": reminder.context.get("advice", []),
        "next_appointment": _next_appointment(reminder)
        if reminder.kind != Reminder.Kind.BOOKING_CONFIRMATION
        else None,
        "appointment_link": links.APPOINTMENT.url(appointment.pk)
        if appointment.starts_at > timezone.now()
        else None,
        "checkin_url": reminder.context.get("checkin_url"),
        "unsubscribe_url": links.UNSUBSCRIBE.url(patient.pk),
        "clinic_name": settings.CLINIC_NAME,
        "clinic_phone": settings.CLINIC_PHONE,
        "clinic_email": settings.CLINIC_EMAIL,
        "clinic_address": settings.CLINIC_ADDRESS,
        "site_url": settings.SITE_URL,
    }


def calendar_attachments(reminder: Reminder, about=None) -> list[tuple[str, bytes]]:
    """An .ics per appointment of a booking confirmation or reminder (`about`:
    its entry of appointments_of, if already read)."""
    if reminder.kind not in WITH_CALENDAR:
        return []
    if about is None:
        about = appointments_of([reminder])[reminder.pk]
    return [
        (f"appointment-{a.pk}.ics", calendar.calendar_for([a], settings.CLINIC_NAME).to_ical()) for a in about
    ]
