"""What the patient emails say: the template context of each reminder, the
calendar files they carry, and the signed unsubscribe link."""

from django.conf import settings
from django.core import signing
from django.urls import reverse
from django.utils import timezone

from patients import gate
from scheduling import calendar
from scheduling.models import Appointment, Reminder

UNSUBSCRIBE_SALT = "scheduling.unsubscribe"


def unsubscribe_token(patient) -> str:
    return signing.dumps(patient.pk, salt=UNSUBSCRIBE_SALT)


def unsubscribe_url(patient) -> str:
    return settings.SITE_URL + reverse("scheduling:unsubscribe", args=[unsubscribe_token(patient)])


def patient_from_unsubscribe_token(token):
    """The patient id in a valid unsubscribe token, or None. It never expires:
    a patient may opt out from any email, however old."""
    try:
        return signing.loads(token, salt=UNSUBSCRIBE_SALT)
    except signing.BadSignature:
        return None


def _appointments(reminder):
    """The appointments the email is about (all of a series' booking
    confirmation), with their calendar SEQUENCE: one query."""
    ids = reminder.context.get("appointments") or [reminder.appointment_id]
    return list(
        calendar.with_sequence(Appointment.objects.filter(pk__in=ids))
        .select_related("therapist", "room", "appointment_type")
        .order_by("starts_at")
    )


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


def context_for(reminder: Reminder, *, clearance: gate.Clearance | None = None) -> dict:
    """The template context; `clearance` is the patient's, if already read."""
    from scheduling.services import patient_link_url

    appointment = reminder.appointment
    patient = appointment.patient
    appointments = _appointments(reminder) if reminder.kind == Reminder.Kind.BOOKING_CONFIRMATION else []
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
        "appointment_link": patient_link_url(appointment) if appointment.starts_at > timezone.now() else None,
        "checkin_url": reminder.context.get("checkin_url"),
        "unsubscribe_url": unsubscribe_url(patient),
        "clinic_name": settings.CLINIC_NAME,
        "clinic_phone": settings.CLINIC_PHONE,
        "clinic_email": settings.CLINIC_EMAIL,
        "clinic_address": settings.CLINIC_ADDRESS,
        "site_url": settings.SITE_URL,
    }


def calendar_attachments(reminder: Reminder, appointments=None) -> list[tuple[str, bytes]]:
    """An .ics per appointment of a booking confirmation or reminder
    (`appointments`: those the context already read, if any)."""
    if reminder.kind not in (Reminder.Kind.BOOKING_CONFIRMATION, Reminder.Kind.APPOINTMENT_REMINDER):
        return []
    return [
        (f"appointment-{a.pk}.ics", calendar.calendar_for([a], settings.CLINIC_NAME).to_ical())
        for a in appointments or _appointments(reminder)
    ]
