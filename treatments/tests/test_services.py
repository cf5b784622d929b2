"""The services that write treatment plans and session charts: who may
write them, the sessions a severity proposes, versions of an active plan,
the pre-needling check, signing (which completes the visit exactly once) and
amending a signed chart."""

import datetime
import threading
from zoneinfo import ZoneInfo

import pytest
import time_machine
from django.conf import settings
from django.db import connection
from django.utils import timezone

from patients import services as patient_services
from patients.models import Screening
from patients.tests.factories import PatientFactory, ScreeningFactory
from scheduling import services as scheduling_services
from scheduling.models import Appointment
from treatments import services
from treatments.models import AdverseEvent, AftercareItem, ChartAmendment, SessionChart, TreatmentPlan
from treatments.services import AdverseEventInput, TreatmentError
from treatments.tests.factories import (
    active_plan,
    aftercare,
    chart_fields,
    charted_session,
    cleared_patient,
    draft_plan,
    needling,
    open_chart,
    visit,
)

pytestmark = pytest.mark.django_db

Severity = TreatmentPlan.Severity
Status = TreatmentPlan.Status

CLINIC_TZ = ZoneInfo(settings.TIME_ZONE)
MONDAY_MORNING = datetime.datetime(2025, 3, 3, 9, 0, tzinfo=CLINIC_TZ)

ALREADY_SIGNED = "This chart is already signed."


@pytest.fixture
def patient(therapist):
    return cleared_patient(therapist, first_name="Maria", last_name="Alvarez")


@pytest.fixture
def plan(therapist, patient):
    return active_plan(therapist, patient)


def save_draft(chart, *, fields=None, needlings=None, adverse_events=(), aftercare_given=()):
    return services.chart_save_draft(
        chart=chart,
        therapist=chart.therapist,
        fields=chart_fields() if fields is None else fields,
        needlings=[needling("Piriformis")] if needlings is None else needlings,
        adverse_events=list(adverse_events),
        aftercare=list(aftercare_given),
    )


def amend(chart, *, reason, **fields):
    return services.chart_amend(
        chart=chart,
        therapist=chart.therapist,
        reason=reason,
        fields=chart_fields(**fields),
        needlings=[needling("Piriformis"), needling("Hamstrings")],
        adverse_events=[],
        aftercare=aftercare("hydration"),
    )


# Writing a plan.


def test_it_writes_a_draft_plan_for_a_cleared_patient_with_consent(therapist, patient):
    plan = draft_plan(therapist, patient, severity=Severity.CHRONIC, goal_notes="Walk the dog again.")

    plan.refresh_from_db()
    assert plan.status == Status.DRAFT
    assert plan.therapist == therapist
    assert plan.planned_sessions == 6
    assert [target["side"] for target in plan.target_muscles] == ["left", "left"]
    assert plan.techniques == ["trigger_point"]
    assert plan.program[0]["component"] == "core"
    assert plan.goal_notes == "Walk the dog again."
    assert plan.reassessment_after_session == 2


def test_it_refuses_a_plan_for_a_patient_without_a_signed_screening(therapist):
    patient = PatientFactory(treating_therapist=therapist)

    with pytest.raises(TreatmentError, match="The patient has no signed screening"):
        draft_plan(therapist, patient)

    assert not TreatmentPlan.objects.exists()


def test_it_refuses_a_plan_for_a_patient_the_screening_did_not_clear(therapist, patient):
    ScreeningFactory(patient=patient, therapist=therapist, result=Screening.Result.NOT_CLEARED)

    with pytest.raises(TreatmentError, match="did not clear the patient for dry needling"):
        draft_plan(therapist, patient)

    assert not TreatmentPlan.objects.exists()


def test_it_refuses_a_plan_once_the_patient_withdraws_consent(therapist, patient):
    patient_services.consent_withdraw(consent=patient_services.current_consent(patient))

    with pytest.raises(TreatmentError, match="has not given consent to the current consent text"):
        draft_plan(therapist, patient)

    assert not TreatmentPlan.objects.exists()


def test_it_lets_only_the_treating_therapist_write_a_plan(other_therapist, patient):
    with pytest.raises(TreatmentError, match="Only the patient's treating therapist"):
        draft_plan(other_therapist, patient)

    assert not TreatmentPlan.objects.exists()


