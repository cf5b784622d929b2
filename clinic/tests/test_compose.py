"""The container set-up (Dockerfile, docker-compose.yml, .dockerignore) agrees
with the code: the modules the commands name exist, every variable the app
services are given is one the settings read, and production settings import
with the compose file's defaults. Docker itself is not needed."""

import importlib
import json
import os
import re
import secrets
import shlex
import subprocess
import sys
from pathlib import Path
from urllib.parse import urlsplit

import pytest
import yaml
from celery import Celery
from celery.app.utils import find_app

BASE_DIR = Path(__file__).resolve().parent.parent.parent
COMPOSE_FILE = BASE_DIR / "docker-compose.yml"
DOCKERFILE = BASE_DIR / "Dockerfile"
DOCKERIGNORE = BASE_DIR / ".dockerignore"
SETTINGS_FILE = BASE_DIR / "clinic" / "settings.py"
SCRIPTS = BASE_DIR / "scripts"

APP_SERVICES = ("web", "worker", "beat", "migrate")
# Variables gunicorn reads itself (the number of workers, extra arguments).
GUNICORN_VARIABLES = {"WEB_CONCURRENCY", "GUNICORN_CMD_ARGS"}
# Variables the postgres image reads.
POSTGRES_VARIABLES = {
    "POSTGRES_DB",
    "POSTGRES_USER",
    "POSTGRES_PASSWORD",
    "POSTGRES_INITDB_ARGS",
    "POSTGRES_HOST_AUTH_METHOD",
    "PGDATA",
}
# Variables libpq (pg_dump, pg_restore, psql) reads for its connection.
LIBPQ_VARIABLES = {"PGHOST", "PGPORT", "PGUSER", "PGPASSWORD", "PGPASSFILE", "PGDATABASE", "PGSSLMODE"}
# A Python module path and attribute, as gunicorn takes it: clinic.wsgi:application.
WSGI_TARGET = re.compile(r"^[A-Za-z_][\w.]*:[A-Za-z_]\w*$")
# What the settings test runs in a process of its own.
SETUP_DJANGO = (
    "import django, os; os.environ.setdefault('DJANGO_SETTINGS_MODULE','clinic.settings'); django.setup()"
)
# The variables the compose file has no default for.
KEYS = {"SECRET_KEY": "x" * 50, "AUDIT_KEY": "y" * 32}
# ${NAME}, ${NAME:-default}, ${NAME-default}, ${NAME:?error}, ${NAME?error}, and $$.
INTERPOLATION = re.compile(r"\$\$|\$\{(?P<name>\w+)(?:(?P<op>:?[-?])(?P<arg>[^}]*))?\}")


def compose():
    return yaml.safe_load(COMPOSE_FILE.read_text())


def services():
    return compose()["services"]


def settings_variables():
    """The names settings.py reads through env(), env_bool(), env_int() and env_list()."""
    text = SETTINGS_FILE.read_text()
    return set(re.findall(r"\benv(?:_bool|_int|_list)?\(\s*[\"']([A-Z][A-Z0-9_]*)[\"']", text))


def environment(service):
    """A service's environment as a dict, whether written as a mapping or a list."""
    env = service.get("environment") or {}
    if isinstance(env, list):
        env = dict(item.split("=", 1) if "=" in item else (item, None) for item in env)
    return {name: None if value is None else str(value) for name, value in env.items()}


def interpolate(value, variables):
    """Resolve compose's ${...} interpolation against `variables` (not os.environ)."""

    def replace(match):
        if match.group(0) == "$$":
            return "$"
        name, op, arg = match.group("name", "op", "arg")
        value = variables.get(name)
        unset = value is None or (op is not None and op.startswith(":") and value == "")
        if op in (":-", "-"):
            return arg if unset else value
        if op in (":?", "?"):
            if unset:
                raise ValueError(f"{name} is required: {arg}")
            return value
        return value or ""

    return INTERPOLATION.sub(replace, value)


def resolved_environment(service, variables=None):
    return {name: interpolate(value or "", variables or {}) for name, value in environment(service).items()}


