"""Session limits, the two-factor gate and the cache policy, for every request."""

import datetime

from django.conf import settings
from django.contrib import messages
from django.contrib.auth import logout
from django.contrib.auth.views import redirect_to_login
from django.http import HttpResponseBadRequest
from django.urls import Resolver404, resolve
from django.utils import timezone
from django.utils.cache import patch_cache_control

LOGIN_AT = "clinic_login_at"
HAS_DEVICE = "clinic_has_otp_device"
SEEN_AT = "clinic_seen_at"
SEEN_RENEWAL = datetime.timedelta(minutes=1)

# Pages a signed-in user reaches before the second factor: to give it, to set
# it up, or to leave. Token links for patients need no login at all.
BEFORE_SECOND_FACTOR = {
    "login",
    "logout",
    "clinic:two-factor-verify",
    "clinic:two-factor-setup",
    "scheduling:patient-link",
    "scheduling:calendar-feed",
    "scheduling:unsubscribe",
    "treatments:check-in",
}


def refuse_nul_bytes(get_response):
    """A NUL byte in the address is never meant: refuse it (400) before any
    view, since PostgreSQL cannot hold one in text and would fail the query."""

    def middleware(request):
        if "\x00" in request.path or "%00" in request.META.get("QUERY_STRING", ""):
            return HttpResponseBadRequest("The address contains a character that is not allowed.")
        return get_response(request)

    return middleware


def no_store(get_response):
    """No page of the clinic is kept by a browser or a proxy: staff pages show
    patients' records, patient links their appointments, and the back button
    or a shared computer must not bring them back. Static files never reach
    this middleware: whitenoise, before it, answers them with its long cache.
    A view that says how its answer may be kept is followed, privately: the
    calendar feed is kept by the therapist's calendar app and revalidated."""

    def middleware(request):
        response = get_response(request)
        if response.has_header("Cache-Control"):
            patch_cache_control(response, private=True)
        else:
            patch_cache_control(response, no_store=True, private=True)
        return response

    return middleware


def session_limits(get_response):
    """Ends a session SESSION_COOKIE_AGE after its last request (the idle
    limit) and SESSION_MAX_AGE after its login, however active it has been.

    The last request's time is kept in the session, renewed at most once a
    minute, so a busy session is written once a minute instead of on every
    request; the idle limit holds to within that minute (never longer).
    Renewing it saves the session, which also moves its expiry in the store
    and in the cookie to SESSION_COOKIE_AGE from now."""

    def middleware(request):
        if request.user.is_authenticated:
            now = timezone.now().timestamp()
            started = request.session.get(LOGIN_AT)
            seen = request.session.get(SEEN_AT, started)
            if (
                started is None
                or now - started > settings.SESSION_MAX_AGE.total_seconds()
                or now - seen > settings.SESSION_COOKIE_AGE
            ):
                logout(request)
                messages.info(request, "Your session has ended. Please log in again.")
                return redirect_to_login(request.get_full_path())
            if now - seen >= SEEN_RENEWAL.total_seconds():
                request.session[SEEN_AT] = now
        return get_response(request)

    return middleware


def url_name(request):
    try:
        return resolve(request.path_info).view_name
    except Resolver404:
        return None


def two_factor(get_response):
    """A staff member with an authenticator gives its code before any page;
    with TWO_FACTOR_REQUIRED, one without sets it up first."""

    def middleware(request):
        user = request.user
        if user.is_authenticated and not user.is_verified() and url_name(request) not in BEFORE_SECOND_FACTOR:
            if request.session.get(HAS_DEVICE):
                return redirect_to_login(request.get_full_path(), "clinic:two-factor-verify")
            if settings.TWO_FACTOR_REQUIRED:
                return redirect_to_login(request.get_full_path(), "clinic:two-factor-setup")
        return get_response(request)

    return middleware
