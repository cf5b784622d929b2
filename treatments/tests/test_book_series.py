"""The receptionist books a plan's remaining sessions as one series."""

import datetime

import pytest
import time_machine
from django.urls import reverse
from django.utils import timezone

from scheduling.models import Appointment, AppointmentSeries, AppointmentType, Room, WorkingHours
from scheduling.tests.factories import WorkingHoursExceptionFactory
from treatments.tests.factories import active_plan

pytestmark = pytest.mark.django_db

# Monday 16 November 2026, 08:00 in New York.
NOW = datetime.datetime(2026, 11, 16, 13, 0, tzinfo=datetime.UTC)
FIRST_TUESDAY = datetime.date(2026, 11, 17)


@pytest.fixture(autouse=True)
def frozen_now():
    with time_machine.travel(NOW, tick=False):
        yield


@pytest.fixture
def plan(therapist):
    for weekday in range(5):
        WorkingHours.objects.create(
            therapist=therapist, weekday=weekday, starts_at=datetime.time(8), ends_at=datetime.time(17)
        )
    return active_plan(therapist, severity="chronic", planned_sessions=6, reassessment_after_session=6)


@pytest.fixture
def room():
    return Room.objects.create(name="Room A")


def pattern(in_room, **changes):
    return {
        "first_day": FIRST_TUESDAY.isoformat(),
        "time": "10:00",
        "weekdays": ["1"],
        "interval_weeks": "1",
        "appointment_type": AppointmentType.objects.get(name="Dry-needling session").pk,
        "room": in_room.pk,
        **changes,
    }


def tuesday(week, hour=10):
    day = FIRST_TUESDAY + datetime.timedelta(weeks=week)
    return timezone.make_aware(datetime.datetime.combine(day, datetime.time(hour)))


def test_it_previews_every_session_and_names_the_therapists_day_off(client, receptionist, plan, room):
    WorkingHoursExceptionFactory(therapist=plan.therapist, date=FIRST_TUESDAY + datetime.timedelta(weeks=2))
    client.force_login(receptionist)

    response = client.post(
        reverse("treatments:plan-book", args=[plan.pk]), {**pattern(room), "action": "preview"}
    )

    page = response.content.decode()
    assert [f"Session {n}:" in page for n in range(1, 8)] == [True] * 6 + [False]
    assert "Session 3: Tuesday 1 December 2026, 10:00" in page
    assert f"{plan.therapist.get_full_name()} does not work then." in page
    assert not Appointment.objects.exists()


def test_it_books_all_sessions_with_the_alternative_picked(client, receptionist, plan, room):
    WorkingHoursExceptionFactory(therapist=plan.therapist, date=FIRST_TUESDAY + datetime.timedelta(weeks=2))
    moved = tuesday(2) + datetime.timedelta(days=1)  # Wednesday 2 December instead
    choices = {f"session_{n + 1}": tuesday(n).isoformat() for n in range(6)}
    choices["session_3"] = moved.isoformat()
    client.force_login(receptionist)

    response = client.post(
        reverse("treatments:plan-book", args=[plan.pk]), {**pattern(room), **choices, "action": "confirm"}
    )

    assert response.status_code == 302
    booked = list(Appointment.objects.order_by("starts_at").values_list("starts_at", flat=True))
    assert booked == [tuesday(0), tuesday(1), moved, tuesday(3), tuesday(4), tuesday(5)]
    series = AppointmentSeries.objects.get()
    assert list(plan.appointment_series.all()) == [series]
    assert series.appointments.count() == 6


def test_it_books_nothing_when_one_session_is_taken_and_names_it(client, receptionist, plan, room):
    client.force_login(receptionist)
    choices = {f"session_{n + 1}": tuesday(n).isoformat() for n in range(6)}
    WorkingHoursExceptionFactory(therapist=plan.therapist, date=FIRST_TUESDAY + datetime.timedelta(weeks=3))

    response = client.post(
        reverse("treatments:plan-book", args=[plan.pk]), {**pattern(room), **choices, "action": "confirm"}
    )

    assert response.status_code == 200
    assert "Session 4 on Tue 08 Dec 2026 at 10:00" in response.content.decode()
    assert not Appointment.objects.exists()
    assert not AppointmentSeries.objects.exists()


def test_it_books_only_the_sessions_left(client, receptionist, plan, room):
    client.force_login(receptionist)
    choices = {f"session_{n + 1}": tuesday(n).isoformat() for n in range(6)}
    client.post(
        reverse("treatments:plan-book", args=[plan.pk]), {**pattern(room), **choices, "action": "confirm"}
    )

    response = client.get(reverse("treatments:plan-book", args=[plan.pk]), follow=True)

    assert "Every session of this plan is charted or booked." in response.content.decode()


def test_it_refuses_a_session_after_the_screening_expires(client, receptionist, plan, room):
    screening = plan.patient.screenings.get()
    screening.valid_until = FIRST_TUESDAY + datetime.timedelta(weeks=1)
    screening.save()
    client.force_login(receptionist)

    response = client.post(
        reverse("treatments:plan-book", args=[plan.pk]), {**pattern(room), "action": "preview"}
    )

    page = response.content.decode()
    assert page.count("Not cleared for needling on Tue") == 4
    assert page.count("The screening is valid until Tue 24 Nov 2026; screen the patient again.") == 4


def test_it_refuses_a_first_day_in_the_past(client, receptionist, plan, room):
    client.force_login(receptionist)

    response = client.post(
        reverse("treatments:plan-book", args=[plan.pk]),
        {**pattern(room, first_day="2026-11-01"), "action": "preview"},
    )

    assert "The first session cannot be in the past." in response.content.decode()
    assert not Appointment.objects.exists()


def test_it_refuses_a_crafted_post_with_an_unknown_room(client, receptionist, plan, room):
    client.force_login(receptionist)
    choices = {f"session_{n + 1}": tuesday(n).isoformat() for n in range(6)}

    response = client.post(
        reverse("treatments:plan-book", args=[plan.pk]),
        {**pattern(room, room="999999"), **choices, "action": "confirm"},
    )

    assert response.status_code == 200
    assert "Select a valid choice" in response.content.decode()
    assert not Appointment.objects.exists()


def test_it_lets_no_therapist_book_a_series(client, therapist, plan, room):
    client.force_login(therapist)
    choices = {f"session_{n + 1}": tuesday(n).isoformat() for n in range(6)}

    response = client.post(
        reverse("treatments:plan-book", args=[plan.pk]), {**pattern(room), **choices, "action": "confirm"}
    )

    assert response.status_code == 403
    assert not Appointment.objects.exists()


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("9999-12-31T23:59", "Session 1: book from today to at most a year ahead."),
        ("0001-01-01T00:00", "Session 1: book from today to at most a year ahead."),
        ("2026-11-17T10:00:00+99:00", "Choose a time for session 1."),
        ("2026-11-17T10:00\x00", "Null characters are not allowed."),
        ("2026-11-10T10:00:00-05:00", "Session 1: that time has already passed; choose a later one."),
    ],
)
def test_a_crafted_session_time_is_refused_with_a_message(client, receptionist, plan, room, value, message):
    choices = {f"session_{n + 1}": tuesday(n).isoformat() for n in range(6)}
    client.force_login(receptionist)

    response = client.post(
        reverse("treatments:plan-book", args=[plan.pk]),
        {**pattern(room), **choices, "session_1": value, "action": "confirm"},
    )

    assert response.status_code == 200
    assert message in response.context["form"].non_field_errors()
    assert not Appointment.objects.exists()
    assert not AppointmentSeries.objects.exists()
