import datetime

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_not_required
from django.http import HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils import timezone
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_http_methods, require_safe

from clinic import roles
from clinic.ratelimit import rate_limited
from scheduling import calendar, services
from scheduling.models import Appointment, CalendarFeed

FEED_PAST = datetime.timedelta(days=30)
FEED_AHEAD = datetime.timedelta(days=180)
FEED_REFRESH_HOURS = 1


def ics_response(calendar_, filename=None):
    response = HttpResponse(calendar_.to_ical(), content_type="text/calendar; charset=utf-8")
    if filename:
        response["Content-Disposition"] = f'attachment; filename="{filename}"'
    return response


@require_safe
@roles.role_required(*roles.STAFF)
def appointment_ics(request, pk):
    """Receptionist, therapist and clinic admin: one appointment as an .ics
    file, as the patient would receive it (no names, nothing clinical)."""
    appointment = get_object_or_404(
        calendar.with_sequence(Appointment.objects.select_related("appointment_type")), pk=pk
    )
    return ics_response(
        calendar.calendar_for([appointment], settings.CLINIC_NAME), f"appointment-{appointment.pk}.ics"
    )


@login_not_required
@rate_limited("calendar-feed")
@never_cache
@require_safe
def calendar_feed(request, token):
    """Anyone holding the feed's secret address (the therapist's calendar
    app): the therapist's appointments from 30 days ago to 180 days ahead.
    An unknown or revoked token, or a therapist who left, gets 404."""
    feed = get_object_or_404(CalendarFeed, token=token, revoked_at__isnull=True, therapist__is_active=True)
    now = timezone.now()
    appointments = calendar.with_sequence(
        Appointment.objects.for_therapist(feed.therapist_id)
        .filter(starts_at__gte=now - FEED_PAST, starts_at__lt=now + FEED_AHEAD)
        .select_related("patient", "room", "appointment_type")
    )
    return ics_response(
        calendar.calendar_for(
            appointments,
            f"{settings.CLINIC_NAME}: my appointments",
            for_therapist=True,
            refresh_hours=FEED_REFRESH_HOURS,
        )
    )


@require_http_methods(["GET", "POST"])
@roles.role_required(roles.THERAPIST)
def my_calendar(request):
    """Therapist: the private address of their calendar feed to subscribe
    to; POST revokes it and issues a new one."""
    feed = services.calendar_feed_for(therapist=request.user)
    if request.method == "POST":
        services.calendar_feed_revoke(feed=feed)
        services.calendar_feed_for(therapist=request.user)
        messages.success(request, "The old link no longer works. Subscribe to the new link below.")
        return redirect("scheduling:my-calendar")
    feed_url = services.calendar_feed_url(feed)
    return render(
        request,
        "scheduling/my_calendar.html",
        {"feed": feed, "feed_url": feed_url, "webcal_url": "webcal://" + feed_url.split("://", 1)[1]},
    )