def command_args(command):
    """A compose command (string or list) as an argument list."""
    if command is None:
        return None
    return shlex.split(command) if isinstance(command, str) else [str(arg) for arg in command]


def dockerfile_instructions():
    """(instruction, arguments) for each Dockerfile instruction, continuation
    lines joined and comments dropped."""
    instructions = []
    current = ""
    for line in DOCKERFILE.read_text().splitlines():
        stripped = line.strip()
        if not stripped or stripped.startswith("#"):
            continue
        part = stripped.removesuffix("\\").strip()
        current = f"{current} {part}".strip()
        if not stripped.endswith("\\"):
            keyword, _, arguments = current.partition(" ")
            instructions.append((keyword.upper(), arguments.strip()))
            current = ""
    return instructions


def dockerfile_values(keyword):
    """The arguments of every `keyword` instruction, in order."""
    values = [arguments for name, arguments in dockerfile_instructions() if name == keyword]
    assert values, f"the Dockerfile has no {keyword}"
    return values


def dockerfile_args(keyword):
    """The arguments of the last CMD or ENTRYPOINT, in exec form or shell form."""
    found = [arguments for name, arguments in dockerfile_instructions() if name == keyword]
    if not found:
        return None
    arguments = found[-1]
    if arguments.startswith("["):
        return json.loads(arguments)
    return shlex.split(arguments)


def dockerfile_command():
    return (dockerfile_args("ENTRYPOINT") or []) + (dockerfile_args("CMD") or [])


def gunicorn_target(args):
    """The APP_MODULE argument of a gunicorn command line."""
    assert args, "no command"
    names = [Path(arg).name for arg in args]
    assert "gunicorn" in names, f"not a gunicorn command: {args}"
    targets = [arg for arg in args[names.index("gunicorn") + 1 :] if WSGI_TARGET.match(arg)]
    assert len(targets) == 1, f"expected one module:attribute in {args}"
    return targets[0]


def celery_app_path(args):
    """The -A/--app argument of a celery command line."""
    for index, arg in enumerate(args):
        if arg in ("-A", "--app"):
            return args[index + 1]
        if arg.startswith("--app="):
            return arg.removeprefix("--app=")
        if arg.startswith("-A") and len(arg) > 2:
            return arg[2:]
    raise AssertionError(f"no -A/--app in {args}")


def web_command():
    """What the web container runs: its compose command, else the image's."""
    return command_args(services()["web"].get("command")) or dockerfile_command()


def assert_imports_wsgi_application(target):
    module_name, attribute = target.split(":")
    application = getattr(importlib.import_module(module_name), attribute)
    assert callable(application)


# docker-compose.yml


def test_it_defines_the_services():
    config = compose()
    assert "version" not in config, "the Compose spec has no version key"
    found = config["services"]
    for name in ("db", "redis", "mailpit", "web", "worker", "beat", "backup"):
        assert name in found, f"no {name} service"
    assert found["db"]["image"].startswith("postgres:16")
    assert found["redis"]["image"].startswith("redis:7")
    assert found["mailpit"]["image"].startswith("axllent/mailpit")


def test_it_builds_one_image_for_every_app_service():
    found = services()
    app_services = [name for name in APP_SERVICES if name in found]
    assert {"web", "worker", "beat"} <= set(app_services)
    assert {found[name].get("build") for name in app_services} == {"."}
    assert len({found[name].get("image") for name in app_services}) == 1


def test_it_keeps_the_database_and_the_queue_on_named_volumes():
    config = compose()
    named = set(config.get("volumes") or {})
    for service, target in (("db", "/var/lib/postgresql/data"), ("redis", "/data")):
        volumes = [str(volume).split(":") for volume in config["services"][service]["volumes"]]
        sources = [source for source, mount, *_ in volumes if mount == target]
        assert sources, f"{service} keeps nothing at {target}"
        assert sources[0] in named, f"{service}'s {target} is not on a named volume"


def test_it_runs_redis_with_the_append_only_file():
    redis = services()["redis"]
    assert "--appendonly yes" in " ".join(command_args(redis["command"]))
    assert "redis-cli ping" in " ".join(command_args(redis["healthcheck"]["test"]))


