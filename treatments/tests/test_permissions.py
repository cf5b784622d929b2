"""Who may open and change treatment plans and session charts.

The matrix below is written out by hand, one row per URL name of the
`treatments` namespace; a new URL without a row fails the first test."""

import pytest
from django.urls import reverse

from clinic.tests.matrix import LOGIN, PERSONAS, assert_status, log_in
from core import links
from patients.models import AuditEvent, Patient
from scheduling.models import Appointment
from treatments import services, urls
from treatments.models import (
    AdverseEvent,
    AftercareCheckIn,
    ChartAmendment,
    ChartNeedling,
    SessionChart,
    TreatmentPlan,
)
from treatments.tests.factories import (
    active_plan,
    aftercare,
    chart_fields,
    chart_form_data,
    charted_session,
    cleared_patient,
    credit_versions,
    draft_plan,
    needling,
    open_chart,
    plan_form_data,
    visit,
)

pytestmark = pytest.mark.django_db


# What each persona gets for a GET. "therapist" treats the patient; "other_therapist" does not.
#                    anonymous  receptionist therapist other  admin  no role
GET_EXPECTED = {
    "my-day":        (LOGIN,    403,         200,      200,   403,   403),
    "plan-new":      (LOGIN,    403,         200,      403,   403,   403),
    "plan":          (LOGIN,    403,         200,      403,   200,   403),
    "plan-edit":     (LOGIN,    403,         200,      403,   403,   403),
    "plan-activate": (LOGIN,    405,         405,      405,   405,   405),
    "plan-end":      (LOGIN,    405,         405,      405,   405,   405),
    "plan-book":     (LOGIN,    200,         403,      403,   200,   403),
    "chart-start":   (LOGIN,    403,         200,      403,   403,   403),
    "chart":         (LOGIN,    403,         200,      403,   200,   403),
    "chart-edit":    (LOGIN,    403,         200,      403,   403,   403),
    "chart-sign":    (LOGIN,    405,         405,      405,   405,   405),
    "chart-amend":   (LOGIN,    403,         200,      403,   403,   403),
    "check-in":      (200,      200,         200,      200,   200,   200),
    "check-in-handled": (LOGIN, 405,         405,      405,   405,   405),
}  # fmt: skip

# What each persona gets for a valid POST to a URL that changes records: 302
# means it was done (and the test checks that records changed), anything else
# that nothing changed.
#                    anonymous  receptionist therapist other  admin  no role
POST_EXPECTED = {
    "plan-new":      (LOGIN,    403,         302,      403,   403,   403),
    "plan-edit":     (LOGIN,    403,         302,      403,   403,   403),
    "plan-activate": (LOGIN,    403,         302,      403,   403,   403),
    "plan-end":      (LOGIN,    403,         302,      403,   403,   403),
    "chart-start":   (LOGIN,    403,         302,      403,   403,   403),
    "chart-edit":    (LOGIN,    403,         302,      403,   403,   403),
    "chart-sign":    (LOGIN,    403,         302,      403,   403,   403),
    "chart-amend":   (LOGIN,    403,         302,      403,   403,   403),
    "check-in-handled": (LOGIN, 403,         302,      403,   403,   403),
}  # fmt: skip

# Pages that only read: a POST to them changes nothing, so they have no POST row.
READ_ONLY = {"my-day", "plan", "chart"}
# Posted in their own tests: booking a plan's series (a preview and chosen
# times, test_book_series.py) and the patient's check-in (test_checkin.py).
POSTED_IN_ITS_OWN_TESTS = {"plan-book", "check-in"}

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

# Clinical content written into the chart, which only the patient's
# therapists and the clinic admin may read.
CHART_NOTES = "Guarding eased after the second needle"
AFTERCARE_NOTES = "Ice pack for ten minutes tonight"
PRE_CHECK_OK = {"screening_still_valid": "yes", "new_problem": "no"}
# The program as the plan form writes it, every component with its notes. (The
# factories' default leaves them out, which the plan page cannot show yet: see
# test_views.test_it_shows_a_program_component_saved_without_notes.)
PROGRAM = [
    {"component": "core", "notes": "Bird-dog, dead bug."},
    {"component": "ergonomics", "notes": ""},
]


