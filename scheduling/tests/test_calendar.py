"""Appointments as .ics files and the therapists' private calendar feeds,
with "now" frozen at Monday 2 March 2026, 10:00 in the clinic: a week before
New York moves its clocks forward (Sunday 8 March)."""

import datetime
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo

import icalendar
import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import resolve, reverse

from core import links
from patients.tests.factories import PatientFactory
from scheduling import calendar, services
from scheduling.availability import local
from scheduling.models import Appointment, CalendarFeed
from scheduling.tests.factories import (
    AppointmentFactory,
    AppointmentTypeFactory,
    RoomFactory,
    WorkingHoursFactory,
)

pytestmark = pytest.mark.django_db

CLINIC = ZoneInfo("America/New_York")
NOW = datetime.datetime(2026, 3, 2, 10, 0, tzinfo=CLINIC)
FRIDAY_BEFORE_DST = datetime.date(2026, 3, 6)
MONDAY_AFTER_DST = datetime.date(2026, 3, 9)
# Words that would mean clinical content leaked into a calendar.
CLINICAL_WORDS = ["needl", "sciatica", "screening", "pain", "consent", "treatment", "chart", "muscle", "note"]


def at(day, hour, minute=0):
    return local(day, datetime.time(hour, minute))


@pytest.fixture(autouse=True)
def frozen_now(time_machine, settings):
    time_machine.move_to(NOW, tick=False)
    settings.SITE_URL = "https://clinic.example"


@pytest.fixture
def working_week(therapist):
    for weekday in range(5):
        WorkingHoursFactory(
            therapist=therapist, weekday=weekday, starts_at=datetime.time(8), ends_at=datetime.time(17)
        )
    return therapist


@pytest.fixture
def patient():
    return PatientFactory(first_name="Jane", last_name="Doe", email="jane.doe@patient.example")


@pytest.fixture
def book(working_week, patient, receptionist):
    room = RoomFactory(name="Room A")
    follow_up = AppointmentTypeFactory(name="Follow-up", default_minutes=45)

    def book(starts_at):
        return services.appointment_book(
            patient=patient,
            therapist=working_week,
            room=room,
            appointment_type=follow_up,
            starts_at=starts_at,
            booked_by=receptionist,
        )

    return book


def parse(content):
    return icalendar.Calendar.from_ical(content)


def ics_of(client, appointment):
    response = client.get(reverse("scheduling:appointment-ics", args=[appointment.pk]))
    assert response.status_code == 200
    return response


def feed_path(feed):
    return reverse("scheduling:calendar-feed", args=[feed.token])


# One appointment's .ics file.


def test_it_serves_an_appointment_as_an_ics_file(client, receptionist, book, settings):
    appointment = book(at(MONDAY_AFTER_DST, 9))
    client.force_login(receptionist)

    response = ics_of(client, appointment)

    assert response["Content-Type"] == "text/calendar; charset=utf-8"
    assert response["Content-Disposition"] == f'attachment; filename="appointment-{appointment.pk}.ics"'
    (event,) = parse(response.content).events
    assert str(event["uid"]) == f"appointment-{appointment.pk}@clinic.example"
    assert str(event["summary"]) == f"Follow-up at {settings.CLINIC_NAME}"
    assert str(event["location"]) == settings.CLINIC_ADDRESS
    assert settings.CLINIC_PHONE in str(event["description"])
    assert str(event["status"]) == "CONFIRMED"
    assert event["sequence"] == 0
    assert event.end - event.start == datetime.timedelta(minutes=45)


def test_it_writes_times_in_utc_across_the_change_to_summer_time(book):
    before = book(at(FRIDAY_BEFORE_DST, 9))
    after = book(at(MONDAY_AFTER_DST, 9))

    content = calendar.calendar_for([before, after], "Test").to_ical()

    first, second = parse(content).events
    # 09:00 in New York is 14:00 UTC in winter and 13:00 UTC in summer.
    assert first.start == datetime.datetime(2026, 3, 6, 14, 0, tzinfo=datetime.UTC)
    assert second.start == datetime.datetime(2026, 3, 9, 13, 0, tzinfo=datetime.UTC)
    assert second.end == datetime.datetime(2026, 3, 9, 13, 45, tzinfo=datetime.UTC)
    assert b"DTSTART:20260306T140000Z" in content
    assert b"DTSTART:20260309T130000Z" in content
    assert b"VTIMEZONE" not in content


