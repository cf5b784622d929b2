"""The access log: every read, write and refusal around a patient's records,
every login and role change. Rows can only be added; the sealer seals them
(an HMAC with the access log's own key, chained row to row) and signs a
checkpoint, and `verify_audit_log` finds each way someone with the database
in hand could tamper with them:

- a row changed: its seal no longer matches;
- a row deleted: the next row finds its place in the chain empty;
- the newest rows deleted: the chain is shorter than the newest checkpoint,
  or than a checkpoint line kept from the log stream (--checkpoint);
- the chain re-sealed with plain SHA-256 or another key: the first seal
  no longer matches;
- UPDATE, DELETE or TRUNCATE on PostgreSQL: refused by the database.
"""

import contextlib
import datetime
import hashlib
import hmac
import io
import logging
import os
import secrets
import threading
import uuid

import pytest
from django.conf import settings as django_settings
from django.contrib.auth.models import Group
from django.core.management import CommandError, call_command
from django.db import DatabaseError, connection, transaction
from django.urls import reverse
from django.utils import timezone

from clinic import roles
from clinic.tests.factories import PASSWORD
from clinic.tests.test_settings import refusal, run
from patients import audit, tasks
from patients.models import AuditCheckpoint, AuditEvent, AuditLogIsAppendOnly
from patients.tests.factories import PatientFactory, ScreeningFactory

pytestmark = pytest.mark.django_db

Action = AuditEvent.Action


def log(since=0):
    """The log's rows from the `since`-th on (fixtures write rows of their own)."""
    rows = AuditEvent.objects.order_by("id").values_list("username", "action", "patient", "record", "allowed")
    return list(rows)[since:]


@pytest.fixture
def patient(therapist):
    return PatientFactory(first_name="Maria", last_name="Alvarez", treating_therapist=therapist)


def test_it_logs_logins_failed_logins_and_logouts(client, receptionist):
    since = AuditEvent.objects.count()
    client.post(reverse("login"), {"username": receptionist.username, "password": "not-it"})
    client.post(reverse("login"), {"username": receptionist.username, "password": PASSWORD})
    client.post(reverse("logout"))

    assert log(since) == [
        (receptionist.username, Action.LOGIN_FAILED, None, "", False),
        (receptionist.username, Action.LOGIN, None, "", True),
        (receptionist.username, Action.LOGOUT, None, "", True),
    ]
    assert AuditEvent.objects.get(action=Action.LOGIN).ip_address == "127.0.0.1"


def test_it_logs_reads_and_refusals_of_clinical_records(client, therapist, other_therapist, patient):
    screening = ScreeningFactory(patient=patient, therapist=therapist)
    client.force_login(other_therapist)
    first = AuditEvent.objects.count()  # the login is logged too; only what follows matters here

    refused = client.get(reverse("patients:screening", args=[patient.pk, screening.pk]))
    client.force_login(therapist)
    client.get(reverse("patients:screening", args=[patient.pk, screening.pk]))

    assert refused.status_code == 403
    rows = log(first)
    assert (other_therapist.username, Action.REFUSED, patient.pk, refused.request["PATH_INFO"], False) in rows
    assert (therapist.username, Action.READ, patient.pk, f"screening {screening.pk}", True) in rows


def test_it_logs_who_wrote_a_patients_details(client, receptionist, patient):
    client.force_login(receptionist)
    client.post(reverse("patients:archive", args=[patient.pk]))

    assert (receptionist.username, Action.CHANGE, patient.pk, f"patient {patient.pk}", True) in log()


def test_it_logs_a_role_change_with_who_made_it(client, clinic_admin, receptionist):
    client.force_login(clinic_admin)
    therapists = Group.objects.get(name=roles.THERAPIST)
    form = client.get(reverse("admin:auth_user_change", args=[receptionist.pk])).context["adminform"].form
    data = {key: value for key, value in form.initial.items() if value is not None and key != "password"}
    data.update(
        groups=[receptionist.groups.get().pk, therapists.pk],
        user_permissions=[],
        date_joined_0=receptionist.date_joined.strftime("%Y-%m-%d"),
        date_joined_1=receptionist.date_joined.strftime("%H:%M:%S"),
        last_login_0="",
        last_login_1="",
    )
    client.post(reverse("admin:auth_user_change", args=[receptionist.pk]), data)

    assert receptionist.groups.filter(name=roles.THERAPIST).exists()
    assert (
        clinic_admin.username,
        Action.ROLE_CHANGE,
        None,
        f"{receptionist.username} added to {roles.THERAPIST}",
        True,
    ) in log()


