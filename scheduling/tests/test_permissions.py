"""Who may open and change the schedule.

The matrix below is written out by hand, one row per URL name of the
`scheduling` namespace; a new URL without a row fails the first test. "Now"
is frozen at Monday 16 November 2026, 12:00 in the clinic."""

import datetime
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo

import pytest
from django.urls import reverse

from clinic.tests.matrix import LOGIN, PERSONAS, assert_status, log_in
from core import links
from patients.models import Patient
from patients.tests.factories import PatientFactory
from scheduling import services, urls
from scheduling.availability import local
from scheduling.models import Appointment, AppointmentChange, CalendarFeed
from scheduling.tests.factories import (
    AppointmentFactory,
    AppointmentSeriesFactory,
    AppointmentTypeFactory,
    RoomFactory,
    working_week,
)

pytestmark = pytest.mark.django_db

CLINIC = ZoneInfo("America/New_York")
NOW = datetime.datetime(2026, 11, 16, 12, 0, tzinfo=CLINIC)
MONDAY = datetime.date(2026, 11, 16)
TUESDAY = datetime.date(2026, 11, 17)
WEDNESDAY = datetime.date(2026, 11, 18)


# What each persona gets for a GET. "therapist" sees the patient; "other_therapist" does not.
# The calendar feed and the patient link are opened with a valid token.
#                      anonymous  receptionist therapist other  admin  no role
GET_EXPECTED = {
    "front-desk":      (LOGIN,    200,         403,      403,   200,   403),
    "day-sheet":       (LOGIN,    200,         403,      403,   200,   403),
    "week":            (LOGIN,    200,         200,      200,   200,   403),
    "check-in":        (LOGIN,    405,         405,      405,   405,   405),
    "no-show":         (LOGIN,    405,         405,      405,   405,   405),
    "cancel":          (LOGIN,    405,         405,      405,   405,   405),
    "book":            (LOGIN,    200,         403,      403,   200,   403),
    "reschedule":      (LOGIN,    200,         403,      403,   200,   403),
    "series-cancel":   (LOGIN,    405,         405,      405,   405,   405),
    "appointment-ics": (LOGIN,    200,         200,      200,   200,   403),
    "calendar-feed":   (200,      200,         200,      200,   200,   200),
    "my-calendar":     (LOGIN,    403,         200,      200,   403,   403),
    "patient-link":    (200,      200,         200,      200,   200,   200),
    "unsubscribe":     (200,      200,         200,      200,   200,   200),
}  # fmt: skip

# What each persona gets for a valid POST: 302 means it was done (and the
# test checks that records changed), anything else that nothing changed.
#                      anonymous  receptionist therapist other  admin  no role
POST_EXPECTED = {
    "check-in":        (LOGIN,    302,         403,      403,   302,   403),
    "no-show":         (LOGIN,    302,         403,      403,   302,   403),
    "cancel":          (LOGIN,    302,         403,      403,   302,   403),
    "book":            (LOGIN,    302,         403,      403,   302,   403),
    "reschedule":      (LOGIN,    302,         403,      403,   302,   403),
    "series-cancel":   (LOGIN,    302,         403,      403,   302,   403),
    "appointment-ics": (LOGIN,    405,         405,      405,   405,   405),
    "calendar-feed":   (405,      405,         405,      405,   405,   405),
    "my-calendar":     (LOGIN,    403,         302,      302,   403,   403),
    "patient-link":    (302,      302,         302,      302,   302,   302),
    "unsubscribe":     (302,      302,         302,      302,   302,   302),
}  # fmt: skip

# Pages that only read and take any method: a POST to them changes nothing.
READ_ONLY = {"front-desk", "day-sheet", "week"}
# Names whose address carries the id of a row.
WITH_ID = {"check-in", "no-show", "cancel", "book", "reschedule", "series-cancel", "appointment-ics"}

GET_CELLS = [
    pytest.param(name, persona, expected[column], id=f"GET {name} as {persona}")
    for name, expected in GET_EXPECTED.items()
    for column, persona in enumerate(PERSONAS)
]
POST_CELLS = [
    pytest.param(name, persona, expected[column], id=f"POST {name} as {persona}")
    for name, expected in POST_EXPECTED.items()
    for column, persona in enumerate(PERSONAS)
]


