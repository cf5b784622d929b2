"""Reminders when things break: Redis restarted with nothing kept while sends
wait in it, a worker killed with SIGKILL while its messages sit in Redis
unacknowledged, and an SMTP server that refuses mail for a while (or for
good). The outbox in the database is the schedule: a send lost with Redis is
claimed again when its lease runs out, a message of a dead worker is handed
out again after the visibility timeout, and at most the messages in flight
at a crash are sent twice.

The Redis tests run a redis-server of their own (ports 6391-6399) that keeps
nothing on disk, a real Celery worker process, and an SMTP server on loopback
that can hold a message to keep a worker in the middle of sending it."""

import asyncio
import base64
import contextlib
import datetime
import json
import os
import shutil
import socket
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
# Short enough for a test, in the test process (the dispatcher) and in the workers.
LEASE_SECONDS = 5
VISIBILITY_TIMEOUT = 3
REDIS_PORTS = range(6391, 6400)


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


class PrivateRedis:
    """A redis-server of the test's own that keeps nothing (no RDB, no AOF),
    so a restart empties it and touches no other Redis of the machine."""

    def __init__(self, folder):
        self.folder = folder
        self.port = None
        self.process = None

    @property
    def url(self):
        return f"redis://127.0.0.1:{self.port}/0"

    def client(self):
        return redis.Redis.from_url(self.url, socket_connect_timeout=1, socket_timeout=5)

    def up(self):
        try:
            return self.client().ping()
        except redis.RedisError:
            return False

    def start(self):
        for port in [self.port] if self.port else REDIS_PORTS:
            with socket.socket() as probe:
                if probe.connect_ex(("127.0.0.1", port)) == 0:
                    continue  # taken
            self.port = port
            self.log = open(self.folder / f"redis-{port}.log", "a")  # noqa: SIM115 closed in stop()
            self.process = subprocess.Popen(
                [
                    "redis-server", "--port", str(port), "--bind", "127.0.0.1", "--save", "",
                    "--appendonly", "no", "--daemonize", "no", "--dir", str(self.folder),
                ],
                stdout=self.log,
                stderr=subprocess.STDOUT,
            )  # fmt: skip
            if wait_until(lambda: self.up() or self.process.poll() is not None, seconds=20) and self.up():
                return self
            self.stop()
        raise AssertionError(f"no redis-server could start on a port in {REDIS_PORTS}")

    def restart_empty(self):
        """SHUTDOWN NOSAVE, then the same server again on the same port."""
        with contextlib.suppress(redis.ConnectionError):  # the server hangs up as it goes
            self.client().shutdown(nosave=True)
        self.process.wait(timeout=20)
        self.log.close()
        return self.start()

    def stop(self):
        if self.process and self.process.poll() is None:
            self.process.terminate()
            self.process.wait(timeout=20)
        self.log.close()


@pytest.fixture
def private_redis(tmp_path):
    if not shutil.which("redis-server"):
        if os.environ.get("CI") == "true":
            pytest.fail("redis-server is needed for the Redis fault tests", pytrace=False)
        pytest.skip("redis-server is not installed")
    server = PrivateRedis(tmp_path).start()
    yield server
    server.stop()


class StallingHandler(RecordingHandler):
    """Records every message; holds the `hold_at`-th after receiving it (the
    patient has it) and before answering, until released: the worker sending
    it is stuck in the middle of the SMTP conversation."""

    def __init__(self, hold_at):
        super().__init__()
        self.hold_at = hold_at
        self.held = threading.Event()
        self.released = threading.Event()

    async def handle_DATA(self, server, session, envelope):
        reply = await super().handle_DATA(server, session, envelope)
        with self.lock:
            number = len(self.message_ids)
        if number == self.hold_at:
            self.held.set()
            for _ in range(600):  # at most 60 seconds
                if self.released.is_set():
                    break
                await asyncio.sleep(0.1)
        return reply


@pytest.fixture
def holding_smtp():
    servers = []

    def start(hold_at):
        handler = StallingHandler(hold_at)
        controller = Controller(handler, hostname="127.0.0.1", port=free_port())
        controller.start()
        servers.append((controller, handler))
        return controller, handler

    yield start
    for controller, handler in servers:
        handler.released.set()
        controller.stop()


