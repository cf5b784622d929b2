"""Logging in safely: passwords, lockout, two-factor codes, and sessions that
end when they should. Headers that keep the pages in their own frame and
scripts to our own files."""

import datetime
import logging

import pytest
import time_machine
from axes.models import AccessAttempt
from django.contrib.auth.hashers import make_password
from django.contrib.sessions.models import Session
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django_otp.oath import totp
from django_otp.plugins.otp_static.models import StaticDevice
from django_otp.plugins.otp_totp.models import TOTPDevice

from clinic.tests.factories import PASSWORD
from patients.models import Patient

pytestmark = pytest.mark.django_db

START = datetime.datetime(2026, 5, 13, 9, 0, tzinfo=datetime.UTC)
PRODUCTION_HASHERS = [
    "django.contrib.auth.hashers.Argon2PasswordHasher",
    "django.contrib.auth.hashers.PBKDF2PasswordHasher",
    "django.contrib.auth.hashers.PBKDF2SHA1PasswordHasher",
    "django.contrib.auth.hashers.ScryptPasswordHasher",
]


@pytest.fixture
def clock():
    with time_machine.travel(START, tick=False) as traveller:
        yield traveller


def log_in(client, user, password=PASSWORD):
    return client.post(reverse("login"), {"username": user.username, "password": password})


def patients_page(client):
    return client.get(reverse("patients:list"))


# Passwords.


def test_it_hashes_with_argon2_and_upgrades_an_older_hash_at_login(client, settings, receptionist):
    settings.PASSWORD_HASHERS = PRODUCTION_HASHERS
    receptionist.password = make_password(PASSWORD, hasher="pbkdf2_sha256")
    receptionist.save()

    assert log_in(client, receptionist).status_code == 302

    receptionist.refresh_from_db()
    assert receptionist.password.startswith("argon2$")


@pytest.mark.parametrize(
    ("password", "problem"),
    [
        ("short-pw-1x", "at least 12 characters"),
        ("password1234", "too common"),
        ("{email}", "too similar"),
    ],
)
def test_it_refuses_a_weak_new_password(client, therapist, password, problem):
    password = password.format(email=therapist.email)
    client.force_login(therapist)
    response = client.post(
        reverse("password_change"),
        {"old_password": PASSWORD, "new_password1": password, "new_password2": password},
    )
    assert problem in response.content.decode()
    therapist.refresh_from_db()
    assert therapist.check_password(PASSWORD)


# Brute force.


def test_it_locks_a_username_out_after_five_failures_and_lets_it_in_after_the_cool_off(
    client, clock, receptionist, caplog
):
    with caplog.at_level(logging.WARNING, logger="axes"):
        for _ in range(4):
            assert log_in(client, receptionist, "wrong-password").status_code == 200
        assert log_in(client, receptionist, "wrong-password").status_code == 429  # the fifth

        locked = log_in(client, receptionist)  # the right password, too late
    assert locked.status_code == 429
    assert "Too many failed logins" in locked.content.decode()
    assert patients_page(client).status_code != 200
    assert any("Locking out" in record.getMessage() for record in caplog.records)

    clock.shift(datetime.timedelta(minutes=16))
    assert log_in(client, receptionist).status_code == 302
    assert patients_page(client).status_code == 200


def test_the_clinic_admin_unlocks_a_locked_out_user(client, clock, receptionist, clinic_admin):
    for _ in range(5):
        log_in(client, receptionist, "wrong-password")
    attempt = AccessAttempt.objects.get(username=receptionist.username)

    admin_client = type(client)()
    admin_client.force_login(clinic_admin)
    admin_client.post(
        reverse("admin:axes_accessattempt_delete", args=[attempt.pk]), {"post": "yes"}, follow=True
    )

    assert not AccessAttempt.objects.exists()
    assert log_in(client, receptionist).status_code == 302


# Sessions.


def test_it_ends_a_session_after_fifteen_idle_minutes(client, clock, receptionist):
    log_in(client, receptionist)
    clock.shift(datetime.timedelta(minutes=14))
    assert patients_page(client).status_code == 200  # renews the session

    clock.shift(datetime.timedelta(minutes=14))
    assert patients_page(client).status_code == 200

    clock.shift(datetime.timedelta(minutes=16))
    response = patients_page(client)
    assert response.status_code == 302
    assert response.url.startswith(reverse("login"))


def session_writes(queries):
    return [
        q["sql"]
        for q in queries
        if q["sql"].startswith(("UPDATE", "INSERT")) and "django_session" in q["sql"]
    ]


