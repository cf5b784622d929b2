"""The clinic under load: `make bench` (python -m bench.run).

For each scale of BENCH_SCALES (default "0.1 1.0") it seeds, or reuses, a
PostgreSQL database of its own (clinic_bench_0_1, ...; `manage.py seed_bench`),
serves the app with gunicorn (2 sync workers, production settings over HTTP
on loopback, two-factor off, the patient-link rate limit lifted) and measures:

- each page over real HTTP as a logged-in user with wrk (BENCH_CONNECTIONS
  connections for BENCH_SECONDS each): requests/s, p50, p95, and their ratio
  to the floor page (bench/views.py); queries per request from one request
  in this process (CaptureQueriesContext);
- booking a plan's series of 6 sessions (the confirm POST), median of
  BENCH_SERIES_RUNS, each on a fresh plan, the booking removed after;
- the reminder dispatch: BENCH_DISPATCH due outbox rows through Redis and one
  Celery worker to an SMTP server on loopback, against as many no-op tasks;
- the peak memory (VmHWM) of the gunicorn workers and the Celery children.

One table per scale is printed and everything is written to
var/bench/bench-<timestamp>.json. Figures, not a pass or a fail.
"""

import argparse
import datetime
import http.cookiejar
import json
import os
import platform
import re
import secrets
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

ROOT = Path(__file__).resolve().parent.parent
PYTHON = sys.executable
WRK_SCRIPT = """
done = function(summary, latency, requests)
  io.write(string.format("BENCH %d %d %d %d %d\\n", summary.requests, summary.duration,
    latency:percentile(50), latency:percentile(95), summary.errors.status))
end
"""


def say(text=""):
    sys.stdout.write(f"{text}\n")
    sys.stdout.flush()


def settings_from_env():
    return {
        "url": os.environ.get("DATABASE_URL") or "postgres://postgres@127.0.0.1:5432/clinic_bench",
        "scales": os.environ.get("BENCH_SCALES", "0.1 1.0").split(),
        "seconds": float(os.environ.get("BENCH_SECONDS", "10")),
        "connections": int(os.environ.get("BENCH_CONNECTIONS", "8")),
        "series_runs": int(os.environ.get("BENCH_SERIES_RUNS", "20")),
        "dispatch": int(os.environ.get("BENCH_DISPATCH", "10000")),
        "redis": os.environ.get("REDIS_URL") or "redis://127.0.0.1:6379/6",
        "var": Path(os.environ.get("BENCH_VAR", ROOT / "var" / "bench")),
    }


def database_url(base, scale):
    parts = urlsplit(base)
    if parts.scheme not in ("postgres", "postgresql", "pgsql"):
        sys.exit("bench: DATABASE_URL must name a PostgreSQL server (postgres://...)")
    name = "clinic_bench_" + f"{float(scale):g}".replace(".", "_")
    return urlunsplit(parts._replace(path=f"/{name}")), name


def free_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def server_env(url, opts, port, static_root):
    """Production settings, HTTP on loopback, for gunicorn, Celery and this process."""
    env = dict(os.environ)
    env.update(
        DJANGO_SETTINGS_MODULE="clinic.settings",
        DJANGO_ENV="production",
        DEBUG="False",
        SECRET_KEY=secrets.token_urlsafe(50),
        AUDIT_KEY=secrets.token_urlsafe(32),
        ALLOWED_HOSTS="127.0.0.1,localhost,testserver",
        CSRF_TRUSTED_ORIGINS=f"http://127.0.0.1:{port}",
        SECURE_SSL_REDIRECT="False",
        SECURE_COOKIES="False",
        SECURE_HSTS_SECONDS="0",
        TWO_FACTOR_REQUIRED="False",
        # The calendar feed is rate limited per address; wrk is one address.
        PATIENT_LINK_RATE="100000000",
        DATABASE_URL=url,
        REDIS_URL=opts["redis"],
        # Production requires a shared cache for the rate limits (clinic.E001).
        CACHE_URL=opts["redis"],
        SITE_URL=f"http://127.0.0.1:{port}",
        STATIC_ROOT=str(static_root),
        BENCH="1",
        LOG_LEVEL="WARNING",
    )
    env.pop("CELERY_BROKER_URL", None)
    env.pop("CELERY_RESULT_BACKEND", None)
    return env


