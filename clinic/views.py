import datetime

from django.contrib.auth import get_user_model
from django.contrib.auth.decorators import login_required
from django.db.models import Count, Min, Q
from django.shortcuts import redirect, render
from django.utils import timezone

from clinic import roles
from clinic.models import WorkerHeartbeat
from patients.models import Patient
from scheduling.availability import local
from scheduling.models import Appointment, Reminder, Room
from treatments.models import AdverseEvent, AftercareCheckIn

# A worker that has not run the every-minute heartbeat for this long is shown as down.
HEARTBEAT_STALE_AFTER = datetime.timedelta(minutes=3)
SERIOUS_EVENTS_SHOWN_FOR = datetime.timedelta(days=90)
# A pending reminder this late means the dispatcher (every minute) is not running.
OVERDUE_AFTER = datetime.timedelta(minutes=5)


@login_required
def home(request):
    """Everyone: sends each role to its own home page."""
    page = roles.home_page_for(request.user)
    return redirect(page or "clinic:no-role")


@login_required
def no_role(request):
    """A signed-in user whose account has no clinic role yet."""
    if roles.home_page_for(request.user):
        return redirect("home")
    return render(request, "clinic/no_role.html")


@roles.role_required(roles.CLINIC_ADMIN)
def dashboard(request):
    """Clinic admin: today's schedule per therapist and the health of the clinic."""
    today = timezone.localdate()
    today_appointments = Appointment.objects.on_day(today)
    status = Appointment.Status
    in_today = Q(appointments__in=today_appointments)

    def today_with(status_value):
        return Count("appointments", filter=in_today & Q(appointments__status=status_value))

    therapists = (
        get_user_model()
        .objects.filter(groups__name=roles.THERAPIST, is_active=True)
        .annotate(
            total=Count(
                "appointments",
                filter=in_today & ~Q(appointments__status=status.CANCELLED),
            ),
            checked_in=today_with(status.CHECKED_IN),
            completed=today_with(status.COMPLETED),
            no_shows=today_with(status.NO_SHOW),
            cancelled=today_with(status.CANCELLED),
        )
        .order_by("last_name", "first_name")
    )
    week_start = today - datetime.timedelta(days=today.weekday())
    patients = Patient.objects.active().aggregate(
        total=Count("id"),
        new_this_week=Count(
            "id",
            filter=Q(created_at__gte=local(week_start, datetime.time.min)),
        ),
    )
    serious_events = (
        AdverseEvent.objects.filter(
            kind__in=AdverseEvent.SERIOUS,
            chart__appointment__starts_at__gte=timezone.now() - SERIOUS_EVENTS_SHOWN_FOR,
        )
        .select_related("chart__plan__patient", "chart__therapist", "chart__appointment")
        .order_by("-chart__appointment__starts_at")
    )
    heartbeat = WorkerHeartbeat.objects.first()
    worker_is_up = heartbeat is not None and (timezone.now() - heartbeat.last_seen_at < HEARTBEAT_STALE_AFTER)
    now = timezone.now()
    midnight = local(today, datetime.time.min)
    outbox = Reminder.objects.aggregate(
        pending=Count("id", filter=Q(status=Reminder.Status.PENDING)),
        overdue=Count("id", filter=Q(status=Reminder.Status.PENDING, due_at__lt=now - OVERDUE_AFTER)),
        oldest_overdue=Min(
            "due_at", filter=Q(status=Reminder.Status.PENDING, due_at__lt=now - OVERDUE_AFTER)
        ),
        sent_today=Count("id", filter=Q(status=Reminder.Status.SENT, sent_at__gte=midnight)),
        failed=Count("id", filter=Q(status=Reminder.Status.FAILED)),
    )
    oldest = outbox["oldest_overdue"]
    outbox["overdue_minutes"] = int((now - oldest).total_seconds() // 60) if oldest else None
    checkin_alerts = AftercareCheckIn.objects.filter(alert=True, acknowledged_at__isnull=True).count()
    return render(
        request,
        "clinic/dashboard.html",
        {
            "today": today,
            "therapists": therapists,
            "patients": patients,
            "active_rooms": Room.objects.filter(is_active=True).count(),
            "serious_events": serious_events,
            "heartbeat": heartbeat,
            "worker_is_up": worker_is_up,
            "outbox": outbox,
            "checkin_alerts": checkin_alerts,
        },
    )
