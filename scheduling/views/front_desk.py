import datetime

from django.contrib import messages
from django.contrib.auth import get_user_model
from django.db.models import Count
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.http import require_POST

from clinic import roles
from scheduling import services
from scheduling.availability import local
from scheduling.forms import cancelled_by_from, day_from
from scheduling.models import Appointment
from scheduling.services import SchedulingError


def _day(request):
    """The day asked for in ?day=YYYY-MM-DD, or today."""
    return day_from(request.GET.get("day")) or timezone.localdate()


def _columns(day):
    """The day's appointments in one column per therapist. Three queries."""
    appointments = (
        Appointment.objects.on_day(day)
        .select_related("patient", "therapist", "room", "appointment_type")
        .with_patient_clearance()
        .order_by("starts_at")
    )
    by_therapist = {}
    for appointment in appointments:
        by_therapist.setdefault(appointment.therapist_id, []).append(appointment)
    people = list(roles.therapists())
    known = {t.pk for t in people}
    # A therapist no longer active still shows if booked that day.
    people += list(
        {a.therapist.pk: a.therapist for a in appointments if a.therapist_id not in known}.values()
    )
    return [(therapist, by_therapist.get(therapist.pk, [])) for therapist in people], appointments


def _status_counts(day):
    """The day's appointments by status, every status listed. One query."""
    return _day_counts(day)[0]


def _day_counts(day):
    """The day's appointments by status (every status listed) and by
    therapist. One query."""
    by_status, by_therapist = {}, {}
    rows = Appointment.objects.on_day(day).values("therapist_id", "status").annotate(n=Count("id")).order_by()
    for row in rows:
        by_status[row["status"]] = by_status.get(row["status"], 0) + row["n"]
        by_therapist[row["therapist_id"]] = by_therapist.get(row["therapist_id"], 0) + row["n"]
    return [(label, by_status.get(value, 0)) for value, label in Appointment.Status.choices], by_therapist


# A column per therapist, this many at a time (one row of columns on a wide
# screen): a clinic with twenty-five therapists pages through them rather
# than rendering hundreds of cards.
COLUMNS_PER_PAGE = 4


@roles.role_required(*roles.FRONT_DESK)
def front_desk(request):
    """Receptionist and clinic admin: the day at the front desk, a column per
    therapist (COLUMNS_PER_PAGE at a time, every therapist named above them
    with their count), with check-in, no-show and cancel one click away."""
    day = _day(request)
    status_counts, by_therapist = _day_counts(day)
    people = list(roles.therapists())
    known = {t.pk for t in people}
    gone = [pk for pk in by_therapist if pk not in known]
    if gone:
        # A therapist no longer active still shows if booked that day.
        people += list(get_user_model().objects.filter(pk__in=gone).order_by("last_name", "first_name", "pk"))
    pages = [people[n : n + COLUMNS_PER_PAGE] for n in range(0, len(people), COLUMNS_PER_PAGE)] or [[]]
    number = page_from(request.GET.get("page"), len(pages))
    shown = pages[number - 1]
    appointments = (
        Appointment.objects.on_day(day)
        .filter(therapist__in=[t.pk for t in shown])
        .select_related("patient", "room", "appointment_type")
        .with_patient_clearance()
        .order_by("starts_at")
    )
    columns = {t.pk: (t, []) for t in shown}
    for appointment in appointments:
        columns[appointment.therapist_id][1].append(appointment)
    return render(
        request,
        "scheduling/front_desk.html",
        {
            "day": day,
            "today": timezone.localdate(),
            "previous_day": day - datetime.timedelta(days=1),
            "next_day": day + datetime.timedelta(days=1),
            "columns": list(columns.values()),
            "booked_today": sum(count for _, count in status_counts),
            "status_counts": status_counts,
            "therapist_pages": [
                (n, [(t, by_therapist.get(t.pk, 0)) for t in page]) for n, page in enumerate(pages, start=1)
            ]
            if len(pages) > 1
            else [],
            "page_number": number,
            "now": timezone.now(),
        },
    )


