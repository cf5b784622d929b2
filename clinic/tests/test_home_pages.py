"""Each role's home page shows the clinic's real day: the front desk lists
today's appointments, a therapist's "my day" lists their own visits, and the
clinic admin's dashboard counts each therapist's day by status. Pages cost
the same number of queries however busy the day is."""

import datetime
import html
import re
from zoneinfo import ZoneInfo

import pytest
import time_machine
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from scheduling.models import Appointment, Reminder
from scheduling.tests.factories import AppointmentFactory, needling_type
from treatments.models import AftercareCheckIn

# Declared for the whole module: some tests only reach the database through
# request.getfixturevalue(), which pytest-django cannot see when it orders tests.
pytestmark = pytest.mark.django_db

CLINIC_TIME = ZoneInfo("America/New_York")
# A Wednesday, at noon in the clinic.
NOON = datetime.datetime(2026, 5, 13, 12, 0, tzinfo=CLINIC_TIME)
TODAY = NOON.date()
YESTERDAY = TODAY - datetime.timedelta(days=1)
TOMORROW = TODAY + datetime.timedelta(days=1)

Status = Appointment.Status


@pytest.fixture(autouse=True)
def at_noon():
    with time_machine.travel(NOON, tick=False):
        yield


def at(day, hour, minute=0):
    return timezone.make_aware(datetime.datetime.combine(day, datetime.time(hour, minute)))


def visit(therapist, patient_name, *, day=TODAY, hour=10, status=Status.BOOKED):
    first_name, last_name = patient_name.split()
    return AppointmentFactory(
        therapist=therapist,
        patient__first_name=first_name,
        patient__last_name=last_name,
        starts_at=at(day, hour),
        status=status,
    )


