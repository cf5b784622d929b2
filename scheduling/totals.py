"""The appointments of each therapist's day in each room, totalled
(DayTotal): booked minutes, no-shows and late cancellations, so that the
dashboard and the reports sum a row per therapist and day instead of
scanning every appointment of the period.

Every service that writes an appointment calls `refresh` with the
appointments it wrote, inside its transaction and after its write; the
seeds call `refresh_all` after their bulk loads, and a nightly task repairs
(and logs) any day a write went round the services (`stale_days`).
"""

import datetime

from django.contrib.auth import get_user_model
from django.db import transaction
from django.db.models import Count, DurationField, ExpressionWrapper, F, Q, Sum
from django.db.models.functions import TruncDate
from django.utils import timezone

from scheduling.availability import local
from scheduling.models import Appointment, DayTotal

COUNTED = ["occupying", "booked_minutes", "no_shows", "late_cancellations"]
LATE_BY_PATIENT = Q(late_cancellation=True, cancelled_by=Appointment.CancelledBy.PATIENT)


def day_key(appointment):
    """(therapist id, clinic day) of an appointment, or of a place it was."""
    return appointment.therapist_id, timezone.localdate(appointment.starts_at)


def _computed(appointments):
    """The totals of these appointments, a row per therapist, day and room."""
    cancelled = Q(status=Appointment.Status.CANCELLED)
    rows = (
        appointments.annotate(day=TruncDate("starts_at", tzinfo=timezone.get_current_timezone()))
        .values("therapist_id", "day", "room_id")
        .annotate(
            occupying=Count("id", filter=~cancelled),
            length=Sum(
                ExpressionWrapper(F("ends_at") - F("starts_at"), output_field=DurationField()),
                filter=~cancelled,
            ),
            no_shows=Count("id", filter=Q(status=Appointment.Status.NO_SHOW)),
            late_cancellations=Count("id", filter=cancelled & LATE_BY_PATIENT),
        )
        .order_by()
    )
    for row in rows:
        length = row.pop("length")
        row["booked_minutes"] = int(length.total_seconds() // 60) if length else 0
        yield row


def _of_days(keys):
    """The appointments of these (therapist id, day) pairs."""
    match = Q(pk__in=[])
    for therapist_id, day in keys:
        match |= Q(
            therapist_id=therapist_id,
            starts_at__gte=local(day, datetime.time.min),
            starts_at__lt=local(day + datetime.timedelta(days=1), datetime.time.min),
        )
    return Appointment.objects.filter(match)


def _stored(keys):
    match = Q(pk__in=[])
    for therapist_id, day in keys:
        match |= Q(therapist_id=therapist_id, day=day)
    return DayTotal.objects.filter(match)


@transaction.atomic(savepoint=False)
def refresh(keys):
    """Count again the days of these (therapist id, day) pairs and store
    them: four queries. Writers of one therapist's days take turns (the
    therapist's row is locked), so the second counts the first one's write."""
    keys = sorted(set(keys))
    if not keys:
        return
    therapist_ids = sorted({therapist_id for therapist_id, _ in keys})
    list(
        get_user_model()
        .objects.select_for_update()
        .filter(pk__in=therapist_ids)
        .order_by("pk")
        .values_list("pk", flat=True)
    )
    rows = list(_computed(_of_days(keys)))
    _stored(keys).delete()
    DayTotal.objects.bulk_create([DayTotal(**row) for row in rows if any(row[name] for name in COUNTED)])


def refresh_for(*appointments, before=()):
    """Refresh the days of these appointments, and the `before` keys they were moved from."""
    refresh([*before, *(day_key(appointment) for appointment in appointments)])


@transaction.atomic
def refresh_all():
    """Count every day again (after a bulk load, and in the nightly repair)."""
    list(get_user_model().objects.select_for_update().order_by("pk").values_list("pk", flat=True))
    DayTotal.objects.all().delete()
    DayTotal.objects.bulk_create(
        (DayTotal(**row) for row in _computed(Appointment.objects.all()) if any(row[n] for n in COUNTED)),
        batch_size=5000,
    )


def stale_days():
    """The (therapist id, day) pairs whose stored totals differ from the
    appointments: none, unless a write went round the services."""
    key = ("therapist_id", "day", "room_id")

    def by_key(rows):
        return {tuple(row[name] for name in key): {name: row[name] for name in COUNTED} for row in rows}

    counted = by_key(row for row in _computed(Appointment.objects.all()) if any(row[n] for n in COUNTED))
    stored = by_key(DayTotal.objects.values(*key, *COUNTED).iterator())
    differ = {k for k in counted.keys() | stored.keys() if counted.get(k) != stored.get(k)}
    return sorted({(therapist_id, day) for therapist_id, day, _ in differ})
