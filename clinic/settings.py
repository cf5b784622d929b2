"""Settings for the clinic system, read from environment variables.

Every variable has a default that runs the embedded set-up (SQLite, a Celery
broker on the file system, email written to files); production sets
DJANGO_ENV=production and is refused if it is not configured safely.
"""

import datetime
import os
import re
from pathlib import Path

import dj_database_url
from celery.schedules import crontab
from csp.constants import NONE, SELF
from django.core.exceptions import ImproperlyConfigured

BASE_DIR = Path(__file__).resolve().parent.parent


def env(name, default=""):
    """A setting from the environment, or from the file named by NAME_FILE
    (docker secrets)."""
    file_name = os.environ.get(f"{name}_FILE")
    if file_name:
        return Path(file_name).read_text().strip()
    return os.environ.get(name, default)


def env_bool(name, default):
    value = env(name, "True" if default else "False")
    if value not in ("True", "False"):
        raise ImproperlyConfigured(f"{name} must be True or False, not {value!r}")
    return value == "True"


def env_int(name, default):
    value = env(name, str(default))
    try:
        return int(value)
    except ValueError:
        raise ImproperlyConfigured(f"{name} must be a whole number, not {value!r}") from None


def env_list(name, default):
    return [item.strip() for item in env(name, default).split(",") if item.strip()]


VAR_DIR = Path(env("VAR_DIR", str(BASE_DIR / "var")))

DJANGO_ENV = env("DJANGO_ENV", "development")
if DJANGO_ENV not in ("development", "production"):
    raise ImproperlyConfigured("DJANGO_ENV must be development or production")
PRODUCTION = DJANGO_ENV == "production"

INSECURE_SECRET_KEY = "django-insecure-embedded-clinic-key-for-development-only"  # noqa: S105
SECRET_KEY = env("SECRET_KEY", INSECURE_SECRET_KEY)
DEBUG = env_bool("DEBUG", default=not PRODUCTION)
ALLOWED_HOSTS = env_list("ALLOWED_HOSTS", "" if PRODUCTION else "localhost,127.0.0.1,[::1],testserver")
CSRF_TRUSTED_ORIGINS = env_list("CSRF_TRUSTED_ORIGINS", "")

if PRODUCTION:
    if DEBUG:
        raise ImproperlyConfigured("DEBUG must be False when DJANGO_ENV=production")
    if (
        SECRET_KEY == INSECURE_SECRET_KEY
        or SECRET_KEY.startswith("django-insecure")
        or len(SECRET_KEY) < 50
        or len(set(SECRET_KEY)) < 5
    ):
        raise ImproperlyConfigured(
            "SECRET_KEY must be set to at least 50 random characters when DJANGO_ENV=production"
        )
    if not ALLOWED_HOSTS:
        raise ImproperlyConfigured("ALLOWED_HOSTS must name the clinic's host when DJANGO_ENV=production")

# The access log's seals (patients.audit) are HMACs with a key of their own,
# AUDIT_KEY (or AUDIT_KEY_FILE), never the SECRET_KEY: whoever can change the
# database without holding it cannot re-seal a changed row. AUDIT_OLD_KEYS
# (comma-separated) keeps the log sealed before a key rotation verifiable.
INSECURE_AUDIT_KEY = "insecure-embedded-clinic-audit-key-for-development-only"
AUDIT_KEY = env("AUDIT_KEY", "") or ("" if PRODUCTION else INSECURE_AUDIT_KEY)
AUDIT_OLD_KEYS = [key for key in re.split(r"[\s,]+", env("AUDIT_OLD_KEYS", "")) if key]
if PRODUCTION and (AUDIT_KEY == INSECURE_AUDIT_KEY or len(AUDIT_KEY) < 32 or len(set(AUDIT_KEY)) < 5):
    raise ImproperlyConfigured(
        "AUDIT_KEY must be set to at least 32 random characters when DJANGO_ENV=production"
    )
if SECRET_KEY in (AUDIT_KEY, *AUDIT_OLD_KEYS):
    raise ImproperlyConfigured("AUDIT_KEY must be a key of its own, not the SECRET_KEY")