def at(day, hour, minute=0):
    return local(day, datetime.time(hour, minute))


@pytest.fixture(autouse=True)
def frozen_now(time_machine, settings):
    time_machine.move_to(NOW, tick=False)
    settings.SITE_URL = "https://clinic.example"


@pytest.fixture
def world(therapist, other_therapist, receptionist, clinic_admin, no_role_user):
    """`therapist` works a normal week and sees Maria today: at 10:00 (begun,
    not yet checked in) and at 14:00, and on the next two Wednesdays in a
    series. Both therapists already have a calendar feed."""
    working_week(therapist)
    room = RoomFactory(name="Room A")
    RoomFactory(name="Room B")
    follow_up = AppointmentTypeFactory(name="Follow-up", default_minutes=45)
    patient = PatientFactory(first_name="Maria", last_name="Alvarez")
    visit = {"patient": patient, "therapist": therapist, "room": room, "appointment_type": follow_up}
    series = AppointmentSeriesFactory(patient=patient, booked_by=receptionist)
    for day in (WEDNESDAY, WEDNESDAY + datetime.timedelta(days=7)):
        AppointmentFactory(**visit, starts_at=at(day, 9), series=series)
    return {
        "patient": patient,
        "room": room,
        "follow_up": follow_up,
        "begun": AppointmentFactory(**visit, starts_at=at(MONDAY, 10)),
        "upcoming": AppointmentFactory(**visit, starts_at=at(MONDAY, 14)),
        "series": series,
        "feed": services.calendar_feed_for(therapist=therapist),
        "other_feed": services.calendar_feed_for(therapist=other_therapist),
        "users": {
            "receptionist": receptionist,
            "therapist": therapist,
            "other_therapist": other_therapist,
            "clinic_admin": clinic_admin,
            "no_role_user": no_role_user,
        },
    }


def url(name, world):
    args = {
        "check-in": [world["begun"].pk],
        "no-show": [world["begun"].pk],
        "cancel": [world["upcoming"].pk],
        "book": [world["patient"].pk],
        "reschedule": [world["upcoming"].pk],
        "series-cancel": [world["series"].pk],
        "appointment-ics": [world["upcoming"].pk],
        "calendar-feed": [world["feed"].token],
        "patient-link": [links.APPOINTMENT.token(world["upcoming"].pk)],
        "unsubscribe": [links.UNSUBSCRIBE.token(world["patient"].pk)],
    }.get(name, [])
    return reverse(f"scheduling:{name}", args=args)


def valid_post(name, world):
    """Form data that the persona allowed to POST it gets acted on."""
    return {
        "cancel": {"cancelled_by": "patient"},
        "book": {
            "patient": world["patient"].pk,
            "therapist": world["users"]["therapist"].pk,
            "appointment_type": world["follow_up"].pk,
            "day": TUESDAY.isoformat(),
            "time": "10:00",
            "room": world["room"].pk,
        },
        "reschedule": {"day": TUESDAY.isoformat(), "time": "09:00", "room": world["room"].pk},
        "series-cancel": {"cancelled_by": "clinic"},
        "patient-link": {"action": "confirm"},
    }.get(name, {})


def records():
    """Everything a POST to a scheduling URL could change."""
    return {
        "appointments": list(
            Appointment.objects.order_by("pk").values_list(
                "pk", "status", "starts_at", "ends_at", "room", "cancelled_by", "late_cancellation"
            )
        ),
        "changes": list(AppointmentChange.objects.order_by("pk").values_list("pk", "action", "detail")),
        "feeds": list(CalendarFeed.objects.order_by("pk").values_list("pk", "token", "revoked_at")),
        "email consent": list(Patient.objects.order_by("pk").values_list("pk", "email_consent")),
    }


def test_the_matrix_has_a_row_for_every_url_of_the_scheduling_namespace():
    names = {pattern.name for pattern in urls.urlpatterns}

    assert set(GET_EXPECTED) == names
    assert set(POST_EXPECTED) | READ_ONLY == names
    assert not set(POST_EXPECTED) & READ_ONLY
    post_only = {name for name, expected in GET_EXPECTED.items() if expected[1] == 405}
    assert post_only <= set(POST_EXPECTED)
    assert names >= WITH_ID


