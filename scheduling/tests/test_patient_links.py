"""The patient's signed link: see an appointment, confirm or cancel it
without logging in. "Now" is frozen at Monday 16 November 2026, 10:00 in the
clinic."""

import datetime
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo

import pytest
from django.test import Client
from django.urls import reverse

from core import links
from patients.tests.factories import PatientFactory
from scheduling.models import Appointment, AppointmentChange
from scheduling.tests.factories import AppointmentFactory

pytestmark = pytest.mark.django_db

CLINIC = ZoneInfo("America/New_York")
NOW = datetime.datetime(2026, 11, 16, 10, 0, tzinfo=CLINIC)
THURSDAY_10 = datetime.datetime(2026, 11, 19, 10, 0, tzinfo=CLINIC)  # three days ahead
TUESDAY_9 = datetime.datetime(2026, 11, 17, 9, 0, tzinfo=CLINIC)  # 23 hours ahead
Status = Appointment.Status
INVALID = "This link is not valid or has expired. Please call"


@pytest.fixture(autouse=True)
def frozen_now(time_machine, settings):
    time_machine.move_to(NOW, tick=False)
    settings.SITE_URL = "https://clinic.example"


@pytest.fixture
def patient():
    return PatientFactory(first_name="Jane", last_name="Doe")


@pytest.fixture
def appointment(patient):
    return AppointmentFactory(patient=patient, starts_at=THURSDAY_10)


def link(appointment):
    return urlsplit(links.APPOINTMENT.url(appointment.pk)).path


def post(client, appointment_or_path, action):
    path = appointment_or_path if isinstance(appointment_or_path, str) else link(appointment_or_path)
    return client.post(path, {"action": action}, follow=True)


def changes(appointment):
    return list(AppointmentChange.objects.filter(appointment=appointment).values_list("action", flat=True))


def test_it_builds_an_absolute_link_from_the_site_url(appointment):
    url = links.APPOINTMENT.url(appointment.pk)

    assert url.startswith("https://clinic.example/a/")
    assert url.endswith("/")


def test_it_shows_the_appointment_to_the_patient_and_changes_nothing(client, appointment, settings):
    response = client.get(link(appointment))

    assert response.status_code == 200
    body = response.content.decode()
    assert "Hello Jane," in body
    assert "Doe" not in body
    assert "Thursday 19 November 2026" in body
    assert "10:00 AM" in body
    for detail in (settings.CLINIC_NAME, settings.CLINIC_ADDRESS, settings.CLINIC_PHONE):
        assert detail in body
    assert 'value="confirm"' in body
    assert 'value="cancel"' in body
    assert "late cancellation" not in body
    assert "no-store" in response["Cache-Control"]
    appointment.refresh_from_db()
    assert appointment.status == Status.BOOKED
    assert changes(appointment) == []


def test_it_confirms_the_appointment(client, appointment):
    response = post(client, appointment, "confirm")

    assert "Thank you, your appointment is confirmed." in response.content.decode()
    appointment.refresh_from_db()
    assert appointment.status == Status.CONFIRMED
    change = AppointmentChange.objects.get(appointment=appointment)
    assert (change.action, change.changed_by) == ("confirmed", None)
    assert 'value="confirm"' not in response.content.decode()
    assert 'value="cancel"' in response.content.decode()


def test_it_confirms_once(client, appointment):
    post(client, appointment, "confirm")

    response = post(client, appointment, "confirm")

    assert "This appointment is already confirmed." in response.content.decode()
    assert changes(appointment) == ["confirmed"]


def test_it_cancels_an_appointment_more_than_24_hours_ahead(client, appointment):
    response = post(client, appointment, "cancel")

    body = response.content.decode()
    assert "Your appointment is cancelled." in body
    assert "late cancellation" not in body
    appointment.refresh_from_db()
    assert appointment.status == Status.CANCELLED
    assert appointment.cancelled_by == Appointment.CancelledBy.PATIENT
    assert appointment.late_cancellation is False
    change = AppointmentChange.objects.get(appointment=appointment)
    assert (change.action, change.changed_by) == ("cancelled", None)
    assert change.detail == {"by": "patient", "late": False}


def test_it_says_a_cancellation_within_24_hours_is_late_and_gives_the_phone(client, patient, settings):
    appointment = AppointmentFactory(patient=patient, starts_at=TUESDAY_9)
    page = client.get(link(appointment)).content.decode()
    assert "cancelling now is a late cancellation" in page

    response = post(client, appointment, "cancel")

    body = response.content.decode()
    assert "this is a late cancellation" in body
    assert settings.CLINIC_PHONE in body
    appointment.refresh_from_db()
    assert appointment.status == Status.CANCELLED
    assert appointment.late_cancellation is True