def test_it_marks_a_cancelled_appointment_cancelled(client, receptionist, book):
    appointment = book(at(MONDAY_AFTER_DST, 9))
    services.appointment_cancel(appointment=appointment, cancelled_by=Appointment.CancelledBy.PATIENT)
    client.force_login(receptionist)

    (event,) = parse(ics_of(client, appointment).content).events

    assert str(event["status"]) == "CANCELLED"
    assert str(event["uid"]) == f"appointment-{appointment.pk}@clinic.example"


def test_it_raises_the_sequence_each_time_an_appointment_is_moved(client, receptionist, book):
    appointment = book(at(MONDAY_AFTER_DST, 9))
    services.appointment_reschedule(
        appointment=appointment, starts_at=at(MONDAY_AFTER_DST, 11), user=receptionist
    )
    services.appointment_reschedule(
        appointment=appointment, starts_at=at(MONDAY_AFTER_DST, 14), user=receptionist
    )
    services.appointment_confirm(appointment=appointment)
    client.force_login(receptionist)

    (event,) = parse(ics_of(client, appointment).content).events

    assert event["sequence"] == 2
    assert event.start == datetime.datetime(2026, 3, 9, 18, 0, tzinfo=datetime.UTC)
    assert str(event["uid"]) == f"appointment-{appointment.pk}@clinic.example"


def test_it_keeps_clinical_content_and_personal_details_out_of_the_patients_file(
    client, receptionist, book, patient
):
    appointment = book(at(MONDAY_AFTER_DST, 9))
    client.force_login(receptionist)

    text = ics_of(client, appointment).content.decode().lower()

    for word in [*CLINICAL_WORDS, "jane", "doe", patient.email, str(patient.phone)]:
        assert word.lower() not in text
    therapist = appointment.therapist
    assert therapist.last_name.lower() not in text
    assert "room a" not in text


@pytest.mark.parametrize(
    ("persona", "status"),
    [("receptionist", 200), ("therapist", 200), ("clinic_admin", 200), ("no_role_user", 403)],
)
def test_it_serves_the_ics_file_to_the_clinics_staff_only(client, request, persona, status):
    appointment = AppointmentFactory(starts_at=at(MONDAY_AFTER_DST, 9))
    client.force_login(request.getfixturevalue(persona))

    response = client.get(reverse("scheduling:appointment-ics", args=[appointment.pk]))

    assert response.status_code == status


def test_it_answers_404_for_the_ics_of_no_appointment(client, receptionist):
    client.force_login(receptionist)

    assert client.get(reverse("scheduling:appointment-ics", args=[999999])).status_code == 404


# The therapist's calendar feed.


def test_it_serves_the_feed_to_a_calendar_app_without_a_login(client, therapist, other_therapist, patient):
    now = NOW.astimezone(datetime.UTC)
    inside = [
        AppointmentFactory(therapist=therapist, patient=patient, starts_at=now - datetime.timedelta(days=59)),
        AppointmentFactory(therapist=therapist, patient=patient, starts_at=now - datetime.timedelta(days=30)),
        AppointmentFactory(therapist=therapist, patient=patient, starts_at=now + datetime.timedelta(days=1)),
        AppointmentFactory(
            therapist=therapist, patient=patient, starts_at=now + datetime.timedelta(days=364)
        ),
    ]
    cancelled = AppointmentFactory(
        therapist=therapist, patient=patient, starts_at=now + datetime.timedelta(days=2), status="cancelled"
    )
    AppointmentFactory(therapist=therapist, starts_at=now - datetime.timedelta(days=90))
    AppointmentFactory(therapist=therapist, starts_at=now - datetime.timedelta(days=61))
    AppointmentFactory(therapist=therapist, starts_at=now + datetime.timedelta(days=367))
    AppointmentFactory(therapist=other_therapist, starts_at=now + datetime.timedelta(days=1))
    feed = services.calendar_feed_for(therapist=therapist)

    response = client.get(feed_path(feed))

    assert response.status_code == 200
    assert response["Content-Type"] == "text/calendar; charset=utf-8"
    assert "private" in response["Cache-Control"]  # never kept by a shared cache
    assert "no-cache" in response["Cache-Control"]  # asked again every time
    assert "no-store" not in response["Cache-Control"]  # kept, so the ETag can answer 304
    events = {str(event["uid"]): event for event in parse(response.content).events}
    assert set(events) == {f"appointment-{a.pk}@clinic.example" for a in [*inside, cancelled]}
    assert str(events[f"appointment-{cancelled.pk}@clinic.example"]["status"]) == "CANCELLED"
    upcoming = events[f"appointment-{inside[2].pk}@clinic.example"]
    assert str(upcoming["status"]) == "CONFIRMED"
    assert str(upcoming["summary"]) == "Jane D.: Follow-up"
    text = response.content.decode().lower()
    for word in [*CLINICAL_WORDS, "doe", patient.email, str(patient.phone)]:
        assert word.lower() not in text