def test_the_log_cannot_be_changed_or_deleted_through_the_orm(therapist, patient):
    event = audit.record(action=Action.READ, user=therapist, patient=patient, what="screening 1")

    event.record = "nothing to see"
    with pytest.raises(AuditLogIsAppendOnly):
        event.save()
    with pytest.raises(AuditLogIsAppendOnly):
        event.delete()
    with pytest.raises(AuditLogIsAppendOnly):
        AuditEvent.objects.filter(pk=event.pk).update(record="nothing to see")
    with pytest.raises(AuditLogIsAppendOnly):
        AuditEvent.objects.all().delete()
    assert AuditEvent.objects.get(pk=event.pk).record == "screening 1"


def test_the_clinic_admin_searches_the_log_by_patient_and_by_user_but_cannot_change_it(
    client, clinic_admin, therapist, other_therapist, patient
):
    other = PatientFactory(first_name="James", last_name="Brooks")
    audit.record(action=Action.READ, user=therapist, patient=patient, what="screening 1")
    audit.record(action=Action.READ, user=other_therapist, patient=other, what="screening 2")
    client.force_login(clinic_admin)
    changelist = reverse("admin:patients_auditevent_changelist")

    by_patient = client.get(changelist, {"q": "Alvarez"}).context["cl"].result_list
    by_user = client.get(changelist, {"q": other_therapist.username}).context["cl"].result_list

    assert [e.record for e in by_patient if e.action == Action.READ] == ["screening 1"]
    assert [e.record for e in by_user if e.action == Action.READ] == ["screening 2"]
    event = AuditEvent.objects.get(record="screening 1")
    delete = client.post(reverse("admin:patients_auditevent_delete", args=[event.pk]), {"post": "yes"})
    assert delete.status_code == 403
    assert AuditEvent.objects.filter(pk=event.pk).exists()


# Sealing.

ROWS = ["first", "second", "third"]


def three_reads(therapist, patient):
    return {
        name: audit.record(action=Action.READ, user=therapist, patient=patient, what=f"screening {n}").pk
        for n, name in enumerate(ROWS)
    }


def verify(*lines):
    """verify_audit_log's output (stdout and stderr), or the CommandError it ends with."""
    out = io.StringIO()
    call_command("verify_audit_log", *[f"--checkpoint={line}" for line in lines], stdout=out, stderr=out)
    return out.getvalue()


@pytest.fixture
def checkpoint_lines(caplog):
    """The checkpoint lines the sealer writes to the log stream."""
    caplog.set_level(logging.INFO, logger="patients.audit")

    def lines():
        return [r.getMessage() for r in caplog.records if r.getMessage().startswith("audit checkpoint ")]

    return lines


@contextlib.contextmanager
def as_the_tamperer():
    """A cursor for someone with the database in hand, past the application:
    on PostgreSQL with the access log's triggers switched off, which only the
    tables' owner may do (SQLite has none)."""
    tables = ["patients_auditevent", "patients_auditcheckpoint"]
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            # The test's rows still have their foreign keys to check, which
            # PostgreSQL does before it alters (or truncates) their table.
            cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")
            for table in tables:
                cursor.execute(f"ALTER TABLE {table} DISABLE TRIGGER USER")
        yield cursor
        if connection.vendor == "postgresql":
            for table in tables:
                cursor.execute(f"ALTER TABLE {table} ENABLE TRIGGER USER")


