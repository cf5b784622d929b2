"""Booking, moving and cancelling from the patient's page, the week and the
day sheet, with "now" frozen at Monday 16 November 2026, 07:00 in the clinic."""

import datetime
from zoneinfo import ZoneInfo

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from patients.tests.factories import PatientFactory
from scheduling.availability import local
from scheduling.models import Appointment, AppointmentChange
from scheduling.tests.factories import (
    AppointmentFactory,
    AppointmentSeriesFactory,
    AppointmentTypeFactory,
    ClinicClosureFactory,
    RoomFactory,
    busy_day,
    working_week,
)

pytestmark = pytest.mark.django_db

CLINIC = ZoneInfo("America/New_York")
NOW = datetime.datetime(2026, 11, 16, 7, 0, tzinfo=CLINIC)
MONDAY = datetime.date(2026, 11, 16)
TUESDAY = datetime.date(2026, 11, 17)
WEDNESDAY = datetime.date(2026, 11, 18)
LAST_MONDAY = datetime.date(2026, 11, 9)
Status = Appointment.Status


def at(day, hour, minute=0):
    return local(day, datetime.time(hour, minute))


@pytest.fixture(autouse=True)
def frozen_now(time_machine):
    time_machine.move_to(NOW, tick=False)


@pytest.fixture
def theo(therapist):
    therapist.first_name, therapist.last_name = "Theo", "Novak"
    therapist.save()
    return working_week(therapist)


@pytest.fixture
def priya(other_therapist):
    other_therapist.first_name, other_therapist.last_name = "Priya", "Shah"
    other_therapist.save()
    return working_week(other_therapist)


@pytest.fixture
def room():
    return RoomFactory(name="Room A")


@pytest.fixture
def room_b():
    return RoomFactory(name="Room B")


@pytest.fixture
def follow_up():
    return AppointmentTypeFactory(name="Follow-up", default_minutes=45)


@pytest.fixture
def patient():
    return PatientFactory(first_name="Maria", last_name="Alvarez", phone="+12125550147")


@pytest.fixture
def desk(client, receptionist):
    client.force_login(receptionist)
    return client


def book_url(patient):
    return reverse("scheduling:book", args=[patient.pk])


def booking(patient, theo, follow_up, room, day=MONDAY, time="10:00"):
    """The booking form as the page posts it."""
    return {
        "patient": patient.pk,
        "therapist": theo.pk,
        "appointment_type": follow_up.pk,
        "day": day.isoformat(),
        "time": time,
        "room": room.pk,
    }


def visit(theo, follow_up, room, starts_at, **kwargs):
    """An appointment of someone else's with Theo (or whoever is given)."""
    return AppointmentFactory(
        **{"therapist": theo, "room": room, "appointment_type": follow_up, "starts_at": starts_at} | kwargs
    )


def slot_link(day, hour, minute=0):
    return f"day={day.isoformat()}&amp;time={hour:02d}:{minute:02d}"


# Booking one appointment from the patient's page.


def test_it_lists_the_therapists_free_times_and_the_free_rooms(
    desk, patient, theo, priya, follow_up, room, room_b
):
    RoomFactory(name="Room C")
    visit(theo, follow_up, room_b, at(MONDAY, 10))
    visit(priya, follow_up, room, at(MONDAY, 8))

    response = desk.get(
        book_url(patient),
        {"therapist": theo.pk, "appointment_type": follow_up.pk, "day": MONDAY.isoformat(), "time": "10:00"},
    )

    assert response.status_code == 200
    morning = [at(MONDAY, 8) + datetime.timedelta(minutes=15 * n) for n in range(6)]  # 08:00-09:15
    afternoon = [at(MONDAY, 13) + datetime.timedelta(minutes=15 * n) for n in range(14)]  # 13:00-16:15
    late_morning = [at(MONDAY, 10, 45), at(MONDAY, 11), at(MONDAY, 11, 15)]
    assert response.context["free_slots"] == morning + late_morning + afternoon
    assert [r.name for r in response.context["free_rooms"]] == ["Room A", "Room C"]
    page = response.content.decode()
    assert slot_link(MONDAY, 8) in page
    assert slot_link(MONDAY, 10) not in page
    assert "Free then: Room A, Room C" in page
    assert not Appointment.objects.filter(patient=patient).exists()