def manage(env, *args):
    subprocess.run([PYTHON, "manage.py", *args], cwd=ROOT, env=env, check=True)  # noqa: S603 our own commands


# The parent: one child process per scale, then one table and one JSON.


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--scale", help="measure one scale in this process (the parent runs one per scale)")
    parser.add_argument("--out", help="where the child writes its figures")
    args = parser.parse_args()
    opts = settings_from_env()
    if args.scale:
        return measure_scale(args.scale, opts, Path(args.out))
    if not shutil.which("wrk"):
        sys.exit("bench: wrk is missing (apt-get install wrk; make bench installs it)")
    opts["var"].mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    result = {
        "started_at": datetime.datetime.now(datetime.UTC).isoformat(),
        "machine": machine(),
        "scales": [],
    }
    for scale in opts["scales"]:
        with tempfile.NamedTemporaryFile(suffix=".json") as out:
            command = [PYTHON, "-m", "bench.run", "--scale", scale, "--out", out.name]
            subprocess.run(command, cwd=ROOT, check=True)  # noqa: S603 this module
            result["scales"].append(json.loads(Path(out.name).read_text()))
    result["seconds"] = round(time.perf_counter() - started, 1)
    first = result["scales"][0]
    result["machine"].update(
        django=first["django"], postgresql=first["postgresql"], redis=first["redis_version"]
    )
    path = opts["var"] / f"bench-{datetime.datetime.now(datetime.UTC):%Y%m%d-%H%M%S}.json"
    path.write_text(json.dumps(result, indent=2))
    say()
    say(describe_machine(result["machine"]))
    for figures in result["scales"]:
        print_table(figures)
    say(f"Whole run {result['seconds']:.0f} s; figures in {path}")
    return 0


def machine():
    model = next(
        (
            line.split(":", 1)[1].strip()
            for line in Path("/proc/cpuinfo").read_text().splitlines()
            if line.startswith("model name")
        ),
        platform.processor(),
    )
    return {"cpu": model, "cpus": os.cpu_count(), "python": platform.python_version()}


def describe_machine(m):
    return (
        f"{m['cpu']} ({m['cpus']} CPUs); Python {m['python']}, Django {m.get('django', '?')}, "
        f"PostgreSQL {m.get('postgresql', '?')}, Redis {m.get('redis', '?')}"
    )


def print_table(f):
    say()
    say(
        f"Scale {f['scale']}: {f['counts']['appointments']:,} appointments, "
        f"{f['counts']['patients']:,} patients, "
        f"{f['counts']['charts']:,} signed charts, {f['counts']['outbox']:,} outbox rows "
        f"(seeded in {f['seed_seconds']:.0f} s{', reused' if f['reused'] else ''}); "
        f"{f['connections']} connections, {f['seconds']:g} s a page; PostgreSQL {f['postgresql']}, "
        f"Redis {f['redis_version']}"
    )
    say(
        f"{'page':<28} {'req/s':>8} {'p50 ms':>8} {'p95 ms':>8} {'p50 x':>7} {'p95 x':>7} "
        f"{'queries':>7} {'errors':>6}"
    )
    for page in f["pages"]:
        say(
            f"{page['name']:<28} {page['rps']:>8.1f} {page['p50_ms']:>8.1f} {page['p95_ms']:>8.1f} "
            f"{page['p50_ratio']:>7.1f} {page['p95_ratio']:>7.1f} {page['queries']:>7} {page['errors']:>6}"
        )
    s = f["series_booking"]
    say(f"Series booking (6 sessions, confirm POST): median {s['median_ms']:.0f} ms over {s['runs']} runs")
    d = f["dispatch"]
    say(
        f"Reminder dispatch: {d['emails']:,} emails in {d['email_seconds']:.1f} s "
        f"= {d['emails_per_s']:.0f}/s; "
        f"{d['noops']:,} no-op tasks in {d['noop_seconds']:.1f} s = {d['noops_per_s']:.0f}/s "
        f"(emails at {d['ratio']:.2f} of the no-op rate)"
    )
    m = f["memory"]
    say(
        f"Peak RSS: gunicorn workers {', '.join(f'{mb:.0f}' for mb in m['gunicorn_workers_mb'])} MB; "
        f"Celery worker {m['celery_main_mb']:.0f} MB, children "
        f"{', '.join(f'{mb:.0f}' for mb in m['celery_children_mb'])} MB"
    )