def page_text(response):
    assert response.status_code == 200
    return html.unescape(re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", response.content.decode())))


def table_rows(response, table_id="today"):
    """A table of the dashboard, by default today's per therapist: {row header: [cell, ...]}."""
    rows = {}
    page = response.content.decode()
    table = re.search(rf'<table[^>]* id="{table_id}">(.*?)</table>', page, re.DOTALL).group(1)
    for row in re.findall(r"<tr>(.*?)</tr>", table, flags=re.DOTALL):
        cells = [
            html.unescape(cell.strip()) for cell in re.findall(r"<t[hd][^>]*>(.*?)</t[hd]>", row, re.DOTALL)
        ]
        rows[cells[0]] = cells[1:]
    return rows


@pytest.fixture
def a_day_at_the_clinic(therapist, other_therapist):
    """Theo's and Priya's visits today, and Theo's yesterday and tomorrow."""
    visit(therapist, "Maria Alvarez", hour=9)
    visit(therapist, "James Brooks", hour=10, status=Status.CHECKED_IN)
    visit(other_therapist, "Aisha Khan", hour=10)
    visit(therapist, "Daniel Okafor", day=YESTERDAY)
    visit(therapist, "Helen Fischer", day=TOMORROW)


# The front desk.


def test_it_lists_todays_patients_at_the_front_desk(client, receptionist, a_day_at_the_clinic):
    client.force_login(receptionist)
    text = page_text(client.get(reverse("scheduling:front-desk")))
    assert "Maria Alvarez" in text
    assert "James Brooks" in text
    assert "Aisha Khan" in text
    assert "Daniel Okafor" not in text
    assert "Helen Fischer" not in text
    assert "09:00\u201309:45 Booked Maria Alvarez" in text


def test_it_counts_todays_appointments_by_status_at_the_front_desk(client, receptionist, a_day_at_the_clinic):
    client.force_login(receptionist)
    text = page_text(client.get(reverse("scheduling:front-desk")))
    assert "Booked: 2" in text
    assert "Checked in: 1" in text
    assert "Completed: 0" in text


def test_it_says_so_when_nothing_is_booked_today_at_the_front_desk(client, receptionist, therapist):
    visit(therapist, "Daniel Okafor", day=YESTERDAY)
    client.force_login(receptionist)
    text = page_text(client.get(reverse("scheduling:front-desk")))
    assert "No appointments are booked for today." in text
    assert "Daniel Okafor" not in text


# A therapist's day.


def test_it_lists_only_the_therapists_own_visits_today(client, therapist, a_day_at_the_clinic):
    client.force_login(therapist)
    text = page_text(client.get(reverse("treatments:my-day")))
    assert "Maria Alvarez" in text
    assert "James Brooks" in text
    assert "Aisha Khan" not in text  # Priya's patient
    assert "Daniel Okafor" not in text  # yesterday
    assert "Helen Fischer" not in text  # tomorrow
    assert "Later this week: 1 visit booked." in text


def test_it_leaves_cancelled_visits_off_the_therapists_day(client, therapist):
    visit(therapist, "Maria Alvarez", status=Status.CANCELLED)
    client.force_login(therapist)
    text = page_text(client.get(reverse("treatments:my-day")))
    assert "Maria Alvarez" not in text
    assert "You have no visits booked today." in text


def test_it_says_so_when_the_therapist_has_no_visits_today(client, therapist, other_therapist):
    visit(other_therapist, "Aisha Khan")
    client.force_login(therapist)
    text = page_text(client.get(reverse("treatments:my-day")))
    assert "You have no visits booked today." in text
    assert "Later this week: 0 visits booked." in text


def test_it_warns_of_needling_visits_ahead_in_as_few_queries_for_a_full_month_as_for_a_quiet_one(
    client, therapist, django_assert_num_queries
):
    """Four weeks ahead: needling visits of patients who are not cleared are
    listed, the rest of the week is counted, and a full diary costs no more."""
    needling = needling_type()

    def book(day, hour, name, *, appointment_type=None):
        first_name, last_name = name.split()
        extra = {"appointment_type": appointment_type} if appointment_type else {}
        return AppointmentFactory(
            therapist=therapist,
            patient__first_name=first_name,
            patient__last_name=last_name,
            starts_at=at(day, hour),
            **extra,
        )

    book(TOMORROW, 10, "Helen Fischer")
    book(TODAY + datetime.timedelta(days=6), 10, "Sam Unscreened", appointment_type=needling)
    client.force_login(therapist)
    client.get(reverse("treatments:my-day"))
    with CaptureQueriesContext(connection) as quiet:
        text = page_text(client.get(reverse("treatments:my-day")))
    assert "Later this week: 1 visit booked." in text
    assert "Needling visits your patients are no longer cleared for" in text
    assert "Sam Unscreened , Tue 19 May, 10:00" in text
    assert "Helen Fischer" not in text  # not needled, and not today

    for n in range(2, 28):
        book(TODAY + datetime.timedelta(days=n), 14, f"Other Patient{n}")
    book(TODAY + datetime.timedelta(days=20), 9, "Lee Unscreened", appointment_type=needling)

    with django_assert_num_queries(len(quiet)):
        text = page_text(client.get(reverse("treatments:my-day")))
    assert "Later this week: 4 visits booked." in text  # Thursday to Sunday
    assert "Sam Unscreened , Tue 19 May, 10:00" in text
    assert "Lee Unscreened , Tue 2 Jun, 09:00" in text
    assert "Other Patient" not in text


# The clinic admin's dashboard.


def test_it_counts_each_therapists_day_by_status(client, clinic_admin, therapist, other_therapist):
    statuses = (Status.BOOKED, Status.BOOKED, Status.CHECKED_IN, Status.COMPLETED, Status.NO_SHOW)
    for hour, status in enumerate(statuses, start=8):
        visit(therapist, "Maria Alvarez", hour=hour, status=status)
    visit(therapist, "James Brooks", hour=14, status=Status.CANCELLED)
    visit(therapist, "Daniel Okafor", day=YESTERDAY, status=Status.COMPLETED)
    visit(therapist, "Helen Fischer", day=TOMORROW)
    visit(other_therapist, "Aisha Khan", status=Status.COMPLETED)
    visit(other_therapist, "Grace Liu", status=Status.CANCELLED)

    client.force_login(clinic_admin)
    rows = table_rows(client.get(reverse("clinic:dashboard")))

    # Appointments (not cancelled), still to come, checked in, completed, no-shows,
    # cancelled, unsigned charts.
    assert rows[therapist.get_full_name()] == ["5", "2", "1", "1", "1", "1", "0"]
    assert rows[other_therapist.get_full_name()] == ["1", "0", "0", "1", "0", "1", "0"]


def test_it_shows_a_therapist_with_an_empty_day_on_the_dashboard(client, clinic_admin, therapist):
    client.force_login(clinic_admin)
    rows = table_rows(client.get(reverse("clinic:dashboard")))
    assert rows[therapist.get_full_name()] == ["0", "0", "0", "0", "0", "0", "0"]


def test_it_says_so_when_the_clinic_has_no_therapists(client, clinic_admin):
    client.force_login(clinic_admin)
    text = page_text(client.get(reverse("clinic:dashboard")))
    assert "No therapists yet." in text


# Query counts.


def book_today(count, therapists, *, first=0):
    """`count` visits today, shared between the therapists, each therapist's
    46 minutes apart so that none overlaps (the schedule forbids it)."""
    for n in range(first, first + count):
        AppointmentFactory(
            therapist=therapists[n % len(therapists)],
            starts_at=at(TODAY, 0, 0) + (n // len(therapists)) * datetime.timedelta(minutes=46),
        )


@pytest.mark.parametrize(
    ("persona", "page", "most_queries"),
    [
        # Each includes three for saving the session (it is renewed by every request).
        ("receptionist", "scheduling:front-desk", 9),
        ("therapist", "treatments:my-day", 10),
        ("clinic_admin", "clinic:dashboard", 33),
    ],
)
def test_it_renders_a_busy_day_in_as_few_queries_as_a_quiet_one(
    client,
    request,
    therapist,
    other_therapist,
    django_assert_max_num_queries,
    django_assert_num_queries,
    persona,
    page,
    most_queries,
):
    client.force_login(request.getfixturevalue(persona))
    therapists = [therapist] if persona == "therapist" else [therapist, other_therapist]

    book_today(2, therapists)
    with django_assert_max_num_queries(most_queries) as quiet_day:
        assert client.get(reverse(page)).status_code == 200

    book_today(18, therapists, first=2)
    with django_assert_num_queries(len(quiet_day)):
        response = client.get(reverse(page))
    assert response.status_code == 200


def test_it_keeps_the_whole_day_at_the_front_desk_when_the_clocks_go_back(client, receptionist, therapist):
    clocks_go_back = datetime.date(2026, 11, 1)  # a 25-hour day in New York
    visit(therapist, "Maria Alvarez", day=clocks_go_back, hour=0)
    visit(therapist, "James Brooks", day=clocks_go_back, hour=23)
    visit(therapist, "Aisha Khan", day=clocks_go_back + datetime.timedelta(days=1), hour=0)

    with time_machine.travel(datetime.datetime(2026, 11, 1, 12, 0, tzinfo=CLINIC_TIME), tick=False):
        client.force_login(receptionist)
        text = page_text(client.get(reverse("scheduling:front-desk")))
    assert "Maria Alvarez" in text
    assert "James Brooks" in text
    assert "Aisha Khan" not in text


# The health of the patient emails on the dashboard.


def test_it_shows_the_outbox_and_check_in_alerts_on_the_dashboard(client, clinic_admin):
    kinds = iter(Reminder.Kind.values)

    def reminder(status, **fields):
        appointment = AppointmentFactory(starts_at=at(TODAY, 8 + len(Reminder.objects.all())))
        return Reminder.objects.create(
            appointment=appointment, kind=next(kinds, "booking_confirmation"), status=status, **fields
        )

    reminder(Reminder.Status.PENDING, due_at=NOON - datetime.timedelta(minutes=42))
    reminder(Reminder.Status.PENDING, due_at=NOON + datetime.timedelta(hours=3))
    reminder(Reminder.Status.SENT, due_at=NOON, sent_at=NOON - datetime.timedelta(hours=1))
    reminder(Reminder.Status.FAILED, due_at=NOON, last_error="SMTPServerDisconnected")
    AftercareCheckIn.objects.create(
        appointment=AppointmentFactory(starts_at=at(YESTERDAY, 9)), soreness=7, leg_pain=8, alert=True
    )
    client.force_login(clinic_admin)

    text = page_text(client.get(reverse("clinic:dashboard")))

    assert "Waiting to be sent 2" in text
    assert "Sent today 1" in text
    assert "Failed 1: see the outbox" in text
    assert "1 overdue, the oldest by 42 minutes" in text
    assert "Check-in alerts open 1" in text


def test_it_shows_a_quiet_outbox_as_healthy(client, clinic_admin):
    client.force_login(clinic_admin)

    text = page_text(client.get(reverse("clinic:dashboard")))

    assert "Failed 0" in text
    assert "Oldest overdue none" in text
