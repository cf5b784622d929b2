"""The settings, read from the environment in a fresh process each time: the
embedded set-up runs with no environment at all, and production is refused
unless it is configured safely.

Each run starts from a minimal environment (PATH, HOME, VAR_DIR), never from
this process's, so a DATABASE_URL or REDIS_URL of the test run cannot leak in.
"""

import json
import os
import secrets
import subprocess
import sys
from pathlib import Path

import pytest
from django.db import connection

BASE_DIR = Path(__file__).resolve().parents[2]

# Prints the settings a user of the clinic would care about, as JSON.
PRINT_SETTINGS = """
import json, os
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "clinic.settings")
import django
django.setup()
from django.conf import settings
db = settings.DATABASES["default"]
print(json.dumps({
    "engine": db["ENGINE"],
    "name": str(db["NAME"]),
    "options": db.get("OPTIONS", {}),
    "conn_max_age": db.get("CONN_MAX_AGE"),
    "conn_health_checks": db.get("CONN_HEALTH_CHECKS"),
    "broker_url": settings.CELERY_BROKER_URL,
    "result_backend": settings.CELERY_RESULT_BACKEND,
    "email_backend": settings.EMAIL_BACKEND,
    "email_file_path": str(getattr(settings, "EMAIL_FILE_PATH", "")),
    "debug": settings.DEBUG,
    "time_zone": settings.TIME_ZONE,
    "secret_key": settings.SECRET_KEY,
}))
"""

# Opens a transaction the way a booking does, then lets a second connection
# try to start writing: with IMMEDIATE the first already holds the write lock.
TRY_A_SECOND_WRITER = """
import json, os, sqlite3
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "clinic.settings")
import django
django.setup()
from django.db import connection, transaction
with transaction.atomic():
    other = sqlite3.connect(connection.settings_dict["NAME"], timeout=0)
    try:
        other.execute("BEGIN IMMEDIATE")
        outcome = "the second writer got in"
    except sqlite3.OperationalError as error:
        outcome = str(error)
    finally:
        other.close()
print(json.dumps({
    "transaction_mode": connection.settings_dict["OPTIONS"]["transaction_mode"],
    "second_writer": outcome,
}))
"""


@pytest.fixture
def base_env(tmp_path):
    return {
        "PATH": os.environ["PATH"],
        "HOME": str(tmp_path),
        "VAR_DIR": str(tmp_path / "var"),
    }


@pytest.fixture
def production_env(base_env, tmp_path):
    """A production environment that passes every check."""
    return {
        **base_env,
        "DJANGO_ENV": "production",
        "SECRET_KEY": secrets.token_urlsafe(50),
        "AUDIT_KEY": secrets.token_urlsafe(32),
        "ALLOWED_HOSTS": "clinic.example",
        "DATABASE_URL": f"sqlite:///{tmp_path / 'production.sqlite3'}",
        # The check needs no Redis running, only the shared cache named.
        "CACHE_URL": "redis://127.0.0.1:6379/1",
    }