def test_it_books_and_goes_back_to_the_patient_with_a_message(
    desk, receptionist, patient, theo, follow_up, room
):
    response = desk.post(book_url(patient), booking(patient, theo, follow_up, room))

    assert response.status_code == 302
    assert response.url == reverse("patients:detail", args=[patient.pk])
    appointment = Appointment.objects.get(patient=patient)
    assert (appointment.therapist, appointment.room, appointment.appointment_type) == (theo, room, follow_up)
    assert (appointment.starts_at, appointment.ends_at) == (at(MONDAY, 10), at(MONDAY, 10, 45))
    assert appointment.status == Status.BOOKED
    assert AppointmentChange.objects.get(appointment=appointment, action="booked").changed_by == receptionist
    page = desk.get(response.url).content.decode()
    assert "Booked Maria Alvarez with Theo Novak on Mon 16 Nov at 10:00." in page


def test_it_refuses_a_slot_just_taken_and_offers_free_times_nearby(desk, patient, theo, follow_up, room):
    visit(theo, follow_up, room, at(MONDAY, 10))

    response = desk.post(book_url(patient), booking(patient, theo, follow_up, room))

    assert response.status_code == 200
    page = response.content.decode()
    assert "That slot was just taken" in page
    alternatives = [at(MONDAY, 9, 15), at(MONDAY, 10, 45), at(MONDAY, 9)]
    assert response.context["slot_taken"].alternatives == alternatives
    for alternative in alternatives:
        local_time = alternative.astimezone(CLINIC)
        assert f'{slot_link(MONDAY, local_time.hour, local_time.minute)}&amp;room={room.pk}">' in page
    assert not Appointment.objects.filter(patient=patient).exists()


def test_it_refuses_a_time_already_passed(desk, patient, theo, follow_up, room):
    response = desk.post(
        book_url(patient), booking(patient, theo, follow_up, room, day=MONDAY - datetime.timedelta(days=1))
    )

    assert response.status_code == 200
    assert "That time has already passed; choose a later one." in response.content.decode()
    assert not Appointment.objects.exists()


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("room", "10000"),
        ("therapist", "10000"),
        ("therapist", "receptionist"),
        ("room", "inactive room"),
        ("appointment_type", "10000"),
    ],
)
def test_it_refuses_a_crafted_choice(desk, request, patient, theo, follow_up, room, field, value):
    if value == "receptionist":
        value = request.getfixturevalue("receptionist").pk
    elif value == "inactive room":
        value = RoomFactory(name="Old gym", is_active=False).pk

    response = desk.post(book_url(patient), booking(patient, theo, follow_up, room) | {field: value})

    assert response.status_code == 200
    assert "Select a valid choice" in response.content.decode()
    assert response.context["form"].has_error(field, "invalid_choice")
    assert not Appointment.objects.exists()


def test_it_refuses_a_time_outside_the_therapists_hours(desk, patient, theo, follow_up, room):
    response = desk.post(book_url(patient), booking(patient, theo, follow_up, room, time="12:30"))

    assert response.status_code == 200
    assert "Theo Novak does not work then." in response.content.decode()
    assert not Appointment.objects.exists()


def test_it_refuses_a_day_the_clinic_is_closed(desk, patient, theo, follow_up, room):
    ClinicClosureFactory(date=TUESDAY, reason="Staff training")

    response = desk.post(book_url(patient), booking(patient, theo, follow_up, room, day=TUESDAY))

    assert response.status_code == 200
    assert "The clinic is closed on Tue 17 Nov (Staff training)." in response.content.decode()
    assert not Appointment.objects.exists()