def test_a_row_is_written_unsealed_and_the_task_seals_it_in_order(therapist, patient, checkpoint_lines):
    rows = three_reads(therapist, patient)

    assert set(AuditEvent.objects.filter(pk__in=rows.values()).values_list("hash", flat=True)) == {None}
    unsealed = verify()
    assert "The access log is intact" in unsealed
    assert f"Not sealed yet: {AuditEvent.objects.count()} rows, the oldest row " in unsealed

    count = tasks.seal_audit_log()

    chain = list(
        AuditEvent.objects.order_by("position").values_list("pk", "position", "previous_hash", "hash")
    )
    assert [pk for pk, *_ in chain] == sorted(pk for pk, *_ in chain)
    assert [position for _, position, *_ in chain] == list(range(1, count + 1))
    assert chain[0][2] == audit.GENESIS
    assert all(chain[n][2] == chain[n - 1][3] for n in range(1, len(chain)))
    checkpoint = AuditCheckpoint.objects.get()
    assert (checkpoint.row_count, checkpoint.head_id, checkpoint.head_seal) == (
        count,
        chain[-1][0],
        chain[-1][3],
    )
    assert checkpoint_lines() == [checkpoint.line()]
    assert f"audit checkpoint count={count} head={rows['third']} seal={chain[-1][3]} at=" in checkpoint.line()
    sealed = verify()
    assert f"The access log is intact ({count} rows)." in sealed
    assert "Not sealed yet" not in sealed
    assert tasks.seal_audit_log() is None, "nothing new: no checkpoint"
    assert AuditCheckpoint.objects.count() == 1


def test_the_seal_is_an_hmac_with_the_access_logs_own_key(settings, therapist, patient):
    event = audit.record(action=Action.READ, user=therapist, patient=patient, what="screening 1")
    audit.seal_pending()
    event.refresh_from_db()

    key = settings.AUDIT_KEY.encode()
    assert settings.AUDIT_KEY != settings.SECRET_KEY
    assert event.hash == hmac.new(key, event.content().encode(), hashlib.sha256).hexdigest()
    assert event.key_id == audit.key_id(settings.AUDIT_KEY)
    assert settings.AUDIT_KEY not in event.content()


def test_the_sealer_seals_a_large_backlog_in_batches(therapist, patient):
    for number in range(7):
        audit.record(action=Action.READ, user=therapist, patient=patient, what=f"screening {number}")

    checkpoint = audit.seal_pending(batch_size=3)

    assert checkpoint.row_count == AuditEvent.objects.count()
    assert not AuditEvent.objects.unsealed().exists()
    assert AuditCheckpoint.objects.count() == 3
    assert "The access log is intact" in verify()


def test_the_verify_command_says_when_the_sealer_has_not_run(therapist, patient, time_machine):
    audit.record(action=Action.READ, user=therapist, patient=patient, what="screening 1")
    time_machine.move_to(timezone.now() + datetime.timedelta(minutes=20))

    output = verify()

    assert "The access log is intact" in output
    assert "is Celery beat running?" in output


def test_the_seal_command_seals_and_prints_the_checkpoint_line(therapist, patient, capsys):
    three_reads(therapist, patient)

    call_command("seal_audit_log", "--dry-run")
    assert f"{AuditEvent.objects.count()} rows are waiting to be sealed." in capsys.readouterr().out
    call_command("seal_audit_log")

    out = capsys.readouterr().out
    assert AuditCheckpoint.objects.get().line() in out.splitlines()
    call_command("seal_audit_log")
    assert "Nothing to seal." in capsys.readouterr().out


def test_beat_runs_the_sealer_every_minute():
    from celery.schedules import crontab

    from clinic import celery_app

    entry = django_settings.CELERY_BEAT_SCHEDULE["seal-audit-log"]
    assert entry == {"task": "patients.tasks.seal_audit_log", "schedule": crontab()}
    celery_app.loader.import_default_modules()
    assert "patients.tasks.seal_audit_log" in celery_app.tasks


def test_the_verify_command_passes_an_intact_log(therapist, patient):
    three_reads(therapist, patient)
    audit.seal_pending()

    output = verify()

    count = AuditEvent.objects.count()
    assert f"The access log is intact ({count} rows)." in output
    assert (
        f"Sealed: {count} rows, up to row {AuditEvent.objects.latest('id').pk}, matching the checkpoint"
        in output
    )