def test_it_stops_a_revoked_feed_and_issues_a_new_token(client, therapist):
    AppointmentFactory(therapist=therapist, starts_at=at(MONDAY_AFTER_DST, 9))
    old = services.calendar_feed_for(therapist=therapist)
    old_path = feed_path(old)
    assert client.get(old_path).status_code == 200

    services.calendar_feed_revoke(feed=old)

    assert client.get(old_path).status_code == 404
    new = services.calendar_feed_for(therapist=therapist)
    assert new.token != old.token
    assert new.revoked_at is None
    assert client.get(feed_path(new)).status_code == 200
    assert client.get(old_path).status_code == 404
    assert CalendarFeed.objects.filter(therapist=therapist).count() == 1


def test_it_keeps_the_same_feed_until_it_is_revoked(therapist):
    assert services.calendar_feed_for(therapist=therapist).token == (
        services.calendar_feed_for(therapist=therapist).token
    )


def test_it_answers_404_for_an_unknown_token(client, therapist):
    services.calendar_feed_for(therapist=therapist)

    assert client.get(reverse("scheduling:calendar-feed", args=["not-a-token"])).status_code == 404


def test_it_stops_the_feed_of_a_therapist_who_left(client, therapist):
    feed = services.calendar_feed_for(therapist=therapist)
    therapist.is_active = False
    therapist.save()

    assert client.get(feed_path(feed)).status_code == 404


def feed_queries(client, feed):
    with CaptureQueriesContext(connection) as queries:
        assert client.get(feed_path(feed)).status_code == 200
    return len(queries)


def test_it_serves_the_feed_in_the_same_number_of_queries_for_1_or_20_appointments(client, therapist):
    feed = services.calendar_feed_for(therapist=therapist)
    first = AppointmentFactory(therapist=therapist, starts_at=at(MONDAY_AFTER_DST, 8))
    first.changes.create(action="rescheduled")
    one = feed_queries(client, feed)

    for day in range(1, 20):
        appointment = AppointmentFactory(
            therapist=therapist, starts_at=at(MONDAY_AFTER_DST + datetime.timedelta(days=day), 9)
        )
        appointment.changes.create(action="rescheduled")
    twenty = feed_queries(client, feed)

    assert one == twenty == 3  # the feed, its version, its events (new each time: not cached)
    assert len(parse(client.get(feed_path(feed)).content).events) == 20


def test_it_serves_an_unchanged_feed_again_from_the_cache_without_reading_its_events(
    client, therapist, patient, django_assert_max_num_queries
):
    for day in range(5):
        AppointmentFactory(
            therapist=therapist,
            patient=patient,
            starts_at=at(MONDAY_AFTER_DST + datetime.timedelta(days=day), 9),
        )
    feed = services.calendar_feed_for(therapist=therapist)
    first = client.get(feed_path(feed))

    with django_assert_max_num_queries(2):  # the feed and its version, no events
        again = client.get(feed_path(feed))

    assert again.status_code == 200
    assert again.content == first.content
    assert again["ETag"] == first["ETag"]
    assert len(parse(again.content).events) == 5


def test_a_change_to_an_appointment_shows_in_the_feed_at_once_despite_the_cache(
    client, time_machine, book, receptionist, working_week
):
    appointment = book(at(MONDAY_AFTER_DST, 9))
    feed = services.calendar_feed_for(therapist=working_week)
    before = client.get(feed_path(feed))
    assert [str(event["status"]) for event in parse(before.content).events] == ["CONFIRMED"]

    time_machine.shift(datetime.timedelta(minutes=1))
    services.appointment_cancel(appointment=appointment, cancelled_by="clinic", user=receptionist)
    after = client.get(feed_path(feed))

    assert after["ETag"] != before["ETag"]
    assert [str(event["status"]) for event in parse(after.content).events] == ["CANCELLED"]


def conditional_get(client, feed, response):
    return client.get(
        feed_path(feed),
        headers={"if-none-match": response["ETag"], "if-modified-since": response["Last-Modified"]},
    )


