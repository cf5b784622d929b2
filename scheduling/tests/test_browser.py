"""Booking at the front desk in a real browser: a receptionist books a chronic
plan's six sessions as one series around the therapist's day off, and two
receptionists race for the same slot.

The live server runs on real time, so every date is picked relative to today
(nothing is frozen). The locators are accessible ones (labels, roles, group
names), so these tests also prove that the booking forms are labelled.
SCREENSHOTS=1 saves each step's page under VAR_DIR/screenshots/.
"""

import datetime
import re
import time

import pytest
from django.utils import timezone
from django.utils.dateparse import parse_datetime
from playwright.sync_api import expect

from clinic.tests import factories as people
from clinic.tests.browser import log_in, screenshot
from patients.tests.factories import PatientFactory
from scheduling.models import Appointment, Room, WorkingHours
from scheduling.tests.factories import WorkingHoursExceptionFactory
from treatments.tests.factories import active_plan, cleared_patient

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True, serialized_rollback=True)]

FOLLOW_UP = "Dry-needling session (45 min)"
# Booked for patients not yet screened: a visit without needling.
FIRST_ASSESSMENT = "First assessment (60 min)"
TEN = datetime.time(10)


def field(page, label):
    """The required form control labelled `label` (crispy ends a required
    field's label with an asterisk)."""
    return page.get_by_label(f"{label}*", exact=True)


def next_day(weekdays, at_least=2):
    """The first clinic-local day at least `at_least` days from today whose
    weekday (Monday is 0) is one of `weekdays`."""
    day = timezone.localdate() + datetime.timedelta(days=at_least)
    while day.weekday() not in weekdays:
        day += datetime.timedelta(days=1)
    return day


def at(day, when=TEN):
    return timezone.make_aware(datetime.datetime.combine(day, when))


def working_week(therapist):
    """Monday to Friday, 08:00-17:00."""
    for weekday in range(5):
        WorkingHours.objects.create(
            therapist=therapist, weekday=weekday, starts_at=datetime.time(8), ends_at=datetime.time(17)
        )


def full_name(user):
    return user.get_full_name() or user.get_username()


def test_a_receptionist_books_a_six_session_series_around_a_day_off(
    page, live_server, receptionist, therapist
):
    working_week(therapist)
    patient = cleared_patient(therapist, first_name="Sam", last_name="Sciatica")
    plan = active_plan(
        therapist, patient, severity="chronic", planned_sessions=6, reassessment_after_session=6
    )
    room = Room.objects.create(name="Room A")
    first_tuesday = next_day({1})
    day_off = first_tuesday + datetime.timedelta(weeks=2)
    WorkingHoursExceptionFactory(therapist=therapist, date=day_off)
    log_in(page, live_server, receptionist)
    page.goto(f"{live_server.url}{patient.get_absolute_url()}")

    started = time.monotonic()
    page.get_by_role("link", name="Book sessions").click()
    expect(page.get_by_role("heading", level=1, name=re.compile("^Book the plan's sessions"))).to_be_visible()
    field(page, "First day").fill(first_tuesday.isoformat())
    field(page, "Time").fill("10:00")
    page.get_by_label("Tue", exact=True).check()
    field(page, "Appointment type").select_option(label=FOLLOW_UP)
    field(page, "Room").select_option(label=room.name)
    page.get_by_role("button", name="Preview the sessions").click()

    preview = page.get_by_role("region", name="Proposed sessions")
    expect(preview).to_be_visible()
    sessions = [preview.get_by_role("group", name=re.compile(rf"^Session {n}:")) for n in range(1, 7)]
    for number, session in enumerate(sessions, start=1):
        expect(session).to_be_visible()
        if number != 3:
            expect(session.get_by_role("radio", name=re.compile("^Keep "))).to_be_checked()
    third = sessions[2]
    expect(third).to_contain_text(f"{full_name(therapist)} does not work then.")
    expect(third.get_by_role("radio", name=re.compile("^Keep "))).to_have_count(0)
    # The alternatives are named by their time ("Wed 9 Dec, 10:00"), before "Another time:".
    alternatives = third.get_by_role("radio", name=re.compile(r"^\w{3} \d{1,2} \w{3}, \d\d:\d\d$"))
    expect(alternatives.first).to_be_visible()
    first_alternative = third.get_by_role("radio").first
    expect(first_alternative).to_have_accessible_name(re.compile(r"^\w{3} \d{1,2} \w{3}, \d\d:\d\d$"))
    expect(first_alternative).to_be_checked()  # the nearest free time comes preselected
    moved_to = parse_datetime(first_alternative.get_attribute("value"))
    assert moved_to is not None
    assert timezone.localdate(moved_to) != day_off
    screenshot(page, "series-preview")
    first_alternative.check()  # the receptionist's choice, made explicit
    page.get_by_role("button", name="Book all 6 sessions").click()

    expect(page.get_by_role("alert").filter(has_text="Booked 6 sessions for")).to_be_visible()
    elapsed = time.monotonic() - started
    screenshot(page, "series-booked")
    assert elapsed < 60, f"booking the series took {elapsed:.1f} s"

    booked = list(Appointment.objects.filter(patient=patient).order_by("starts_at"))
    expected = [at(first_tuesday + datetime.timedelta(weeks=week)) for week in range(6)]
    expected[2] = moved_to
    assert [a.starts_at for a in booked] == sorted(expected)
    assert {a.therapist for a in booked} == {therapist}
    assert {a.room for a in booked} == {room}
    assert {a.appointment_type.name for a in booked} == {"Dry-needling session"}
    assert plan.appointment_series.count() == 1

    # The front desk's day view of the first session shows it in the therapist's column.
    page.goto(f"{live_server.url}/front-desk/?day={first_tuesday.isoformat()}")
    column = page.get_by_role("region", name=re.compile(rf"^{re.escape(full_name(therapist))}"))
    expect(column.get_by_role("article", name=f"10:00 {patient.full_name}")).to_be_visible()
    expect(column.get_by_role("link", name=patient.full_name)).to_be_visible()
    screenshot(page, "series-front-desk")


