"""Shared fixtures: the clinic's personas, and the real services (Redis, a
Celery worker process, Chromium) that integration tests talk to.

On CI (CI=true) a missing service fails the test that needs it; elsewhere
the test is skipped with the reason.
"""

import os
import re
import shutil
import signal
import subprocess
import sys
import uuid
from pathlib import Path

import pytest
from django.db import connection

from clinic.tests import factories

BASE_DIR = Path(__file__).resolve().parent
ON_CI = os.environ.get("CI") == "true"
DEFAULT_REDIS_URL = "redis://127.0.0.1:6379/0"


def service_unavailable(what):
    if ON_CI:
        pytest.fail(f"{what} is not available, and on CI every service must be", pytrace=False)
    pytest.skip(f"{what} is not available")


@pytest.fixture(scope="session")
def django_db_setup(django_db_setup):
    """Keep the data that migrations create (role groups, catalogues) for
    transactional tests with serialized_rollback, on every connection object:
    under Playwright's event loop a test may get a fresh one."""
    from django.db import connections

    for conn in connections.all(initialized_only=True):
        contents = getattr(conn, "_test_serialized_contents", None)
        if contents is not None:
            type(conn)._test_serialized_contents = contents


@pytest.fixture(autouse=True)
def fresh_rate_limits():
    """Each test starts with no requests counted against the patient links' limit."""
    from django.core.cache import cache

    cache.clear()


@pytest.fixture(autouse=True)
def fast_password_hasher(settings):
    """Tests create many users; the default hasher would take most of their time."""
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


# The clinic's people.


@pytest.fixture
def receptionist(db):
    return factories.receptionist(username="rosa")


@pytest.fixture
def therapist(db):
    return factories.therapist(username="theo")


@pytest.fixture
def other_therapist(db):
    return factories.therapist(username="priya")


@pytest.fixture
def clinic_admin(db):
    return factories.clinic_admin(username="alex")


@pytest.fixture
def no_role_user(db):
    return factories.UserFactory(username="newcomer")


# Real services.


@pytest.fixture(scope="session")
def redis_url():
    import redis

    url = os.environ.get("REDIS_URL") or DEFAULT_REDIS_URL
    try:
        redis.Redis.from_url(url, socket_connect_timeout=2).ping()
    except redis.RedisError as error:
        service_unavailable(f"Redis at {url} ({error})")
    return url


@pytest.fixture
def postgresql(db):
    if connection.vendor != "postgresql":
        service_unavailable("PostgreSQL (set DATABASE_URL=postgres://...)")


def database_url_for_subprocess():
    """The URL of the database this test runs on, for a child process."""
    settings = connection.settings_dict
    if connection.vendor == "sqlite":
        return f"sqlite:///{settings['NAME']}"
    user = settings["USER"] or ""
    password = f":{settings['PASSWORD']}" if settings["PASSWORD"] else ""
    host = settings["HOST"] or "127.0.0.1"
    port = settings["PORT"] or 5432
    return f"postgres://{user}{password}@{host}:{port}/{settings['NAME']}"


class CeleryWorkerProcess:
    """A real `celery worker` child process on its own queue."""

    def __init__(self, *, broker_url, result_backend, queue, var_dir, extra_env=None):
        self.queue = queue
        self.name = f"{queue}@testhost"
        self.env = {
            **os.environ,
            "DATABASE_URL": database_url_for_subprocess(),
            "CELERY_BROKER_URL": broker_url,
            "CELERY_RESULT_BACKEND": result_backend,
            "VAR_DIR": str(var_dir),
            **(extra_env or {}),
        }
        self.env.pop("REDIS_URL", None)
        self.log_path = Path(var_dir) / f"{queue}.log"
        self.process = None

    def start(self):
        self.log = open(self.log_path, "w")  # noqa: SIM115 closed in stop()
        self.process = subprocess.Popen(
            [
                sys.executable, "-m", "celery", "-A", "clinic", "worker",
                "--pool=solo", "--without-gossip", "--without-mingle", "--without-heartbeat",
                "--loglevel=INFO", "-Q", self.queue, "-n", self.name,
            ],
            cwd=BASE_DIR,
            env=self.env,
            stdout=self.log,
            stderr=subprocess.STDOUT,
        )  # fmt: skip
        return self

    def stop(self, sig=signal.SIGTERM):
        if self.process and self.process.poll() is None:
            self.process.send_signal(sig)
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self.log.close()

    def output(self):
        return self.log_path.read_text()


