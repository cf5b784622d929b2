"""Tasks the benchmark's Celery worker imports (celery worker --include bench.tasks)."""

import time

import redis
from celery import shared_task
from django.conf import settings


@shared_task(name="bench.noop")
def noop():
    pass


@shared_task(name="bench.stamp")
def stamp(key):
    """Write the time this task ran under `key` in Redis."""
    redis.Redis.from_url(settings.REDIS_URL).set(key, repr(time.time()))
