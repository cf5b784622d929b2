"""How fast the front desk finds a patient among 50,000.

    make bench                                  # SQLite, in a temporary folder
    DATABASE_URL=postgres://postgres@127.0.0.1:5432/clinic_bench make bench

It builds a throwaway database: SQLite under a temporary VAR_DIR, or, when
DATABASE_URL names a PostgreSQL server, a database called clinic_bench on that
server (whatever database the URL names, no other is touched). It migrates it,
registers 50,000 patients with varied names, dates of birth, phones and
emails, then requests the patient list as a logged-in receptionist through
Django's test client, once per kind of search. For each it prints the median
of REQUESTS requests as a ratio to a baseline measured in the same run, the
absolute time, the time spent in the database and the number of queries, and
then the query plans of the name-prefix search. The figures are information,
not a pass or a fail. Everything it created is removed at the end.
"""

import datetime
import os
import random
import re
import shutil
import statistics
import sys
import tempfile
import time
from urllib.parse import urlsplit, urlunsplit

PATIENTS = 50_000
REQUESTS = 20
WARM_UP = 3
SEED = 20240501
BENCH_DATABASE = "clinic_bench"
AREA_CODES = ["212", "646", "332", "718", "347", "929", "917", "201", "551", "973", "914", "516", "631"]
EMAIL_DOMAINS = (
    ["gmail.com"] * 6
    + ["yahoo.com"] * 2
    + [
        "outlook.com",
        "hotmail.com",
        "icloud.com",
        "aol.com",
        "verizon.net",
        "proton.me",
    ]
)
CITIES = ["New York", "Brooklyn", "Queens", "Bronx", "Staten Island", "Hoboken", "Jersey City", "Yonkers"]


def say(text=""):
    sys.stdout.write(f"{text}\n")
    sys.stdout.flush()


# The throwaway database.


def use_throwaway_database(var_dir):
    """Point the settings at a database of the benchmark's own; call before
    django.setup(). Returns a function that removes the database."""
    os.environ["VAR_DIR"] = var_dir
    url = os.environ.get("DATABASE_URL", "")
    parts = urlsplit(url)
    if parts.scheme in ("", "sqlite"):
        # The settings put the SQLite file under VAR_DIR, the temporary folder.
        os.environ.pop("DATABASE_URL", None)
        return lambda: None
    if parts.scheme not in ("postgres", "postgresql", "pgsql"):
        sys.exit(f"bench: DATABASE_URL names a database this benchmark does not know ({parts.scheme})")

    import psycopg
    from psycopg import sql

    server = urlunsplit(parts._replace(path="/postgres"))
    name = sql.Identifier(BENCH_DATABASE)
    with psycopg.connect(server, autocommit=True) as conn:
        # A previous run that was killed may have left it behind.
        conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(name))
        conn.execute(sql.SQL("CREATE DATABASE {}").format(name))
    os.environ["DATABASE_URL"] = urlunsplit(parts._replace(path=f"/{BENCH_DATABASE}"))

    def drop():
        with psycopg.connect(server, autocommit=True) as conn:
            conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(name))

    return drop


# The clinic's patients.


def phone_number(rng):
    while True:
        exchange = rng.randint(200, 999)
        if exchange % 100 != 11 and exchange != 555:  # N11 and 555 are not ordinary numbers
            return f"+1{rng.choice(AREA_CODES)}{exchange}{rng.randint(0, 9999):04d}"


def email_address(rng, first, last):
    first, last = (re.sub(r"[^a-z]", "", name.lower()) for name in (first, last))
    local = rng.choice(
        [f"{first}.{last}", f"{first[0]}{last}", f"{first}{last}{rng.randint(1, 99)}", f"{first}_{last}"]
    )
    return f"{local}@{rng.choice(EMAIL_DOMAINS)}"


def register_patients(rng, now):
    """PATIENTS patients, bulk-inserted; about one in eight screened."""
    from faker import Faker

    from patients.models import Patient

    fake = Faker("en_US")
    fake.seed_instance(SEED)
    first_names = {
        Patient.Sex.FEMALE: fake.first_name_female,
        Patient.Sex.MALE: fake.first_name_male,
        Patient.Sex.INTERSEX: fake.first_name,
        Patient.Sex.UNDISCLOSED: fake.first_name,
    }
    born_from = datetime.date(1935, 1, 1)
    born_span = (datetime.date(2007, 12, 31) - born_from).days
    phones = set()
    patients = []
    for _ in range(PATIENTS):
        sex = rng.choices(list(first_names), weights=[52, 46, 0.5, 1.5])[0]
        first, last = first_names[sex](), fake.last_name()
        phone = ""
        if rng.random() < 0.95:
            phone = phone_number(rng)
            while phone in phones:
                phone = phone_number(rng)
            phones.add(phone)
        created_at = now - datetime.timedelta(seconds=rng.randint(0, 8 * 365 * 86400))
        archived = rng.random() < 0.03
        patients.append(
            Patient(
                first_name=first,
                last_name=last,
                date_of_birth=born_from + datetime.timedelta(days=rng.randint(0, born_span)),
                sex=sex,
                email=(email := email_address(rng, first, last) if rng.random() < 0.88 else ""),
                phone=phone,
                city=rng.choice(CITIES),
                # Consent to email reminders needs an address (the draws stay as they were).
                email_consent=rng.random() < 0.7 and bool(email),
                created_at=created_at,
                archived_at=created_at + datetime.timedelta(days=rng.randint(30, 900)) if archived else None,
            )
        )
    Patient.objects.bulk_create(patients, batch_size=2000)


