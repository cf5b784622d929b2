"""Bench-only pages (served when BENCH=1): the floor every page is compared
with, and a plain response."""

import datetime

from django.contrib.auth.decorators import login_not_required
from django.http import HttpResponse
from django.template import engines
from django.utils import timezone

from scheduling.models import Appointment

FLOOR = engines["django"].from_string(
    "<!doctype html><title>Floor</title><table>{% for a in appointments %}"
    "<tr><td>{{ a.starts_at|time:'H:i' }}</td><td>{{ a.status }}</td><td>{{ a.patient_id }}</td></tr>"
    "{% endfor %}</table>"
)


def floor(request):
    """50 appointments of one day from one indexed query, in a small template:
    the cheapest page a logged-in user can get from this server."""
    day = datetime.date.fromisoformat(request.GET.get("day") or timezone.localdate().isoformat())
    start = timezone.make_aware(datetime.datetime.combine(day, datetime.time.min))
    appointments = Appointment.objects.filter(
        starts_at__gte=start, starts_at__lt=start + datetime.timedelta(days=1)
    ).only("starts_at", "status", "patient_id")[:50]
    return HttpResponse(FLOOR.render({"appointments": appointments}))


@login_not_required
def plain(request):
    return HttpResponse("ok", content_type="text/plain")
