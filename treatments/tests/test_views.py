"""The treatments pages as a therapist uses them: writing and starting a
plan, the pre-needling check, charting, signing and amending; what they
refuse; the outcome trend; the clinic admin's alert for a serious adverse
event; and query counts that do not grow with the sessions."""

import datetime
import re
from html import unescape
from zoneinfo import ZoneInfo

import pytest
import time_machine
from django.conf import settings
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from patients import services as patient_services
from patients.tests.factories import ConsentFactory, PatientFactory, screening_with_answers
from scheduling import services as scheduling_services
from scheduling.models import Appointment
from treatments import services
from treatments.models import ChartAmendment, ChartNeedling, SessionChart, TreatmentPlan
from treatments.services import TreatmentError
from treatments.tests.factories import (
    PlanFactory,
    active_plan,
    chart_form_data,
    charted_session,
    cleared_patient,
    credit_versions,
    draft_plan,
    muscle,
    open_chart,
    plan_form_data,
    visit,
)

pytestmark = pytest.mark.django_db

Severity = TreatmentPlan.Severity

CLINIC_TZ = ZoneInfo(settings.TIME_ZONE)
MONDAY_MORNING = datetime.datetime(2025, 3, 3, 9, 0, tzinfo=CLINIC_TZ)

PRE_CHECK_OK = {"screening_still_valid": "yes", "new_problem": "no"}
# The program as the plan form writes it: every component with its notes.
PROGRAM = [
    {"component": "core", "notes": "Bird-dog, dead bug."},
    {"component": "ergonomics", "notes": ""},
]


@pytest.fixture
def patient(therapist):
    return cleared_patient(therapist, first_name="Maria", last_name="Alvarez")


@pytest.fixture
def plan(therapist, patient):
    """An active moderate plan: three sessions, re-assessed after the second."""
    return credit_versions(active_plan(therapist, patient, program=PROGRAM))


@pytest.fixture
def as_therapist(client, therapist):
    client.force_login(therapist)
    return client


def text(response):
    """The page's text: tags dropped, entities decoded, whitespace collapsed
    (also inside brackets around a tag)."""
    words = " ".join(unescape(re.sub(r"<[^>]+>", " ", response.content.decode())).split())
    return words.replace("( ", "(").replace(" )", ")")


def messages_of(response):
    """The messages shown on the page a followed redirect ended on."""
    return [str(message) for message in response.context["messages"]]


def snapshot(chart):
    """A chart's content and signature, as stored now."""
    chart = SessionChart.objects.get(pk=chart.pk)
    return {**services.chart_snapshot(chart), "signed_at": chart.signed_at}


def plan_url(plan):
    return reverse("treatments:plan", args=[plan.pk])


# Journeys.


