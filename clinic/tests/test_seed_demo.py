"""`seed_demo` fills an empty clinic with people to log in as and six weeks of
their care, enough for every panel of the dashboard whatever the day it runs,
consistent (no double booking, every visit that happened charted and signed),
is safe to run twice, and never runs in production."""

import datetime
import itertools
from io import StringIO
from zoneinfo import ZoneInfo

import pytest
import time_machine
from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.management import CommandError, call_command
from django.db import transaction
from django.db.models import Q
from django.test import override_settings
from django.urls import reverse
from django.utils import timezone

from clinic import roles
from clinic.management.commands.seed_demo import DEMO_PASSWORD, PATIENTS
from patients.models import Patient, Screening, ScreeningCategory
from scheduling.availability import local, working_windows
from scheduling.models import Appointment, Reminder, Room, WorkingHours
from treatments import outcomes
from treatments.models import AdverseEvent, AftercareCheckIn, SessionChart, TreatmentPlan
from treatments.outcomes import plan_outcomes

pytestmark = pytest.mark.django_db

User = get_user_model()
CLINIC = ZoneInfo("America/New_York")
Status = Appointment.Status

DEMO_LOGINS = {
    "admin": (roles.CLINIC_ADMIN, "clinic:dashboard"),
    "reception": (roles.RECEPTIONIST, "scheduling:front-desk"),
    "therapist": (roles.THERAPIST, "treatments:my-day"),
    "therapist2": (roles.THERAPIST, "treatments:my-day"),
    "therapist3": (roles.THERAPIST, "treatments:my-day"),
}


WEDNESDAY_MORNING = datetime.datetime(2026, 5, 13, 8, 0, tzinfo=CLINIC)


@pytest.fixture(autouse=True)
def on_a_wednesday_morning():
    with time_machine.travel(WEDNESDAY_MORNING):
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
        "screenings": Screening.objects.count(),
        "plans": TreatmentPlan.objects.count(),
        "charts": SessionChart.objects.count(),
        "emails": Reminder.objects.count(),
    }


@pytest.fixture(scope="class")
def seeded_clinic(django_db_setup, django_db_blocker):
    """The demo clinic, seeded once on Wednesday morning for the tests that
    only read it (seeding six weeks of care takes seconds), and rolled back
    after them; each test runs in a savepoint of its own within."""
    fast_hasher = override_settings(PASSWORD_HASHERS=["django.contrib.auth.hashers.MD5PasswordHasher"])
    with django_db_blocker.unblock(), transaction.atomic():
        with time_machine.travel(WEDNESDAY_MORNING, tick=False), fast_hasher:
            out = seed_demo()
        yield out
        transaction.set_rollback(True)


@pytest.mark.usefixtures("seeded_clinic")
class TestTheDemoClinic:
    def test_it_creates_each_demo_user_in_its_role(self):
        for username, (role, _home_page) in DEMO_LOGINS.items():
            user = User.objects.get(username=username)
            assert set(user.groups.values_list("name", flat=True)) == {role}

    def test_it_gives_each_therapist_working_hours(self):
        therapists = User.objects.filter(groups__name=roles.THERAPIST)
        assert therapists.count() == 3
        for therapist in therapists:
            assert therapist.working_hours.exists(), f"{therapist.username} has no working hours"

    def test_it_creates_rooms_patients_and_appointments(self):
        assert set(Room.objects.filter(is_active=True).values_list("name", flat=True)) == {
            "Room 1",
            "Room 2",
            "Room 3",
        }
        assert Patient.objects.count() == len(PATIENTS) >= 30
        assert Appointment.objects.exists()

    def test_it_prints_each_demo_login_and_the_password(self, seeded_clinic):
        for out in (seeded_clinic, seed_demo()):
            for username in DEMO_LOGINS:
                assert username in out
            assert DEMO_PASSWORD in out

    def test_it_changes_nothing_when_run_again(self):
        before = clinic_rows()

        out = seed_demo()

        assert clinic_rows() == before
        assert "nothing changed" in out
        assert DEMO_PASSWORD in out

    @pytest.mark.parametrize(("username", "home_page"), [(u, home) for u, (_, home) in DEMO_LOGINS.items()])
    def test_it_lets_each_demo_login_reach_its_home_page(self, client, username, home_page):
        response = client.post(
            reverse("login"), {"username": username, "password": DEMO_PASSWORD}, follow=True
        )
        assert response.status_code == 200
        assert response.resolver_match.view_name == home_page

    def test_it_gives_every_dashboard_panel_something_to_show(self):
        # Wednesday 08:00: the first visits of the day have just begun.
        assert_consistent()
        assert_every_panel_has_something_to_show()
        today = Appointment.objects.on_day(timezone.localdate())
        assert today.filter(status=Status.CHECKED_IN, chart__signed_at__isnull=True).exists()
        assert today.filter(status__in=[Status.BOOKED, Status.CONFIRMED]).count() >= 3


