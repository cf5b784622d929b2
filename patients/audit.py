"""Writing and checking the access log (AuditEvent): each row carries a hash
of its content chained to the row before it."""

import hashlib

from django.db import connection, transaction
from django.utils import timezone
from simple_history.models import HistoricalRecords

from patients.models import AuditEvent

GENESIS = "0" * 64
# Appends are serialised on PostgreSQL by this transaction-level advisory lock
# (SQLite's IMMEDIATE transactions serialise them already).
CHAIN_LOCK = 7_214_003


def seal(event):
    return hashlib.sha256(event.content().encode()).hexdigest()


def record(
    *, action, user=None, patient=None, patient_id=None, what="", allowed=True, username="", ip_address=None
):
    """Append one row to the access log."""
    if user is not None and not user.is_authenticated:
        user = None
    with transaction.atomic():
        if connection.vendor == "postgresql":
            with connection.cursor() as cursor:
                cursor.execute("SELECT pg_advisory_xact_lock(%s)", [CHAIN_LOCK])
        previous = AuditEvent.objects.order_by("-id").values_list("hash", flat=True).first()
        event = AuditEvent(
            accessed_at=timezone.now(),
            user=user,
            username=username or (user.get_username() if user else ""),
            action=action,
            patient_id=patient.pk if patient is not None else patient_id,
            record=what[:200],
            allowed=allowed,
            ip_address=ip_address,
            previous_hash=previous or GENESIS,
        )
        event.hash = seal(event)
        event.save()
    return event


def first_broken_row():
    """The id of the first row whose hash or link to the row before it does
    not match, or None when the whole chain holds."""
    previous = GENESIS
    for event in AuditEvent.objects.order_by("id").iterator(chunk_size=2000):
        if event.previous_hash != previous or seal(event) != event.hash:
            return event.pk
        previous = event.hash
    return None


def current_request():
    """The request being served, if any (django-simple-history's middleware
    keeps it for the thread); None in Celery tasks and management commands."""
    return getattr(HistoricalRecords.context, "request", None)


def client_ip(request):
    return request.META.get("REMOTE_ADDR") if request is not None else None


def record_write(instance, created, patient_id):
    """A clinical record or a patient's details written, by whoever is logged in."""
    request = current_request()
    user = getattr(request, "user", None)
    record(
        action=AuditEvent.Action.CREATE if created else AuditEvent.Action.CHANGE,
        user=user,
        patient_id=patient_id,
        what=f"{instance._meta.verbose_name} {instance.pk}",
        ip_address=client_ip(request),
    )