# The child: one scale.


def peak_rss_mb(pid):
    """VmHWM: the peak resident set of a process, in MB."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except FileNotFoundError:
        pass
    return 0.0


def children(pid):
    try:
        return [int(c) for c in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]
    except FileNotFoundError:
        return []


def wait_for_port(port, process, timeout=60):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            sys.exit(f"bench: the server exited ({process.returncode})")
        with socket.socket() as sock:
            if sock.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.2)
    sys.exit("bench: the server did not start")


def prepare_database(url, name, scale, env):
    """Create the scale's database if missing, migrate it, seed it (seed_bench
    does nothing when the database already holds this scale)."""
    import psycopg
    from psycopg import sql

    server = urlunsplit(urlsplit(url)._replace(path="/postgres"))
    with psycopg.connect(server, autocommit=True) as conn:
        exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name]).fetchone()
        if not exists:
            conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    reused = False
    if exists:
        with psycopg.connect(url) as conn:
            marker = conn.execute("SELECT to_regclass('bench_seed')").fetchone()[0]
            if marker:
                row = conn.execute("SELECT scale, seeded_at FROM bench_seed").fetchone()
                age = datetime.datetime.now(datetime.UTC) - row[1]
                # The history is laid out around the day it was seeded; after a
                # month "today" has drifted too far from it: seed afresh.
                reused = float(row[0]) == float(scale) and age < datetime.timedelta(days=30)
        if not reused:
            with psycopg.connect(server, autocommit=True) as conn:
                conn.execute(sql.SQL("DROP DATABASE {} WITH (FORCE)").format(sql.Identifier(name)))
                conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    started = time.perf_counter()
    manage(env, "migrate", "--noinput", "-v0")
    manage(env, "seed_bench", "--scale", scale)
    return reused, time.perf_counter() - started


def measure_scale(scale, opts, out):
    url, name = database_url(opts["url"], scale)
    port = free_port()
    var = opts["var"]
    var.mkdir(parents=True, exist_ok=True)
    env = server_env(url, opts, port, var / "static")
    os.environ.clear()
    os.environ.update(env)
    say(f"=== Scale {scale}: database {name}")
    reused, seed_seconds = prepare_database(url, name, scale, env)
    say(f"  database ready in {seed_seconds:.0f} s{' (reused)' if reused else ''}")
    manage(env, "collectstatic", "--noinput", "-v0")

    import django

    django.setup()
    from django.db import connection

    figures = {
        "scale": float(scale),
        "database": name,
        "reused": reused,
        "seed_seconds": round(seed_seconds, 1),
        "seconds": opts["seconds"],
        "connections": opts["connections"],
        "django": django.get_version(),
    }
    with connection.cursor() as cursor:
        cursor.execute("SHOW server_version")
        figures["postgresql"] = cursor.fetchone()[0]
        counts = {}
        for key, table in [
            ("patients", "patients_patient"),
            ("appointments", "scheduling_appointment"),
            ("charts", "treatments_sessionchart"),
            ("outbox", "scheduling_reminder"),
        ]:
            cursor.execute(f"SELECT count(*) FROM {table}")  # noqa: S608 constants
            counts[key] = cursor.fetchone()[0]
        figures["counts"] = counts
    import redis

    broker = redis.Redis.from_url(opts["redis"])
    figures["redis_version"] = broker.info("server")["redis_version"]

    log = open(var / f"gunicorn-{name}.log", "w")  # noqa: SIM115 open while the server runs
    gunicorn = subprocess.Popen(  # noqa: S603 the venv's gunicorn
        [str(Path(PYTHON).parent / "gunicorn"), "clinic.wsgi:application", "--workers", "2",
         "--worker-class", "sync", "--bind", f"127.0.0.1:{port}"],
        cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT,
    )  # fmt: skip
    try:
        wait_for_port(port, gunicorn)
        base = f"http://127.0.0.1:{port}"
        figures["pages"] = measure_pages(base, opts)
        figures["series_booking"] = measure_series(base, opts)
        workers = children(gunicorn.pid)
        gunicorn_mb = [round(peak_rss_mb(pid), 1) for pid in workers]
    finally:
        gunicorn.terminate()
        gunicorn.wait(timeout=30)
        log.close()
    figures["dispatch"], celery_memory = measure_dispatch(opts, env, broker)
    figures["memory"] = {"gunicorn_workers_mb": gunicorn_mb, **celery_memory}
    out.write_text(json.dumps(figures))


# Pages.


class Browser:
    """A logged-in user over HTTP, with the standard library: cookies kept,
    redirects not followed."""

    class NoRedirect(urllib.request.HTTPRedirectHandler):
        def redirect_request(self, *args, **kwargs):
            return None

    def __init__(self):
        self.cookies = http.cookiejar.CookieJar()
        self.opener = urllib.request.build_opener(
            urllib.request.HTTPCookieProcessor(self.cookies), self.NoRedirect()
        )

    def request(self, url, data=None):
        """(status, body) of a GET, or of a POST when `data` is given."""
        body = urllib.parse.urlencode(data, doseq=True).encode() if data is not None else None
        request = urllib.request.Request(url, data=body, headers={"Referer": url})  # noqa: S310 http://127.0.0.1
        try:
            with self.opener.open(request, timeout=60) as response:
                return response.status, response.read().decode()
        except urllib.error.HTTPError as error:
            return error.code, error.read().decode()

    def cookie(self, name):
        return next((c.value for c in self.cookies if c.name == name), None)

    def csrf_token(self, url):
        status, page = self.request(url)
        match = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page)
        if not match:
            sys.exit(f"bench: no form on {url} ({status})")
        return match.group(1)


def login(base, username):
    from clinic.management.commands.seed_bench import PASSWORD

    browser = Browser()
    url = f"{base}/accounts/login/"
    token = browser.csrf_token(url)
    status, _ = browser.request(
        url, {"username": username, "password": PASSWORD, "csrfmiddlewaretoken": token}
    )
    if status != 302 or not browser.cookie("sessionid"):
        sys.exit(f"bench: could not log in as {username} ({status})")
    return browser


def bench_pages():
    """(name, user, path) for every page measured: the heaviest patient, one of
    their plans and charts, and their therapist's calendar feed."""
    from django.contrib.auth import get_user_model
    from django.db.models import Count
    from django.utils import timezone

    from patients.models import Patient
    from scheduling.models import CalendarFeed
    from treatments.models import SessionChart, TreatmentPlan

    today = timezone.localdate()
    heavy = Patient.objects.annotate(n=Count("appointments")).order_by("-n", "pk").first()
    therapist = get_user_model().objects.get(pk=heavy.treating_therapist_id)
    plan = (
        TreatmentPlan.objects.filter(therapist=therapist)
        .annotate(n=Count("charts"))
        .order_by("-n", "-pk")
        .first()
    )
    chart = SessionChart.objects.filter(plan=plan).order_by("-session_number").first()
    feed = CalendarFeed.objects.get(therapist=therapist)
    last_month = today.replace(day=1) - datetime.timedelta(days=1)
    search = Patient.objects.order_by("pk").values_list("last_name", flat=True).first()[:3]
    return therapist.username, [
        ("floor (50 rows, 1 query)", "therapist", "/bench/floor/"),
        ("plain response", None, "/bench/plain/"),
        ("dashboard, this week", "admin", "/dashboard/"),
        (
            "dashboard, 12 months",
            "admin",
            f"/dashboard/?first={today - datetime.timedelta(days=364)}&last={today}",
        ),
        (
            "dashboard, 2 years",
            "admin",
            f"/dashboard/?first={today - datetime.timedelta(days=730)}&last={today}",
        ),
        ("monthly report", "admin", f"/dashboard/monthly/?month={last_month:%Y-%m}"),
        ("front desk, today", "reception", "/front-desk/"),
        (f"patient, {heavy.n} visits", "therapist", f"/patients/{heavy.pk}/"),
        ("calendar feed (.ics)", None, f"/calendar/{feed.token}.ics"),
        ("patient list", "reception", "/patients/"),
        ("patient search", "reception", f"/patients/?q={search}"),
        ("my day", "therapist", "/my-day/"),
        ("plan", "therapist", f"/plans/{plan.pk}/"),
        ("chart", "therapist", f"/charts/{chart.pk}/"),
    ]