def test_it_answers_404_for_an_archived_patient(desk, patient, theo, follow_up, room):
    patient.archived_at = NOW
    patient.save()

    assert desk.get(book_url(patient)).status_code == 404
    assert desk.post(book_url(patient), booking(patient, theo, follow_up, room)).status_code == 404
    assert not Appointment.objects.exists()


@pytest.mark.parametrize(
    "query",
    [
        {"day": "2026-02-30"},
        {"day": "2026-11-16", "time": "25:00"},
        {"therapist": "²"},
        {"day": "not a day", "time": "soon", "therapist": "x", "appointment_type": "-1"},
    ],
    ids=["no-such-date", "no-such-time", "superscript-digit", "garbage"],
)
def test_it_survives_a_nonsense_query_on_the_booking_page(desk, patient, theo, follow_up, query):
    query = {"therapist": theo.pk, "appointment_type": follow_up.pk, "day": "2026-11-16"} | query

    response = desk.get(book_url(patient), query)

    assert response.status_code == 200


@pytest.mark.parametrize(
    ("day", "time"), [("2026-02-30", "10:00"), ("2026-11-16", "25:00")], ids=["no-such-date", "no-such-time"]
)
def test_it_shows_a_form_error_for_a_posted_date_or_time_that_does_not_exist(
    desk, patient, theo, follow_up, room, day, time
):
    response = desk.post(
        book_url(patient), booking(patient, theo, follow_up, room) | {"day": day, "time": time}
    )

    assert response.status_code == 200
    assert response.context["form"].errors
    assert not Appointment.objects.exists()


# Moving an appointment.


@pytest.fixture
def appointment(patient, theo, follow_up, room):
    return visit(theo, follow_up, room, at(MONDAY, 10), patient=patient)


def reschedule_url(appointment):
    return reverse("scheduling:reschedule", args=[appointment.pk])


def test_it_moves_an_appointment_and_keeps_where_it_was(desk, receptionist, appointment, room_b):
    response = desk.post(
        reschedule_url(appointment), {"day": TUESDAY.isoformat(), "time": "09:00", "room": room_b.pk}
    )

    assert response.status_code == 302
    assert response.url == reverse("patients:detail", args=[appointment.patient_id])
    appointment.refresh_from_db()
    assert (appointment.starts_at, appointment.ends_at) == (at(TUESDAY, 9), at(TUESDAY, 9, 45))
    assert appointment.room == room_b
    change = AppointmentChange.objects.get(appointment=appointment, action="rescheduled")
    assert change.changed_by == receptionist
    assert change.detail == {
        "before": {"starts_at": "2026-11-16T10:00:00-05:00", "room": "Room A"},
        "after": {"starts_at": "2026-11-17T09:00:00-05:00", "room": "Room B"},
    }
    page = desk.get(response.url).content.decode()
    assert "Moved Maria Alvarez&#x27;s appointment to Tue 17 Nov at 09:00." in page


def test_it_refuses_to_move_to_a_busy_time_and_offers_free_times(desk, appointment, theo, follow_up, room_b):
    visit(theo, follow_up, room_b, at(TUESDAY, 9))

    response = desk.post(
        reschedule_url(appointment),
        {"day": TUESDAY.isoformat(), "time": "09:00", "room": appointment.room_id},
    )

    assert response.status_code == 200
    page = response.content.decode()
    assert "That slot was just taken" in page
    alternatives = response.context["slot_taken"].alternatives
    assert alternatives == [at(TUESDAY, 8, 15), at(TUESDAY, 9, 45), at(TUESDAY, 8)]
    assert f'href="?{slot_link(TUESDAY, 9, 45)}"' in page
    appointment.refresh_from_db()
    assert appointment.starts_at == at(MONDAY, 10)
    assert not AppointmentChange.objects.filter(action="rescheduled").exists()


