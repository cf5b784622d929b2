"""The backup scripts for real: scripts/backup.sh dumps the test database with
the machine's pg_dump, scripts/restore.sh restores it into a fresh database,
and the restored clinic has every row of every table and an access log whose
hash chain `manage.py verify_audit_log` accepts."""

import datetime
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import psycopg
import pytest
from django.db import connection
from psycopg import sql

from clinic.tests import factories
from patients import audit
from patients.models import AuditEvent
from scheduling.models import Appointment
from treatments.tests.factories import active_plan, charted_session, cleared_patient, visit

pytestmark = [pytest.mark.postgresql, pytest.mark.django_db(transaction=True, serialized_rollback=True)]

BASE_DIR = Path(__file__).resolve().parents[2]
SCRIPTS = BASE_DIR / "scripts"


def postgres_bin():
    """The folder of pg_dump, pg_restore, psql and createdb: the newest
    PostgreSQL version's on the machine (a dump needs a pg_dump at least as
    new as the server), else the ones on PATH."""
    folders = [
        folder
        for folder in Path("/usr/lib/postgresql").glob("*/bin")
        if folder.parent.name.isdigit() and (folder / "pg_dump").exists()
    ]
    if folders:
        found = max(folders, key=lambda folder: int(folder.parent.name))
    elif shutil.which("pg_dump"):
        found = Path(shutil.which("pg_dump")).parent
    else:
        found = None
    if found is None or not all(
        (found / tool).exists() for tool in ("pg_dump", "pg_restore", "psql", "createdb")
    ):
        pytest.fail("pg_dump, pg_restore, psql and createdb are needed", pytrace=False)
    return found


def libpq_env(database):
    """The environment the scripts read: libpq's variables for `database`."""
    settings = connection.settings_dict
    env = {
        **os.environ,
        "PATH": f"{postgres_bin()}:{os.environ['PATH']}",
        "PGHOST": settings["HOST"] or "127.0.0.1",
        "PGPORT": str(settings["PORT"] or 5432),
        "PGUSER": settings["USER"] or "postgres",
        "PGDATABASE": database,
    }
    if settings["PASSWORD"]:
        env["PGPASSWORD"] = settings["PASSWORD"]
    return env


def run(args, env):
    result = subprocess.run(args, env=env, capture_output=True, text=True, timeout=120, check=False)
    assert result.returncode == 0, f"{args} failed:\n{result.stdout}\n{result.stderr}"
    return result


def connect(database):
    env = libpq_env(database)
    return psycopg.connect(
        host=env["PGHOST"],
        port=env["PGPORT"],
        user=env["PGUSER"],
        password=env.get("PGPASSWORD"),
        dbname=database,
        autocommit=True,
    )


def row_counts(database):
    """{table: rows} for every table of the clinic's schema."""
    with connect(database) as conn:
        tables = [
            name
            for (name,) in conn.execute(
                "SELECT table_name FROM information_schema.tables"
                " WHERE table_schema = 'public' AND table_type = 'BASE TABLE' ORDER BY table_name"
            )
        ]
        return {
            table: conn.execute(sql.SQL("SELECT count(*) FROM {}").format(sql.Identifier(table))).fetchone()[
                0
            ]
            for table in tables
        }


def drop_database(name):
    with connect("postgres") as conn:
        conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))


def the_clinics_records():
    """Patients of two therapists with screenings, plans, signed charts and
    booked visits, and their reads in the access log."""
    receptionist = factories.receptionist(username="rosa")
    for number in range(3):
        therapist = factories.therapist(username=f"therapist-{number}")
        patient = cleared_patient(therapist, first_name=f"Patient{number}")
        plan = active_plan(therapist, patient)
        charted_session(plan, hour=9)
        visit(plan, hour=14, status=Appointment.Status.BOOKED)
        audit.record(action=AuditEvent.Action.READ, user=receptionist, patient=patient, what="patient page")
        audit.record(action=AuditEvent.Action.READ, user=therapist, patient=patient, what="chart")


@pytest.fixture
def restored_database():
    name = f"{connection.settings_dict['NAME']}_restored"
    drop_database(name)  # left by a run that was stopped
    yield name
    drop_database(name)


