"""The clinical gate in a real browser: the front desk sees which patients
are not cleared for needling, on the day's cards and on the printed day
sheet; and a therapist whose patient is referred out after the chart was
started cannot sign it as a needled visit.

SCREENSHOTS=1 saves each step's page under VAR_DIR/screenshots/."""

import datetime
import re

import pytest
from django.utils import timezone
from playwright.sync_api import expect

from clinic.tests.browser import log_in, screenshot
from patients.tests.factories import ConsentFactory, PatientFactory, screening_with_answers
from scheduling.models import Appointment, AppointmentType, Room
from treatments.models import SessionChart
from treatments.tests import factories

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True, serialized_rollback=True)]


def at(hour):
    return timezone.make_aware(datetime.datetime.combine(timezone.localdate(), datetime.time(hour)))


def test_the_front_desk_sees_a_patient_not_cleared_on_the_card_and_the_day_sheet(
    page, live_server, receptionist, therapist
):
    patient = PatientFactory(first_name="Ada", last_name="Warfarin", treating_therapist=therapist)
    screening_with_answers(patient=patient, therapist=therapist, yes=["anticoagulants"])
    ConsentFactory(patient=patient, witnessed_by=therapist)
    assessment = Appointment.objects.create(
        patient=patient,
        therapist=therapist,
        room=Room.objects.create(name="Room A"),
        appointment_type=AppointmentType.objects.get(name="First assessment"),
        starts_at=at(10),
        ends_at=at(11),
    )
    log_in(page, live_server, receptionist)

    page.goto(f"{live_server.url}/front-desk/")
    card = page.get_by_role("article", name="10:00 Ada Warfarin")
    expect(card).to_be_visible()
    flag = card.get_by_text("Not cleared: no needling")
    expect(flag).to_be_visible()
    assert "did not clear the patient for dry needling" in flag.get_attribute("title")
    screenshot(page, "gate-front-desk-flag")

    page.goto(f"{live_server.url}/front-desk/day-sheet/")
    row = page.get_by_role("row").filter(has_text="Ada Warfarin")
    expect(row.get_by_text("Not cleared: no needling")).to_be_visible()
    screenshot(page, "gate-day-sheet-flag")

    # Booking her a needling session is refused, with the reason.
    page.goto(f"{live_server.url}{patient.get_absolute_url()}")
    expect(page.get_by_text("Not cleared for needling that day")).to_have_count(0)  # an assessment
    expect(
        page.get_by_text("The latest screening did not clear the patient for dry needling.")
    ).to_be_visible()
    assert Appointment.objects.get() == assessment


def test_a_chart_is_not_signed_as_needled_once_the_patient_is_referred_out(page, live_server, therapist):
    patient = factories.cleared_patient(therapist, first_name="Sam", last_name="Sciatica")
    plan = factories.active_plan(therapist, patient)
    arrived = factories.visit(plan, hour=14)
    log_in(page, live_server, therapist)

    page.goto(f"{live_server.url}/visits/{arrived.pk}/chart/")
    page.get_by_role("group", name=re.compile("^Is the patient's screening still valid")).get_by_label(
        "Yes", exact=True
    ).check()
    page.get_by_role(
        "group", name=re.compile("^Does the patient report any new contraindication")
    ).get_by_label("No", exact=True).check()
    page.get_by_role("button", name="Open the chart").click()
    expect(page.get_by_role("heading", level=1, name=re.compile("^Chart: session"))).to_be_visible()
    for label, value in (
        ("Leg pain before", 7),
        ("Back pain before", 5),
        ("Leg pain after", 4),
        ("Back pain after", 3),
    ):
        page.get_by_label(f"{label} (0-10)").fill(str(value))
    page.get_by_label("Row 1: Needles", exact=True).fill("2")
    page.get_by_label("Row 1: Length (mm)", exact=True).fill("60")
    page.get_by_label("Row 1: Gauge (mm)", exact=True).fill("0.30")
    page.get_by_label("Row 2: Muscle", exact=True).select_option(label="—")
    page.get_by_role("button", name="Save chart").click()
    expect(page.get_by_text("Draft: not signed")).to_be_visible()

    # Meanwhile the patient reports saddle numbness and is screened again: referred out urgently.
    screening_with_answers(patient=patient, therapist=therapist, yes=["saddle_numbness"])

    page.get_by_role("button", name="Sign chart").click()
    alert = page.get_by_role("alert").filter(has_text="Not cleared for needling")
    expect(alert).to_contain_text("The latest screening refers the patient out: not a dry-needling case.")
    screenshot(page, "gate-sign-refused")
    chart = SessionChart.objects.get(appointment=arrived)
    assert not chart.is_signed
    assert Appointment.objects.get(pk=arrived.pk).status == Appointment.Status.CHECKED_IN