def test_it_refuses_to_move_a_completed_appointment(desk, appointment):
    Appointment.objects.filter(pk=appointment.pk).update(status=Status.COMPLETED)

    response = desk.post(
        reschedule_url(appointment),
        {"day": TUESDAY.isoformat(), "time": "09:00", "room": appointment.room_id},
    )

    assert response.status_code == 200
    assert "Only a booked or confirmed appointment can be moved." in response.content.decode()
    appointment.refresh_from_db()
    assert (appointment.starts_at, appointment.status) == (at(MONDAY, 10), Status.COMPLETED)
    assert not AppointmentChange.objects.filter(action="rescheduled").exists()


def test_it_lists_the_free_times_of_the_day_asked_for(desk, appointment, theo, follow_up, room_b):
    visit(theo, follow_up, room_b, at(TUESDAY, 9))

    response = desk.get(reschedule_url(appointment), {"day": TUESDAY.isoformat()})

    slots = response.context["free_slots"]
    assert at(TUESDAY, 8) in slots
    assert at(TUESDAY, 9) not in slots
    assert at(TUESDAY, 9, 45) in slots


@pytest.mark.parametrize("day", ["2026-02-30", "garbage"])
def test_it_survives_a_nonsense_day_on_the_move_page(desk, appointment, day):
    assert desk.get(reschedule_url(appointment), {"day": day}).status_code == 200


# Cancelling the rest of a series.


def test_it_cancels_only_the_upcoming_appointments_of_the_series(
    desk, receptionist, patient, theo, follow_up, room
):
    series = AppointmentSeriesFactory(patient=patient, booked_by=receptionist)
    mine = {"patient": patient, "series": series}
    done = visit(theo, follow_up, room, at(LAST_MONDAY, 10), status=Status.COMPLETED, **mine)
    missed = visit(theo, follow_up, room, at(MONDAY, 6), **mine)  # began an hour ago
    today = visit(theo, follow_up, room, at(MONDAY, 10), status=Status.CONFIRMED, **mine)
    tomorrow = visit(theo, follow_up, room, at(TUESDAY, 10), **mine)
    wednesday = visit(theo, follow_up, room, at(WEDNESDAY, 10), **mine)
    already = visit(theo, follow_up, room, at(WEDNESDAY, 14), status=Status.CANCELLED, **mine)
    other_series = visit(
        theo,
        follow_up,
        room,
        at(WEDNESDAY, 15),
        patient=patient,
        series=AppointmentSeriesFactory(patient=patient, booked_by=receptionist),
    )
    loose = visit(theo, follow_up, room, at(WEDNESDAY, 16), patient=patient)

    response = desk.post(
        reverse("scheduling:series-cancel", args=[series.pk]), {"cancelled_by": "clinic"}, follow=True
    )

    assert "Cancelled 3 upcoming appointments of the series." in response.content.decode()
    status = dict(Appointment.objects.values_list("pk", "status"))
    assert status[done.pk] == Status.COMPLETED
    assert status[missed.pk] == Status.BOOKED
    assert status[other_series.pk] == status[loose.pk] == Status.BOOKED
    for cancelled, late in [(today, True), (tomorrow, False), (wednesday, False)]:
        cancelled.refresh_from_db()
        assert (cancelled.status, cancelled.cancelled_by) == (Status.CANCELLED, "clinic")
        assert cancelled.late_cancellation is late
    already.refresh_from_db()
    assert already.cancelled_by == ""
    assert AppointmentChange.objects.filter(action="cancelled").count() == 3


def test_it_says_so_when_a_series_has_nothing_left_to_cancel(desk, receptionist, patient):
    series = AppointmentSeriesFactory(patient=patient, booked_by=receptionist)

    response = desk.post(reverse("scheduling:series-cancel", args=[series.pk]), follow=True)

    assert "Cancelled 0 upcoming appointments of the series." in response.content.decode()


# The week and the day sheet.