def test_it_refuses_to_run_in_production(settings):
    settings.PRODUCTION = True
    with pytest.raises(CommandError, match="not in production"):
        seed_demo()
    assert set(clinic_rows().values()) == {0}


# The history: what each panel of the clinic admin's dashboard reads.


def this_week():
    today = timezone.localdate()
    monday = today - datetime.timedelta(days=today.weekday())
    return local(monday, datetime.time.min), local(monday + datetime.timedelta(days=7), datetime.time.min)


def assert_consistent():
    """Nothing double-booked, all within working hours; every visit that
    happened is completed with a signed chart, and none that has not; every
    plan's stored outcomes are current."""
    now = timezone.now()
    assert outcomes.stale_plans() == []
    occupying = list(Appointment.objects.occupying().select_related("therapist"))
    for field in ("therapist_id", "room_id", "patient_id"):
        by_whom = {}
        for appointment in occupying:
            by_whom.setdefault(getattr(appointment, field), []).append(appointment)
        for appointments in by_whom.values():
            appointments.sort(key=lambda a: a.starts_at)
            for earlier, later in itertools.pairwise(appointments):
                assert earlier.ends_at <= later.starts_at, f"{earlier} and {later} overlap ({field})"
    for appointment in Appointment.objects.select_related("therapist"):
        windows = working_windows(appointment.therapist, timezone.localdate(appointment.starts_at))
        assert any(start <= appointment.starts_at and appointment.ends_at <= end for start, end in windows), (
            f"{appointment} is outside working hours"
        )
    completed = Appointment.objects.filter(status=Status.COMPLETED)
    assert completed.exists()
    assert not completed.filter(ends_at__gt=now).exists()
    assert not completed.filter(Q(chart__isnull=True) | Q(chart__signed_at__isnull=True)).exists()
    assert not Appointment.objects.filter(
        status__in=[Status.BOOKED, Status.CONFIRMED], starts_at__lt=now
    ).exists()
    assert not Appointment.objects.filter(status__in=[Status.NO_SHOW, Status.CHECKED_IN], starts_at__gt=now)[
        1:
    ].exists()
    assert not Reminder.objects.filter(status=Reminder.Status.PENDING, due_at__lt=now).exists()
    for plan in TreatmentPlan.objects.all():
        assert plan.activated_at <= now
        assert plan.activated_at >= Screening.objects.filter(patient=plan.patient).get().signed_at


