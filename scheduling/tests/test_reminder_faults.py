"""Reminders when things break: a worker killed with SIGKILL in the middle of
500 deliveries, Redis restarted with nothing kept while reminders wait, and
an SMTP server that refuses mail for a while (or for good). The outbox in the
database is the schedule, so every reminder still reaches the patient, and at
most the few messages in flight at a crash are sent twice."""

import asyncio
import datetime
import os
import shutil
import subprocess
import threading
import time

import pytest
import redis
from aiosmtpd.controller import Controller
from django.db import connection
from django.utils import timezone

from scheduling import reminders
from scheduling.models import Reminder
from scheduling.tests.test_reminder_delivery import RecordingHandler, client_app, due_reminders, free_port

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True, serialized_rollback=True)]

Kind, Status = Reminder.Kind, Reminder.Status
SITE_URL = "http://127.0.0.1:8000"


@pytest.fixture
def smtp_server():
    handler = RecordingHandler()
    controller = Controller(handler, hostname="127.0.0.1", port=free_port())
    controller.start()
    yield controller, handler
    controller.stop()


def start_worker(start_celery_worker, redis_url, controller, **extra_env):
    return start_celery_worker(
        broker_url=redis_url,
        result_backend=redis_url,
        extra_env={
            "EMAIL_HOST": "127.0.0.1",
            "EMAIL_PORT": str(controller.port),
            "EMAIL_TIMEOUT": "10",
            "SITE_URL": SITE_URL,
            **extra_env,
        },
    )


def send_ids(client, worker, ids):
    for reminder_id in ids:
        client.send_task("scheduling.tasks.send_reminder", args=[reminder_id], queue=worker.queue)


def wait_until(condition, *, seconds, step=0.2):
    """Poll `condition` until it holds or `seconds` pass (bounded by time and by count)."""
    deadline = time.monotonic() + seconds
    for _ in range(int(seconds / step) + 1):
        if condition():
            return True
        if time.monotonic() >= deadline:
            break
        time.sleep(step)
    return condition()


def all_sent(handler, count):
    return len(handler.distinct()) >= count and not Reminder.objects.exclude(status=Status.SENT).exists()


def forget_queue(redis_url, queue):
    """Drop what a dead worker's queue left in Redis: the queued messages and
    the unacknowledged one kombu would restore to it after the visibility
    timeout. Nothing consumes that queue any more."""
    client = redis.Redis.from_url(redis_url, socket_connect_timeout=2, socket_timeout=5)
    client.delete(queue)
    for tag, payload in client.hgetall("unacked").items():
        if queue.encode() in payload:
            client.hdel("unacked", tag)
            client.zrem("unacked_index", tag)


