"""The Celery round trip: a task sent by name through a real broker is run by
a real worker process, which writes to the test database and returns a result."""

import pytest
from celery import Celery
from django.conf import settings

from clinic.celery import app
from clinic.models import WorkerHeartbeat

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True, serialized_rollback=True)]


def client_app(**config):
    """A Celery app of its own, so the test talks to the worker only through the broker."""
    client = Celery("test-client")
    client.conf.update(
        task_serializer="json",
        accept_content=["json"],
        result_serializer="json",
        **config,
    )
    return client


def assert_round_trip(client, worker):
    result = client.send_task("clinic.tasks.record_heartbeat", queue=worker.queue)
    try:
        reply = result.get(timeout=60)
    except Exception:
        print(worker.output())
        raise
    assert reply["worker"] == worker.name
    heartbeat = WorkerHeartbeat.objects.get(worker=worker.name)
    assert heartbeat.last_seen_at.isoformat() == reply["seen_at"]


def test_it_round_trips_through_a_worker_on_redis(redis_url, start_celery_worker):
    worker = start_celery_worker(broker_url=redis_url, result_backend=redis_url)
    assert_round_trip(client_app(broker_url=redis_url, result_backend=redis_url), worker)


def test_it_round_trips_through_a_worker_on_the_embedded_broker(tmp_path, start_celery_worker):
    queue_dir = tmp_path / "celery" / "queue"
    queue_dir.mkdir(parents=True)
    (tmp_path / "celery" / "results").mkdir()
    result_backend = f"file://{tmp_path / 'celery' / 'results'}"
    worker = start_celery_worker(broker_url="filesystem://", result_backend=result_backend)
    client = client_app(
        broker_url="filesystem://",
        broker_transport_options={
            "data_folder_in": str(queue_dir),
            "data_folder_out": str(queue_dir),
            "processed_folder": str(tmp_path / "celery" / "processed"),
            "control_folder": str(tmp_path / "celery" / "control"),
        },
        result_backend=result_backend,
    )
    assert_round_trip(client, worker)


def test_the_app_takes_its_settings_from_django():
    assert app.conf.task_serializer == "json"
    assert app.conf.accept_content == ["json"]
    assert app.conf.task_time_limit == settings.CELERY_TASK_TIME_LIMIT
    assert app.conf.task_soft_time_limit < app.conf.task_time_limit
    # Celery's Django fixup reads this key to keep database connections across tasks.
    assert app.conf.get("CELERY_DB_REUSE_MAX") == settings.CELERY_DB_REUSE_MAX > 0


def test_every_beat_entry_names_a_registered_task():
    app.loader.import_default_modules()
    for entry in settings.CELERY_BEAT_SCHEDULE.values():
        assert entry["task"] in app.tasks
