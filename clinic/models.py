import datetime

from django.db import models
from django.utils import timezone

# A worker that has not run the every-minute heartbeat for this long is shown as down.
HEARTBEAT_STALE_AFTER = datetime.timedelta(minutes=3)


class WorkerHeartbeat(models.Model):
    """When each Celery worker last ran the beat's heartbeat task: proof that
    beat, broker and worker all work, shown on the clinic admin's dashboard."""

    worker = models.CharField(max_length=200, unique=True)
    last_seen_at = models.DateTimeField()

    class Meta:
        ordering = ["-last_seen_at"]

    def __str__(self):
        return f"{self.worker} at {self.last_seen_at:%Y-%m-%d %H:%M:%S}"

    def is_recent(self):
        return timezone.now() - self.last_seen_at < HEARTBEAT_STALE_AFTER