def test_it_checks_postgres_with_pg_isready():
    assert "pg_isready" in " ".join(command_args(services()["db"]["healthcheck"]["test"]))


def test_it_starts_the_app_after_healthy_services_and_migrations():
    found = services()
    if "migrate" in found:
        assert "migrate" in command_args(found["migrate"]["command"])
        assert found["migrate"].get("restart") in (None, "no"), "migrate must run once"
    else:
        assert "migrate" in " ".join(web_command())
    for name in ("web", "worker", "beat"):
        depends_on = found[name]["depends_on"]
        assert depends_on["db"]["condition"] == "service_healthy"
        assert depends_on["redis"]["condition"] == "service_healthy"
        if "migrate" in found:
            assert depends_on["migrate"]["condition"] == "service_completed_successfully"


def test_it_runs_at_most_one_beat():
    beat = services()["beat"]
    assert beat.get("deploy", {}).get("replicas", 1) <= 1
    args = command_args(beat["command"])
    assert "beat" in args
    # The image's /app (the working directory) belongs to root: the schedule
    # file goes where the app user can write.
    schedule = args[args.index("--schedule") + 1]
    assert schedule.startswith("/")
    assert not schedule.startswith("/app/")


def test_it_publishes_the_web_and_mail_ports():
    found = services()
    assert "8000:8000" in [str(port) for port in found["web"]["ports"]]
    mail_ports = [str(port) for port in found["mailpit"]["ports"]]
    assert "8025:8025" in mail_ports
    assert not [port for port in mail_ports if port.endswith(":1025")], "SMTP stays internal"
    assert "--bind" in web_command()
    assert web_command()[web_command().index("--bind") + 1] == "0.0.0.0:8000"


def test_it_serves_the_wsgi_application_gunicorn_is_given():
    assert_imports_wsgi_application(gunicorn_target(web_command()))


@pytest.mark.parametrize("name", ["worker", "beat"])
def test_it_runs_celery_on_the_clinic_app(name):
    args = command_args(services()[name]["command"])
    assert Path(args[0]).name == "celery" or args[:3] == ["python", "-m", "celery"]
    assert name in args
    app = find_app(celery_app_path(args))
    assert isinstance(app, Celery)
    import clinic

    assert app is clinic.celery_app


def shell_variables(text):
    """The names a shell script or command line reads: $NAME and ${NAME...}."""
    return set(re.findall(r"\$\{?([A-Z][A-Z0-9_]*)", text))


def test_it_backs_up_the_database_on_a_schedule_to_a_named_volume():
    config = compose()
    backup, db = config["services"]["backup"], config["services"]["db"]
    # pg_dump of the server's major version (or newer) reads its database.
    assert backup["image"].split(":")[0] == "postgres"
    assert backup["image"].split(":")[1] == db["image"].split(":")[1]
    assert backup["depends_on"]["db"]["condition"] == "service_healthy"
    command = " ".join(command_args(backup["command"]))
    assert "/scripts/backup.sh" in command
    assert "while true" in command
    assert "sleep" in command
    mounts = dict(str(volume).split(":")[:2] for volume in backup["volumes"])
    assert mounts.get("./scripts") == "/scripts"
    env = resolved_environment(backup)
    backup_volume = next(source for source, target in mounts.items() if target == env["BACKUP_DIR"])
    assert backup_volume in (config.get("volumes") or {}), "the dumps are not on a named volume"
    assert int(env["BACKUP_KEEP_DAYS"]) >= 1
    assert int(env["BACKUP_INTERVAL_SECONDS"]) >= 3600


def test_it_gives_the_backup_only_variables_its_scripts_read():
    backup = services()["backup"]
    read_by_scripts = shell_variables((SCRIPTS / "backup.sh").read_text())
    assert {"PGDATABASE", "BACKUP_DIR", "BACKUP_KEEP_DAYS"} <= read_by_scripts, "the regex no longer matches"
    read_by_command = shell_variables(interpolate(" ".join(command_args(backup["command"])), {}))
    given = set(environment(backup))
    unknown = given - read_by_scripts - read_by_command - LIBPQ_VARIABLES
    assert not unknown, f"backup sets variables nothing reads: {sorted(unknown)}"
    assert read_by_command <= given
    assert {"PGHOST", "PGUSER", "PGPASSWORD", "PGDATABASE", "BACKUP_DIR", "BACKUP_KEEP_DAYS"} <= given