def start_worker(start_celery_worker, redis_url, controller, queue=None):
    return start_celery_worker(
        broker_url=redis_url,
        result_backend=redis_url,
        queue=queue,
        extra_env={
            "EMAIL_HOST": "127.0.0.1",
            "EMAIL_PORT": str(controller.port),
            "EMAIL_TIMEOUT": "10",
            "SITE_URL": SITE_URL,
            "REMINDER_LEASE_SECONDS": str(LEASE_SECONDS),
            "CELERY_VISIBILITY_TIMEOUT": str(VISIBILITY_TIMEOUT),
        },
    )


def send_ids(client, queue, ids):
    for reminder_id in ids:
        client.send_task("scheduling.tasks.send_reminder", args=[reminder_id], queue=queue)


# What Redis holds: a queue is a list of messages; a message a worker took
# and has not acknowledged is in the "unacked" hash until it is acknowledged
# or, after the visibility timeout, put back on its queue.


def reminder_of(message):
    body = message["body"]
    if message["properties"].get("body_encoding") == "base64":
        body = base64.b64decode(body)
    args, _kwargs, _embed = json.loads(body)
    return args[0]


def queued(client, queue):
    """The reminder ids of the sends waiting in `queue`."""
    return [reminder_of(json.loads(raw)) for raw in client.lrange(queue, 0, -1)]


def unacked(client):
    """{task id: reminder id} of the messages taken and not acknowledged."""
    messages = [json.loads(raw)[0] for raw in client.hvals("unacked")]
    return {message["headers"]["id"]: reminder_of(message) for message in messages}


def unsent():
    return set(Reminder.objects.exclude(status=Status.SENT).values_list("pk", flat=True))


def dispatch_until_sent(client, queue, *, seconds):
    """What beat's dispatcher does every minute, here every half second with
    the real clock: claim the due rows and those whose lease ran out, and
    queue a send for each, until every row is sent. Returns how many it claimed."""
    claimed = 0
    deadline = time.monotonic() + seconds
    while unsent() and time.monotonic() < deadline:
        ids = reminders.claim_due(limit=1000)
        send_ids(client, queue, ids)
        claimed += len(ids)
        time.sleep(0.5)
    return claimed


def drained(client, queue):
    """Nothing left to run: every message on the queue was taken and acknowledged."""
    return client.llen(queue) == 0 and client.hlen("unacked") == 0


def assert_every_row_sent_once_more_at_most(handler, rows, in_flight):
    every_id = {f"<reminder-{r.pk}@127.0.0.1>" for r in rows}
    assert handler.distinct() == every_id, "a reminder never reached the patient"
    twice = {mid for mid in handler.message_ids if handler.message_ids.count(mid) > 1}
    allowed = {f"<reminder-{pk}@127.0.0.1>" for pk in in_flight}
    assert twice <= allowed, f"sent twice though not in flight at the fault: {sorted(twice - allowed)}"
    assert len(handler.message_ids) - len(every_id) <= len(in_flight)
    assert set(Reminder.objects.values_list("status", flat=True)) == {Status.SENT}
    assert not Reminder.objects.filter(sent_at=None).exists()


