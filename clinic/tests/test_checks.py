"""The clinic's own system checks."""

from django.core.checks import Error
from django.test import override_settings

from clinic.checks import rate_limit_cache_is_shared

LOCMEM = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}
REDIS = {
    "default": {"BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": "redis://redis:6379/1"}
}


def test_it_refuses_a_per_process_rate_limit_cache_in_production():
    with override_settings(PRODUCTION=True, CACHES=LOCMEM):
        errors = rate_limit_cache_is_shared(None)

    assert [error.id for error in errors] == ["clinic.E001"]
    assert isinstance(errors[0], Error)
    assert "CACHE_URL" in errors[0].hint


def test_it_accepts_a_shared_redis_cache_in_production():
    with override_settings(PRODUCTION=True, CACHES=REDIS):
        assert rate_limit_cache_is_shared(None) == []


def test_it_lets_the_embedded_set_up_count_in_its_process():
    with override_settings(PRODUCTION=False, CACHES=LOCMEM):
        assert rate_limit_cache_is_shared(None) == []