def test_it_answers_304_to_a_calendar_app_holding_the_current_feed(
    client, therapist, patient, django_assert_max_num_queries
):
    AppointmentFactory(therapist=therapist, patient=patient, starts_at=at(MONDAY_AFTER_DST, 9))
    feed = services.calendar_feed_for(therapist=therapist)
    first = client.get(feed_path(feed))
    assert first["ETag"]
    assert first["Last-Modified"]

    with django_assert_max_num_queries(2):  # no events read
        again = conditional_get(client, feed, first)

    assert again.status_code == 304
    assert again.content == b""
    assert again["ETag"] == first["ETag"]
    since = client.get(feed_path(feed), headers={"if-modified-since": first["Last-Modified"]})
    assert since.status_code == 304


def test_a_change_to_an_appointment_in_the_feed_changes_its_etag(
    client, time_machine, book, receptionist, working_week
):
    appointment = book(at(MONDAY_AFTER_DST, 9))
    feed = services.calendar_feed_for(therapist=working_week)
    versions = [client.get(feed_path(feed))]

    time_machine.shift(datetime.timedelta(minutes=5))
    services.appointment_cancel(appointment=appointment, cancelled_by="clinic", user=receptionist)
    versions.append(conditional_get(client, feed, versions[-1]))
    time_machine.shift(datetime.timedelta(minutes=5))
    book(at(MONDAY_AFTER_DST, 11))
    versions.append(conditional_get(client, feed, versions[-1]))

    assert [response.status_code for response in versions] == [200, 200, 200]
    assert len({response["ETag"] for response in versions}) == 3
    events = parse(versions[-1].content).events
    assert sorted(str(event["status"]) for event in events) == ["CANCELLED", "CONFIRMED"]
    assert conditional_get(client, feed, versions[-1]).status_code == 304


def test_the_feed_changes_when_the_day_turns(client, time_machine, therapist):
    feed = services.calendar_feed_for(therapist=therapist)
    today = client.get(feed_path(feed))

    time_machine.shift(datetime.timedelta(days=1))

    assert conditional_get(client, feed, today).status_code == 200


# The therapist's My calendar page.


def test_it_shows_the_therapist_the_address_of_their_feed(client, therapist):
    client.force_login(therapist)

    response = client.get(reverse("scheduling:my-calendar"))

    assert response.status_code == 200
    feed = CalendarFeed.objects.get(therapist=therapist)
    body = response.content.decode()
    assert f"https://clinic.example/calendar/{feed.token}.ics" in body
    assert f"webcal://clinic.example/calendar/{feed.token}.ics" in body
    assert "Revoke and issue a new link" in body


def test_it_revokes_the_feed_and_shows_the_new_address(client, therapist):
    old = services.calendar_feed_for(therapist=therapist)
    client.force_login(therapist)

    response = client.post(reverse("scheduling:my-calendar"), follow=True)

    new = CalendarFeed.objects.get(therapist=therapist)
    assert new.token != old.token
    body = response.content.decode()
    assert "The old link no longer works." in body
    assert new.token in body
    assert old.token not in body
    client.logout()
    assert client.get(feed_path(old)).status_code == 404
    assert client.get(feed_path(new)).status_code == 200


@pytest.mark.parametrize("persona", ["receptionist", "clinic_admin", "no_role_user"])
def test_it_refuses_my_calendar_to_anyone_but_a_therapist(client, request, persona):
    client.force_login(request.getfixturevalue(persona))

    assert client.get(reverse("scheduling:my-calendar")).status_code == 403
    assert client.post(reverse("scheduling:my-calendar")).status_code == 403
    assert not CalendarFeed.objects.exists()


# Anonymous visitors.


def test_it_opens_only_the_feed_and_patient_links_to_anonymous_visitors(client, therapist):
    appointment = AppointmentFactory(therapist=therapist, starts_at=at(MONDAY_AFTER_DST, 9))
    feed = services.calendar_feed_for(therapist=therapist)
    patient_link = urlsplit(links.APPOINTMENT.url(appointment.pk)).path

    for path in [
        reverse("scheduling:appointment-ics", args=[appointment.pk]),
        reverse("scheduling:my-calendar"),
    ]:
        response = client.get(path)
        assert response.status_code == 302, path
        assert urlsplit(response["Location"]).path == reverse("login")
    assert client.post(reverse("scheduling:my-calendar")).status_code == 302
    assert CalendarFeed.objects.get().token == feed.token

    assert client.get(feed_path(feed)).status_code == 200
    assert client.get(patient_link).status_code == 200
    assert resolve(feed_path(feed)).url_name == "calendar-feed"
    assert resolve(patient_link).url_name == "patient-link"