@pytest.fixture
def start_celery_worker(tmp_path):
    """Start real Celery worker processes; all are stopped after the test."""
    workers = []

    def start(*, broker_url, result_backend, extra_env=None, queue=None):
        """`queue`: a dead worker's, for one that takes over what it left."""
        worker = CeleryWorkerProcess(
            broker_url=broker_url,
            result_backend=result_backend,
            queue=queue or f"test-{uuid.uuid4().hex[:12]}",
            var_dir=tmp_path,
            extra_env=extra_env,
        )
        worker.log_path = worker.log_path.with_name(f"{worker.queue}-{len(workers)}.log")
        workers.append(worker.start())
        return worker

    yield start
    for worker in workers:
        worker.stop()


# The browser.

CHROMIUM = os.environ.get("CHROMIUM_PATH", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


@pytest.fixture(scope="session")
def browser():
    if not shutil.which(CHROMIUM) and not Path(CHROMIUM).exists():
        service_unavailable(f"Chromium at {CHROMIUM}")
    # Playwright's sync API runs an event loop in this thread; the test's own
    # ORM calls are still synchronous.
    os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield browser
        browser.close()


@pytest.fixture
def page(browser):
    context = browser.new_context(viewport={"width": 1024, "height": 768})
    page = context.new_page()
    page.set_default_timeout(10_000)
    yield page
    context.close()


# What a failed browser test leaves behind: a screenshot and the HTML of each
# page it had open, under VAR_DIR/test-artifacts/ (CI prints the folder).

ARTIFACTS_KEY = pytest.StashKey[list]()


def artifacts_folder():
    from django.conf import settings

    return Path(settings.VAR_DIR) / "test-artifacts"


def save_browser_artifacts(item):
    """Save `<test>.png` and `<test>.html` of the test's page, and of every
    other page its browser has open (`<test>-2.png`, ...). Returns the files."""
    folder = artifacts_folder()
    folder.mkdir(parents=True, exist_ok=True)
    # Both CI passes write here: the database in the name keeps them apart.
    name = re.sub(r"[^\w.-]+", "-", f"{Path(item.path).stem}.{item.name}-{connection.vendor}").strip("-")
    main = item.funcargs["page"]
    others = [
        page
        for context in item.funcargs["browser"].contexts
        for page in context.pages
        if page is not main and not page.is_closed()
    ]
    saved = []
    for number, page in enumerate([main, *others], start=1):
        stem = folder / (name if number == 1 else f"{name}-{number}")
        try:
            page.screenshot(path=f"{stem}.png", full_page=True, timeout=10_000)
            saved.append(f"{stem}.png")
            Path(f"{stem}.html").write_text(page.content())
            saved.append(f"{stem}.html")
        except Exception as error:  # a crashed page must not hide the test's own failure
            saved.append(f"{stem}: not saved ({error})")
    return saved


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item, call):
    report = yield
    if report.when == "call" and report.failed and "browser" in getattr(item, "funcargs", {}):
        saved = save_browser_artifacts(item)
        item.config.stash.setdefault(ARTIFACTS_KEY, []).extend(saved)
        report.sections.append(("browser artefacts", "\n".join(saved)))
    return report


def pytest_terminal_summary(terminalreporter, config):
    if config.stash.get(ARTIFACTS_KEY, None):
        terminalreporter.write_line(
            f"Failed browser tests left screenshots and page HTML in {artifacts_folder()}", yellow=True
        )


# The clinic's clock.


@pytest.fixture
def clinic_evening():
    """Today at 18:00 clinic time, the clock still running: every visit of
    the day has begun, so tests that chart and sign today's visits (at 09:00,
    10:00, 14:00...) do not depend on when the suite runs."""
    import datetime

    import time_machine
    from django.utils import timezone

    evening = timezone.make_aware(datetime.datetime.combine(timezone.localdate(), datetime.time(18)))
    with time_machine.travel(evening, tick=True):
        yield evening
