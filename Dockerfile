# syntax=docker/dockerfile:1
# Production image of the clinic system: one image for gunicorn (web), the
# Celery worker, Celery beat and the one-shot migration (see docker-compose.yml).
FROM python:3.11-slim

# gunicorn reads WEB_CONCURRENCY as its number of workers (docker-compose.yml
# sets it from GUNICORN_WORKERS).
ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    DJANGO_SETTINGS_MODULE=clinic.settings \
    WEB_CONCURRENCY=2

WORKDIR /app

# The processes run as this user; the code and static files stay owned by root,
# so the running app cannot change them.
RUN groupadd --system --gid 10001 clinic \
    && useradd --system --uid 10001 --gid clinic --home-dir /app --no-create-home \
        --shell /usr/sbin/nologin clinic

# Pinned dependencies first, so this layer is cached until requirements.txt
# changes. psycopg[binary] ships libpq in its wheel: no system packages needed.
COPY requirements.txt .
RUN pip install --no-cache-dir -r requirements.txt

COPY . .

# Settings must import to collect the static files (into STATIC_ROOT, by default
# /app/staticfiles). The values below exist only for this one command, not as
# ENV: the real ones are given when a container starts. /app/var is where the
# embedded defaults (SQLite, file broker, mail files) write if a container runs
# without DATABASE_URL, REDIS_URL and EMAIL_HOST.
RUN DJANGO_ENV=production \
    SECRET_KEY=build-only-dummy-key-not-used-at-run-time-0123456789abcdefghijklmnop \
    AUDIT_KEY=build-only-dummy-audit-key-not-used-at-run-time-0123456789 \
    ALLOWED_HOSTS=build \
    VAR_DIR=/tmp/build-var \
    python manage.py collectstatic --noinput \
    && rm -rf /tmp/build-var \
    && mkdir -p /app/var \
    && chown clinic:clinic /app/var

USER clinic:clinic

EXPOSE 8000

# No HEALTHCHECK here: the worker and beat containers run this image too and
# listen on no port; docker-compose.yml gives the web service its own.
CMD ["gunicorn", "clinic.wsgi:application", "--bind", "0.0.0.0:8000", "--worker-class", "sync", "--access-logfile", "-", "--error-logfile", "-"]