def test_a_therapist_plans_starts_charts_signs_and_amends_a_course_of_dry_needling(as_therapist, patient):
    client = as_therapist

    # A chronic case, the number of sessions left empty: six are proposed.
    response = client.post(
        reverse("treatments:plan-new", args=[patient.pk]), plan_form_data(severity=Severity.CHRONIC)
    )
    plan = TreatmentPlan.objects.get(patient=patient)
    assert response.status_code == 302
    assert response.url == plan_url(plan)
    assert (plan.status, plan.planned_sessions, plan.reassessment_after_session) == ("draft", 6, 6)
    assert plan.target_muscles == [
        {"muscle": muscle("Gluteus medius").pk, "side": "left"},
        {"muscle": muscle("Piriformis").pk, "side": "left"},
    ]
    assert "Chronic plan for Maria Alvarez" in text(client.get(plan_url(plan)))

    # Started.
    response = client.post(reverse("treatments:plan-activate", args=[plan.pk]), follow=True)
    assert messages_of(response) == ["Plan started."]
    assert TreatmentPlan.objects.get(pk=plan.pk).status == "active"

    # "My day" offers today's visit a Chart link to the pre-needling check.
    appointment = visit(plan)
    chart_start = reverse("treatments:chart-start", args=[appointment.pk])
    my_day = client.get(reverse("treatments:my-day")).content.decode()
    assert f'href="{chart_start}">Chart</a>' in my_day

    # The pre-needling check opens the chart of session 1.
    assert "session 1 of 6" in text(client.get(chart_start))
    response = client.post(chart_start, PRE_CHECK_OK)
    chart = SessionChart.objects.get(appointment=appointment)
    chart_edit = reverse("treatments:chart-edit", args=[chart.pk])
    assert response.url == chart_edit
    assert (chart.session_number, chart.screening_confirmed_valid) == (1, True)
    assert client.get(chart_edit).status_code == 200

    # Charted with two muscles: 20560; with three: 20561.
    response = client.post(chart_edit, chart_form_data(muscles=("Piriformis", "Gluteus medius")))
    assert response.url == chart.get_absolute_url()
    chart.refresh_from_db()
    assert (chart.muscle_count, chart.procedure_code) == (2, "20560")
    three = ("Piriformis", "Gluteus medius", "Hamstrings")
    client.post(chart_edit, chart_form_data(muscles=three))
    chart.refresh_from_db()
    assert (chart.muscle_count, chart.procedure_code) == (3, "20561")

    # Signed: the visit is completed, and "my day" links to the signed chart.
    response = client.post(reverse("treatments:chart-sign", args=[chart.pk]), follow=True)
    assert (
        messages_of(response)[-1] == "Chart signed; the visit is completed and its aftercare is on its way."
    )
    assert SessionChart.objects.get(pk=chart.pk).is_signed
    assert Appointment.objects.get(pk=appointment.pk).status == Appointment.Status.COMPLETED
    my_day = client.get(reverse("treatments:my-day")).content.decode()
    assert f'href="{chart.get_absolute_url()}">Signed chart</a>' in my_day

    # Amended: the version before is kept, and the chart page shows both.
    response = client.post(
        reverse("treatments:chart-amend", args=[chart.pk]),
        chart_form_data(leg=(6, 2), muscles=three, reason="Leg pain after was 2, not 4."),
    )
    assert response.url == chart.get_absolute_url()
    amendment = ChartAmendment.objects.get(chart=chart)
    assert amendment.previous["leg_pain_after"] == 4
    assert SessionChart.objects.get(pk=chart.pk).leg_pain_after == 2

    page = text(client.get(chart.get_absolute_url()))
    assert page.count("Before the amendment") == 1
    current, before = page.split("Before the amendment")
    assert "Current version (amended)" in current
    assert "Leg pain 6 before → 2 after" in current
    assert "Leg pain 6 before → 4 after" in before
    assert "Reason: Leg pain after was 2, not 4." in before
    assert "(amended)" in text(client.get(plan_url(plan)))


@pytest.mark.parametrize(
    ("muscles", "code"),
    [
        (("Piriformis",), "20560"),
        (("Piriformis", "Gluteus medius"), "20560"),
        (("Piriformis", "Gluteus medius", "Hamstrings"), "20561"),
        (("Piriformis", "Gluteus medius", "Hamstrings", "Erector spinae"), "20561"),
    ],
)
def test_it_codes_the_procedure_from_the_muscles_needled(as_therapist, plan, muscles, code):
    chart = open_chart(plan)

    as_therapist.post(reverse("treatments:chart-edit", args=[chart.pk]), chart_form_data(muscles=muscles))

    chart.refresh_from_db()
    assert (chart.muscle_count, chart.procedure_code) == (len(muscles), code)
    assert "Procedure " + code in text(as_therapist.get(chart.get_absolute_url()))