def fill_booking(page, live_server, patient, *, therapist, day, room):
    page.goto(f"{live_server.url}{patient.get_absolute_url()}")
    page.get_by_role("link", name="Book appointment").click()
    expect(page.get_by_role("heading", level=1, name=re.compile("^Book an appointment"))).to_be_visible()
    field(page, "Therapist").select_option(label=full_name(therapist))
    field(page, "Appointment type").select_option(label=FIRST_ASSESSMENT)
    field(page, "Day").fill(day.isoformat())
    field(page, "Time").fill("10:00")
    field(page, "Room").select_option(label=room.name)


def test_a_second_receptionist_trying_the_same_slot_hears_it_was_just_taken(
    page, browser, live_server, therapist
):
    working_week(therapist)
    rosa = people.receptionist(username="rosa")
    ines = people.receptionist(username="ines")
    first_patient = PatientFactory(first_name="Ada", last_name="First")
    second_patient = PatientFactory(first_name="Ben", last_name="Second")
    room = Room.objects.create(name="Room A")
    day = next_day({0, 1, 2, 3, 4})
    other_context = browser.new_context(viewport={"width": 1024, "height": 768})
    try:
        other = other_context.new_page()
        other.set_default_timeout(10_000)
        log_in(page, live_server, rosa)
        log_in(other, live_server, ines)
        # Both fill in the same slot before either books.
        fill_booking(page, live_server, first_patient, therapist=therapist, day=day, room=room)
        fill_booking(other, live_server, second_patient, therapist=therapist, day=day, room=room)

        page.get_by_role("button", name="Book", exact=True).click()
        expect(page.get_by_role("alert").filter(has_text=f"Booked {first_patient}")).to_be_visible()
        expect(page.get_by_role("heading", level=1)).to_contain_text(first_patient.full_name)

        other.get_by_role("button", name="Book", exact=True).click()
        alert = other.get_by_role("alert").filter(has_text="That slot was just taken")
        expect(alert).to_be_visible()
        expect(alert.get_by_role("link").first).to_be_visible()
        assert alert.get_by_role("link").count() >= 1
        screenshot(other, "slot-just-taken")
    finally:
        other_context.close()

    booked = Appointment.objects.filter(starts_at=at(day))
    assert [a.patient for a in booked] == [first_patient]
    assert not Appointment.objects.filter(patient=second_patient).exists()