@pytest.fixture
def world(therapist, other_therapist, receptionist, clinic_admin, no_role_user):
    """A cleared patient treated by `therapist`, with an active moderate plan
    (three sessions: one charted and signed, one charted and not yet signed,
    one visit still to chart) and a second plan still in draft."""
    patient = cleared_patient(therapist, first_name="Maria", last_name="Alvarez")
    plan = credit_versions(active_plan(therapist, patient, program=PROGRAM))
    draft = credit_versions(
        draft_plan(therapist, patient, severity=TreatmentPlan.Severity.CHRONIC, program=PROGRAM)
    )
    signed = open_chart(plan, hour=9)
    services.chart_save_draft(
        chart=signed,
        therapist=therapist,
        fields=chart_fields(leg=(7, 3), notes=CHART_NOTES, aftercare_notes=AFTERCARE_NOTES),
        needlings=[needling("Quadratus lumborum"), needling("Piriformis")],
        adverse_events=[],
        aftercare=aftercare("hydration"),
    )
    signed = services.chart_sign(chart=signed, therapist=therapist)
    unsigned = charted_session(plan, sign=False, hour=11)
    alert = AftercareCheckIn.objects.create(
        appointment=signed.appointment, soreness=8, leg_pain=9, alert=True, alert_reasons=["Leg pain 9/10."]
    )
    return {
        "alert": alert,
        "patient": patient,
        "plan": plan,
        "draft": draft,
        "signed": signed,
        "unsigned": unsigned,
        "free_visit": visit(plan, hour=14),
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
        "my-day": [],
        "plan-new": [world["patient"].pk],
        "plan": [world["plan"].pk],
        "plan-edit": [world["draft"].pk],
        "plan-activate": [world["draft"].pk],
        "plan-end": [world["plan"].pk],
        "plan-book": [world["plan"].pk],
        "chart-start": [world["free_visit"].pk],
        "chart": [world["signed"].pk],
        "chart-edit": [world["unsigned"].pk],
        "chart-sign": [world["unsigned"].pk],
        "chart-amend": [world["signed"].pk],
        "check-in": [links.CHECKIN.token(world["signed"].appointment.pk)],
        "check-in-handled": [world["alert"].pk],
    }[name]
    return reverse(f"treatments:{name}", args=args)


def valid_post(name):
    """Form data that the persona allowed to POST it gets saved."""
    return {
        "plan-new": plan_form_data(),
        "plan-edit": plan_form_data(
            severity=TreatmentPlan.Severity.CHRONIC, goal_notes="Walk the dog for an hour."
        ),
        "plan-end": {"status": TreatmentPlan.Status.COMPLETED},
        "chart-start": PRE_CHECK_OK,
        "chart-edit": chart_form_data(notes="Draft changed."),
        "chart-amend": chart_form_data(leg=(7, 2), reason="Leg pain after was 2, not 3."),
    }.get(name, {})


def records():
    """Everything a POST to a treatments URL could change."""
    return {
        "plans": list(
            TreatmentPlan.objects.order_by("pk").values_list(
                "pk", "status", "severity", "planned_sessions", "goal_notes", "activated_at", "ended_at"
            )
        ),
        "plan_versions": TreatmentPlan.history.count(),
        "charts": list(
            SessionChart.objects.order_by("pk").values_list(
                "pk",
                "appointment",
                "session_number",
                "signed_at",
                "leg_pain_after",
                "notes",
                "procedure_code",
            )
        ),
        "needlings": list(ChartNeedling.objects.order_by("pk").values_list("pk", "chart", "muscle", "side")),
        "adverse_events": list(AdverseEvent.objects.order_by("pk").values_list("pk", "chart", "kind")),
        "amendments": list(ChartAmendment.objects.order_by("pk").values_list("pk", "chart", "reason")),
        "appointments": list(Appointment.objects.order_by("pk").values_list("pk", "status")),
        "check-ins": list(AftercareCheckIn.objects.order_by("pk").values_list("pk", "acknowledged_at")),
    }


def test_the_matrix_has_a_row_for_every_url_of_the_treatments_namespace():
    names = {pattern.name for pattern in urls.urlpatterns}

    assert set(GET_EXPECTED) == names
    post_only = {name for name, expected in GET_EXPECTED.items() if expected[1] == 405}
    assert post_only <= set(POST_EXPECTED)
    assert set(POST_EXPECTED) == names - READ_ONLY - POSTED_IN_ITS_OWN_TESTS


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

    response = client.post(url(name, world), valid_post(name))

    assert_status(response, expected)
    if expected == 302:
        assert records() != before
    else:
        assert records() == before


@pytest.mark.parametrize("name", sorted(READ_ONLY))
def test_a_post_to_a_page_that_only_reads_changes_nothing(client, world, name):
    log_in(client, "therapist", world)
    before = records()

    client.post(url(name, world), valid_post("chart-edit"))

    assert records() == before


def test_it_answers_404_for_a_plan_or_chart_that_does_not_exist(client, world):
    log_in(client, "clinic_admin", world)

    assert client.get(reverse("treatments:plan", args=[world["plan"].pk + 1000])).status_code == 404
    assert client.get(reverse("treatments:chart", args=[world["signed"].pk + 1000])).status_code == 404


# The clinic admin reads; each read is logged.