def test_the_plan_page_draws_the_pain_trend_and_shows_the_minimal_important_change(as_therapist, plan):
    charted_session(plan, leg=(8, 6), back=(5, 4), hour=9)
    charted_session(plan, leg=(6, 5), back=(4, 4), hour=11)

    response = as_therapist.get(plan_url(plan))

    svg = re.search(r"<svg.*?</svg>", response.content.decode(), re.DOTALL).group()
    polylines = re.findall(r'<polyline points="([^"]*)" class="([^"]*)"', svg)
    assert [css for _, css in polylines] == ["leg-before", "leg-after", "back-before", "back-after"]
    assert all(len(points.split()) == 2 for points, _ in polylines)
    page = text(response)
    # From before needling at the first session to before needling at the second: 2 points.
    assert re.search(
        r"Leg pain: 8 \(before needling at session 1, [^)]+\) → 6 \(before needling at session 2, [^)]+\): "
        "minimal important change reached",
        page,
    )
    assert "Within session, immediately after needling (not counted as improvement): leg pain 6 → 5" in page
    assert "Not improving" not in page


def test_the_plan_page_draws_no_trend_before_a_session_is_signed(as_therapist, plan):
    charted_session(plan, sign=False)

    response = as_therapist.get(plan_url(plan))

    assert "<svg" not in response.content.decode()
    assert "Leg pain: no measure since the baseline yet" in text(response)


@pytest.mark.parametrize(("sessions", "warned"), [(1, False), (2, True)])
def test_it_warns_when_pain_is_unchanged_at_the_reassessment_point(as_therapist, plan, sessions, warned):
    for hour in range(9, 9 + sessions):
        charted_session(plan, leg=(6, 6), back=(5, 5), hour=hour)

    page = text(as_therapist.get(plan_url(plan)))

    assert ("Not improving: at the re-assessment point (session 2)" in page) is warned
    if sessions == 1:
        assert "Leg pain: no measure since the baseline yet" in page
    else:
        assert re.search(r"Leg pain: 6 \([^)]+\) → 6 \([^)]+\): below the minimal important change", page)


# What the pages refuse.


@pytest.mark.parametrize(
    ("pain", "error"),
    [
        (11, "Ensure this value is less than or equal to 10."),
        (-1, "Ensure this value is greater than or equal to 0."),
    ],
)
def test_it_refuses_a_pain_score_outside_0_to_10_and_saves_nothing(as_therapist, plan, pain, error):
    chart = open_chart(plan)
    before = snapshot(chart)

    response = as_therapist.post(
        reverse("treatments:chart-edit", args=[chart.pk]), chart_form_data(leg=(pain, 4))
    )

    assert response.status_code == 200
    assert response.context["form"].errors["leg_pain_before"] == [error]
    assert snapshot(chart) == before
    assert not ChartNeedling.objects.exists()


def test_it_refuses_to_chart_more_sessions_than_the_plan_has(as_therapist, plan):
    for hour in (8, 9, 10):
        charted_session(plan, hour=hour)
    fourth = visit(plan, hour=15)

    response = as_therapist.post(reverse("treatments:chart-start", args=[fourth.pk]), PRE_CHECK_OK)

    assert response.status_code == 200
    assert response.context["form"].non_field_errors() == [
        "All 3 sessions of this plan are charted; extend the plan first."
    ]
    assert not SessionChart.objects.filter(appointment=fourth).exists()
    assert SessionChart.objects.count() == 3


def test_it_refuses_to_chart_a_visit_after_the_screening_expired(client, therapist):
    with time_machine.travel(MONDAY_MORNING, tick=False):
        plan = credit_versions(active_plan(therapist, program=PROGRAM))
    valid_until = patient_services.current_screening(plan.patient).valid_until
    day_after = datetime.datetime.combine(
        valid_until + datetime.timedelta(days=1), datetime.time(9), CLINIC_TZ
    )

    with time_machine.travel(day_after, tick=False):
        appointment = visit(plan, hour=10)
        client.force_login(therapist)
        response = client.post(reverse("treatments:chart-start", args=[appointment.pk]), PRE_CHECK_OK)

    assert response.status_code == 200
    page = text(response)
    assert "Do not needle this patient today." in page
    assert (
        f"Not cleared for needling: The screening is valid until {valid_until:%a} {valid_until.day} "
        f"{valid_until:%b %Y}; screen the patient again." in page
    )
    assert response.context["form"].errors["not_needled_reason"] == [
        "The patient is not cleared for needling: give the reason to chart the visit without it."
    ]
    assert not SessionChart.objects.exists()