# Tampering, and how it is found.


@pytest.mark.parametrize(
    ("tamper", "row", "found"),
    [
        # A row changed: its own seal no longer matches.
        ("UPDATE patients_auditevent SET record = 'nothing' WHERE id = %(second)s", "second", "its seal"),
        ("UPDATE patients_auditevent SET allowed = NOT allowed WHERE id = %(first)s", "first", "its seal"),
        ("UPDATE patients_auditevent SET user_id = NULL WHERE id = %(third)s", "third", "its seal"),
        # Moved to another place in the chain.
        ("UPDATE patients_auditevent SET position = position + 10 WHERE id = %(third)s", "third", "its seal"),
        # A row deleted: the next row finds the place before it empty.
        ("DELETE FROM patients_auditevent WHERE id = %(second)s", "third", "its hash chain"),
        # A row's seal removed, as if it had never been sealed.
        (
            "UPDATE patients_auditevent SET hash = NULL, position = NULL WHERE id = %(second)s",
            "third",
            "its hash chain",
        ),
    ],
    ids=["record changed", "allowed flipped", "user removed", "moved", "deleted", "unsealed again"],
)
def test_the_verify_command_finds_a_row_changed_or_removed_in_the_database(
    therapist, patient, tamper, row, found
):
    rows = three_reads(therapist, patient)
    audit.seal_pending()

    with as_the_tamperer() as cursor:
        cursor.execute(tamper % rows)

    with pytest.raises(CommandError, match=f"tampered with: row {rows[row]} does not match {found}"):
        verify()
    assert audit.first_broken_row() == rows[row]


def test_the_newest_rows_deleted_are_found_against_the_newest_checkpoint(therapist, patient):
    rows = three_reads(therapist, patient)
    audit.seal_pending()
    newest = three_reads(therapist, patient)
    audit.seal_pending()

    # The chain that is left is intact: only its length gives it away.
    with as_the_tamperer() as cursor:
        cursor.execute("DELETE FROM patients_auditevent WHERE id >= %s", [newest["first"]])

    assert audit.first_broken_row() is None
    with pytest.raises(
        CommandError, match=f"the tail of the access log after row {rows['third']} is missing"
    ):
        verify()


def test_the_newest_rows_and_checkpoints_deleted_are_found_against_a_checkpoint_from_the_log_stream(
    therapist, patient, checkpoint_lines
):
    rows = three_reads(therapist, patient)
    audit.seal_pending()
    newest = three_reads(therapist, patient)
    audit.seal_pending()
    line = checkpoint_lines()[-1]

    # The newest checkpoint goes too: the database alone now looks intact.
    with as_the_tamperer() as cursor:
        cursor.execute("DELETE FROM patients_auditevent WHERE id >= %s", [newest["first"]])
        cursor.execute(
            "DELETE FROM patients_auditcheckpoint WHERE id = %s", [AuditCheckpoint.objects.first().pk]
        )

    assert "The access log is intact" in verify()
    with pytest.raises(
        CommandError, match=f"the tail of the access log after row {rows['third']} is missing"
    ):
        verify(f"2026-11-16 09:00:00,123 INFO patients.audit {line}")


def test_every_checkpoint_deleted_is_found(therapist, patient):
    three_reads(therapist, patient)
    audit.seal_pending()

    with as_the_tamperer() as cursor:
        cursor.execute("DELETE FROM patients_auditcheckpoint")

    with pytest.raises(CommandError, match="the checkpoints are missing"):
        verify()


