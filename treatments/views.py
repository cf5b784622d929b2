import datetime

from django.shortcuts import render
from django.utils import timezone

from clinic import roles
from scheduling.models import Appointment


@roles.role_required(roles.THERAPIST)
def my_day(request):
    """Therapist: today's visits, and how the rest of the week looks."""
    today = timezone.localdate()
    mine = Appointment.objects.for_therapist(request.user).exclude(status=Appointment.Status.CANCELLED)
    visits = mine.on_day(today).select_related("patient", "room", "appointment_type")
    tomorrow = timezone.make_aware(
        datetime.datetime.combine(today + datetime.timedelta(days=1), datetime.time.min)
    )
    week_end = tomorrow + datetime.timedelta(days=6)
    later_this_week = mine.filter(starts_at__gte=tomorrow, starts_at__lt=week_end).count()
    return render(
        request,
        "treatments/my_day.html",
        {"today": today, "visits": visits, "later_this_week": later_this_week},
    )