def count_queries(user, path):
    from django.contrib.auth import get_user_model
    from django.db import connection
    from django.test import Client
    from django.test.utils import CaptureQueriesContext

    client = Client(HTTP_HOST="127.0.0.1")
    if user:
        client.force_login(get_user_model().objects.get(username=user))
        # session_limits ends a session without a login time; a real login sets it.
        from clinic.middleware import LOGIN_AT

        session = client.session
        session[LOGIN_AT] = time.time()
        session.save()
    client.get(path)
    with CaptureQueriesContext(connection) as queries:
        response = client.get(path)
    return len(queries), response.status_code


def run_wrk(url, cookie, opts, script):
    command = [
        "wrk", "-t", "2", "-c", str(opts["connections"]), "-d", f"{opts['seconds']:g}s",
        "--timeout", "30s", "-s", script, url,
    ]  # fmt: skip
    if cookie:
        command[1:1] = ["-H", f"Cookie: {cookie}"]
    output = subprocess.run(command, capture_output=True, text=True, check=True).stdout  # noqa: S603 wrk
    requests_done, duration_us, p50, p95, errors = map(
        int, re.search(r"^BENCH (.*)$", output, re.M).group(1).split()
    )
    return {
        "rps": round(requests_done / (duration_us / 1e6), 1),
        "p50_ms": round(p50 / 1000, 2),
        "p95_ms": round(p95 / 1000, 2),
        "errors": errors,
    }