def test_a_worker_killed_mid_delivery_loses_nothing_and_repeats_at_most_the_message_in_flight(
    redis_url, start_celery_worker, smtp_server, settings
):
    controller, handler = smtp_server
    settings.SITE_URL = SITE_URL
    client = client_app(broker_url=redis_url, result_backend=redis_url)
    rows = due_reminders(500)
    every_id = {f"<reminder-{r.pk}@127.0.0.1>" for r in rows}

    first = start_worker(start_celery_worker, redis_url, controller)
    claimed = reminders.claim_due(limit=1000)
    assert sorted(claimed) == sorted(r.pk for r in rows)
    send_ids(client, first, claimed)

    reached = wait_until(lambda: len(handler.message_ids) >= 100, seconds=120, step=0.02)
    assert reached, first.output()[-5000:]
    first.process.kill()  # SIGKILL: no shutdown, no ack, maybe half an SMTP session
    first.process.wait(timeout=20)
    time.sleep(0.5)  # anything the dying worker had on the wire has arrived by now
    delivered_at_kill = len(handler.message_ids)
    print(f"{delivered_at_kill} messages delivered when the worker was killed")
    assert 100 <= delivered_at_kill < 500, f"{delivered_at_kill} delivered before the kill; expected ~100-250"
    forget_queue(redis_url, first.queue)

    left = set(Reminder.objects.exclude(status=Status.SENT).values_list("pk", flat=True))
    assert left, "the worker finished before it was killed"
    # Claimed and waiting, or (the one the worker was on) being delivered.
    assert set(Reminder.objects.filter(pk__in=left).values_list("status", flat=True)) <= {
        Status.SENDING,
        Status.DELIVERING,
    }
    # Before the lease runs out nobody may take the rows: the worker might
    # only be slow, not dead.
    assert reminders.claim_due() == []

    # The dispatcher's next run after the lease has run out (the worker's
    # lease is REMINDER_LEASE_SECONDS from the claim): the rows left
    # "sending" or "delivering" by the dead worker are claimable again.
    after_lease = timezone.now() + datetime.timedelta(seconds=settings.REMINDER_LEASE_SECONDS + 1)
    reclaimed = set()
    for _ in range(10):  # a row lock of the killed worker's session may linger for a moment
        reclaimed |= set(reminders.claim_due(now=after_lease, limit=1000))
        if reclaimed >= left:
            break
        time.sleep(0.5)
    assert reclaimed == left

    second = start_worker(start_celery_worker, redis_url, controller)
    send_ids(client, second, sorted(reclaimed))
    if not wait_until(lambda: all_sent(handler, 500), seconds=120, step=0.5):
        print(second.output()[-5000:])
    time.sleep(1)  # anything sent twice would arrive now

    assert handler.distinct() == every_id
    duplicates = len(handler.message_ids) - 500
    print(f"{duplicates} duplicates after the kill and restart")
    # --pool=solo, prefetch multiplier 1 and acks_late: at most the message
    # being sent at the kill is repeated.
    assert 0 <= duplicates <= 5, f"{duplicates} reminders sent twice"
    assert set(Reminder.objects.values_list("status", flat=True)) == {Status.SENT}
    assert not Reminder.objects.filter(sent_at=None).exists()
    assert not Reminder.objects.filter(status__in=[Status.SENDING, Status.DELIVERING]).exists()
    assert reminders.claim_due(now=after_lease + datetime.timedelta(hours=1)) == []


REDIS_CLI = ["redis-cli", "-h", "127.0.0.1", "-p", "6379"]
REDIS_SERVER = [
    "redis-server", "--daemonize", "yes", "--bind", "127.0.0.1", "-::1", "--port", "6379",
    "--save", "", "--appendonly", "no", "--dir", "/var/lib/redis", "--logfile", "/var/log/redis/ci.log",
]  # fmt: skip


def restart_redis_empty(redis_url):
    """Stop the machine's Redis without saving anything and start it again."""
    probe = redis.Redis.from_url(redis_url, socket_connect_timeout=1, socket_timeout=2)
    subprocess.run([*REDIS_CLI, "shutdown", "nosave"], capture_output=True, timeout=20, check=False)

    def down():
        try:
            probe.ping()
        except redis.RedisError:
            return True
        return False

    assert wait_until(down, seconds=20), "Redis did not stop"
    subprocess.run(REDIS_SERVER, capture_output=True, timeout=20, check=True)

    def up():
        try:
            return probe.ping()
        except redis.RedisError:
            return False

    assert wait_until(up, seconds=30), "Redis did not come back"
    return probe