def test_it_cancels_once(client, appointment):
    post(client, appointment, "cancel")

    response = post(client, appointment, "cancel")

    assert "This appointment is already cancelled. Nothing was changed." in response.content.decode()
    assert changes(appointment) == ["cancelled"]
    assert 'value="cancel"' not in response.content.decode()


def test_it_refuses_to_confirm_a_cancelled_appointment(client, appointment):
    post(client, appointment, "cancel")

    response = post(client, appointment, "confirm")

    assert "please call us on" in response.content.decode()
    appointment.refresh_from_db()
    assert appointment.status == Status.CANCELLED
    assert changes(appointment) == ["cancelled"]


def test_it_ignores_an_unknown_action(client, appointment):
    response = post(client, appointment, "delete")

    assert "Please choose Confirm or Cancel." in response.content.decode()
    assert changes(appointment) == []


def test_it_works_with_csrf_checks_for_a_visitor_without_a_session(appointment):
    client = Client(enforce_csrf_checks=True)
    client.get(link(appointment))

    response = client.post(
        link(appointment), {"action": "confirm", "csrfmiddlewaretoken": client.cookies["csrftoken"].value}
    )

    assert response.status_code == 302
    appointment.refresh_from_db()
    assert appointment.status == Status.CONFIRMED


def tampered(path):
    """The same link with one character of its signature changed."""
    token = path.removeprefix("/a/").removesuffix("/")
    last = "A" if token[-1] != "A" else "B"
    return f"/a/{token[:-1]}{last}/"


@pytest.mark.parametrize("method", ["get", "post"])
def test_it_refuses_a_tampered_link_and_changes_nothing(client, appointment, settings, method):
    response = getattr(client, method)(
        tampered(link(appointment)), {"action": "cancel"} if method == "post" else {}
    )

    assert response.status_code == 400
    assert f"{INVALID} {settings.CLINIC_PHONE}." in response.content.decode()
    appointment.refresh_from_db()
    assert appointment.status == Status.BOOKED
    assert changes(appointment) == []


def test_it_refuses_a_link_that_is_no_token_at_all(client):
    response = client.get(reverse("scheduling:patient-link", args=["nonsense"]))

    assert response.status_code == 400
    assert INVALID in response.content.decode()


def test_a_link_acts_on_its_own_appointment_only(client, appointment, patient):
    other = AppointmentFactory(patient=patient, starts_at=THURSDAY_10 + datetime.timedelta(days=1))
    token = link(appointment).removeprefix("/a/").removesuffix("/")
    # The appointment's id swapped for the other one's, the signature kept.
    forged = f"/a/{other.pk}{token[len(str(appointment.pk)) :]}/"

    assert post(client, forged, "cancel").status_code == 400
    post(client, appointment, "cancel")

    other.refresh_from_db()
    assert other.status == Status.BOOKED
    assert changes(other) == []
    appointment.refresh_from_db()
    assert appointment.status == Status.CANCELLED


def test_it_refuses_a_link_older_than_30_days(client, patient, time_machine, settings):
    appointment = AppointmentFactory(patient=patient, starts_at=NOW + datetime.timedelta(days=40))
    path = link(appointment)
    time_machine.move_to(NOW + datetime.timedelta(days=29), tick=False)
    assert client.get(path).status_code == 200

    time_machine.move_to(NOW + datetime.timedelta(days=30, minutes=1), tick=False)
    response = post(client, path, "cancel")

    assert response.status_code == 400
    assert f"{INVALID} {settings.CLINIC_PHONE}." in response.content.decode()
    appointment.refresh_from_db()
    assert appointment.status == Status.BOOKED


def test_it_refuses_a_link_a_day_after_the_appointment_started(client, appointment, time_machine):
    path = link(appointment)
    time_machine.move_to(THURSDAY_10 + datetime.timedelta(days=1, minutes=1), tick=False)

    assert client.get(path).status_code == 400


def test_it_shows_but_will_not_cancel_an_appointment_that_has_begun(client, appointment, time_machine):
    path = link(appointment)
    time_machine.move_to(THURSDAY_10 + datetime.timedelta(hours=2), tick=False)

    page = client.get(path)
    assert page.status_code == 200
    assert "This appointment has begun or is over." in page.content.decode()
    assert 'value="cancel"' not in page.content.decode()
    response = post(client, path, "cancel")

    assert "This appointment has already begun." in response.content.decode()
    appointment.refresh_from_db()
    assert appointment.status == Status.BOOKED
    assert changes(appointment) == []