def measure_pages(base, opts):
    therapist, pages = bench_pages()
    usernames = {"admin": "bench-admin", "reception": "bench-reception", "therapist": therapist}
    sessions = {role: login(base, username) for role, username in usernames.items()}
    script = Path(tempfile.mkstemp(suffix=".lua")[1])
    script.write_text(WRK_SCRIPT)
    results = []
    try:
        for name, role, path in pages:
            browser = sessions.get(role) or Browser()
            status, _ = browser.request(base + path)
            if status != 200:
                sys.exit(f"bench: {path} answered {status} to {role or 'anyone'}")
            cookie = f"sessionid={browser.cookie('sessionid')}" if role else ""
            figures = run_wrk(base + path, cookie, opts, str(script))
            queries, _ = count_queries(usernames.get(role), path)
            results.append({"name": name, "path": path, "user": role, "queries": queries, **figures})
            say(f"  {name:<28} {figures['rps']:>8.1f} req/s  p50 {figures['p50_ms']:.1f} ms  "
                f"p95 {figures['p95_ms']:.1f} ms  {queries} queries")  # fmt: skip
    finally:
        script.unlink()
    floor = results[0]
    for page in results:
        page["p50_ratio"] = round(page["p50_ms"] / floor["p50_ms"], 2) if floor["p50_ms"] else 0
        page["p95_ratio"] = round(page["p95_ms"] / floor["p95_ms"], 2) if floor["p95_ms"] else 0
    return results