def test_the_clinic_admin_reads_the_plan_and_the_chart_and_each_read_is_logged(client, world, clinic_admin):
    log_in(client, "clinic_admin", world)

    plan_page = client.get(url("plan", world)).content.decode()
    chart_page = client.get(url("chart", world)).content.decode()

    assert "Moderate plan for Maria Alvarez" in plan_page
    assert CHART_NOTES in chart_page
    assert list(AuditEvent.objects.reads().order_by("pk").values_list("user", "patient", "record")) == [
        (clinic_admin.pk, world["patient"].pk, f"treatment plan {world['plan'].pk}"),
        (clinic_admin.pk, world["patient"].pk, f"session chart {world['signed'].pk}"),
    ]


def test_the_clinic_admin_is_offered_no_change_to_a_plan_or_chart(client, world):
    log_in(client, "clinic_admin", world)

    plan_page = client.get(url("plan", world)).content.decode()
    chart_page = client.get(url("chart", world)).content.decode()

    assert reverse("treatments:plan-edit", args=[world["plan"].pk]) not in plan_page
    assert reverse("treatments:plan-end", args=[world["plan"].pk]) not in plan_page
    assert url("chart-amend", world) not in chart_page


def test_an_outsider_reads_no_plan_or_chart_and_leaves_no_access_log(client, world):
    for persona in ["receptionist", "other_therapist", "no_role_user"]:
        log_in(client, persona, world)
        for name in ["plan", "chart"]:
            response = client.get(url(name, world))

            assert response.status_code == 403
            assert CHART_NOTES not in response.content.decode()

    assert not AuditEvent.objects.reads().exists()


# The front desk: the plan's status and sessions, never its clinical content.

CLINICAL_STRINGS = [
    CHART_NOTES,
    AFTERCARE_NOTES,
    "Quadratus lumborum",
    "Piriformis",
    "Gluteus medius",
    "Leg pain",
    "leg pain",
    "Back pain",
    "20560",
    "Trigger-point",
]


def test_the_front_desk_sees_the_plans_status_and_sessions_on_the_patient_page_and_nothing_clinical(
    client, world
):
    log_in(client, "receptionist", world)

    page = client.get(reverse("patients:detail", args=[world["patient"].pk])).content.decode()

    assert "1 of 3 sessions done" in page
    assert "0 of 6 sessions done" in page
    assert ">Active</span>" in page
    assert ">Draft</span>" in page
    for secret in CLINICAL_STRINGS:
        assert secret not in page
    assert f'href="{url("plan", world)}"' not in page
    assert f'href="{url("chart", world)}"' not in page


def test_the_treating_therapist_reaches_the_plan_from_the_patient_page(client, world):
    log_in(client, "therapist", world)

    page = client.get(reverse("patients:detail", args=[world["patient"].pk])).content.decode()

    assert "1 of 3 sessions done" in page
    assert url("plan", world) in page
    assert reverse("treatments:plan-new", args=[world["patient"].pk]) in page


# Reassignment: only the clinic admin moves a patient to another therapist.


def test_once_the_clinic_admin_reassigns_the_patient_the_other_therapist_writes_plans_and_charts(
    client, world, clinic_admin, therapist, other_therapist
):
    patient = world["patient"]
    client.force_login(clinic_admin)
    response = client.post(
        reverse("patients:edit", args=[patient.pk]),
        {
            "first_name": patient.first_name,
            "last_name": patient.last_name,
            "date_of_birth": patient.date_of_birth.isoformat(),
            "sex": patient.sex,
            "email": patient.email,
            "phone": str(patient.phone),
            "email_consent": "on",
            "treating_therapist": other_therapist.pk,
        },
    )
    assert response.status_code == 302
    assert Patient.objects.get(pk=patient.pk).treating_therapist == other_therapist

    client.force_login(other_therapist)
    assert client.get(url("plan", world)).status_code == 200
    assert client.get(url("plan-edit", world)).status_code == 200
    response = client.post(url("chart-start", world), PRE_CHECK_OK)
    chart = SessionChart.objects.get(appointment=world["free_visit"])
    assert response.status_code == 302
    assert response.url == reverse("treatments:chart-edit", args=[chart.pk])
    assert chart.therapist == other_therapist
    response = client.post(reverse("treatments:chart-edit", args=[chart.pk]), chart_form_data())
    assert response.status_code == 302
    assert SessionChart.objects.get(pk=chart.pk).procedure_code == "20560"

    # The first therapist still reads what they wrote, and writes no more.
    client.force_login(therapist)
    assert client.get(url("plan", world)).status_code == 200
    assert client.get(url("chart", world)).status_code == 200
    assert client.get(url("plan-edit", world)).status_code == 403
    before = records()
    assert client.post(url("chart-sign", world)).status_code == 403
    assert client.post(url("chart-amend", world), valid_post("chart-amend")).status_code == 403
    assert records() == before