@pytest.mark.parametrize(
    ("severity", "sessions"),
    [(Severity.MILD, 3), (Severity.MODERATE, 3), (Severity.CHRONIC, 6), (Severity.COMPLEX, 6)],
)
def test_it_proposes_three_sessions_for_mild_and_moderate_and_six_for_chronic_and_complex(severity, sessions):
    assert services.proposed_sessions(severity) == sessions


@pytest.mark.parametrize(
    ("severity", "sessions"),
    [(Severity.MILD, 1), (Severity.MODERATE, 3), (Severity.CHRONIC, 4), (Severity.COMPLEX, 6)],
)
def test_it_accepts_a_number_of_sessions_in_the_severitys_range_without_a_reason(
    therapist, patient, severity, sessions
):
    plan = draft_plan(
        therapist, patient, severity=severity, planned_sessions=sessions, reassessment_after_session=1
    )

    assert TreatmentPlan.objects.get(pk=plan.pk).planned_sessions == sessions


@pytest.mark.parametrize(
    ("severity", "sessions", "message"),
    [
        (Severity.MILD, 4, "A mild case usually needs 1-3 sessions; give a reason for 4."),
        (Severity.MODERATE, 6, "A moderate case usually needs 1-3 sessions; give a reason for 6."),
        (Severity.CHRONIC, 3, "A chronic case usually needs 4-6 sessions; give a reason for 3."),
        (Severity.COMPLEX, 8, "A complex case usually needs 4-6 sessions; give a reason for 8."),
    ],
)
def test_it_asks_for_a_reason_for_a_number_of_sessions_outside_the_severitys_range(
    therapist, patient, severity, sessions, message
):
    with pytest.raises(TreatmentError) as error:
        draft_plan(therapist, patient, severity=severity, planned_sessions=sessions)

    assert str(error.value) == message
    assert not TreatmentPlan.objects.exists()


def test_it_accepts_a_number_of_sessions_outside_the_range_with_a_reason(therapist, patient):
    plan = draft_plan(
        therapist,
        patient,
        severity=Severity.COMPLEX,
        planned_sessions=8,
        sessions_reason="Symptoms for three years; bilateral.",
    )

    plan.refresh_from_db()
    assert plan.planned_sessions == 8
    assert plan.sessions_reason == "Symptoms for three years; bilateral."


def test_it_keeps_the_reassessment_point_within_the_plan(therapist, patient):
    with pytest.raises(TreatmentError, match="The re-assessment point must fall within the plan's sessions"):
        draft_plan(therapist, patient, planned_sessions=3, reassessment_after_session=4)

    assert not TreatmentPlan.objects.exists()


def test_it_refuses_a_plan_for_an_archived_patient(therapist, patient):
    patient.archived_at = timezone.now()
    patient.save()

    with pytest.raises(TreatmentError, match="archived"):
        draft_plan(therapist, patient)
    assert not TreatmentPlan.objects.exists()


def test_it_needs_a_target_muscle_and_a_technique(therapist, patient):
    with pytest.raises(TreatmentError, match="Choose at least one target muscle"):
        draft_plan(therapist, patient, target_muscles=[])
    with pytest.raises(TreatmentError, match="Choose at least one technique"):
        draft_plan(therapist, patient, techniques=[])

    assert not TreatmentPlan.objects.exists()


# A plan's course: draft, active, completed or discontinued.


def test_it_starts_a_draft_plan(therapist, patient):
    plan = draft_plan(therapist, patient)

    with time_machine.travel(timezone.now(), tick=False):
        started = services.plan_activate(plan=plan, therapist=therapist)

        assert started.status == Status.ACTIVE
        assert started.activated_at == timezone.now()


def test_it_starts_a_plan_only_once(therapist, plan):
    with pytest.raises(TreatmentError, match="Only a draft plan can be started"):
        services.plan_activate(plan=plan, therapist=therapist)


def test_it_completes_a_plan(therapist, plan):
    services.plan_end(plan=plan, therapist=therapist, status=Status.COMPLETED)

    plan.refresh_from_db()
    assert plan.status == Status.COMPLETED
    assert plan.ended_at is not None