def test_a_row_changed_and_its_checkpoint_line_agree_no_more(therapist, patient, checkpoint_lines):
    rows = three_reads(therapist, patient)
    audit.seal_pending()
    line = checkpoint_lines()[-1]

    # Even a tamperer with the key, who re-seals the chain and signs a new
    # checkpoint, is caught by a checkpoint line kept from before.
    with as_the_tamperer() as cursor:
        cursor.execute("UPDATE patients_auditevent SET record = 'nothing' WHERE id = %s", [rows["second"]])
        reseal_chain(cursor, lambda event: audit.seal(event, django_settings.AUDIT_KEY.encode()))
        cursor.execute("DELETE FROM patients_auditcheckpoint")
    head = AuditEvent.objects.get(pk=rows["third"])
    audit.write_checkpoint(row_count=head.position, head=head)

    assert "The access log is intact" in verify()
    with pytest.raises(CommandError, match=f"row {rows['third']} does not match the checkpoint of"):
        verify(line)


def test_a_forged_checkpoint_line_is_refused(therapist, patient, checkpoint_lines):
    three_reads(therapist, patient)
    audit.seal_pending()
    line = checkpoint_lines()[-1]
    count = AuditCheckpoint.objects.get().row_count

    with pytest.raises(CommandError, match="does not match its signature: it was forged or changed"):
        verify(line.replace(f"count={count}", f"count={count - 1}"))
    with pytest.raises(CommandError, match="Not an access log checkpoint"):
        verify("audit checkpoint count=3")


def reseal_chain(cursor, make_seal, *, key_id=None):
    """Recompute every seal from the first row on, as a tamperer would."""
    previous = audit.GENESIS
    for event in AuditEvent.objects.sealed().order_by("position"):
        event.previous_hash = previous
        event.key_id = key_id or event.key_id
        event.hash = make_seal(event)
        cursor.execute(
            "UPDATE patients_auditevent SET previous_hash = %s, key_id = %s, hash = %s WHERE id = %s",
            [event.previous_hash, event.key_id, event.hash, event.pk],
        )
        previous = event.hash


ATTACKERS_KEY = b"a key that is not the access log's"


@pytest.mark.parametrize(
    ("make_seal", "key_id", "found"),
    [
        # The old seal: anyone who can write to the database can recompute it.
        (lambda event: hashlib.sha256(event.content().encode()).hexdigest(), None, "does not match its seal"),
        (
            lambda event: hmac.new(ATTACKERS_KEY, event.content().encode(), "sha256").hexdigest(),
            None,
            "does not match its seal",
        ),
        (
            lambda event: hmac.new(ATTACKERS_KEY, event.content().encode(), "sha256").hexdigest(),
            audit.key_id(ATTACKERS_KEY.decode()),
            "is sealed with a key this server does not have",
        ),
    ],
    ids=["plain SHA-256", "HMAC with another key", "another key, named"],
)
def test_a_chain_re_sealed_without_the_key_fails(therapist, patient, make_seal, key_id, found):
    rows = three_reads(therapist, patient)
    audit.seal_pending()
    first = AuditEvent.objects.get(position=1).pk

    with as_the_tamperer() as cursor:
        cursor.execute("UPDATE patients_auditevent SET record = 'nothing' WHERE id = %s", [rows["second"]])
        reseal_chain(cursor, make_seal, key_id=key_id)

    with pytest.raises(CommandError, match=f"row {first} {found}"):
        verify()


# Key rotation.


def test_rows_sealed_with_the_old_key_still_verify_after_a_rotation(
    settings, therapist, patient, checkpoint_lines
):
    old_key, new_key = secrets.token_urlsafe(32), secrets.token_urlsafe(32)
    settings.AUDIT_KEY = old_key
    before = three_reads(therapist, patient)
    audit.seal_pending()
    old_line = checkpoint_lines()[-1]

    settings.AUDIT_KEY, settings.AUDIT_OLD_KEYS = new_key, [old_key]
    after = three_reads(therapist, patient)
    audit.seal_pending()

    key_ids = dict(AuditEvent.objects.values_list("pk", "key_id"))
    assert {key_ids[pk] for pk in before.values()} == {audit.key_id(old_key)}
    assert {key_ids[pk] for pk in after.values()} == {audit.key_id(new_key)}
    assert AuditCheckpoint.objects.order_by("id").last().key_id == audit.key_id(new_key)
    assert "The access log is intact" in verify(old_line)
    # Without the old key, the old segment cannot be checked: that is said, not hidden.
    settings.AUDIT_OLD_KEYS = []
    first = AuditEvent.objects.get(position=1).pk
    with pytest.raises(CommandError, match=f"row {first} is sealed with a key this server does not have"):
        verify()


