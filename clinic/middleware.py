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
    this middleware: whitenoise, before it, answers them with its long cache."""

    def middleware(request):
        response = get_response(request)
        patch_cache_control(response, no_store=True, private=True)
        return response

    return middleware


def session_limits(get_response):
    """Ends a session SESSION_MAX_AGE after its login, however active it has
    been (the idle limit is the session cookie's age, renewed by each request)."""

    def middleware(request):
        if request.user.is_authenticated:
            started = request.session.get(LOGIN_AT)
            if (
                started is None
                or timezone.now() - datetime.datetime.fromtimestamp(started, tz=datetime.UTC)
                > settings.SESSION_MAX_AGE
            ):
                logout(request)
                messages.info(request, "Your session has ended. Please log in again.")
                return redirect_to_login(request.get_full_path())
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