def test_requests_within_a_minute_write_the_session_at_most_once(client, clock, receptionist):
    log_in(client, receptionist)
    clock.shift(datetime.timedelta(seconds=30))

    with CaptureQueriesContext(connection) as queries:
        for _ in range(10):
            assert patients_page(client).status_code == 200
            clock.shift(datetime.timedelta(seconds=3))

    assert len(session_writes(queries.captured_queries)) <= 1


def test_a_session_used_every_fifty_seconds_stays_and_ends_sixteen_idle_minutes_later(
    client, clock, receptionist
):
    log_in(client, receptionist)
    with CaptureQueriesContext(connection) as queries:
        for _ in range(30):  # 25 minutes, never a minute idle
            clock.shift(datetime.timedelta(seconds=50))
            assert patients_page(client).status_code == 200
    assert 10 <= len(session_writes(queries.captured_queries)) <= 15  # renewed about every other request

    clock.shift(datetime.timedelta(minutes=16))
    response = patients_page(client)
    assert response.status_code == 302
    assert response.url.startswith(reverse("login"))


def test_it_ends_a_busy_session_twelve_hours_after_login(client, clock, receptionist):
    log_in(client, receptionist)
    for _ in range(12 * 6 - 1):  # a request every ten minutes, all day
        clock.shift(datetime.timedelta(minutes=10))
        assert patients_page(client).status_code == 200

    clock.shift(datetime.timedelta(minutes=11))
    response = patients_page(client)
    assert response.status_code == 302
    assert response.url.startswith(reverse("login"))


def test_it_gives_a_new_session_key_at_login(client, receptionist):
    client.get(reverse("login"))
    client.session.save()
    before = client.session.session_key

    log_in(client, receptionist)

    assert client.session.session_key != before


def test_logging_out_ends_the_session_on_the_server(client, receptionist):
    log_in(client, receptionist)
    key = client.session.session_key
    stolen_cookie = client.cookies["sessionid"].value

    client.post(reverse("logout"))

    assert not Session.objects.filter(session_key=key).exists()
    client.cookies["sessionid"] = stolen_cookie
    assert patients_page(client).status_code == 302


def test_deactivating_a_user_ends_their_live_sessions(client, receptionist, therapist):
    log_in(client, receptionist)
    other = type(client)()
    log_in(other, therapist)

    receptionist.is_active = False
    receptionist.save()

    assert patients_page(client).status_code == 302
    assert Session.objects.count() == 1  # the therapist's
    assert patients_page(other).status_code == 200


# Two-factor login.


def code_for(device):
    return f"{totp(device.bin_key, t0=device.t0, step=device.step, digits=device.digits):06d}"


def set_up_authenticator(client):
    """Through the pages, as a person would: open the setup, type the app's code."""
    client.get(reverse("clinic:two-factor-setup"))
    device = TOTPDevice.objects.get(confirmed=False)
    response = client.post(reverse("clinic:two-factor-setup"), {"code": code_for(device)})
    device.refresh_from_db()
    return device, response


def test_it_requires_two_factor_setup_before_patient_data_in_production(client, settings, clock, therapist):
    settings.TWO_FACTOR_REQUIRED = True
    log_in(client, therapist)

    response = patients_page(client)
    assert response.status_code == 302
    assert response.url.startswith(reverse("clinic:two-factor-setup"))

    device, response = set_up_authenticator(client)
    assert device.confirmed
    assert "Your recovery codes" in response.content.decode()
    assert StaticDevice.objects.get(user=therapist).token_set.count() == 10
    assert patients_page(client).status_code == 200


def test_it_offers_but_does_not_require_two_factor_in_the_demo(client, settings, therapist):
    settings.TWO_FACTOR_REQUIRED = False
    log_in(client, therapist)
    assert patients_page(client).status_code == 200
    assert "Set up two-factor login" in client.get(reverse("clinic:two-factor")).content.decode()


def test_it_asks_for_the_code_after_the_password_once_set_up(client, clock, therapist):
    log_in(client, therapist)
    device, _ = set_up_authenticator(client)
    client.post(reverse("logout"))
    clock.shift(datetime.timedelta(minutes=1))

    log_in(client, therapist)
    response = patients_page(client)
    assert response.status_code == 302
    assert response.url.startswith(reverse("clinic:two-factor-verify"))
    # A password alone cannot replace the authenticator either.
    assert client.get(reverse("clinic:two-factor-setup")).url.startswith(reverse("clinic:two-factor-verify"))

    wrong = client.post(reverse("clinic:two-factor-verify"), {"code": "000000"})
    assert "That code is not right" in wrong.content.decode()
    assert patients_page(client).status_code == 302
    clock.shift(datetime.timedelta(seconds=2))  # a failed code slows the next try down for a second

    client.post(reverse("clinic:two-factor-verify"), {"code": code_for(device)})
    assert patients_page(client).status_code == 200