@pytest.mark.parametrize(("name", "persona", "expected"), GET_CELLS)
def test_it_answers_a_get_as_the_matrix_says(client, world, name, persona, expected):
    log_in(client, persona, world)
    before = records()

    response = client.get(url(name, world))

    assert_status(response, expected)
    assert records() == before


@pytest.mark.parametrize(("name", "persona", "expected"), POST_CELLS)
def test_it_answers_a_post_as_the_matrix_says(client, world, name, persona, expected):
    log_in(client, persona, world)
    before = records()

    response = client.post(url(name, world), valid_post(name, world))

    assert_status(response, expected)
    if expected == 302:
        assert records() != before
    else:
        assert records() == before


@pytest.mark.parametrize("persona", PERSONAS)
@pytest.mark.parametrize("name", sorted(READ_ONLY))
def test_a_post_to_a_page_that_only_reads_changes_nothing(client, world, name, persona):
    log_in(client, persona, world)
    before = records()

    client.post(url(name, world), {"cancelled_by": "clinic", "action": "confirm"})

    assert records() == before


def test_the_login_page_takes_an_anonymous_visitor_back_to_the_front_desk(client, world):
    front_desk = url("front-desk", world)
    response = client.get(front_desk)

    response = client.post(response.url, {"username": "rosa", "password": "correct-horse-battery"})

    assert response.status_code == 302
    assert response.url == front_desk


# Without a valid token, the two anonymous addresses give nothing away.


@pytest.mark.parametrize("persona", PERSONAS)
@pytest.mark.parametrize(
    "token",
    ["not-a-token", "x" * 43],
    ids=["garbage", "token-shaped"],
)
def test_it_answers_404_for_an_unknown_feed_token(client, world, persona, token):
    log_in(client, persona, world)

    response = client.get(reverse("scheduling:calendar-feed", args=[token]))

    assert response.status_code == 404
    assert b"BEGIN:VCALENDAR" not in response.content


@pytest.mark.parametrize("persona", ["anonymous", "therapist"])
def test_it_answers_404_for_a_revoked_feed_token(client, world, persona):
    old = world["feed"].token
    services.calendar_feed_revoke(feed=world["feed"])
    log_in(client, persona, world)

    assert client.get(reverse("scheduling:calendar-feed", args=[old])).status_code == 404


@pytest.mark.parametrize("persona", PERSONAS)
def test_it_answers_400_for_a_bad_patient_link_and_changes_nothing(client, world, persona):
    log_in(client, persona, world)
    good = links.APPOINTMENT.token(world["upcoming"].pk)
    before = records()

    for token in ["not-a-token", good[:-1] + ("A" if good[-1] != "A" else "B")]:
        path = reverse("scheduling:patient-link", args=[token])
        assert client.get(path).status_code == 400
        assert client.post(path, {"action": "cancel"}).status_code == 400

    assert records() == before


def test_the_patient_link_address_is_the_one_the_emails_carry(world):
    assert urlsplit(links.APPOINTMENT.url(world["upcoming"].pk)).path == url("patient-link", world)


# Every view that takes an id answers 404 for a row that does not exist.


@pytest.mark.parametrize("name", sorted(WITH_ID))
def test_it_answers_404_for_an_id_that_does_not_exist(client, world, name):
    log_in(client, "clinic_admin", world)
    before = records()
    missing = reverse(f"scheduling:{name}", args=[10_000])

    if GET_EXPECTED[name][4] == 405:
        response = client.post(missing, valid_post(name, world))
    else:
        response = client.get(missing)
        assert client.post(missing, valid_post(name, world)).status_code in (404, 405)

    assert response.status_code == 404
    assert records() == before


def test_it_answers_404_for_booking_an_archived_patient(client, world):
    world["patient"].archived_at = NOW
    world["patient"].save()
    log_in(client, "receptionist", world)
    before = records()

    assert client.get(url("book", world)).status_code == 404
    assert client.post(url("book", world), valid_post("book", world)).status_code == 404
    assert records() == before