INSTALLED_APPS = [
    "clinic",
    "treatments",
    "scheduling",
    "patients",
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "django.contrib.humanize",
    "bootstrap",
    "crispy_forms",
    "crispy_bootstrap5",
    "django_htmx",
    "phonenumber_field",
    "simple_history",
    "axes",
    "django_otp",
    "django_otp.plugins.otp_totp",
    "django_otp.plugins.otp_static",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "clinic.middleware.refuse_nul_bytes",
    "csp.middleware.CSPMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    # After whitenoise, so static files keep their cache headers.
    "clinic.middleware.no_store",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django_otp.middleware.OTPMiddleware",
    "django.contrib.auth.middleware.LoginRequiredMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "clinic.middleware.session_limits",
    "clinic.middleware.two_factor",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "django_htmx.middleware.HtmxMiddleware",
    "simple_history.middleware.HistoryRequestMiddleware",
    # Last, as django-axes asks: it turns a lockout into the lockout page.
    "axes.middleware.AxesMiddleware",
]

ROOT_URLCONF = "clinic.urls"
WSGI_APPLICATION = "clinic.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "clinic.context_processors.clinic",
            ],
        },
    },
]

# Database: SQLite under var/ unless DATABASE_URL names another.
DATABASE_URL = env("DATABASE_URL", f"sqlite:///{VAR_DIR / 'clinic.sqlite3'}")
DATABASES = {"default": dj_database_url.parse(DATABASE_URL)}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    VAR_DIR.mkdir(parents=True, exist_ok=True)
    DATABASES["default"]["OPTIONS"] = {
        # IMMEDIATE takes the write lock when a transaction begins, so two
        # booking checks can never interleave (SQLite has no row locks).
        "transaction_mode": "IMMEDIATE",
        "timeout": 20,
        "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
    }
    # The Celery worker in the tests must see the test database: a file, not memory.
    DATABASES["default"]["TEST"] = {"NAME": str(VAR_DIR / "test-clinic.sqlite3")}
else:
    DATABASES["default"]["CONN_MAX_AGE"] = env_int("CONN_MAX_AGE", 60)
    DATABASES["default"]["CONN_HEALTH_CHECKS"] = True
    # The clinic's queries are short; PostgreSQL's JIT compiled the dashboard's
    # aggregates on every request (3-4 s each at a large clinic's history).
    DATABASES["default"].setdefault("OPTIONS", {})["options"] = "-c jit=off"

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# Argon2 first; a password stored with an older hasher is re-hashed at its next login.
PASSWORD_HASHERS = [
    "django.contrib.auth.hashers.Argon2PasswordHasher",
    "django.contrib.auth.hashers.PBKDF2PasswordHasher",
    "django.contrib.auth.hashers.PBKDF2SHA1PasswordHasher",
    "django.contrib.auth.hashers.ScryptPasswordHasher",
]
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {
        "NAME": "django.contrib.auth.password_validation.MinimumLengthValidator",
        "OPTIONS": {"min_length": 12},
    },
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
AUTHENTICATION_BACKENDS = [
    "axes.backends.AxesStandaloneBackend",
    "django.contrib.auth.backends.ModelBackend",
]
# Brute force: a username from one address is locked after this many failures,
# for the cool-off time (so an attacker cannot lock a user out for good).
AXES_FAILURE_LIMIT = env_int("LOGIN_FAILURE_LIMIT", 5)
AXES_COOLOFF_TIME = datetime.timedelta(minutes=env_int("LOGIN_COOLOFF_MINUTES", 15))
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"]]
AXES_RESET_ON_SUCCESS = True
AXES_LOCKOUT_TEMPLATE = "registration/locked_out.html"
AXES_VERBOSE = False
# Two-factor (TOTP) for every staff account: required before any page under
# production settings, offered in the embedded demo so its logins work at once.
TWO_FACTOR_REQUIRED = env_bool("TWO_FACTOR_REQUIRED", default=PRODUCTION)
# The clinic admin resets an authenticator but never sees its secret.
OTP_ADMIN_HIDE_SENSITIVE_DATA = True
LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "home"
LOGOUT_REDIRECT_URL = "login"

LANGUAGE_CODE = "en-us"
USE_I18N = True
USE_TZ = True
CLINIC_TIME_ZONE = env("CLINIC_TIME_ZONE", "America/New_York")
TIME_ZONE = CLINIC_TIME_ZONE

STATIC_URL = "static/"
STATIC_ROOT = Path(env("STATIC_ROOT", str(BASE_DIR / "staticfiles")))
STATICFILES_DIRS = [BASE_DIR / "static"]
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": (
            "whitenoise.storage.CompressedManifestStaticFilesStorage"
            if PRODUCTION
            else "django.contrib.staticfiles.storage.StaticFilesStorage"
        )
    },
}