def screen_some_patients(rng, now, therapist):
    from patients.models import Patient, Screening

    results = [
        (Screening.Result.CLEARED, 55),
        (Screening.Result.PRECAUTIONS, 25),
        (Screening.Result.NOT_CLEARED, 12),
        (Screening.Result.REFER, 5),
        (Screening.Result.REFER_URGENT, 3),
    ]
    ids = list(Patient.objects.values_list("pk", flat=True))
    screenings = []
    for patient_id in rng.sample(ids, len(ids) // 8):
        signed_at = now - datetime.timedelta(minutes=rng.randint(0, 365 * 24 * 60))
        screenings.append(
            Screening(
                patient_id=patient_id,
                therapist=therapist,
                result=rng.choices([r for r, _ in results], weights=[w for _, w in results])[0],
                created_at=signed_at - datetime.timedelta(minutes=15),
                signed_at=signed_at,
                valid_until=signed_at.date() + datetime.timedelta(days=90),
            )
        )
    Screening.objects.bulk_create(screenings, batch_size=2000)
    return len(screenings)


def staff():
    from django.contrib.auth import get_user_model
    from django.contrib.auth.models import Group

    from clinic import roles

    users = {}
    for username, role in [("bench-front-desk", roles.RECEPTIONIST), ("bench-therapist", roles.THERAPIST)]:
        user = get_user_model().objects.create_user(username=username, password=None)
        user.groups.add(Group.objects.get(name=role))
        users[role] = user
    return users[roles.RECEPTIONIST], users[roles.THERAPIST]


# Measuring.


class DatabaseTimer:
    """An execute wrapper: the statements a request runs and the time spent
    in cursor.execute (on SQLite, rows after the first are fetched outside it)."""

    def __init__(self):
        self.seconds = 0.0
        self.statements = []

    def __call__(self, execute, sql, params, many, context):
        start = time.perf_counter()
        try:
            return execute(sql, params, many, context)
        finally:
            self.seconds += time.perf_counter() - start
            self.statements.append((sql, params))


def measure(client, url, query):
    """Median page time and database time (seconds) over REQUESTS requests,
    and the statements of the last one."""
    from django.db import connection

    params = {"q": query} if query else {}
    for _ in range(WARM_UP):
        client.get(url, params)
    pages, databases = [], []
    for _ in range(REQUESTS):
        timer = DatabaseTimer()
        with connection.execute_wrapper(timer):
            start = time.perf_counter()
            response = client.get(url, params)
            pages.append(time.perf_counter() - start)
        if response.status_code != 200:
            raise SystemExit(f"bench: {url}?q={query} answered {response.status_code}")
        databases.append(timer.seconds)
    return statistics.median(pages), statistics.median(databases), timer.statements


def patient_statements(statements):
    return [(sql, params) for sql, params in statements if 'FROM "patients_patient"' in sql]


def explain(sql, params, *, analyze=False):
    """The plan of a statement, as lines of text."""
    from django.db import connection

    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            options = "(ANALYZE, BUFFERS) " if analyze else ""
            cursor.execute(f"EXPLAIN {options}{sql}", params)
            return [row[0] for row in cursor.fetchall()]
        cursor.execute(f"EXPLAIN QUERY PLAN {sql}", params)
        depth, lines = {0: -1}, []
        for node, parent, _, detail in cursor.fetchall():
            depth[node] = depth.get(parent, -1) + 1
            lines.append("  " * depth[node] + detail)
        return lines


def plan_summary(sql, params):
    """The access paths of a plan on one line: which scans, which indexes."""
    from django.db import connection

    lines = explain(sql, params)
    if connection.vendor == "postgresql":
        steps = [re.sub(r"\s+\(cost=.*", "", line).strip(" ->") for line in lines]
        steps = [step for step in steps if re.search(r"Scan|Sort|Limit", step)]
    else:
        steps = [line.strip() for line in lines if re.match(r"\s*(SCAN|SEARCH|USE TEMP)", line)]
    return "; ".join(steps)


def database_description():
    from django.db import connection

    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("SHOW server_version")
            version = cursor.fetchone()[0]
            cursor.execute("SHOW lc_collate")
            collation = cursor.fetchone()[0]
        return f"PostgreSQL {version} (database {BENCH_DATABASE}, collation {collation})"
    import sqlite3

    return f"SQLite {sqlite3.sqlite_version} (a file in a temporary folder, WAL)"


def run():
    import django
    from django.core.management import call_command
    from django.db import connection
    from django.test import Client
    from django.urls import reverse
    from django.utils import timezone

    django.setup()
    from patients.models import Patient
    from patients.views import PAGE_SIZE

    started = time.perf_counter()
    say(f"Patient search benchmark on {database_description()}")
    say(f"Python {sys.version.split()[0]}, Django {django.get_version()}, {os.cpu_count()} CPUs, DEBUG=False")
    call_command("migrate", interactive=False, verbosity=0)
    say(f"  migrated in {time.perf_counter() - started:.1f} s")

    rng = random.Random(SEED)  # noqa: S311 made-up data, repeatable from run to run
    now = timezone.now()
    receptionist, therapist = staff()
    step = time.perf_counter()
    register_patients(rng, now)
    screened = screen_some_patients(rng, now, therapist)
    with connection.cursor() as cursor:
        # Fresh statistics, as autovacuum (PostgreSQL) or PRAGMA optimize (SQLite) would gather.
        cursor.execute("ANALYZE")
    say(
        f"  registered {Patient.objects.count():,} patients ({Patient.objects.active().count():,} active), "
        f"{screened:,} with a signed screening, in {time.perf_counter() - step:.1f} s"
    )

    reachable = Patient.objects.active().exclude(email="").exclude(phone="")
    sample = rng.choice(list(reachable.order_by("pk")[:2000]))
    national = sample.phone.as_national
    baseline_query = sample.phone.as_e164
    searches = [
        ("baseline: exact phone, E.164", baseline_query),
        ("no search: newest first", ""),
        ("name prefix", sample.last_name[:3]),
        ("two-term name", f"{sample.first_name} {sample.last_name[:4]}"),
        ("date of birth", sample.date_of_birth.isoformat()),
        ("phone number as typed", national),
        ("phone, last 7 digits", national[-8:]),
        ("email prefix", sample.email[: sample.email.index("@") + 3]),
    ]

    client = Client()
    client.force_login(receptionist)
    url = reverse("patients:list")
    rows = []
    for label, query in searches:
        page, database, statements = measure(client, url, query)
        matches = (Patient.objects.active().search(query) if query else Patient.objects.active()).count()
        rows.append((label, query, matches, page, database, statements))
    baseline = rows[0][3]

    say()
    say(
        f"GET {url}?q=... as a receptionist, {PAGE_SIZE} patients a page; median of {REQUESTS} requests "
        f"after {WARM_UP} warm-up requests."
    )
    say(
        "Baseline: a search by one patient's exact phone number in E.164 form, an equality lookup on "
        "the indexed phone column that finds one patient: the page's floor (session, user, roles, "
        "layout) when the database has almost nothing to do. Ratio = median time / baseline's. "
        "'db ms' is the time inside cursor.execute."
    )
    say()
    say(f"{'search':<30} {'typed':<24} {'matches':>7} {'ratio':>6} {'page ms':>8} {'db ms':>7} queries")
    for label, query, matches, page, database, statements in rows:
        say(
            f"{label:<30} {query or '(nothing)':<24} {matches:>7,} {page / baseline:>6.2f} "
            f"{page * 1000:>8.1f} {database * 1000:>7.1f} {len(statements):>7}"
        )

    say()
    say("Access paths of the page's patient query (the count query filters the same way):")
    for label, _, _, _, _, statements in rows:
        page_query = patient_statements(statements)[-1]
        say(f"  {label:<30} {plan_summary(*page_query)}")

    name_prefix = next(row for row in rows if row[0] == "name prefix")
    analyze = connection.vendor == "postgresql"
    say()
    explain_kind = "EXPLAIN (ANALYZE, BUFFERS)" if analyze else "EXPLAIN QUERY PLAN"
    say(f"{explain_kind} of the name-prefix search ({name_prefix[1]!r}):")
    for sql, params in patient_statements(name_prefix[5]):
        say()
        say(f"  {sql}")
        say(f"  params: {list(params)}")
        for line in explain(sql, params, analyze=analyze):
            say(f"    {line}")
    say()
    say(f"Done in {time.perf_counter() - started:.0f} s.")


def main():
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "clinic.settings")
    # Measure pages as production serves them: no debug pages, no query log.
    os.environ["DEBUG"] = "False"
    var_dir = tempfile.mkdtemp(prefix="clinic-bench-")
    drop_database = lambda: None  # noqa: E731
    try:
        drop_database = use_throwaway_database(var_dir)
        run()
    finally:
        if "django" in sys.modules:
            from django.db import connections

            connections.close_all()
        drop_database()
        shutil.rmtree(var_dir, ignore_errors=True)


if __name__ == "__main__":
    main()