def run(env, *args):
    return subprocess.run(
        [sys.executable, *args],
        cwd=BASE_DIR,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def settings_in(env):
    result = run(env, "-c", PRINT_SETTINGS)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def refusal(result):
    """The error a refused start-up ends with (its last line), not the traceback
    that quotes the settings' source."""
    assert result.returncode != 0, "the settings were accepted"
    last_line = result.stderr.strip().splitlines()[-1]
    assert last_line.startswith("django.core.exceptions.ImproperlyConfigured: "), result.stderr
    return last_line.removeprefix("django.core.exceptions.ImproperlyConfigured: ")


def test_it_passes_the_system_check_with_no_environment_at_all(base_env):
    result = run(base_env, "manage.py", "check")
    assert result.returncode == 0, result.stderr
    assert "System check identified no issues" in result.stdout


def test_it_runs_the_embedded_set_up_with_no_environment_at_all(base_env):
    var_dir = Path(base_env["VAR_DIR"])
    config = settings_in(base_env)
    assert config["engine"] == "django.db.backends.sqlite3"
    assert Path(config["name"]).parent == var_dir
    assert config["broker_url"] == "filesystem://"
    assert config["email_backend"] == "django.core.mail.backends.filebased.EmailBackend"
    assert Path(config["email_file_path"]).is_relative_to(var_dir)
    assert config["debug"] is True
    assert config["time_zone"] == "America/New_York"


def test_it_lets_sqlite_take_the_write_lock_when_a_transaction_begins(base_env):
    result = run(base_env, "-c", TRY_A_SECOND_WRITER)
    assert result.returncode == 0, result.stderr
    outcome = json.loads(result.stdout)
    assert outcome["transaction_mode"] == "IMMEDIATE"
    assert outcome["second_writer"] == "database is locked"


def test_it_passes_the_deployment_check_when_production_is_configured(production_env):
    result = run(production_env, "manage.py", "check", "--deploy", "--fail-level", "WARNING")
    assert result.returncode == 0, result.stderr
    assert "System check identified no issues" in result.stdout


def test_it_fails_the_system_check_in_production_without_a_shared_rate_limit_cache(production_env):
    del production_env["CACHE_URL"]
    result = run(production_env, "manage.py", "check")
    assert result.returncode != 0
    assert "clinic.E001" in result.stderr


def test_it_refuses_debug_in_production(production_env):
    result = run({**production_env, "DEBUG": "True"}, "manage.py", "check")
    assert "DEBUG" in refusal(result)


def test_it_refuses_production_without_a_secret_key(production_env):
    del production_env["SECRET_KEY"]
    result = run(production_env, "manage.py", "check")
    assert "SECRET_KEY" in refusal(result)


def test_it_refuses_production_with_a_short_secret_key(production_env):
    result = run({**production_env, "SECRET_KEY": secrets.token_urlsafe(20)}, "manage.py", "check")
    assert "SECRET_KEY" in refusal(result)


def test_it_refuses_production_with_djangos_insecure_secret_key(production_env):
    # Long and random, but a key Django generated for development.
    insecure_key = "django-insecure-" + secrets.token_urlsafe(50)
    result = run({**production_env, "SECRET_KEY": insecure_key}, "manage.py", "check")
    assert "SECRET_KEY" in refusal(result)


def test_it_refuses_production_without_allowed_hosts(production_env):
    del production_env["ALLOWED_HOSTS"]
    result = run(production_env, "manage.py", "check")
    assert "ALLOWED_HOSTS" in refusal(result)


def test_it_refuses_a_debug_value_that_is_not_true_or_false(base_env):
    result = run({**base_env, "DEBUG": "yes"}, "manage.py", "check")
    assert refusal(result) == "DEBUG must be True or False, not 'yes'"


def test_it_reads_the_secret_key_from_a_file(production_env, tmp_path):
    key = production_env.pop("SECRET_KEY")
    key_file = tmp_path / "secret_key"
    key_file.write_text(key + "\n")
    env = {**production_env, "SECRET_KEY_FILE": str(key_file)}

    assert settings_in(env)["secret_key"] == key
    result = run(env, "manage.py", "check", "--deploy", "--fail-level", "WARNING")
    assert result.returncode == 0, result.stderr


def test_it_uses_postgresql_with_persistent_checked_connections_when_told(base_env):
    env = {**base_env, "DATABASE_URL": "postgres://clinic:secret@db.example:5432/clinic"}
    config = settings_in(env)
    assert config["engine"] == "django.db.backends.postgresql"
    assert config["name"] == "clinic"
    assert config["conn_max_age"] > 0
    assert config["conn_health_checks"] is True


def test_it_uses_redis_as_the_celery_broker_when_told(base_env):
    env = {**base_env, "REDIS_URL": "redis://redis.example:6379/0"}
    config = settings_in(env)
    assert config["broker_url"] == "redis://redis.example:6379/0"
    assert config["result_backend"] == "redis://redis.example:6379/0"


@pytest.mark.postgresql
def test_postgresql_never_jit_compiles_the_clinics_queries(postgresql):
    """The dashboard's aggregates passed the JIT's cost threshold and were
    compiled anew on every request; the clinic's connections switch it off."""
    with connection.cursor() as cursor:
        cursor.execute("SHOW jit")
        assert cursor.fetchone()[0] == "off"