# Series booking.


def fresh_plan(therapist, now):
    """A new patient, screened and consenting, with an active plan of 6 sessions."""
    from patients.models import Consent, ConsentText, Patient, Screening
    from treatments.models import Muscle, TreatmentPlan

    patient = Patient.objects.create(
        first_name="Series",
        last_name=f"Bench {secrets.token_hex(3)}",
        date_of_birth=datetime.date(1980, 1, 1),
        sex=Patient.Sex.FEMALE,
        email="series.bench@example.com",
        email_consent=True,
        treating_therapist=therapist,
    )
    Screening.objects.create(
        patient=patient,
        therapist=therapist,
        result=Screening.Result.CLEARED,
        signed_at=now,
        valid_until=now.date() + datetime.timedelta(days=90),
    )
    Consent.objects.create(
        patient=patient,
        consent_text=ConsentText.objects.order_by("-version").first(),
        method=Consent.Method.PAPER,
        witnessed_by=therapist,
    )
    return TreatmentPlan.objects.create(
        patient=patient,
        therapist=therapist,
        severity=TreatmentPlan.Severity.CHRONIC,
        planned_sessions=6,
        reassessment_after_session=3,
        target_muscles=[{"muscle": Muscle.objects.order_by("pk").first().pk, "side": "left"}],
        techniques=["trigger_point"],
        status=TreatmentPlan.Status.ACTIVE,
        activated_at=now,
    )


def measure_series(base, opts):
    """The confirm POST of a plan's 6 sessions, weekly on Mondays past the
    seeded weeks; each run books a fresh plan and its booking is removed after,
    so every run finds the same free slots."""
    from django.contrib.auth import get_user_model
    from django.utils import timezone

    from clinic.management.commands.seed_bench import DAYS_AHEAD
    from scheduling.models import Appointment, AppointmentSeries, AppointmentType, Room

    therapist = get_user_model().objects.get(username="bench-therapist-01")
    room = Room.objects.get(name="Treatment room 01")
    kind = AppointmentType.objects.get(involves_needling=True, purpose=AppointmentType.Purpose.TREATMENT)
    now = timezone.now()
    first = timezone.localdate() + datetime.timedelta(days=DAYS_AHEAD + 7)
    first += datetime.timedelta(days=-first.weekday() % 7)
    session = login(base, "bench-reception")
    pattern = {
        "first_day": first.isoformat(),
        "time": "10:00",
        "weekdays": "0",
        "interval_weeks": "1",
        "appointment_type": kind.pk,
        "room": room.pk,
        "action": "confirm",
    }
    for number in range(6):
        pattern[f"session_{number + 1}"] = f"{first + datetime.timedelta(weeks=number)}T10:00"
    timings = []
    warm_up = 2
    for run in range(opts["series_runs"] + warm_up):
        plan = fresh_plan(therapist, now)
        url = f"{base}/plans/{plan.pk}/book/"
        token = session.csrf_token(url)
        started = time.perf_counter()
        status, page = session.request(url, {**pattern, "csrfmiddlewaretoken": token})
        elapsed = time.perf_counter() - started
        booked = Appointment.objects.filter(series__treatment_plans=plan)
        if status != 302 or booked.count() != 6:
            errors = re.findall(r'class="[^"]*alert[^"]*"[^>]*>(.*?)<', page, re.S)
            sys.exit(f"bench: booking the series failed ({status}, {booked.count()} booked): {errors[:3]}")
        series = list(AppointmentSeries.objects.filter(treatment_plans=plan))
        booked.delete()
        plan.appointment_series.clear()
        for one in series:
            one.delete()
        if run >= warm_up:
            timings.append(elapsed)
    return {"runs": len(timings), "median_ms": round(statistics.median(timings) * 1000, 1)}


# Reminder dispatch.


class Counting:
    """An aiosmtpd handler that counts messages and notes when the last came."""

    def __init__(self):
        self.count = 0
        self.last = 0.0

    async def handle_DATA(self, server, session, envelope):
        self.count += 1
        self.last = time.time()
        return "250 OK"


