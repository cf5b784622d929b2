"""The front desk's one-click actions: check in, no-show, cancel."""

import datetime
import re

import pytest
import time_machine
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from clinic.tests import factories
from scheduling.models import Appointment, AppointmentChange
from scheduling.tests.factories import AppointmentFactory
from scheduling.views import front_desk

pytestmark = pytest.mark.django_db

Status = Appointment.Status
MORNING = datetime.datetime(2026, 11, 18, 14, 30, tzinfo=datetime.UTC)  # 09:30 in New York, a Wednesday


@pytest.fixture(autouse=True)
def frozen_now():
    with time_machine.travel(MORNING, tick=False):
        yield


def at_hour(hour):
    return timezone.make_aware(datetime.datetime.combine(timezone.localdate(), datetime.time(hour)))


@pytest.fixture
def appointment():
    return AppointmentFactory(starts_at=at_hour(10))


def test_it_checks_a_patient_in_from_the_front_desk(client, receptionist, appointment):
    client.force_login(receptionist)

    response = client.post(reverse("scheduling:check-in", args=[appointment.pk]), follow=True)

    appointment.refresh_from_db()
    assert appointment.status == Status.CHECKED_IN
    assert f"{appointment.patient}: checked in." in response.content.decode()
    change = AppointmentChange.objects.get(appointment=appointment, action="checked_in")
    assert change.changed_by == receptionist


def test_it_answers_htmx_with_the_updated_row_and_the_days_counts(client, receptionist, appointment):
    client.force_login(receptionist)

    response = client.post(reverse("scheduling:check-in", args=[appointment.pk]), HTTP_HX_REQUEST="true")

    body = response.content.decode()
    assert body.lstrip().startswith("<article")
    assert f'id="appointment-{appointment.pk}"' in body
    assert "Checked in" in body
    assert "<html" not in body
    # The counts above the columns are swapped in out of band, so they stay true.
    counts = body[body.index('id="status-counts"') :]
    assert 'hx-swap-oob="true"' in counts
    assert "Booked: <strong>0</strong>" in counts
    assert "Checked in: <strong>1</strong>" in counts


def test_it_refuses_a_no_show_before_the_appointment_begins(client, receptionist, appointment):
    client.force_login(receptionist)

    response = client.post(reverse("scheduling:no-show", args=[appointment.pk]), follow=True)

    appointment.refresh_from_db()
    assert appointment.status == Status.BOOKED
    assert "only be marked a no-show once the appointment has begun" in response.content.decode()


def test_it_marks_a_no_show_once_the_appointment_has_begun(client, receptionist):
    appointment = AppointmentFactory(starts_at=at_hour(6))
    client.force_login(receptionist)

    client.post(reverse("scheduling:no-show", args=[appointment.pk]))

    appointment.refresh_from_db()
    assert appointment.status == Status.NO_SHOW


def test_it_marks_a_cancellation_within_24_hours_as_late(client, receptionist, appointment):
    client.force_login(receptionist)

    client.post(reverse("scheduling:cancel", args=[appointment.pk]), {"cancelled_by": "patient"})

    appointment.refresh_from_db()
    assert appointment.status == Status.CANCELLED
    assert appointment.cancelled_by == Appointment.CancelledBy.PATIENT
    assert appointment.late_cancellation is True


def test_it_does_not_mark_an_early_cancellation_as_late(client, receptionist):
    appointment = AppointmentFactory(starts_at=at_hour(10) + datetime.timedelta(days=3))
    client.force_login(receptionist)

    client.post(reverse("scheduling:cancel", args=[appointment.pk]), {"cancelled_by": "clinic"})

    appointment.refresh_from_db()
    assert appointment.status == Status.CANCELLED
    assert appointment.cancelled_by == Appointment.CancelledBy.CLINIC
    assert appointment.late_cancellation is False


def test_it_refuses_to_cancel_a_completed_visit(client, receptionist):
    appointment = AppointmentFactory(starts_at=at_hour(6), status=Status.COMPLETED)
    client.force_login(receptionist)

    response = client.post(reverse("scheduling:cancel", args=[appointment.pk]), follow=True)

    appointment.refresh_from_db()
    assert appointment.status == Status.COMPLETED
    assert "Only a booked or confirmed appointment can be cancelled." in response.content.decode()


@pytest.mark.parametrize("name", ["scheduling:check-in", "scheduling:no-show", "scheduling:cancel"])
def test_it_lets_no_therapist_act_at_the_front_desk(client, therapist, appointment, name):
    client.force_login(therapist)

    response = client.post(reverse(name, args=[appointment.pk]))

    assert response.status_code == 403
    appointment.refresh_from_db()
    assert appointment.status == Status.BOOKED


@pytest.mark.parametrize("name", ["scheduling:check-in", "scheduling:no-show", "scheduling:cancel"])
def test_it_accepts_only_a_post(client, receptionist, appointment, name):
    client.force_login(receptionist)

    assert client.get(reverse(name, args=[appointment.pk])).status_code == 405


def test_it_shows_the_front_desk_which_patients_get_no_email(client, receptionist):
    AppointmentFactory(starts_at=at_hour(10), patient__email_consent=False)
    client.force_login(receptionist)

    assert "no email" in client.get(reverse("scheduling:front-desk")).content.decode()


def text(response):
    return response.content.decode()


def columns_shown(response):
    return re.findall(
        r'<h2 class="h6 border-bottom pb-1" id="therapist-\d+"><a [^>]+>([^<]+)</a>', text(response)
    )


def test_a_large_clinic_pages_through_its_therapists_at_the_front_desk_in_as_many_queries(
    client, receptionist, django_assert_num_queries
):
    per_page = front_desk.COLUMNS_PER_PAGE
    therapists = [
        factories.therapist(username=f"t{n}", last_name=f"Therapist{n:02}") for n in range(per_page + 2)
    ]
    for therapist in therapists:
        AppointmentFactory(
            therapist=therapist, starts_at=at_hour(10), patient__last_name=f"Of{therapist.username}"
        )
    client.force_login(receptionist)
    client.get(reverse("scheduling:front-desk"))
    with CaptureQueriesContext(connection) as quiet:
        first = client.get(reverse("scheduling:front-desk"))

    assert columns_shown(first) == [t.get_full_name() for t in therapists[:per_page]]
    assert "Oft0" in text(first)
    assert f"Oft{per_page}" not in text(first)  # on the next page
    for therapist in therapists:
        assert f"{therapist.get_full_name()} (1)" in text(first)  # every therapist named, with their count
    assert f"Booked: <strong>{per_page + 2}</strong>" in text(
        first
    )  # the day's counts are the whole clinic's

    for therapist in therapists:
        for hour in (11, 12, 13, 14):
            AppointmentFactory(therapist=therapist, starts_at=at_hour(hour))
    with django_assert_num_queries(len(quiet)):
        second = client.get(reverse("scheduling:front-desk"), {"page": "2"})
    assert columns_shown(second) == [t.get_full_name() for t in therapists[per_page:]]
    assert f"Oft{per_page + 1}" in text(second)
    assert "Oft0" not in text(second)
    assert f"{therapists[0].get_full_name()} (5)" in text(second)


@pytest.mark.parametrize("page", ["0", "3", "-1", "x", "9" * 5000])
def test_an_impossible_page_of_therapists_shows_the_first(client, receptionist, therapist, page):
    AppointmentFactory(therapist=therapist, starts_at=at_hour(10), patient__last_name="Okafor")
    client.force_login(receptionist)

    response = client.get(reverse("scheduling:front-desk"), {"page": page})

    assert response.status_code == 200
    assert "Okafor" in text(response)
