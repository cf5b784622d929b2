from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_not_required
from django.core.cache import cache
from django.http import HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils import timezone
from django.utils.cache import get_conditional_response
from django.utils.http import http_date
from django.views.decorators.cache import cache_control
from django.views.decorators.http import require_http_methods, require_safe

from clinic import roles
from clinic.ratelimit import rate_limited
from scheduling import calendar, services
from scheduling.models import Appointment, CalendarFeed

FEED_REFRESH_HOURS = 1
# A rendered feed is kept under its ETag, which changes with any appointment
# in the window and with the day: a day is as long as one can be current.
FEED_CACHE_SECONDS = 24 * 60 * 60


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
# Kept by the calendar app only (private), and asked again each time
# (no-cache): a feed that has not changed answers 304 without its events.
@cache_control(private=True, no_cache=True, max_age=0)
@require_safe
def calendar_feed(request, token):
    """Anyone holding the feed's secret address (the therapist's calendar
    app): the therapist's appointments from 60 days ago to a year ahead,
    with an ETag and Last-Modified, so an unchanged feed costs a 304, and
    its body kept in the shared cache under that ETag, so a calendar app
    that asks again unconditionally costs one read of the cache.
    An unknown or revoked token, or a therapist who left, gets 404."""
    feed = get_object_or_404(CalendarFeed, token=token, revoked_at__isnull=True, therapist__is_active=True)
    window = calendar.FeedWindow(timezone.localdate())
    etag, last_modified = window.version(feed.therapist_id)
    response = get_conditional_response(request, etag=etag, last_modified=last_modified)
    if response is None:
        key = f"calendar-feed:{feed.pk}:{etag}"
        body = cache.get(key)
        if body is None:
            body = calendar.calendar_for(
                window.events(feed.therapist_id),
                f"{settings.CLINIC_NAME}: my appointments",
                for_therapist=True,
                refresh_hours=FEED_REFRESH_HOURS,
            ).to_ical()
            cache.set(key, body, FEED_CACHE_SECONDS)
        response = HttpResponse(body, content_type="text/calendar; charset=utf-8")
    response["ETag"] = etag
    response["Last-Modified"] = http_date(last_modified)
    return response


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