@pytest.fixture
def two_weeks(theo, priya, follow_up, room, room_b):
    """Maria sees Theo on Tuesday; Jonas sees Priya on Wednesday; Theo's
    next week has Ada."""
    return {
        "maria": visit(
            theo,
            follow_up,
            room,
            at(TUESDAY, 9),
            patient=PatientFactory(first_name="Maria", last_name="Alvarez"),
        ),
        "jonas": visit(
            priya,
            follow_up,
            room_b,
            at(WEDNESDAY, 9),
            patient=PatientFactory(first_name="Jonas", last_name="Berg"),
        ),
        "ada": visit(
            theo,
            follow_up,
            room,
            at(TUESDAY + datetime.timedelta(days=7), 9),
            patient=PatientFactory(first_name="Ada", last_name="Lovelace"),
        ),
    }


def test_a_therapist_sees_only_their_own_week(client, theo, priya, two_weeks):
    client.force_login(theo)

    response = client.get(reverse("scheduling:week"), {"therapist": priya.pk, "day": "2026-11-18"})

    assert response.context["therapist"] == theo
    page = response.content.decode()
    assert "Maria Alvarez" in page
    assert "Jonas Berg" not in page
    assert "Ada Lovelace" not in page
    assert 'name="therapist"' not in page


def test_the_front_desk_chooses_whose_week_to_see(desk, theo, priya, two_weeks):
    response = desk.get(reverse("scheduling:week"), {"therapist": priya.pk, "day": "2026-11-18"})

    assert response.context["therapist"] == priya
    page = response.content.decode()
    assert "Jonas Berg" in page
    assert "Maria Alvarez" not in page
    assert f'<option value="{theo.pk}">' in page


def test_the_week_starts_on_monday(desk, theo, two_weeks):
    response = desk.get(reverse("scheduling:week"), {"therapist": theo.pk, "day": "2026-11-22"})

    assert response.context["monday"] == MONDAY
    assert [day for day, _ in response.context["days"]][-1] == datetime.date(2026, 11, 22)


def test_the_day_sheet_lists_each_therapists_appointments_with_the_patients_phone(
    desk, theo, priya, follow_up, room, room_b, patient
):
    visit(theo, follow_up, room, at(TUESDAY, 9), patient=patient)
    visit(
        priya,
        follow_up,
        room_b,
        at(TUESDAY, 11),
        patient=PatientFactory(first_name="Jonas", last_name="Berg", phone="+12125550199"),
    )

    response = desk.get(reverse("scheduling:day-sheet"), {"day": TUESDAY.isoformat()})

    columns = {
        therapist: [a.patient.full_name for a in visits] for therapist, visits in response.context["columns"]
    }
    assert columns == {theo: ["Maria Alvarez"], priya: ["Jonas Berg"]}
    page = response.content.decode()
    assert "<td>09:00\u201309:45</td><td>Maria Alvarez</td><td>(212) 555-0147</td><td>Room A</td>" in page
    assert "<td>11:00\u201311:45</td><td>Jonas Berg</td><td>(212) 555-0199</td><td>Room B</td>" in page


@pytest.mark.parametrize("name", ["scheduling:front-desk", "scheduling:day-sheet", "scheduling:week"])
@pytest.mark.parametrize("day", ["2026-02-30", "9999-12-31", "0001-01-01"])
def test_the_schedule_pages_survive_a_day_that_does_not_exist_or_is_out_of_range(desk, name, day):
    assert desk.get(reverse(name), {"day": day}).status_code in (200, 400)


# Queries: the same number for 2 appointments as for 20.


def queries(client, name, query):
    with CaptureQueriesContext(connection) as captured:
        response = client.get(reverse(name), query)
    assert response.status_code == 200
    return len(captured.captured_queries)


@pytest.mark.parametrize("name", ["scheduling:front-desk", "scheduling:day-sheet", "scheduling:week"])
def test_the_schedule_pages_run_the_same_number_of_queries_for_2_or_20_appointments(desk, theo, priya, name):
    query = {"day": TUESDAY.isoformat(), "therapist": theo.pk}
    busy_day(TUESDAY, [theo, priya], 2)
    with_two = queries(desk, name, query)

    busy_day(TUESDAY, [theo, priya], 18, already=2)
    assert Appointment.objects.on_day(TUESDAY).count() == 20
    with_twenty = queries(desk, name, query)

    assert with_twenty == with_two