def test_a_new_problem_at_the_pre_needling_check_charts_the_visit_without_needling(as_therapist, plan):
    appointment = visit(plan)

    response = as_therapist.post(
        reverse("treatments:chart-start", args=[appointment.pk]),
        {"screening_still_valid": "yes", "new_problem": "yes"},
        follow=True,
    )

    chart = SessionChart.objects.get(appointment=appointment)
    assert response.redirect_chain == [(reverse("treatments:chart-edit", args=[chart.pk]), 302)]
    assert messages_of(response) == [
        "Charting this visit without needling. Screen the patient again before any needling."
    ]
    assert (chart.needled, chart.new_contraindication_reported) == (False, True)


def test_a_screening_not_confirmed_valid_opens_no_chart(as_therapist, plan):
    appointment = visit(plan)

    response = as_therapist.post(
        reverse("treatments:chart-start", args=[appointment.pk]),
        {"screening_still_valid": "no", "new_problem": "no"},
    )

    assert response.context["form"].non_field_errors() == [
        "Confirm the screening is still valid before needling, or chart the visit without needling "
        "and give the reason."
    ]
    assert not SessionChart.objects.exists()


def test_it_charts_no_visit_of_a_patient_without_an_active_plan(as_therapist, therapist, patient):
    draft = credit_versions(draft_plan(therapist, patient, program=PROGRAM))
    appointment = visit(draft)

    response = as_therapist.post(reverse("treatments:chart-start", args=[appointment.pk]), PRE_CHECK_OK)

    assert response.context["form"].non_field_errors() == [
        "This patient has no active treatment plan to chart against."
    ]
    assert not SessionChart.objects.exists()


def test_it_signs_a_chart_once_and_completes_the_visit_once(as_therapist, plan, monkeypatch):
    completed = []
    complete = scheduling_services.appointment_complete

    def counting_complete(**kwargs):
        completed.append(kwargs["appointment"].pk)
        return complete(**kwargs)

    monkeypatch.setattr(scheduling_services, "appointment_complete", counting_complete)
    chart = charted_session(plan, sign=False)
    sign = reverse("treatments:chart-sign", args=[chart.pk])

    as_therapist.post(sign, follow=True)
    signed_at = SessionChart.objects.get(pk=chart.pk).signed_at
    response = as_therapist.post(sign, follow=True)

    assert response.redirect_chain == [(chart.get_absolute_url(), 302)]
    assert messages_of(response) == ["This chart is already signed."]
    assert SessionChart.objects.get(pk=chart.pk).signed_at == signed_at
    assert Appointment.objects.get(pk=chart.appointment_id).status == Appointment.Status.COMPLETED
    assert completed == [chart.appointment_id]


def test_a_crafted_post_does_not_edit_a_signed_chart(as_therapist, plan):
    chart = charted_session(plan)
    before = snapshot(chart)

    response = as_therapist.post(
        reverse("treatments:chart-edit", args=[chart.pk]),
        chart_form_data(leg=(9, 9), muscles=("Soleus",), notes="Rewritten after signing."),
        follow=True,
    )

    assert response.redirect_chain == [(chart.get_absolute_url(), 302)]
    assert messages_of(response) == ["This chart is signed; amend it instead, giving a reason."]
    assert snapshot(chart) == before
    assert not ChartAmendment.objects.exists()