def page_from(value, last):
    """The page number asked for, or 1 (for anything that is not a page)."""
    try:
        number = int(value)
    except (TypeError, ValueError):
        return 1
    return number if 1 <= number <= last else 1


@roles.role_required(*roles.FRONT_DESK)
def day_sheet(request):
    """Receptionist and clinic admin: the day's appointments, for printing."""
    day = _day(request)
    columns, _ = _columns(day)
    return render(request, "scheduling/day_sheet.html", {"day": day, "columns": columns})


@roles.role_required(roles.THERAPIST, *roles.FRONT_DESK)
def week(request):
    """A therapist's week, Monday to Sunday: their own for a therapist; any
    therapist's for the front desk (?therapist=id)."""
    day = _day(request)
    monday = day - datetime.timedelta(days=day.weekday())
    choices = list(roles.therapists())
    if roles.is_therapist(request.user) and not roles.has_role(request.user, *roles.FRONT_DESK):
        therapist = request.user
    else:
        wanted = request.GET.get("therapist", "")
        therapist = next((t for t in choices if str(t.pk) == wanted), choices[0] if choices else None)
    days = [monday + datetime.timedelta(days=n) for n in range(7)]
    appointments = []
    if therapist is not None:
        start = local(monday, datetime.time.min)
        appointments = (
            Appointment.objects.filter(
                therapist=therapist, starts_at__gte=start, starts_at__lt=start + datetime.timedelta(days=7)
            )
            .select_related("patient", "room", "appointment_type")
            .with_patient_clearance()
            .order_by("starts_at")
        )
    by_day = {d: [] for d in days}
    for appointment in appointments:
        by_day.setdefault(timezone.localdate(appointment.starts_at), []).append(appointment)
    return render(
        request,
        "scheduling/week.html",
        {
            "therapist": therapist,
            "therapists": choices,
            "days": [(d, by_day[d]) for d in days],
            "monday": monday,
            "previous_week": monday - datetime.timedelta(days=7),
            "next_week": monday + datetime.timedelta(days=7),
            "today": timezone.localdate(),
        },
    )


def _act(request, pk, action):
    """Run one front-desk action on an appointment. With htmx, answer with the
    updated card; without, go back to the front desk with a message."""
    queryset = Appointment.objects.select_related("patient", "therapist", "room", "appointment_type")
    appointment = get_object_or_404(queryset, pk=pk)
    error = None
    try:
        action(appointment)
    except SchedulingError as problem:
        error = str(problem)
    appointment = queryset.with_patient_clearance().get(pk=pk)
    day = timezone.localdate(appointment.starts_at)
    if request.htmx:
        # The card, and the day's counts above the columns swapped in out of band.
        return render(
            request,
            "scheduling/_appointment_card.html",
            {
                "appointment": appointment,
                "error": error,
                "now": timezone.now(),
                "status_counts": _status_counts(day),
                "counts_out_of_band": True,
            },
        )
    if error:
        messages.error(request, error)
    else:
        messages.success(request, f"{appointment.patient}: {appointment.get_status_display().lower()}.")
    return redirect(f"{reverse('scheduling:front-desk')}?day={day.isoformat()}")


@require_POST
@roles.role_required(*roles.FRONT_DESK)
def appointment_check_in(request, pk):
    return _act(request, pk, lambda a: services.appointment_check_in(appointment=a, user=request.user))


@require_POST
@roles.role_required(*roles.FRONT_DESK)
def appointment_no_show(request, pk):
    return _act(request, pk, lambda a: services.appointment_mark_no_show(appointment=a, user=request.user))


@require_POST
@roles.role_required(*roles.FRONT_DESK)
def appointment_cancel(request, pk):
    cancelled_by = cancelled_by_from(request.POST)
    return _act(
        request,
        pk,
        lambda a: services.appointment_cancel(appointment=a, cancelled_by=cancelled_by, user=request.user),
    )
