"""`seed_demo` fills an empty clinic with people to log in as and a few days
of work, is safe to run twice, and never runs in production."""

import datetime
from io import StringIO
from zoneinfo import ZoneInfo

import pytest
import time_machine
from django.contrib.auth import get_user_model
from django.core.management import CommandError, call_command
from django.urls import reverse

from clinic import roles
from clinic.management.commands.seed_demo import DEMO_PASSWORD
from patients.models import Patient
from scheduling.models import Appointment, Room, WorkingHours

pytestmark = pytest.mark.django_db

User = get_user_model()

DEMO_LOGINS = {
    "admin": (roles.CLINIC_ADMIN, "clinic:dashboard"),
    "reception": (roles.RECEPTIONIST, "scheduling:front-desk"),
    "therapist": (roles.THERAPIST, "treatments:my-day"),
    "therapist2": (roles.THERAPIST, "treatments:my-day"),
    "therapist3": (roles.THERAPIST, "treatments:my-day"),
}


@pytest.fixture(autouse=True)
def on_a_wednesday_morning():
    with time_machine.travel(datetime.datetime(2026, 5, 13, 8, 0, tzinfo=ZoneInfo("America/New_York"))):
        yield


def seed_demo():
    out = StringIO()
    call_command("seed_demo", stdout=out)
    return out.getvalue()


def clinic_rows():
    return {
        "users": User.objects.count(),
        "patients": Patient.objects.count(),
        "rooms": Room.objects.count(),
        "working hours": WorkingHours.objects.count(),
        "appointments": Appointment.objects.count(),
    }


def test_it_creates_each_demo_user_in_its_role():
    seed_demo()
    for username, (role, _home_page) in DEMO_LOGINS.items():
        user = User.objects.get(username=username)
        assert set(user.groups.values_list("name", flat=True)) == {role}


def test_it_gives_each_therapist_working_hours():
    seed_demo()
    therapists = User.objects.filter(groups__name=roles.THERAPIST)
    assert therapists.count() == 3
    for therapist in therapists:
        assert therapist.working_hours.exists(), f"{therapist.username} has no working hours"


def test_it_creates_rooms_patients_and_appointments():
    seed_demo()
    assert set(Room.objects.filter(is_active=True).values_list("name", flat=True)) == {
        "Room 1",
        "Room 2",
        "Room 3",
    }
    assert Patient.objects.count() == 12
    assert Appointment.objects.exists()


def test_it_prints_each_demo_login_and_the_password():
    out = seed_demo()
    for username in DEMO_LOGINS:
        assert username in out
    assert DEMO_PASSWORD in out


def test_it_changes_nothing_when_run_again():
    seed_demo()
    before = clinic_rows()

    out = seed_demo()

    assert clinic_rows() == before
    assert "nothing changed" in out
    assert DEMO_PASSWORD in out


@pytest.mark.parametrize(("username", "home_page"), [(u, home) for u, (_, home) in DEMO_LOGINS.items()])
def test_it_lets_each_demo_login_reach_its_home_page(client, username, home_page):
    seed_demo()
    response = client.post(reverse("login"), {"username": username, "password": DEMO_PASSWORD}, follow=True)
    assert response.status_code == 200
    assert response.resolver_match.view_name == home_page


def test_it_refuses_to_run_in_production(settings):
    settings.PRODUCTION = True
    with pytest.raises(CommandError, match="not in production"):
        seed_demo()
    assert clinic_rows() == {
        "users": 0,
        "patients": 0,
        "rooms": 0,
        "working hours": 0,
        "appointments": 0,
    }