def test_it_discontinues_a_plan_with_the_reason(therapist, plan):
    services.plan_end(
        plan=plan, therapist=therapist, status=Status.DISCONTINUED, reason="  Moved to another city. "
    )

    plan.refresh_from_db()
    assert plan.status == Status.DISCONTINUED
    assert plan.status_reason == "Moved to another city."


def test_it_refuses_to_discontinue_a_plan_without_a_reason(therapist, plan):
    with pytest.raises(TreatmentError, match="Give the reason the plan is discontinued"):
        services.plan_end(plan=plan, therapist=therapist, status=Status.DISCONTINUED, reason="  ")

    plan.refresh_from_db()
    assert plan.status == Status.ACTIVE


def test_it_keeps_each_change_to_an_active_plan_as_a_version(therapist, plan):
    versions_before = plan.history.count()

    plan.planned_sessions = 5
    plan.sessions_reason = "Slower progress than expected at work."
    services.plan_save(plan=plan, therapist=therapist)

    assert plan.history.count() == versions_before + 1
    latest, previous = plan.history.all()[:2]
    assert (latest.planned_sessions, latest.sessions_reason) == (5, "Slower progress than expected at work.")
    assert (previous.planned_sessions, previous.sessions_reason) == (3, "")


def test_it_refuses_fewer_sessions_than_are_already_charted(therapist, plan):
    charted_session(plan, hour=9)
    charted_session(plan, hour=11)

    plan.planned_sessions = 1
    plan.reassessment_after_session = 1
    with pytest.raises(TreatmentError, match="2 sessions are already charted; the plan cannot have fewer"):
        services.plan_save(plan=plan, therapist=therapist)

    assert TreatmentPlan.objects.get(pk=plan.pk).planned_sessions == 3


def test_it_keeps_a_plan_started_meanwhile_active_when_an_earlier_copy_is_saved(therapist, patient):
    plan = draft_plan(therapist, patient)
    # The edit request loaded the plan; another request started it before plan_save took its lock.
    copy_being_edited = TreatmentPlan.objects.get(pk=plan.pk)
    services.plan_activate(plan=plan, therapist=therapist)

    copy_being_edited.goal_notes = "Sit through a film."
    services.plan_save(plan=copy_being_edited, therapist=therapist)

    plan.refresh_from_db()
    assert plan.goal_notes == "Sit through a film."
    assert plan.status == Status.ACTIVE
    assert plan.activated_at is not None


@pytest.mark.parametrize(
    ("status", "reason", "message"),
    [
        (Status.DISCONTINUED, "Referred for surgery.", "This plan is discontinued and can no longer change."),
        (Status.COMPLETED, "", "This plan is completed and can no longer change."),
    ],
)
def test_it_refuses_changes_to_a_closed_plan(therapist, plan, status, reason, message):
    services.plan_end(plan=plan, therapist=therapist, status=status, reason=reason)
    plan.refresh_from_db()
    versions_before = plan.history.count()

    plan.planned_sessions = 2
    with pytest.raises(TreatmentError) as error:
        services.plan_save(plan=plan, therapist=therapist)

    assert str(error.value) == message
    assert TreatmentPlan.objects.get(pk=plan.pk).planned_sessions == 3
    assert plan.history.count() == versions_before


# Opening a chart: the pre-needling check.


def test_it_opens_the_chart_of_a_visit_after_the_pre_needling_check(plan):
    chart = open_chart(plan)
    second = open_chart(plan, day=timezone.localdate() + datetime.timedelta(days=7))

    assert chart.session_number == 1
    assert second.session_number == 2
    assert chart.screening_confirmed_valid
    assert not chart.is_signed


def test_a_new_problem_at_the_pre_needling_check_opens_the_chart_as_not_needled(therapist, plan):
    chart = services.chart_start(
        plan=plan,
        appointment=visit(plan),
        therapist=therapist,
        screening_still_valid=True,
        new_problem=True,
    )

    assert not chart.needled
    assert chart.new_contraindication_reported
    assert chart.not_needled_reason == (
        "A new contraindication or red flag was reported at the pre-needling check."
    )
    with pytest.raises(TreatmentError, match="This visit is charted as not needled"):
        save_draft(chart, fields=chart_fields(), needlings=[needling("Piriformis")])
    assert not chart.needlings.exists()