# The settings.


@pytest.fixture
def production_env(tmp_path):
    """A production environment that passes every check (as in clinic/tests/test_settings.py)."""
    return {
        "PATH": os.environ["PATH"],
        "HOME": str(tmp_path),
        "VAR_DIR": str(tmp_path / "var"),
        "DJANGO_ENV": "production",
        "SECRET_KEY": secrets.token_urlsafe(50),
        "AUDIT_KEY": secrets.token_urlsafe(32),
        "ALLOWED_HOSTS": "clinic.example",
        "DATABASE_URL": f"sqlite:///{tmp_path / 'production.sqlite3'}",
        "CACHE_URL": "redis://127.0.0.1:6379/1",
    }


def test_production_refuses_to_start_without_an_audit_key(production_env):
    del production_env["AUDIT_KEY"]
    assert "AUDIT_KEY must be set" in refusal(run(production_env, "manage.py", "check"))


def test_production_refuses_an_audit_key_that_is_the_secret_key(production_env):
    production_env["AUDIT_KEY"] = production_env["SECRET_KEY"]
    assert "not the SECRET_KEY" in refusal(run(production_env, "manage.py", "check"))


def test_production_reads_the_audit_key_from_a_file(production_env, tmp_path):
    key_file = tmp_path / "audit_key"
    key_file.write_text(production_env.pop("AUDIT_KEY") + "\n")

    result = run({**production_env, "AUDIT_KEY_FILE": str(key_file)}, "manage.py", "check", "--deploy")

    assert result.returncode == 0, result.stderr


def test_development_and_tests_use_a_fixed_development_key():
    assert django_settings.AUDIT_KEY == django_settings.INSECURE_AUDIT_KEY
    assert django_settings.AUDIT_KEY != django_settings.SECRET_KEY


# PostgreSQL: the database refuses, and appends do not wait for each other.


@pytest.mark.postgresql
@pytest.mark.parametrize(
    "statement",
    [
        "UPDATE patients_auditevent SET record = 'nothing' WHERE id = %(second)s",
        # Re-sealing a sealed row, even with its own seal.
        "UPDATE patients_auditevent SET hash = hash WHERE id = %(first)s",
        "DELETE FROM patients_auditevent WHERE id = %(third)s",
        "TRUNCATE patients_auditevent CASCADE",
        "UPDATE patients_auditcheckpoint SET row_count = 1",
        "DELETE FROM patients_auditcheckpoint",
        "TRUNCATE patients_auditcheckpoint",
    ],
)
def test_the_database_refuses_to_change_the_log(postgresql, therapist, patient, statement):
    rows = three_reads(therapist, patient)
    audit.seal_pending()
    before = list(AuditEvent.objects.order_by("id").values_list())

    # As the application's role: it owns nothing, yet was granted every right on the tables.
    with pytest.raises(DatabaseError, match="the access log is append-only"), as_the_application() as cursor:
        cursor.execute(statement % rows)
    # The tables' owner is refused UPDATE and DELETE too.
    if not statement.startswith("TRUNCATE"):
        with pytest.raises(DatabaseError, match="the access log is append-only"), transaction.atomic():
            connection.cursor().execute(statement % rows)

    assert list(AuditEvent.objects.order_by("id").values_list()) == before
    assert "The access log is intact" in verify()


@pytest.mark.postgresql
def test_the_database_lets_the_sealer_set_a_seal_once_and_nothing_else(postgresql, therapist, patient):
    event = audit.record(action=Action.READ, user=therapist, patient=patient, what="screening 1")
    sneaked_in = (
        "UPDATE patients_auditevent SET record = 'nothing', hash = 'x', position = 999999 WHERE id = %s"
    )

    with pytest.raises(DatabaseError, match="append-only"), as_the_application() as cursor:
        cursor.execute(sneaked_in, [event.pk])
    audit.seal_pending()

    event.refresh_from_db()
    assert event.record == "screening 1"
    assert event.hash is not None


