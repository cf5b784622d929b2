from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_not_required
from django.shortcuts import redirect, render
from django.utils import timezone
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_http_methods

from clinic.ratelimit import rate_limited
from scheduling import services
from scheduling.models import Appointment
from scheduling.services import PatientLinkInvalid, SchedulingError

Status = Appointment.Status


@login_not_required
@rate_limited("patient-link")
@never_cache
@require_http_methods(["GET", "HEAD", "POST"])
def patient_link(request, token):
    """Anyone holding the signed link (the patient, from an email): the
    appointment, and POST action=confirm or action=cancel. Opening the link
    changes nothing; a bad or expired link gets 400 and the clinic's phone."""
    try:
        appointment = services.patient_link_appointment(token)
    except PatientLinkInvalid:
        return render(request, "scheduling/patient_link_invalid.html", status=400)
    now = timezone.now()
    if request.method == "POST":
        _act(request, appointment, request.POST.get("action"), now)
        return redirect(request.path)
    return render(
        request,
        "scheduling/patient_link.html",
        {
            "appointment": appointment,
            "has_begun": appointment.starts_at <= now,
            "can_confirm": appointment.status == Status.BOOKED and appointment.starts_at > now,
            "can_cancel": appointment.status in services.UPCOMING and appointment.starts_at > now,
            "cancelling_is_late": appointment.starts_at - now < services.LATE_CANCELLATION,
            "clinic_address": settings.CLINIC_ADDRESS,
        },
    )


ALREADY = {
    ("confirm", Status.CONFIRMED): "This appointment is already confirmed. Thank you.",
    ("cancel", Status.CANCELLED): "This appointment is already cancelled. Nothing was changed.",
}


def _act(request, appointment, action, now):
    phone = settings.CLINIC_PHONE
    if action not in ("confirm", "cancel"):
        messages.error(request, "Please choose Confirm or Cancel.")
        return
    if (action, appointment.status) in ALREADY:
        messages.info(request, ALREADY[action, appointment.status])
        return
    if appointment.starts_at <= now:
        messages.error(request, f"This appointment has already begun. Please call us on {phone}.")
        return
    try:
        if action == "confirm":
            appointment = services.appointment_confirm(appointment=appointment, user=None)
        else:
            appointment = services.appointment_cancel(
                appointment=appointment, cancelled_by=Appointment.CancelledBy.PATIENT, user=None, now=now
            )
    except SchedulingError:
        # Perhaps a second click a moment earlier, perhaps the front desk.
        appointment.refresh_from_db(fields=["status"])
        messages.error(
            request,
            ALREADY.get(
                (action, appointment.status),
                f"This appointment is {appointment.get_status_display().lower()}; please call us on {phone}.",
            ),
        )
        return
    if action == "confirm":
        messages.success(request, "Thank you, your appointment is confirmed.")
    elif appointment.late_cancellation:
        messages.warning(
            request,
            "Your appointment is cancelled. As it was less than 24 hours away, this is a late "
            f"cancellation. If you have any questions, please call us on {phone}.",
        )
    else:
        messages.success(request, "Your appointment is cancelled.")