def test_it_needs_the_screening_confirmed_still_valid_before_needling(therapist, plan):
    with pytest.raises(TreatmentError, match="Confirm the screening is still valid before needling"):
        services.chart_start(
            plan=plan,
            appointment=visit(plan),
            therapist=therapist,
            screening_still_valid=False,
            new_problem=False,
        )

    assert not SessionChart.objects.exists()


def test_it_refuses_to_chart_a_visit_after_the_screening_expired(therapist):
    with time_machine.travel(MONDAY_MORNING, tick=False):
        plan = active_plan(therapist)
    valid_until = patient_services.current_screening(plan.patient).valid_until
    day_after = datetime.datetime.combine(
        valid_until + datetime.timedelta(days=1), datetime.time(9), CLINIC_TZ
    )

    with time_machine.travel(day_after, tick=False), pytest.raises(TreatmentError) as error:
        open_chart(plan)

    assert str(error.value) == (
        f"Not cleared for needling: The screening is valid until {valid_until:%a} {valid_until.day} "
        f"{valid_until:%b %Y}; screen the patient again."
    )
    assert not SessionChart.objects.exists()


def test_it_refuses_to_chart_more_sessions_than_planned(plan):
    for week in range(3):
        charted_session(plan, day=timezone.localdate() + datetime.timedelta(weeks=week))

    with pytest.raises(
        TreatmentError, match="All 3 sessions of this plan are charted; extend the plan first"
    ):
        open_chart(plan, day=timezone.localdate() + datetime.timedelta(weeks=3))

    assert plan.charts.count() == 3


def test_it_lets_only_the_treating_therapist_chart(other_therapist, plan):
    with pytest.raises(TreatmentError, match="Only the patient's treating therapist"):
        services.chart_start(
            plan=plan,
            appointment=visit(plan),
            therapist=other_therapist,
            screening_still_valid=True,
            new_problem=False,
        )

    assert not SessionChart.objects.exists()


def test_it_charts_only_an_active_plan(therapist, patient):
    plan = draft_plan(therapist, patient)

    with pytest.raises(TreatmentError, match="Start the plan before charting its sessions"):
        open_chart(plan)


# Charting the visit.


def test_it_records_the_needling_pain_slr_adverse_events_and_aftercare(plan):
    chart = save_draft(
        open_chart(plan),
        fields=chart_fields(leg=(7, 4), back=(5, 2), slr_angle=50, notes="Twitch in piriformis."),
        needlings=[needling("Piriformis", "left", needles=3), needling("Hamstrings", "left")],
        adverse_events=[AdverseEventInput(kind="soreness", severity="mild", notes="At the needle site.")],
        aftercare_given=aftercare("hydration", "warning_signs"),
    )

    chart = SessionChart.objects.get(pk=chart.pk)
    assert (chart.leg_pain_before, chart.leg_pain_after) == (7, 4)
    assert (chart.back_pain_before, chart.back_pain_after) == (5, 2)
    assert (chart.slr_done, chart.slr_angle, chart.slr_positive) == (True, 50, True)
    assert [(n.muscle.name, n.side, n.needles) for n in chart.needlings.all()] == [
        ("Piriformis", "left", 3),
        ("Hamstrings", "left", 2),
    ]
    assert [str(event) for event in chart.adverse_events.all()] == ["Soreness (Mild)"]
    assert {item.code for item in chart.aftercare_given.all()} == {"hydration", "warning_signs"}
    assert chart.notes == "Twitch in piriformis."


def test_it_offers_the_seeded_aftercare_advice():
    assert list(AftercareItem.objects.values_list("code", flat=True)) == [
        "hydration",
        "stretching",
        "light_movement",
        "expected_soreness",
        "warning_signs",
    ]


def test_it_counts_each_muscle_and_side_once(plan):
    chart = save_draft(
        open_chart(plan),
        needlings=[
            needling("Piriformis", "left", technique="trigger_point"),
            needling("Piriformis", "left", technique="ims"),
            needling("Piriformis", "right"),
        ],
    )

    assert SessionChart.objects.get(pk=chart.pk).muscle_count == 2
    assert chart.needlings.count() == 3