def test_it_backs_up_the_database_the_app_uses():
    found = services()
    given = {**KEYS, "POSTGRES_PASSWORD": "s3cret"}
    backup = resolved_environment(found["backup"], given)
    database = urlsplit(resolved_environment(found["web"], given)["DATABASE_URL"])
    assert backup["PGHOST"] == database.hostname
    assert backup["PGUSER"] == database.username
    assert backup["PGPASSWORD"] == database.password == "s3cret"
    assert backup["PGDATABASE"] == database.path.lstrip("/")
    assert backup.get("PGPORT", "5432") == str(database.port or 5432)


def test_it_gives_the_app_only_variables_the_settings_read():
    known = settings_variables()
    assert {"SECRET_KEY", "DATABASE_URL", "REDIS_URL"} <= known, "the settings regex no longer matches"
    # env() also reads NAME_FILE (docker secrets).
    known |= {f"{name}_FILE" for name in known}
    found = services()
    for name in APP_SERVICES:
        if name not in found:
            continue
        allowed = known | (GUNICORN_VARIABLES if name == "web" else set())
        unknown = set(environment(found[name])) - allowed
        assert not unknown, f"{name} sets variables clinic/settings.py does not read: {sorted(unknown)}"
    unknown = set(environment(found["db"])) - POSTGRES_VARIABLES
    assert not unknown, f"db sets variables postgres does not read: {sorted(unknown)}"


def test_it_requires_a_secret_key_and_an_audit_key_and_runs_production():
    env = resolved_environment(services()["web"], KEYS)
    assert env["DJANGO_ENV"] == "production"
    assert env.get("DEBUG", "False") == "False"
    with pytest.raises(ValueError, match="SECRET_KEY is required"):
        resolved_environment(services()["web"], {"AUDIT_KEY": KEYS["AUDIT_KEY"]})
    with pytest.raises(ValueError, match="AUDIT_KEY is required"):
        resolved_environment(services()["web"], {"SECRET_KEY": KEYS["SECRET_KEY"]})


def test_it_points_the_app_at_the_compose_services():
    found = services()
    env = resolved_environment(found["web"], KEYS)
    database = urlsplit(env["DATABASE_URL"])
    db_env = resolved_environment(found["db"])
    assert database.scheme in ("postgres", "postgresql")
    assert database.hostname in found
    assert database.username == db_env["POSTGRES_USER"]
    assert database.password == db_env["POSTGRES_PASSWORD"]
    assert database.path.lstrip("/") == db_env["POSTGRES_DB"]
    assert urlsplit(env["REDIS_URL"]).hostname == "redis"
    assert env["EMAIL_HOST"] == "mailpit"
    assert env["EMAIL_PORT"] == "1025"
    # The same password when it is given.
    given = {**KEYS, "POSTGRES_PASSWORD": "s3cret"}
    assert urlsplit(resolved_environment(found["web"], given)["DATABASE_URL"]).password == "s3cret"
    assert resolved_environment(found["db"], given)["POSTGRES_PASSWORD"] == "s3cret"


def test_it_shares_the_rate_limit_cache_in_its_own_redis_database():
    """The web processes count patient-link requests in one Redis (the
    production system check clinic.E001 refuses a per-process cache), in a
    database of its own beside the broker's."""
    env = resolved_environment(services()["web"], KEYS)
    cache, broker = urlsplit(env["CACHE_URL"]), urlsplit(env["REDIS_URL"])
    assert cache.hostname == "redis"
    assert (cache.hostname, cache.port) == (broker.hostname, broker.port)
    assert cache.path != broker.path