def assert_every_panel_has_something_to_show():
    now = timezone.now()
    week = this_week()
    in_week = Q(starts_at__gte=week[0], starts_at__lt=week[1])

    # Attendance: a no-show and a late cancellation this week.
    assert Appointment.objects.filter(in_week, status=Status.NO_SHOW, starts_at__lte=now).exists()
    late = Appointment.objects.filter(in_week, status=Status.CANCELLED, late_cancellation=True)
    assert late.filter(cancelled_by=Appointment.CancelledBy.PATIENT).exists()
    assert Appointment.objects.filter(status=Status.CANCELLED, late_cancellation=False).exists()

    # Plans: completed ones measured by an ODI re-assessment, one ending this
    # week; a discontinued one with its reason; an active one not improving.
    completed = list(TreatmentPlan.objects.filter(status=TreatmentPlan.Status.COMPLETED))
    assert len(completed) >= 5
    assert {plan.severity for plan in completed} == set(TreatmentPlan.Severity.values)
    assert all(plan_outcomes(plan).odi is not None for plan in completed)
    assert any(plan_outcomes(plan).odi.meets_mic for plan in completed)
    assert not all(plan_outcomes(plan).leg_pain.meets_mic for plan in completed)
    assert any(week[0] <= plan.ended_at < week[1] for plan in completed)
    assert all(plan.ended_at <= now for plan in completed)
    discontinued = TreatmentPlan.objects.filter(status=TreatmentPlan.Status.DISCONTINUED)
    assert discontinued.exists()
    assert all(plan.status_reason for plan in discontinued)
    active = TreatmentPlan.objects.filter(status=TreatmentPlan.Status.ACTIVE)
    assert [plan.patient.full_name for plan in active if plan_outcomes(plan).not_improving] == ["Aisha Khan"]

    # Patients: new ones this week, screenings of every result, an urgent referral.
    assert Patient.objects.filter(created_at__gte=week[0], created_at__lte=now).count() >= 2
    assert set(Screening.objects.signed().values_list("result", flat=True)) == set(Screening.Result.values)
    urgent = Screening.objects.signed().get(result=Screening.Result.REFER_URGENT)
    assert urgent.answers.filter(answer=True, category=ScreeningCategory.REFER_URGENT).exists()
    assert week[0] <= urgent.signed_at <= now

    # Safety: mild events, and exactly one serious one, on a signed chart.
    mild = AdverseEvent.objects.filter(severity=AdverseEvent.Severity.MILD)
    assert mild.values("kind").distinct().count() >= 3
    serious = AdverseEvent.objects.get(kind__in=AdverseEvent.SERIOUS)
    assert serious.kind == AdverseEvent.Kind.NERVE_INJURY
    assert serious.severity == AdverseEvent.Severity.MODERATE
    assert serious.chart.is_signed
    assert now - serious.chart.appointment.starts_at < datetime.timedelta(days=30)

    # Emails: sent, waiting for the visits to come, one failed; an open check-in alert.
    assert Reminder.objects.filter(status=Reminder.Status.SENT, sent_at__lte=now).count() >= 100
    assert Reminder.objects.filter(
        status=Reminder.Status.PENDING, kind=Reminder.Kind.APPOINTMENT_REMINDER, due_at__gt=now
    ).exists()
    failed = Reminder.objects.get(status=Reminder.Status.FAILED)
    assert failed.attempts == settings.REMINDER_MAX_ATTEMPTS
    assert failed.last_error.startswith("SMTP")
    alert = AftercareCheckIn.objects.get(alert=True, acknowledged_at__isnull=True)
    assert alert.submitted_at <= now
    assert alert.leg_pain > alert.appointment.chart.leg_pain_before

    # Unsigned charts: a visit checked in, its chart a draft.
    draft = SessionChart.objects.get(signed_at__isnull=True)
    assert draft.appointment.status == Status.CHECKED_IN


def test_it_fills_today_on_a_working_afternoon():
    with time_machine.travel(datetime.datetime(2026, 5, 14, 14, 20, tzinfo=CLINIC)):
        seed_demo()

        assert_consistent()
        assert_every_panel_has_something_to_show()
        today = Appointment.objects.on_day(timezone.localdate())
        assert today.filter(status=Status.COMPLETED, chart__signed_at__isnull=False).count() >= 3
        assert today.filter(status=Status.CHECKED_IN, chart__signed_at__isnull=True).exists()
        assert today.filter(
            status__in=[Status.BOOKED, Status.CONFIRMED], starts_at__gt=timezone.now()
        ).exists()
        assert today.filter(status=Status.NO_SHOW).exists()
        assert today.filter(status=Status.CANCELLED).exists()
        assert Reminder.objects.filter(
            status=Reminder.Status.SENT, sent_at__gte=local(timezone.localdate(), datetime.time.min)
        ).exists()


def test_it_gives_every_panel_something_to_show_on_a_sunday():
    with time_machine.travel(datetime.datetime(2026, 5, 17, 15, 0, tzinfo=CLINIC)):
        seed_demo()

        assert_consistent()
        assert_every_panel_has_something_to_show()
        assert not Appointment.objects.on_day(timezone.localdate()).exists()


def test_it_stays_consistent_before_opening_on_the_monday_after_a_clock_change():
    # Nothing of this week has happened yet; the clocks went back on Sunday.
    with time_machine.travel(datetime.datetime(2026, 11, 2, 6, 30, tzinfo=CLINIC)):
        seed_demo()

        assert_consistent()
        assert AdverseEvent.objects.filter(kind__in=AdverseEvent.SERIOUS).count() == 1
        assert Reminder.objects.filter(status=Reminder.Status.FAILED).count() == 1
        for appointment in Appointment.objects.all():
            start = timezone.localtime(appointment.starts_at)
            assert start.minute == 0, f"{appointment} is not on the hour"