@pytest.mark.parametrize(
    ("muscles", "code"),
    [
        (["Piriformis"], "20560"),
        (["Piriformis", "Gluteus medius"], "20560"),
        (["Piriformis", "Gluteus medius", "Hamstrings"], "20561"),
        (["Piriformis", "Gluteus medius", "Hamstrings", "Multifidus"], "20561"),
    ],
)
def test_it_bills_20560_for_one_or_two_muscles_and_20561_for_three_or_more(plan, muscles, code):
    chart = save_draft(open_chart(plan), needlings=[needling(name) for name in muscles])

    chart = SessionChart.objects.get(pk=chart.pk)
    assert chart.muscle_count == len(muscles)
    assert chart.procedure_code == code


@pytest.mark.parametrize(
    ("kind", "serious"),
    [
        ("infection", True),
        ("nerve_injury", True),
        ("pneumothorax", True),
        ("soreness", False),
        ("bruising", False),
        ("fainting", False),
    ],
)
def test_it_marks_infection_nerve_injury_and_pneumothorax_serious(plan, kind, serious):
    chart = save_draft(open_chart(plan), adverse_events=[AdverseEventInput(kind=kind, severity="moderate")])

    assert AdverseEvent.objects.get(chart=chart).is_serious is serious


@pytest.mark.parametrize(
    "field", ["leg_pain_before", "leg_pain_after", "back_pain_before", "back_pain_after"]
)
def test_it_refuses_pain_outside_0_to_10_and_saves_nothing(plan, field):
    chart = open_chart(plan)

    with pytest.raises(TreatmentError) as error:
        save_draft(chart, fields=chart_fields(**{field: 11}), aftercare_given=aftercare("hydration"))

    assert str(error.value) == f"{SessionChart._meta.get_field(field).verbose_name.capitalize()}: " + (
        "Ensure this value is less than or equal to 10."
    )
    chart = SessionChart.objects.get(pk=chart.pk)
    assert getattr(chart, field) is None
    assert not chart.needlings.exists()
    assert not chart.aftercare_given.exists()


# Signing.


def test_it_signs_a_chart_and_completes_the_visit(plan):
    chart = charted_session(plan, sign=False)

    signed = services.chart_sign(chart=chart, therapist=plan.therapist)

    assert signed.is_signed
    assert Appointment.objects.get(pk=chart.appointment_id).status == Appointment.Status.COMPLETED


def test_it_refuses_to_sign_a_chart_twice(plan):
    chart = charted_session(plan)
    signed_at = SessionChart.objects.get(pk=chart.pk).signed_at

    with pytest.raises(TreatmentError, match=ALREADY_SIGNED):
        services.chart_sign(chart=chart, therapist=plan.therapist)

    assert SessionChart.objects.get(pk=chart.pk).signed_at == signed_at


def test_it_completes_the_visit_once_however_often_sign_is_called(plan, monkeypatch):
    completions = []
    complete = scheduling_services.appointment_complete

    def counting_complete(**kwargs):
        completions.append(kwargs["appointment"].pk)
        return complete(**kwargs)

    monkeypatch.setattr(scheduling_services, "appointment_complete", counting_complete)
    chart = charted_session(plan, sign=False)

    services.chart_sign(chart=chart, therapist=plan.therapist)
    for _ in range(2):
        with pytest.raises(TreatmentError, match=ALREADY_SIGNED):
            services.chart_sign(chart=chart, therapist=plan.therapist)

    assert completions == [chart.appointment_id]
    assert Appointment.objects.get(pk=chart.appointment_id).status == Appointment.Status.COMPLETED


def test_it_hands_the_muscles_and_advice_to_scheduling_for_the_aftercare_emails(plan, monkeypatch):
    handed_over = []
    complete = scheduling_services.appointment_complete

    def recording_complete(**kwargs):
        handed_over.append(kwargs["aftercare"])
        return complete(**kwargs)

    monkeypatch.setattr(scheduling_services, "appointment_complete", recording_complete)

    charted_session(plan)

    [content] = handed_over
    assert [m["muscle"] for m in content["muscles"]] == ["Piriformis", "Gluteus medius"]
    assert [a["code"] for a in content["advice"]] == ["hydration", "expected_soreness"]