CRISPY_ALLOWED_TEMPLATE_PACKS = "bootstrap5"
CRISPY_TEMPLATE_PACK = "bootstrap5"
PHONENUMBER_DEFAULT_REGION = env("PHONENUMBER_DEFAULT_REGION", "US")

# The clinic, as named in pages and emails.
CLINIC_NAME = env("CLINIC_NAME", "Riverside Physiotherapy")
# The name an authenticator app shows beside the code.
OTP_TOTP_ISSUER = CLINIC_NAME
CLINIC_PHONE = env("CLINIC_PHONE", "+1 212 555 0100")
CLINIC_EMAIL = env("CLINIC_EMAIL", "frontdesk@clinic.example")
CLINIC_ADDRESS = env("CLINIC_ADDRESS", "120 Riverside Drive, New York, NY 10024")
SITE_URL = env("SITE_URL", "http://127.0.0.1:8000").rstrip("/")

# Clinical policy.
SCREENING_VALID_DAYS = env_int("SCREENING_VALID_DAYS", 90)
# A visit is checked in on its day, from this long before it starts.
CHECK_IN_OPENS_MINUTES = env_int("CHECK_IN_OPENS_MINUTES", 60)

# Patient emails: the reminder before each appointment, the quiet hours
# (no email from 21:00 to 08:00 clinic time), and how sending is retried.
REMINDER_LEAD_HOURS = env_int("REMINDER_LEAD_HOURS", 24)
# REMINDER_QUIET_HOURS="21-8" by default; "none" sends at any hour (used by the journey tests).
_quiet = env("REMINDER_QUIET_HOURS", "21-8")
REMINDER_QUIET_HOURS = (24, 0) if _quiet == "none" else tuple(int(hour) for hour in _quiet.split("-"))
REMINDER_MAX_ATTEMPTS = env_int("REMINDER_MAX_ATTEMPTS", 5)
REMINDER_LEASE_SECONDS = env_int("REMINDER_LEASE_SECONDS", 120)

# Email: files under var/mail/ unless an SMTP host is given.
EMAIL_HOST = env("EMAIL_HOST", "")
if EMAIL_HOST:
    EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    EMAIL_PORT = env_int("EMAIL_PORT", 587)
    EMAIL_HOST_USER = env("EMAIL_HOST_USER", "")
    EMAIL_HOST_PASSWORD = env("EMAIL_HOST_PASSWORD", "")
    EMAIL_USE_TLS = env_bool("EMAIL_USE_TLS", default=False)
    EMAIL_USE_SSL = env_bool("EMAIL_USE_SSL", default=False)
    EMAIL_TIMEOUT = env_int("EMAIL_TIMEOUT", 20)
else:
    EMAIL_BACKEND = env("EMAIL_BACKEND", "django.core.mail.backends.filebased.EmailBackend")
    EMAIL_FILE_PATH = VAR_DIR / "mail"
DEFAULT_FROM_EMAIL = env("DEFAULT_FROM_EMAIL", f"{CLINIC_NAME} <{CLINIC_EMAIL}>")
SERVER_EMAIL = DEFAULT_FROM_EMAIL

# Celery: Redis when REDIS_URL or CELERY_BROKER_URL is set, otherwise kombu's
# file-system transport, which needs no server.
REDIS_URL = env("REDIS_URL", "")
CELERY_BROKER_URL = env("CELERY_BROKER_URL", REDIS_URL or "filesystem://")
CELERY_RESULT_BACKEND = env("CELERY_RESULT_BACKEND", REDIS_URL or f"file://{VAR_DIR / 'celery' / 'results'}")
# On Redis, a message a worker took but never acknowledged (acks_late: it
# died) goes back to its queue after this many seconds. The outbox's lease
# (REMINDER_LEASE_SECONDS) recovers a reminder sooner; this only repeats it.
CELERY_BROKER_TRANSPORT_OPTIONS = {"visibility_timeout": env_int("CELERY_VISIBILITY_TIMEOUT", 3600)}
if CELERY_BROKER_URL.startswith("filesystem://"):
    # One folder for both directions, as kombu's file-system transport expects.
    _queue_dir = VAR_DIR / "celery" / "queue"
    _processed_dir = VAR_DIR / "celery" / "processed"
    _control_dir = VAR_DIR / "celery" / "control"
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        "data_folder_in": str(_queue_dir),
        "data_folder_out": str(_queue_dir),
        "processed_folder": str(_processed_dir),
        "control_folder": str(_control_dir),
        "store_processed": False,
    }
    for _folder in (_queue_dir, _processed_dir, _control_dir):
        _folder.mkdir(parents=True, exist_ok=True)