@pytest.mark.parametrize("reason", ["", "   "])
def test_it_refuses_an_amendment_without_a_reason(as_therapist, plan, reason):
    chart = charted_session(plan)
    before = snapshot(chart)

    response = as_therapist.post(
        reverse("treatments:chart-amend", args=[chart.pk]), chart_form_data(leg=(6, 1), reason=reason)
    )

    assert response.status_code == 200
    assert response.context["amendment_form"].errors["reason"] == ["Give the reason for the amendment."]
    assert not ChartAmendment.objects.exists()
    assert snapshot(chart) == before


@pytest.mark.parametrize(
    ("severity", "sessions", "error"),
    [
        (Severity.MODERATE, "5", "A moderate case usually needs 1-3 sessions; give a reason for 5."),
        (Severity.CHRONIC, "2", "A chronic case usually needs 4-6 sessions; give a reason for 2."),
    ],
)
def test_it_asks_for_a_reason_for_a_number_of_sessions_outside_the_severitys_range(
    as_therapist, patient, severity, sessions, error
):
    new_plan = reverse("treatments:plan-new", args=[patient.pk])

    response = as_therapist.post(new_plan, plan_form_data(severity=severity, planned_sessions=sessions))

    assert response.status_code == 200
    assert response.context["form"].non_field_errors() == [error]
    assert not TreatmentPlan.objects.exists()

    response = as_therapist.post(
        new_plan,
        plan_form_data(
            severity=severity, planned_sessions=sessions, sessions_reason="Flare-up after a fall."
        ),
    )
    assert response.status_code == 302
    assert TreatmentPlan.objects.get().planned_sessions == int(sessions)


@pytest.mark.parametrize(
    ("case", "problem"),
    [
        ("no screening", "The patient has no signed screening."),
        ("refer out", "The latest screening refers the patient out: not a dry-needling case."),
        ("no consent", "The patient has not given consent to the current consent text."),
    ],
)
def test_it_refuses_a_plan_for_a_patient_not_cleared_for_needling(as_therapist, therapist, case, problem):
    patient = PatientFactory(treating_therapist=therapist)
    if case != "no screening":
        screening_with_answers(
            patient=patient, therapist=therapist, yes={"fever"} if case == "refer out" else ()
        )
    if case != "no consent":
        ConsentFactory(patient=patient, witnessed_by=therapist)
    new_plan = reverse("treatments:plan-new", args=[patient.pk])

    assert problem in text(as_therapist.get(new_plan))
    response = as_therapist.post(new_plan, plan_form_data())

    assert response.status_code == 200
    assert response.context["form"].non_field_errors() == [f"This patient cannot be needled: {problem}"]
    assert not TreatmentPlan.objects.exists()


# What the plan page shows of plans written outside the plan form.


def test_it_shows_a_program_component_saved_without_notes(as_therapist, therapist):
    """The services take a program item without notes (the factories write
    {"component": "ergonomics"}); the plan page and the plan form show it."""
    plan = credit_versions(active_plan(therapist))

    page = text(as_therapist.get(plan_url(plan)))
    form = as_therapist.get(reverse("treatments:plan-edit", args=[plan.pk]))

    assert "Ergonomic advice (desk work)" in page
    assert form.status_code == 200


def test_it_shows_the_versions_of_a_plan_saved_outside_a_request(as_therapist, therapist):
    """A plan saved by seed_demo, a shell or a task has versions with no user."""
    plan = active_plan(therapist, program=PROGRAM)

    response = as_therapist.get(plan_url(plan))

    assert response.status_code == 200
    assert "by the system: Active, 3 sessions" in text(response)


# The clinic admin's dashboard.