@contextlib.contextmanager
def as_the_application():
    """A cursor as a role like the one the README gives the application in
    production: it owns nothing, but (to show the triggers, not the grants,
    refusing) holds every right on the access log's tables. The role lives
    only in this transaction."""
    role = f"clinic_app_{uuid.uuid4().hex[:12]}"
    with connection.cursor() as cursor:
        cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")  # as in as_the_tamperer()
        cursor.execute(f"CREATE ROLE {role} NOLOGIN")
        cursor.execute(f"GRANT USAGE ON SCHEMA public TO {role}")
        cursor.execute(f"GRANT ALL ON patients_auditevent, patients_auditcheckpoint TO {role}")
        with transaction.atomic():
            cursor.execute(f"SET LOCAL ROLE {role}")
            yield cursor


def in_a_thread(work):
    """Start `work` in a thread of its own (so on a database connection of its own)."""
    outcome = {}

    def run():
        try:
            outcome["result"] = work()
        except Exception as error:
            outcome["error"] = error
        finally:
            connection.close()

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    thread.outcome = outcome
    return thread


def read(therapist, patient, what):
    return lambda: audit.record(action=Action.READ, user=therapist, patient=patient, what=what).pk


def an_append_held_open(therapist, patient):
    """A request, in a thread, that has appended a row and keeps its
    transaction open until `finish` is set."""
    appended, finish = threading.Event(), threading.Event()

    def long_request():
        with transaction.atomic():
            pk = read(therapist, patient, "screening 1")()
            appended.set()
            assert finish.wait(timeout=30)
        return pk

    thread = in_a_thread(long_request)
    assert appended.wait(timeout=30)
    return thread, finish


@pytest.mark.postgresql
@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_an_append_does_not_wait_for_another_transaction_that_appended(postgresql, therapist, patient):
    first, finish = an_append_held_open(therapist, patient)
    second = in_a_thread(read(therapist, patient, "screening 2"))
    second.join(timeout=10)

    # The second append committed while the first transaction is still open.
    assert not second.is_alive(), "the second append waited for the first transaction"
    assert "error" not in second.outcome
    assert first.is_alive()
    finish.set()
    first.join(timeout=30)
    assert "error" not in first.outcome
    audit.seal_pending()
    assert "The access log is intact" in verify()


@pytest.mark.postgresql
@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_a_row_committed_after_a_higher_one_was_sealed_is_sealed_next(postgresql, therapist, patient):
    slow, finish = an_append_held_open(therapist, patient)
    quick = read(therapist, patient, "screening 2")()
    audit.seal_pending()
    finish.set()
    slow.join(timeout=30)
    audit.seal_pending()

    lower = slow.outcome["result"]
    assert lower < quick
    places = dict(AuditEvent.objects.filter(pk__in=[lower, quick]).values_list("pk", "position"))
    assert places[lower] == places[quick] + 1, "sealed by the next run, at the next place"
    assert not AuditEvent.objects.unsealed().exists()
    assert "The access log is intact" in verify()


@pytest.mark.postgresql
@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_two_sealers_take_turns_and_never_fork_the_chain(postgresql, therapist, patient):
    three_reads(therapist, patient)
    locked, release = threading.Event(), threading.Event()

    def sealer_holding_the_lock():
        with transaction.atomic():
            audit.take_seal_lock()
            locked.set()
            assert release.wait(timeout=30)
        return audit.seal_pending()

    first = in_a_thread(sealer_holding_the_lock)
    assert locked.wait(timeout=30)
    second = in_a_thread(audit.seal_pending)
    second.join(timeout=2)

    assert second.is_alive(), "the second sealer waits for the first one's lock"
    release.set()
    first.join(timeout=30)
    second.join(timeout=30)
    assert "error" not in first.outcome
    assert "error" not in second.outcome
    assert AuditCheckpoint.objects.count() == 1
    assert "The access log is intact" in verify()
