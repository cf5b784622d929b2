from celery import shared_task
from django.utils import timezone

from clinic.models import WorkerHeartbeat


@shared_task(bind=True, ignore_result=False)
def record_heartbeat(self):
    """Record that a worker is alive; returns the worker's name and the time."""
    worker = self.request.hostname or "unknown"
    now = timezone.now()
    WorkerHeartbeat.objects.update_or_create(worker=worker, defaults={"last_seen_at": now})
    return {"worker": worker, "seen_at": now.isoformat()}
