"""A limit on how often one address may open the links sent to patients, so
that their tokens cannot be guessed by trying many. Imports no app."""

import time
from functools import wraps

from django.conf import settings
from django.core.cache import cache
from django.shortcuts import render


def rate_limited(bucket):
    """View decorator: at most settings.PATIENT_LINK_RATE requests a minute
    from one address to this kind of link; then 429 until the minute is over."""

    def decorator(view):
        @wraps(view)
        def wrapped(request, *args, **kwargs):
            minute = int(time.time() // 60)
            key = f"rate:{bucket}:{request.META.get('REMOTE_ADDR', '')}:{minute}"
            cache.add(key, 0, timeout=120)
            try:
                count = cache.incr(key)
            except ValueError:  # expired between add and incr
                count = 1
            if count > settings.PATIENT_LINK_RATE:
                return render(request, "429.html", status=429)
            return view(request, *args, **kwargs)

        return wrapped

    return decorator