if CELERY_RESULT_BACKEND.startswith("file://"):
    Path(CELERY_RESULT_BACKEND.removeprefix("file://")).mkdir(parents=True, exist_ok=True)
CELERY_TIMEZONE = CLINIC_TIME_ZONE
CELERY_TASK_SERIALIZER = "json"
CELERY_RESULT_SERIALIZER = "json"
CELERY_ACCEPT_CONTENT = ["json"]
CELERY_TASK_IGNORE_RESULT = True
CELERY_RESULT_EXPIRES = 3600
CELERY_TASK_SOFT_TIME_LIMIT = 60
CELERY_TASK_TIME_LIMIT = 90
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
# Reuse the database connection across tasks instead of reconnecting each time.
CELERY_DB_REUSE_MAX = env_int("CELERY_DB_REUSE_MAX", 1000)
CELERY_BEAT_SCHEDULE = {
    "dispatch-reminders": {
        "task": "scheduling.tasks.dispatch_reminders",
        "schedule": crontab(),  # every minute
    },
    "worker-heartbeat": {
        "task": "clinic.tasks.record_heartbeat",
        "schedule": crontab(),  # every minute
    },
    "seal-audit-log": {
        "task": "patients.tasks.seal_audit_log",
        "schedule": crontab(),  # every minute
    },
    "refresh-plan-outcomes": {
        "task": "treatments.tasks.refresh_plan_outcomes",
        "schedule": crontab(hour=3, minute=30),  # nightly, when the clinic is closed
    },
    "repair-day-totals": {
        "task": "scheduling.tasks.repair_day_totals",
        "schedule": crontab(hour=3, minute=40),
    },
}

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": env("LOG_LEVEL", "INFO")},
    "loggers": {"django.db.backends": {"level": "INFO"}},
}

if PRODUCTION:
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    SECURE_SSL_REDIRECT = env_bool("SECURE_SSL_REDIRECT", default=True)
    SECURE_HSTS_SECONDS = env_int("SECURE_HSTS_SECONDS", 31536000)
    SECURE_HSTS_INCLUDE_SUBDOMAINS = True
    SECURE_HSTS_PRELOAD = True
    # Only a deployment served over plain HTTP (the local docker compose) turns these off.
    SESSION_COOKIE_SECURE = CSRF_COOKIE_SECURE = env_bool("SECURE_COOKIES", default=True)
X_FRAME_OPTIONS = "DENY"
SECURE_REFERRER_POLICY = "same-origin"
SECURE_CONTENT_TYPE_NOSNIFF = True
# Sessions end after SESSION_IDLE_MINUTES without a request, and at most
# SESSION_MAX_HOURS after login (clinic.middleware.session_limits, which
# renews the session at most once a minute rather than on every request).
SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_SAMESITE = "Lax"
CSRF_COOKIE_HTTPONLY = True
SESSION_COOKIE_AGE = env_int("SESSION_IDLE_MINUTES", 15) * 60
SESSION_SAVE_EVERY_REQUEST = False
SESSION_MAX_AGE = datetime.timedelta(hours=env_int("SESSION_MAX_HOURS", 12))
# The links sent to patients (appointment, check-in, unsubscribe) and the
# calendar feeds: at most this many requests a minute from one address.
PATIENT_LINK_RATE = env_int("PATIENT_LINK_RATE", 30)
# The rate limits' counters: per process unless CACHE_URL names a shared Redis
# (a database of its own, e.g. redis://redis:6379/1, never the broker's).
CACHE_URL = env("CACHE_URL", "")
CACHES = {
    "default": (
        {"BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": CACHE_URL}
        if CACHE_URL
        else {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}
    )
}
# No inline script or style: every script and stylesheet is a static file.
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": [SELF],
        "script-src": [SELF],
        "style-src": [SELF],
        # Bootstrap draws its icons (select arrows, the menu button) as data: SVG.
        "img-src": [SELF, "data:"],
        "font-src": [SELF],
        "connect-src": [SELF],
        "object-src": [NONE],
        "base-uri": [SELF],
        "form-action": [SELF],
        "frame-ancestors": [NONE],
    }
}