@pytest.mark.skipif(
    os.environ.get("CI") != "true" and os.environ.get("REDIS_RESTART_OK") != "1",
    reason="restarts the machine's Redis (shutdown nosave): runs only with CI=true or REDIS_RESTART_OK=1",
)
def test_reminders_waiting_in_the_database_survive_a_redis_restart_that_keeps_nothing(
    redis_url, start_celery_worker, smtp_server, settings
):
    if not (shutil.which("redis-cli") and shutil.which("redis-server")):
        pytest.fail("redis-cli and redis-server are needed to restart Redis", pytrace=False)
    controller, handler = smtp_server
    settings.SITE_URL = SITE_URL
    rows = due_reminders(500)
    due_at = timezone.now() + datetime.timedelta(minutes=2)
    Reminder.objects.update(due_at=due_at)
    assert reminders.claim_due() == []  # nothing is due yet

    marker = redis.Redis.from_url(redis_url, socket_connect_timeout=2)
    marker.set("helper-faults-marker", "before the restart")
    probe = restart_redis_empty(redis_url)
    assert probe.get("helper-faults-marker") is None  # Redis really kept nothing

    assert set(Reminder.objects.values_list("status", flat=True)) == {Status.PENDING}
    # Two minutes later the dispatcher runs again: everything is due.
    worker = start_worker(start_celery_worker, redis_url, controller)
    client = client_app(broker_url=redis_url, result_backend=redis_url)
    claimed = reminders.claim_due(now=due_at + datetime.timedelta(seconds=1), limit=1000)
    assert sorted(claimed) == sorted(r.pk for r in rows)
    send_ids(client, worker, claimed)
    if not wait_until(lambda: all_sent(handler, 500), seconds=120, step=0.5):
        print(worker.output()[-5000:])
    time.sleep(1)

    assert len(handler.message_ids) == len(handler.distinct()) == 500
    assert handler.distinct() == {f"<reminder-{r.pk}@127.0.0.1>" for r in rows}
    assert set(Reminder.objects.values_list("status", flat=True)) == {Status.SENT}


class RefusingHandler(RecordingHandler):
    """Answers 421 to DATA for the first `refuse` messages, then accepts."""

    def __init__(self, refuse):
        super().__init__()
        self.refuse = refuse
        self.refused = 0

    async def handle_DATA(self, server, session, envelope):
        with self.lock:
            if self.refused < self.refuse:
                self.refused += 1
                return "421 Service not available"
        return await super().handle_DATA(server, session, envelope)


@pytest.fixture
def refusing_smtp(settings):
    servers = []

    def start(refuse):
        handler = RefusingHandler(refuse)
        controller = Controller(handler, hostname="127.0.0.1", port=free_port())
        controller.start()
        servers.append(controller)
        settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
        settings.EMAIL_HOST = "127.0.0.1"
        settings.EMAIL_PORT = controller.port
        settings.EMAIL_USE_TLS = settings.EMAIL_USE_SSL = False
        settings.EMAIL_HOST_USER = settings.EMAIL_HOST_PASSWORD = ""
        settings.EMAIL_TIMEOUT = 10
        settings.SITE_URL = SITE_URL
        return handler

    yield start
    for controller in servers:
        controller.stop()


def dispatch(now=None):
    """What the beat dispatcher and the worker do, in this process."""
    return {pk: reminders.send(pk) for pk in reminders.claim_due(now=now, limit=1000)}


def test_an_smtp_server_refusing_for_a_while_delays_reminders_but_each_arrives_once(refusing_smtp):
    handler = refusing_smtp(refuse=7)
    rows = due_reminders(20)
    started = timezone.now()

    outcome = dispatch()
    assert sorted(outcome.values()).count("failed") == 7
    assert sorted(outcome.values()).count("sent") == 13
    waiting = Reminder.objects.filter(status=Status.PENDING)
    assert waiting.count() == 7
    for reminder in waiting:
        assert reminder.attempts == 1
        assert "421" in reminder.last_error
        # The first retry waits a minute.
        backoff = reminder.due_at - started
        assert (
            datetime.timedelta(seconds=59)
            <= backoff
            <= datetime.timedelta(seconds=61) + (timezone.now() - started)
        )
    assert dispatch() == {}  # not due again yet

    later = timezone.now() + datetime.timedelta(minutes=1, seconds=5)
    for _ in range(5):  # bounded: all are accepted on the next pass
        if not Reminder.objects.exclude(status=Status.SENT).exists():
            break
        dispatch(now=later)
        later += datetime.timedelta(minutes=5)

    assert set(Reminder.objects.values_list("status", flat=True)) == {Status.SENT}
    assert len(handler.message_ids) == len(handler.distinct()) == 20
    assert handler.distinct() == {f"<reminder-{r.pk}@127.0.0.1>" for r in rows}
    assert not Reminder.objects.exclude(last_error="").exists()


