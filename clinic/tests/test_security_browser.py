"""In a real browser: a therapist logs in with a password and the code of an
authenticator app, and is logged out once the session has been idle too long."""

import datetime

import pytest
import time_machine
from django_otp.oath import totp
from django_otp.plugins.otp_totp.models import TOTPDevice

from clinic.tests.browser import screenshot
from clinic.tests.factories import PASSWORD

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True, serialized_rollback=True)]


def test_a_therapist_logs_in_with_a_totp_code_and_is_logged_out_when_idle(
    page, live_server, settings, therapist
):
    settings.TWO_FACTOR_REQUIRED = True
    device = TOTPDevice.objects.create(user=therapist, name="Authenticator app", confirmed=True)

    with time_machine.travel(datetime.datetime.now(tz=datetime.UTC), tick=True) as clock:
        page.goto(f"{live_server.url}/patients/")
        page.get_by_label("Username").fill(therapist.username)
        page.get_by_label("Password").fill(PASSWORD)
        page.get_by_role("button", name="Log in").click()

        page.get_by_role("heading", name="Enter your code").wait_for()
        code = f"{totp(device.bin_key, t0=device.t0, step=device.step, digits=device.digits):06d}"
        page.get_by_label("Code").fill(code)
        page.get_by_role("button", name="Continue").click()
        page.get_by_role("heading", name="Patients").first.wait_for()
        assert page.url.endswith("/patients/")
        screenshot(page, "two-factor-login")

        clock.shift(datetime.timedelta(minutes=16))  # the session's idle limit is 15 minutes
        page.reload()
        page.get_by_role("heading", name="Log in").wait_for()
        assert "/accounts/login/" in page.url