def test_a_serious_adverse_event_is_flagged_on_the_clinic_admins_dashboard(
    client, as_therapist, plan, clinic_admin
):
    serious, mild = open_chart(plan, hour=9), open_chart(plan, hour=11)
    for chart, event in [(serious, ("pneumothorax", "severe")), (mild, ("soreness", "mild"))]:
        as_therapist.post(reverse("treatments:chart-edit", args=[chart.pk]), chart_form_data(events=[event]))
        as_therapist.post(reverse("treatments:chart-sign", args=[chart.pk]))

    client.force_login(clinic_admin)
    response = client.get(reverse("clinic:dashboard"))

    page = response.content.decode()
    alert = page[page.index('<section class="alert alert-danger"') :]
    alert = alert[: alert.index("</section>")]
    assert f'<a href="{serious.get_absolute_url()}">Pneumothorax (serious), severe</a>' in alert
    assert "Maria Alvarez, session 1" in text(response)
    assert mild.get_absolute_url() not in page
    assert "Soreness" not in alert
    assert client.get(serious.get_absolute_url()).status_code == 200


def test_the_dashboard_raises_no_alert_for_mild_events(client, as_therapist, plan, clinic_admin):
    chart = open_chart(plan)
    as_therapist.post(
        reverse("treatments:chart-edit", args=[chart.pk]), chart_form_data(events=[("soreness", "mild")])
    )

    client.force_login(clinic_admin)
    page = client.get(reverse("clinic:dashboard")).content.decode()

    assert "Serious adverse events (last 90 days)" not in page


# Query counts.


def test_the_plan_page_runs_as_many_queries_for_six_sessions_as_for_one(
    as_therapist, therapist, django_assert_num_queries
):
    plan = credit_versions(active_plan(therapist, severity=Severity.CHRONIC, program=PROGRAM))
    charted_session(plan, hour=8)
    with CaptureQueriesContext(connection) as one_session:
        assert as_therapist.get(plan_url(plan)).status_code == 200

    for hour in range(9, 14):
        charted_session(plan, leg=(6, hour - 6), hour=hour, sign=hour != 13)
    with django_assert_num_queries(len(one_session)):
        response = as_therapist.get(plan_url(plan))

    assert "5 done, 1 remaining" in text(response)


def test_my_day_runs_as_many_queries_for_six_visits_as_for_one(
    as_therapist, therapist, django_assert_num_queries
):
    plan = credit_versions(active_plan(therapist, severity=Severity.CHRONIC, program=PROGRAM))
    charted_session(plan, sign=False, hour=8)
    with CaptureQueriesContext(connection) as one_visit:
        assert as_therapist.get(reverse("treatments:my-day")).status_code == 200

    for hour in range(9, 14):
        charted_session(plan, sign=hour % 2 == 0, hour=hour)
    with django_assert_num_queries(len(one_visit)):
        response = as_therapist.get(reverse("treatments:my-day"))

    page = text(response)
    assert page.count("Signed chart") == 2
    assert page.count("Continue chart") == 4


def test_it_puts_the_plan_and_each_charted_session_on_the_patients_timeline(as_therapist, plan):
    chart = charted_session(plan, leg=(7, 4))

    page = as_therapist.get(reverse("patients:detail", args=[plan.patient.pk])).content.decode()

    assert f'href="{reverse("treatments:chart", args=[chart.pk])}"' in page
    assert "session 1 chart" in page
    assert "leg pain 7 &rarr; 4" in page
    assert f'href="{plan.get_absolute_url()}"' in page


def test_a_plan_without_any_part_of_the_program_is_refused_with_a_message(as_therapist, patient):
    data = plan_form_data()
    for key in [k for k in data if k.startswith("program_")]:
        del data[key]

    response = as_therapist.post(reverse("treatments:plan-new", args=[patient.pk]), data)

    assert response.status_code == 200
    assert response.context["form"].non_field_errors() == [
        "Choose at least one part of the program around the needling."
    ]
    assert not TreatmentPlan.objects.exists()


def test_the_plan_service_refuses_a_plan_without_a_program_as_a_domain_error(therapist, patient):
    plan = PlanFactory.build(patient=patient, program=[])

    with pytest.raises(TreatmentError, match="Choose at least one part of the program"):
        services.plan_save(plan=plan, therapist=therapist)

    assert not TreatmentPlan.objects.exists()