def compose_child_env(name):
    """A service's environment with the compose file's defaults and random
    secret and audit keys, and nothing of this machine's that the settings would read."""
    variables = {"SECRET_KEY": secrets.token_urlsafe(50), "AUDIT_KEY": secrets.token_urlsafe(32)}
    compose_env = resolved_environment(services()[name], variables)
    read = settings_variables()
    child_env = {
        key: value
        for key, value in os.environ.items()
        if key not in read and key.removesuffix("_FILE") not in read and key != "DJANGO_SETTINGS_MODULE"
    }
    child_env.update(compose_env)
    return child_env


@pytest.mark.parametrize("name", ["web", "migrate"])
def test_it_passes_the_system_checks_with_the_compose_defaults(name):
    """migrate runs them before anything starts; web is what they protect."""
    result = subprocess.run(
        [sys.executable, "manage.py", "check"],
        cwd=BASE_DIR,
        env=compose_child_env(name),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr


@pytest.mark.parametrize("name", APP_SERVICES)
def test_it_imports_production_settings_with_the_compose_defaults(name):
    """What each app container would run at start-up, with the compose file's
    defaults and a random secret key, in a process of its own."""
    if name not in services():
        pytest.skip(f"no {name} service")
    child_env = compose_child_env(name)
    result = subprocess.run(
        [sys.executable, "-c", SETUP_DJANGO],
        cwd=BASE_DIR,
        env=child_env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr


def test_it_resolves_interpolation_like_compose():
    assert interpolate("${A:-x}", {}) == "x"
    assert interpolate("${A:-x}", {"A": ""}) == "x"
    assert interpolate("${A-x}", {"A": ""}) == ""
    assert interpolate("a${A}b$$", {"A": "1"}) == "a1b$"
    assert interpolate("${A:?need A}", {"A": "1"}) == "1"
    with pytest.raises(ValueError, match="need A"):
        interpolate("${A:?need A}", {})


# Dockerfile


def test_it_builds_on_python_slim_and_installs_the_pinned_requirements():
    instructions = dockerfile_instructions()
    assert dockerfile_values("FROM")[0].startswith("python:3.11-slim")
    runs = [args for name, args in instructions if name == "RUN"]
    assert any(
        "pip install" in run and "--no-cache-dir" in run and "-r requirements.txt" in run for run in runs
    )
    for line in (BASE_DIR / "requirements.txt").read_text().splitlines():
        line = line.split("#", 1)[0].strip()
        if line:
            assert "==" in line, f"requirements.txt: {line!r} is not pinned"


def test_it_collects_static_files_with_build_only_settings():
    instructions = dockerfile_instructions()
    collect = [args for name, args in instructions if name == "RUN" and "collectstatic" in args]
    assert collect, "no collectstatic at build time"
    assert "--noinput" in collect[0]
    assert "DJANGO_ENV=production" in collect[0]
    # The build-time secret is no ENV: it must not reach running containers.
    env_lines = " ".join(args for name, args in instructions if name in ("ENV", "ARG"))
    assert "SECRET_KEY" not in env_lines
    assert "DJANGO_ENV" not in env_lines
    assert "DJANGO_SETTINGS_MODULE=clinic.settings" in env_lines


def test_it_runs_as_a_user_who_is_not_root():
    users = [args for name, args in dockerfile_instructions() if name == "USER"]
    assert users, "no USER"
    assert users[-1].split(":")[0] not in ("root", "0")


def test_it_serves_gunicorn_on_port_8000():
    assert "8000" in " ".join(dockerfile_values("EXPOSE")).split()
    args = dockerfile_command()
    assert_imports_wsgi_application(gunicorn_target(args))
    assert args[args.index("--bind") + 1] == "0.0.0.0:8000"
    assert args[args.index("--access-logfile") + 1] == "-"


def test_it_leaves_local_files_out_of_the_image():
    patterns = {
        line.strip().removeprefix("**/").strip("/")
        for line in DOCKERIGNORE.read_text().splitlines()
        if line.strip() and not line.startswith("#")
    }
    for required in (
        ".venv",
        "var",
        ".git",
        "staticfiles",
        "__pycache__",
        ".pytest_cache",
        ".ruff_cache",
        ".env",
    ):
        assert required in patterns, f".dockerignore does not leave out {required}"