def test_a_recovery_code_works_once(client, clock, therapist):
    log_in(client, therapist)
    set_up_authenticator(client)
    recovery = StaticDevice.objects.get(user=therapist).token_set.first().token

    for attempt in range(2):
        client.post(reverse("logout"))
        clock.shift(datetime.timedelta(minutes=1))
        log_in(client, therapist)
        client.post(reverse("clinic:two-factor-verify"), {"code": recovery})
        expected = 200 if attempt == 0 else 302
        assert patients_page(client).status_code == expected


def test_the_clinic_admin_resets_a_lost_authenticator(client, clock, therapist, clinic_admin):
    log_in(client, therapist)
    device, _ = set_up_authenticator(client)

    admin_client = type(client)()
    admin_client.force_login(clinic_admin)
    admin_client.post(reverse("admin:otp_totp_totpdevice_delete", args=[device.pk]), {"post": "yes"})

    assert not TOTPDevice.objects.filter(user=therapist).exists()
    client.post(reverse("logout"))
    log_in(client, therapist)
    assert patients_page(client).status_code == 200  # the demo does not require a new one


# Headers.


def test_every_page_carries_the_security_headers(client, receptionist):
    login = log_in(client, receptionist)
    response = patients_page(client)

    policy = response["Content-Security-Policy"]
    assert "script-src 'self'" in policy
    assert "unsafe-inline" not in policy
    assert "frame-ancestors 'none'" in policy
    assert response["X-Frame-Options"] == "DENY"
    assert response["Referrer-Policy"] == "same-origin"
    assert response["X-Content-Type-Options"] == "nosniff"
    session_cookie = login.cookies["sessionid"]  # set when the session is saved, not on every page
    assert session_cookie["httponly"]
    assert session_cookie["samesite"] == "Lax"


# The links sent to patients.


@pytest.mark.parametrize(
    "name",
    ["scheduling:patient-link", "scheduling:unsubscribe", "scheduling:calendar-feed", "treatments:check-in"],
)
def test_a_patient_link_answers_429_after_too_many_tries_from_one_address(client, settings, clock, name):
    settings.PATIENT_LINK_RATE = 5
    url = reverse(name, args=["guessed-token"])

    answers = [client.get(url).status_code for _ in range(6)]

    assert 429 not in answers[:5]
    assert answers[5] == 429
    assert "Please wait a minute" in client.get(url).content.decode()
    assert client.get(url, REMOTE_ADDR="10.0.0.9").status_code != 429  # another address
    clock.shift(datetime.timedelta(minutes=1))
    assert client.get(url).status_code != 429


# Logs.

CANARY_NAME = "Zebedee Quillfeather"
CANARY_PASSWORD = "canary-Pa55word-never-logged"


def test_logs_never_carry_a_patients_details_or_a_password(client, settings, receptionist, therapist, caplog):
    """Log a receptionist in (a wrong password first), register a patient,
    open her pages as the front desk and as an outsider therapist, book her,
    send her confirmation: nothing of her, nor any password, reaches the logs."""
    from scheduling import reminders
    from scheduling.models import Reminder
    from scheduling.tests.factories import AppointmentFactory

    settings.DEBUG_PROPAGATE_EXCEPTIONS = False
    with caplog.at_level(logging.DEBUG):
        client.post(reverse("login"), {"username": receptionist.username, "password": CANARY_PASSWORD})
        log_in(client, receptionist)
        client.post(
            reverse("patients:register"),
            {
                "first_name": "Zebedee",
                "last_name": "Quillfeather",
                "date_of_birth": "1970-01-02",
                "sex": "male",
                "email": "zebedee.quillfeather@example.com",
                "phone": "+12125550199",
                "email_consent": "on",
            },
        )
        patient = Patient.objects.get(last_name="Quillfeather")
        client.get(reverse("patients:detail", args=[patient.pk]))
        client.get(reverse("patients:list"), {"q": "Quillfeather"})
        client.force_login(therapist)
        client.get(reverse("patients:screening-new", args=[patient.pk]))
        settings.REMINDER_QUIET_HOURS = (24, 0)
        reminders.on_booked([AppointmentFactory(patient=patient)])
        for reminder_id in reminders.claim_due():
            reminders.send(reminder_id)

    assert Reminder.objects.filter(appointment__patient=patient, status=Reminder.Status.SENT).exists()
    logged = "\n".join(record.getMessage() + str(record.args or "") for record in caplog.records)
    assert caplog.records  # the run did log (requests, logins, emails)
    for secret in ("Zebedee", "Quillfeather", "zebedee.quillfeather", "2125550199", CANARY_PASSWORD):
        assert secret not in logged