def test_an_smtp_server_refusing_for_good_fails_the_reminder_visibly_and_resend_retries_it(
    refusing_smtp, settings
):
    settings.REMINDER_MAX_ATTEMPTS = 3
    handler = refusing_smtp(refuse=3)
    (row,) = due_reminders(1)

    later = timezone.now()
    for attempt in range(1, 4):
        assert dispatch(now=later) == {row.pk: "failed"}
        row.refresh_from_db()
        assert row.attempts == attempt
        later += datetime.timedelta(minutes=2**attempt)
    assert row.status == Status.FAILED
    assert "421" in row.last_error
    assert row.sent_at is None
    assert handler.message_ids == []
    assert Reminder.objects.filter(status=Status.FAILED).count() == 1  # what the admin sees
    assert dispatch(now=later + datetime.timedelta(days=1)) == {}  # failed for good: no more tries

    reminders.resend(row)
    row.refresh_from_db()
    assert row.status == Status.PENDING
    assert row.attempts == 0
    assert dispatch() == {row.pk: "sent"}
    row.refresh_from_db()
    assert row.status == Status.SENT
    assert row.last_error == ""
    assert handler.message_ids == [f"<reminder-{row.pk}@127.0.0.1>"]


class HoldingHandler(RecordingHandler):
    """Holds the first message's DATA until a second message arrives (at most
    a few seconds), so two senders of one row overlap for certain."""

    async def handle_DATA(self, server, session, envelope):
        reply = await super().handle_DATA(server, session, envelope)
        for _ in range(60):  # at most 3 seconds
            with self.lock:
                if len(self.message_ids) >= 2:
                    break
            await asyncio.sleep(0.05)
        return reply


def test_two_sends_of_a_reclaimed_row_at_once_deliver_it_once(settings):
    """A row whose lease ran out while its task still waited in a worker's
    backlog is claimed again and a second task is queued (or Redis redelivers
    the first after its visibility timeout). When the two tasks run at the
    same time on two workers, only one may send."""
    handler = HoldingHandler()
    controller = Controller(handler, hostname="127.0.0.1", port=free_port())
    controller.start()
    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    settings.EMAIL_HOST, settings.EMAIL_PORT, settings.EMAIL_TIMEOUT = "127.0.0.1", controller.port, 10
    settings.EMAIL_USE_TLS = settings.EMAIL_USE_SSL = False
    settings.EMAIL_HOST_USER = settings.EMAIL_HOST_PASSWORD = ""
    settings.SITE_URL = SITE_URL
    try:
        (row,) = due_reminders(1)
        assert reminders.claim_due() == [row.pk]
        after_lease = timezone.now() + datetime.timedelta(seconds=settings.REMINDER_LEASE_SECONDS + 1)
        assert reminders.claim_due(now=after_lease) == [row.pk]  # the same row, claimed a second time

        barrier = threading.Barrier(2)
        results, errors = [], []

        def worker():
            try:
                barrier.wait(timeout=10)
                results.append(reminders.send(row.pk))
            except Exception as error:
                errors.append(error)
            finally:
                connection.close()

        threads = [threading.Thread(target=worker) for _ in range(2)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=60)
        time.sleep(0.5)
    finally:
        controller.stop()
    assert errors == []
    assert sorted(results) == ["not claimed", "sent"]
    assert handler.message_ids == [f"<reminder-{row.pk}@127.0.0.1>"], "one reminder delivered twice"