def wait_for(condition, timeout, what):
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            sys.exit(f"bench: timed out waiting for {what}")
        time.sleep(0.05)


def measure_dispatch(opts, env, broker):
    """BENCH_DISPATCH due reminders through the real dispatcher task, and as
    many no-op tasks, on one Celery worker (its default 2 children)."""
    from aiosmtpd.controller import Controller
    from django.utils import timezone

    from clinic.celery import app
    from scheduling.models import Reminder

    count = opts["dispatch"]
    handler = Counting()
    smtp_port = free_port()
    smtp = Controller(handler, hostname="127.0.0.1", port=smtp_port)
    smtp.start()
    # Whatever an earlier run left in the queue (the rest of the database is not ours to clear).
    broker.delete("celery", "bench:noop-start", "bench:noop-end")
    worker_env = {
        **env,
        "EMAIL_HOST": "127.0.0.1",
        "EMAIL_PORT": str(smtp_port),
        "REMINDER_QUIET_HOURS": "none",
    }
    # The no-op run first: queued before the worker starts, timed between two stamps.
    app.send_task("bench.stamp", args=["bench:noop-start"])
    for _ in range(count):
        app.send_task("bench.noop")
    app.send_task("bench.stamp", args=["bench:noop-end"])
    log = open(opts["var"] / "celery.log", "w")  # noqa: SIM115 open while the worker runs
    worker = subprocess.Popen(  # noqa: S603 the venv's celery
        [PYTHON, "-m", "celery", "-A", "clinic", "worker", "--include", "bench.tasks", "--loglevel",
         "WARNING", "--without-gossip", "--without-mingle", "--without-heartbeat", "-n", "bench@%h"],
        cwd=ROOT, env=worker_env, stdout=log, stderr=subprocess.STDOUT,
    )  # fmt: skip
    try:
        wait_for(lambda: broker.get("bench:noop-end"), 600, "the no-op tasks")
        noop_seconds = float(broker.get("bench:noop-end")) - float(broker.get("bench:noop-start"))
        # Emails: sent reminders made due again, so that the dispatcher sends them anew.
        due = list(
            Reminder.objects.filter(
                kind=Reminder.Kind.APPOINTMENT_REMINDER,
                status=Reminder.Status.SENT,
                appointment__patient__email_consent=True,
            )
            .exclude(appointment__patient__email="")
            .order_by("pk")
            .values_list("pk", flat=True)[:count]
        )
        now = timezone.now()
        Reminder.objects.filter(pk__in=due).update(
            status=Reminder.Status.PENDING, due_at=now - datetime.timedelta(minutes=1), attempts=0
        )
        waiting = Reminder.objects.filter(status=Reminder.Status.PENDING, due_at__lte=now).count()
        started = time.time()
        # What beat does every minute, as often as the queue runs low.
        while handler.count < waiting:
            if broker.llen("celery") < 20:
                app.send_task("scheduling.tasks.dispatch_reminders")
            time.sleep(0.05)
            if time.time() - started > 1200:
                sys.exit(f"bench: {handler.count} of {waiting} emails after 20 minutes")
        email_seconds = handler.last - started
        memory = {
            "celery_main_mb": round(peak_rss_mb(worker.pid), 1),
            "celery_children_mb": [round(peak_rss_mb(pid), 1) for pid in children(worker.pid)],
        }
    finally:
        worker.terminate()
        worker.wait(timeout=60)
        log.close()
        smtp.stop()
    return {
        "emails": waiting,
        "email_seconds": round(email_seconds, 2),
        "emails_per_s": round(waiting / email_seconds, 1),
        "noops": count,
        "noop_seconds": round(noop_seconds, 2),
        "noops_per_s": round(count / noop_seconds, 1),
        "ratio": round((waiting / email_seconds) / (count / noop_seconds), 3),
    }, memory


if __name__ == "__main__":
    sys.exit(main())