def test_sends_queued_in_redis_when_it_restarts_empty_are_delivered_by_the_lease_reclaim(
    private_redis, start_celery_worker, holding_smtp, settings
):
    settings.SITE_URL = SITE_URL
    settings.REMINDER_LEASE_SECONDS = LEASE_SECONDS
    controller, handler = holding_smtp(hold_at=1)
    rows = due_reminders(200)
    worker = start_worker(start_celery_worker, private_redis.url, controller)
    client = client_app(broker_url=private_redis.url, result_backend=private_redis.url)
    broker = private_redis.client()

    claimed = reminders.claim_due(limit=1000)
    assert sorted(claimed) == sorted(r.pk for r in rows)
    send_ids(client, worker.queue, claimed)
    # The worker is in the middle of sending the first; the rest wait in Redis.
    assert handler.held.wait(timeout=60), worker.output()[-5000:]
    waiting, in_flight = queued(broker, worker.queue), unacked(broker)
    assert set(waiting) | set(in_flight.values()) == set(claimed)
    assert len(waiting) == len(claimed) - len(in_flight) > 0

    private_redis.restart_empty()
    broker = private_redis.client()
    assert broker.llen(worker.queue) == 0, "Redis kept the queue"
    assert broker.hlen("unacked") == 0
    handler.released.set()  # the worker finishes its send, then finds Redis gone
    assert unsent() >= set(waiting), "a send lost with Redis was delivered anyway"

    # A new client: the old one's connections went with the server.
    client = client_app(broker_url=private_redis.url, result_backend=private_redis.url)
    reclaimed = dispatch_until_sent(client, worker.queue, seconds=120)
    assert not unsent(), worker.output()[-5000:]
    assert wait_until(lambda: drained(broker, worker.queue), seconds=60), worker.output()[-5000:]

    duplicates = len(handler.message_ids) - len(rows)
    print(
        f"FAULT FIGURES restart: queued={len(waiting)} in_flight={len(in_flight)} "
        f"reclaimed={reclaimed} delivered={len(handler.distinct())} duplicates={duplicates}"
    )
    assert reclaimed >= len(waiting)
    assert_every_row_sent_once_more_at_most(handler, rows, set(in_flight.values()))


def test_a_worker_killed_with_its_messages_in_redis_loses_nothing_and_repeats_at_most_those_in_flight(
    private_redis, start_celery_worker, holding_smtp, settings
):
    settings.SITE_URL = SITE_URL
    settings.REMINDER_LEASE_SECONDS = LEASE_SECONDS
    controller, handler = holding_smtp(hold_at=100)
    rows = due_reminders(300)
    first = start_worker(start_celery_worker, private_redis.url, controller)
    client = client_app(broker_url=private_redis.url, result_backend=private_redis.url)
    broker = private_redis.client()

    claimed = reminders.claim_due(limit=1000)
    assert sorted(claimed) == sorted(r.pk for r in rows)
    send_ids(client, first.queue, claimed)
    # The 100th message has reached the patient; the worker waits for the
    # server's answer and has not yet marked the row sent.
    assert handler.held.wait(timeout=120), first.output()[-5000:]
    first.process.kill()  # SIGKILL: no shutdown, no acknowledgement
    first.process.wait(timeout=20)
    handler.released.set()

    waiting, in_flight = queued(broker, first.queue), unacked(broker)
    left = unsent()
    print(
        f"killed after {len(handler.message_ids)} messages: {len(waiting)} queued, {len(in_flight)} unacked"
    )
    assert in_flight, "the dead worker's message was acknowledged"
    assert set(waiting) | set(in_flight.values()) == left, "Redis does not hold every unsent send"
    held = Reminder.objects.get(status=Status.DELIVERING)
    assert held.pk in in_flight.values()

    # The dead worker's message goes back on its queue once it has been out
    # longer than the visibility timeout; the new worker looks when it starts.
    def out_long_enough():
        oldest = min(score for _tag, score in broker.zrange("unacked_index", 0, -1, withscores=True))
        return time.time() - oldest > VISIBILITY_TIMEOUT + 0.5

    assert wait_until(out_long_enough, seconds=VISIBILITY_TIMEOUT + 5)
    second = start_worker(start_celery_worker, private_redis.url, controller, queue=first.queue)
    reclaimed = dispatch_until_sent(client, first.queue, seconds=120)
    assert not unsent(), second.output()[-5000:]
    assert wait_until(lambda: drained(broker, first.queue), seconds=60), second.output()[-5000:]

    redelivered = [
        task_id for task_id in in_flight if f"send_reminder[{task_id}] received" in second.output()
    ]
    duplicates = len(handler.message_ids) - len(rows)
    print(
        f"FAULT FIGURES kill: queued={len(waiting)} in_flight={len(in_flight)} "
        f"redelivered={len(redelivered)} reclaimed={reclaimed} "
        f"delivered={len(handler.distinct())} duplicates={duplicates}"
    )
    assert redelivered == list(in_flight), "the dead worker's messages were not handed out again"
    assert_every_row_sent_once_more_at_most(handler, rows, set(in_flight.values()))


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