def test_it_needs_the_pain_scores_and_a_muscle_before_signing(plan):
    chart = open_chart(plan)

    with pytest.raises(TreatmentError, match="Record the pain scores before needling before signing"):
        services.chart_sign(chart=chart, therapist=plan.therapist)
    save_draft(chart, needlings=[])
    with pytest.raises(TreatmentError, match="Record at least one muscle needled before signing"):
        services.chart_sign(chart=chart, therapist=plan.therapist)

    assert not SessionChart.objects.get(pk=chart.pk).is_signed
    assert Appointment.objects.get(pk=chart.appointment_id).status == Appointment.Status.CHECKED_IN


def test_it_refuses_to_sign_when_the_visit_cannot_be_completed_and_leaves_the_chart_unsigned(plan):
    chart = charted_session(plan, sign=False)
    Appointment.objects.filter(pk=chart.appointment_id).update(status=Appointment.Status.CANCELLED)

    with pytest.raises(TreatmentError, match="The visit is not checked in; only a visit that took place"):
        services.chart_sign(chart=chart, therapist=plan.therapist)

    assert not SessionChart.objects.get(pk=chart.pk).is_signed


def test_it_refuses_draft_changes_to_a_signed_chart(plan):
    chart = charted_session(plan, leg=(6, 4))

    with pytest.raises(TreatmentError, match="This chart is signed; amend it instead, giving a reason"):
        save_draft(chart, fields=chart_fields(leg=(6, 1)))

    assert SessionChart.objects.get(pk=chart.pk).leg_pain_after == 4


# Amending a signed chart.


def test_it_amends_a_signed_chart_keeping_the_previous_content(plan):
    chart = charted_session(plan, leg=(6, 4), needlings=[needling("Piriformis")])
    before = services.chart_snapshot(SessionChart.objects.get(pk=chart.pk))

    amendment = amend(chart, reason="Leg pain after was 3, mistyped.", leg=(6, 3))

    assert amendment.previous == before
    assert amendment.previous["leg_pain_after"] == 4
    assert amendment.reason == "Leg pain after was 3, mistyped."
    assert amendment.amended_by == plan.therapist
    chart = SessionChart.objects.get(pk=chart.pk)
    assert chart.leg_pain_after == 3
    assert [n.muscle.name for n in chart.needlings.all()] == ["Piriformis", "Hamstrings"]
    assert chart.procedure_code == "20560"
    assert chart.is_signed


def test_it_refuses_an_amendment_without_a_reason(plan):
    chart = charted_session(plan, leg=(6, 4))

    with pytest.raises(TreatmentError, match="Give the reason for the amendment"):
        amend(chart, reason="   ", leg=(6, 3))

    assert not ChartAmendment.objects.exists()
    assert SessionChart.objects.get(pk=chart.pk).leg_pain_after == 4


def test_it_amends_only_a_signed_chart(plan):
    chart = charted_session(plan, leg=(6, 4), sign=False)

    with pytest.raises(TreatmentError, match="This chart is not signed yet; change the draft instead"):
        amend(chart, reason="Typo.", leg=(6, 3))

    assert not ChartAmendment.objects.exists()
    assert SessionChart.objects.get(pk=chart.pk).leg_pain_after == 4


def test_it_refuses_an_amendment_with_pain_outside_0_to_10_and_keeps_the_chart(plan):
    chart = charted_session(plan, leg=(6, 4))

    with pytest.raises(TreatmentError, match="Ensure this value is less than or equal to 10"):
        amend(chart, reason="Typo.", leg=(6, 12))

    assert not ChartAmendment.objects.exists()
    assert SessionChart.objects.get(pk=chart.pk).leg_pain_after == 4


# Two "sign" requests at once.


@pytest.mark.postgresql
@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_it_signs_once_when_two_requests_sign_at_the_same_moment(postgresql, therapist):
    plan = active_plan(therapist)
    chart = charted_session(plan, sign=False)
    barrier = threading.Barrier(2)
    outcomes = []

    def sign():
        try:
            barrier.wait(timeout=10)
            services.chart_sign(chart=SessionChart.objects.get(pk=chart.pk), therapist=therapist)
            outcomes.append("signed")
        except TreatmentError as error:
            outcomes.append(str(error))
        finally:
            connection.close()

    threads = [threading.Thread(target=sign) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)

    assert sorted(outcomes) == sorted(["signed", ALREADY_SIGNED])
    assert SessionChart.objects.get(pk=chart.pk).is_signed
    assert Appointment.objects.get(pk=chart.appointment_id).status == Appointment.Status.COMPLETED
