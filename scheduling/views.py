from django.db.models import Count
from django.shortcuts import render
from django.utils import timezone

from clinic import roles
from scheduling.models import Appointment


@roles.role_required(roles.RECEPTIONIST, roles.CLINIC_ADMIN)
def front_desk(request):
    """Receptionist and clinic admin: today's appointments at the front desk."""
    today = timezone.localdate()
    appointments = Appointment.objects.on_day(today).select_related(
        "patient", "therapist", "room", "appointment_type"
    )
    by_status = dict(
        Appointment.objects.on_day(today)
        .values_list("status")
        .annotate(n=Count("id"))
        .values_list("status", "n")
    )
    status_counts = [(label, by_status.get(value, 0)) for value, label in Appointment.Status.choices]
    return render(
        request,
        "scheduling/front_desk.html",
        {"today": today, "appointments": appointments, "status_counts": status_counts},
    )