def test_a_backup_restores_into_a_fresh_database_with_every_row_and_an_intact_access_log(
    postgresql, restored_database, tmp_path
):
    the_clinics_records()
    audit.seal_pending()
    source = connection.settings_dict["NAME"]
    before = row_counts(source)
    assert before["patients_patient"] >= 3
    assert before["scheduling_appointment"] >= 6
    assert before["patients_auditevent"] >= 6
    last_event = AuditEvent.objects.latest("id").pk

    backups = tmp_path / "backups"
    env = {**libpq_env(source), "BACKUP_DIR": str(backups), "BACKUP_KEEP_DAYS": "14"}
    dump = Path(run([SCRIPTS / "backup.sh"], env).stdout.strip().splitlines()[-1])
    assert dump.parent == backups
    assert dump.name.startswith(f"{source}-")
    assert dump.suffix == ".dump"
    assert dump.stat().st_mode & 0o077 == 0, "a dump of patients' records is readable by others"

    run([SCRIPTS / "restore.sh", dump, restored_database], libpq_env(source))
    after = row_counts(restored_database)

    print("BACKUP ROW COUNTS " + " ".join(f"{table}={count}" for table, count in before.items() if count))
    assert after == before
    verify = verify_audit_log(restored_database)
    assert verify.returncode == 0, verify.stderr
    print(verify.stdout.strip())

    assert "unsealed" not in verify.stdout

    # The check read the restored database: a row changed there (by its
    # owner, with the append-only trigger switched off) is caught.
    with connect(restored_database) as conn:
        conn.execute("ALTER TABLE patients_auditevent DISABLE TRIGGER USER")
        conn.execute("UPDATE patients_auditevent SET record = 'changed' WHERE id = %s", [last_event])
    assert verify_audit_log(restored_database).returncode != 0


def test_a_restore_over_an_existing_database_replaces_its_contents(postgresql, restored_database, tmp_path):
    factories.receptionist(username="rosa")
    source = connection.settings_dict["NAME"]
    env = {**libpq_env(source), "BACKUP_DIR": str(tmp_path), "BACKUP_KEEP_DAYS": "14"}
    dump = run([SCRIPTS / "backup.sh"], env).stdout.strip().splitlines()[-1]
    run([SCRIPTS / "restore.sh", dump, restored_database], env)
    with connect(restored_database) as conn:
        conn.execute("DELETE FROM auth_user_groups")
        conn.execute("DELETE FROM auth_user")

    run([SCRIPTS / "restore.sh", dump, restored_database], env)

    assert row_counts(restored_database) == row_counts(source)


def test_a_backup_keeps_the_days_it_is_told_and_removes_older_dumps(postgresql, tmp_path):
    source = connection.settings_dict["NAME"]
    old, recent, other = (
        tmp_path / f"{source}-20200101T000000Z.dump",
        tmp_path / f"{source}-recent.dump",
        tmp_path / "notes.txt",
    )
    for path in (old, recent, other):
        path.write_text("")
    now = time.time()
    os.utime(old, (now - datetime.timedelta(days=15).total_seconds(),) * 2)
    os.utime(recent, (now - datetime.timedelta(days=13).total_seconds(),) * 2)
    os.utime(other, (now - datetime.timedelta(days=30).total_seconds(),) * 2)
    env = {**libpq_env(source), "BACKUP_DIR": str(tmp_path), "BACKUP_KEEP_DAYS": "14"}

    dump = Path(run([SCRIPTS / "backup.sh"], env).stdout.strip().splitlines()[-1])

    assert dump.exists()
    assert not old.exists()
    assert recent.exists()
    assert other.exists(), "only the database's dumps are removed"


def test_a_backup_refuses_a_keep_days_that_is_not_a_number(postgresql, tmp_path):
    env = {
        **libpq_env(connection.settings_dict["NAME"]),
        "BACKUP_DIR": str(tmp_path),
        "BACKUP_KEEP_DAYS": "two",
    }
    result = subprocess.run(
        [SCRIPTS / "backup.sh"], env=env, capture_output=True, text=True, timeout=60, check=False
    )

    assert result.returncode != 0
    assert "BACKUP_KEEP_DAYS" in result.stderr
    assert not list(tmp_path.iterdir())


def verify_audit_log(database):
    """manage.py verify_audit_log in a process of its own, on `database`."""
    return subprocess.run(
        [sys.executable, "manage.py", "verify_audit_log"],
        cwd=BASE_DIR,
        env={**os.environ, "DATABASE_URL": database_url(database)},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def database_url(database):
    env = libpq_env(database)
    password = f":{env['PGPASSWORD']}" if env.get("PGPASSWORD") else ""
    return f"postgres://{env['PGUSER']}{password}@{env['PGHOST']}:{env['PGPORT']}/{database}"
