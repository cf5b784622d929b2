"""System checks of the deployment that Django's own do not cover."""

from django.conf import settings
from django.core.checks import Error, Tags, register

# Cache backends whose counters live in one process: each gunicorn worker
# would count patient-link requests on its own.
PER_PROCESS_CACHES = {
    "django.core.cache.backends.locmem.LocMemCache",
    "django.core.cache.backends.dummy.DummyCache",
}


@register(Tags.caches)
def rate_limit_cache_is_shared(app_configs, **kwargs):
    """In production the patient links' rate limit (clinic.ratelimit) must
    count in a cache every web process shares, or an attacker guessing tokens
    gets PATIENT_LINK_RATE tries a minute from each process."""
    if not settings.PRODUCTION:
        return []
    if settings.CACHES["default"]["BACKEND"] in PER_PROCESS_CACHES:
        return [
            Error(
                "The patient links' rate limit counts in a cache of each process.",
                hint="Set CACHE_URL to a Redis database every web process shares, e.g. redis://redis:6379/1.",
                id="clinic.E001",
            )
        ]
    return []
