"""Outcomes over a plan, worked by hand: pain from the plan's baseline to its
latest measure across visits, Oswestry from the starting assessment to the
re-assessment, each judged against the minimal important change (2 points or
30% on pain, 10 points on ODI), and the "not improving" flag at the
re-assessment point. The change within a session (just after needling) is
never an improvement."""

import datetime
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest
import time_machine
from django.conf import settings
from django.db import connection
from django.test.utils import CaptureQueriesContext

from patients import services as patient_services
from patients.models import ODI_SECTIONS, Assessment
from patients.tests.factories import AssessmentFactory
from treatments import services
from treatments.models import TreatmentPlan
from treatments.outcomes import plan_outcomes, with_outcomes
from treatments.tests.factories import (
    SessionChartFactory,
    TreatmentPlanFactory,
    charted_session,
    cleared_patient,
    draft_plan,
)

CLINIC_TZ = ZoneInfo(settings.TIME_ZONE)
MONDAY_MORNING = datetime.datetime(2025, 3, 3, 9, 0, tzinfo=CLINIC_TZ)


def sections(total):
    """Oswestry answers (0-5 in each of the ten sections) adding up to `total`,
    so that the index is 2 x total percent."""
    base, extra = divmod(total, len(ODI_SECTIONS))
    scores = [base + 1] * extra + [base] * (len(ODI_SECTIONS) - extra)
    return {section: score for (section, _), score in zip(ODI_SECTIONS, scores, strict=True)}


# The minimal important change, by hand, as the database judges it.


def measured_plan(*, leg, odi=(22, 22)):
    """A plan whose intake (before it started) and re-assessment (a week in)
    give leg pain `leg` = (start, end) and Oswestry totals `odi` = (start, end)."""
    started = MONDAY_MORNING
    plan = TreatmentPlanFactory(created_at=started, activated_at=started, status=TreatmentPlan.Status.ACTIVE)
    for kind, at, pain, total in [
        (Assessment.Kind.INTAKE, started - datetime.timedelta(hours=1), leg[0], odi[0]),
        (Assessment.Kind.REASSESSMENT, started + datetime.timedelta(weeks=1), leg[1], odi[1]),
    ]:
        AssessmentFactory(
            patient=plan.patient,
            kind=kind,
            assessed_at=at,
            leg_pain=pain,
            **sections(total),
        )
    return plan


@pytest.mark.parametrize(
    ("start", "end", "meets"),
    [
        (8, 6, True),  # 2 points
        (5, 4, False),  # 1 point, 20%
        (3, 2, True),  # 1 point, 33%
        (10, 8, True),  # 2 points, 20%
        (6, 6, False),
        (4, 5, False),  # worse
        (0, 0, False),
    ],
)
@pytest.mark.django_db
def test_it_judges_a_pain_change_by_2_points_or_30_percent(start, end, meets):
    outcomes = plan_outcomes(measured_plan(leg=(start, end)))

    assert (outcomes.leg_pain.start, outcomes.leg_pain.end) == (start, end)
    assert outcomes.leg_pain.meets_mic is meets
    assert outcomes.leg_pain.improvement == start - end


@pytest.mark.parametrize(("start", "end", "meets"), [(22, 17, True), (22, 18, False), (20, 15, True)])
@pytest.mark.django_db
def test_it_judges_an_odi_change_by_10_points(start, end, meets):
    outcomes = plan_outcomes(measured_plan(leg=(6, 6), odi=(start, end)))

    assert (outcomes.odi.start, outcomes.odi.end) == (Decimal(2 * start), Decimal(2 * end))
    assert outcomes.odi.meets_mic is meets


# Over a plan charted through the services.


def assess(patient, therapist, *, kind, at, odi_total, leg=6, back=4):
    assessment = AssessmentFactory.build(
        patient=patient,
        therapist=None,
        kind=kind,
        assessed_at=at,
        leg_pain=leg,
        back_pain=back,
        **sections(odi_total),
    )
    return patient_services.assessment_record(assessment=assessment, therapist=therapist)


def weeks_later(weeks):
    return (MONDAY_MORNING + datetime.timedelta(weeks=weeks)).date()


@pytest.fixture
def clock():
    with time_machine.travel(MONDAY_MORNING, tick=False) as traveller:
        yield traveller


@pytest.fixture
def patient(therapist, clock):
    return cleared_patient(therapist)


def started_plan(therapist, patient, clock, *, intake=True, leg=8, back=5, **fields):
    """A plan drafted after an intake assessment (ODI 44%, leg and back pain
    as given; none with intake=False) and started an hour later."""
    if intake:
        assess(
            patient,
            therapist,
            kind=Assessment.Kind.INTAKE,
            at=MONDAY_MORNING,
            odi_total=22,
            leg=leg,
            back=back,
        )
    plan = draft_plan(therapist, patient, **fields)
    clock.shift(datetime.timedelta(hours=1))
    return services.plan_activate(plan=plan, therapist=therapist)


def check_in(chart, clock, *, leg_pain, hours=24):
    """The patient's check-in `hours` after the visit, through the service the link posts to."""
    clock.move_to(chart.appointment.starts_at + datetime.timedelta(hours=hours))
    return services.checkin_record(appointment=chart.appointment, soreness=3, leg_pain=leg_pain, red_flags=[])


def test_it_measures_pain_from_the_intake_to_the_latest_session_before_needling(therapist, patient, clock):
    plan = started_plan(therapist, patient, clock, leg=8, back=5)
    for week, (leg, back) in enumerate([((8, 6), (5, 4)), ((6, 5), (4, 4)), ((5, 3), (4, 3))]):
        charted_session(plan, leg=leg, back=back, day=weeks_later(week))

    outcomes = plan_outcomes(plan)

    assert [(s.number, s.leg_before, s.leg_after) for s in outcomes.sessions] == [
        (1, 8, 6),
        (2, 6, 5),
        (3, 5, 3),
    ]
    # Leg 8 -> 5: 3 points. Back 5 -> 4: 1 point, 20%. Not 8 -> 3 and 5 -> 3, after the last needling.
    assert (outcomes.leg_pain.start, outcomes.leg_pain.end) == (8, 5)
    assert outcomes.leg_pain.meets_mic
    assert outcomes.leg_pain.start_from == "assessment, Mon 3 Mar"
    assert outcomes.leg_pain.end_from == "before needling at session 3, Mon 17 Mar"
    assert (outcomes.back_pain.start, outcomes.back_pain.end) == (5, 4)
    assert not outcomes.back_pain.meets_mic
    assert outcomes.sessions_done == 3
    assert (outcomes.last_session.leg_before, outcomes.last_session.leg_after) == (5, 3)


def test_without_an_intake_the_baseline_is_the_first_session_before_needling(therapist, patient, clock):
    plan = started_plan(therapist, patient, clock, intake=False)
    charted_session(plan, leg=(7, 2), day=weeks_later(0))
    charted_session(plan, leg=(6, 2), day=weeks_later(1))

    outcomes = plan_outcomes(plan)

    # 7 -> 6: 1 point, 14%, whatever the needling did within each session.
    assert (outcomes.leg_pain.start, outcomes.leg_pain.end) == (7, 6)
    assert outcomes.leg_pain.start_from == "before needling at session 1, Mon 3 Mar"
    assert not outcomes.leg_pain.meets_mic
    assert outcomes.odi_start is None


def test_a_plan_measured_once_at_its_first_session_has_no_change_yet(therapist, patient, clock):
    plan = started_plan(therapist, patient, clock, intake=False, reassessment_after_session=1)
    charted_session(plan, leg=(7, 2), day=weeks_later(0))

    outcomes = plan_outcomes(plan)

    assert outcomes.leg_pain is None
    assert outcomes.back_pain is None
    assert outcomes.not_improving  # at the re-assessment point with no change measured


def test_the_patients_check_in_after_the_visit_is_the_latest_measure_not_the_pain_just_after_needling(
    therapist, patient, clock
):
    """One session: leg pain 7 before needling and 4 just after it; the
    patient's check-in 24 hours later reports leg pain 8. No improvement."""
    plan = started_plan(
        therapist, patient, clock, intake=False, reassessment_after_session=1, planned_sessions=1
    )
    chart = charted_session(plan, leg=(7, 4), day=weeks_later(0))
    check_in(chart, clock, leg_pain=8)

    outcomes = plan_outcomes(plan)

    assert (outcomes.leg_pain.start, outcomes.leg_pain.end) == (7, 8)
    assert outcomes.leg_pain.end_from == "check-in after session 1, Tue 4 Mar"
    assert not outcomes.leg_pain.meets_mic
    assert outcomes.not_improving
    assert (outcomes.last_session.leg_before, outcomes.last_session.leg_after) == (7, 4)
    assert outcomes.sessions[0].checkin_leg == 8
    # The database says the same to the reports.
    row = with_outcomes(TreatmentPlan.objects.filter(pk=plan.pk)).get()
    assert (row.leg_start, row.leg_end, row.leg_meets_mic, row.not_improving) == (7, 8, False, True)


def test_a_later_session_before_needling_is_later_than_an_earlier_check_in(therapist, patient, clock):
    plan = started_plan(therapist, patient, clock, leg=8)
    first = charted_session(plan, leg=(8, 3), day=weeks_later(0))
    check_in(first, clock, leg_pain=4)  # Tuesday
    clock.move_to(MONDAY_MORNING + datetime.timedelta(weeks=1, hours=1))
    charted_session(plan, leg=(7, 2), day=weeks_later(1))

    outcomes = plan_outcomes(plan)

    assert (outcomes.leg_pain.start, outcomes.leg_pain.end) == (8, 7)
    assert not outcomes.leg_pain.meets_mic


def test_a_check_in_sent_after_a_later_visit_is_the_latest(therapist, patient, clock):
    plan = started_plan(therapist, patient, clock, leg=8, frequency=TreatmentPlan.Frequency.TWICE_WEEKLY)
    first = charted_session(plan, leg=(8, 3), day=weeks_later(0))
    clock.move_to(MONDAY_MORNING + datetime.timedelta(days=2, hours=1))
    charted_session(plan, leg=(7, 2), day=weeks_later(0) + datetime.timedelta(days=2))
    check_in(first, clock, leg_pain=5, hours=3 * 24)  # sent on Thursday, about Monday's visit

    outcomes = plan_outcomes(plan)

    assert (outcomes.leg_pain.start, outcomes.leg_pain.end) == (8, 5)
    assert outcomes.leg_pain.end_from == "check-in after session 1, Thu 6 Mar"
    assert outcomes.leg_pain.meets_mic


def test_a_reassessment_after_the_last_visit_is_the_latest_measure(therapist, patient, clock):
    plan = started_plan(therapist, patient, clock, leg=8, back=6)
    charted_session(plan, leg=(8, 3), back=(6, 2), day=weeks_later(0))
    charted_session(plan, leg=(7, 3), back=(6, 2), day=weeks_later(1))
    assess(
        patient,
        therapist,
        kind=Assessment.Kind.REASSESSMENT,
        at=MONDAY_MORNING + datetime.timedelta(weeks=1, days=2),
        odi_total=20,
        leg=4,
        back=5,
    )

    outcomes = plan_outcomes(plan)

    assert (outcomes.leg_pain.start, outcomes.leg_pain.end) == (8, 4)
    assert outcomes.leg_pain.end_from == "re-assessment, Wed 12 Mar"
    assert (outcomes.back_pain.start, outcomes.back_pain.end) == (6, 5)


def test_a_visit_before_the_intake_assessment_is_no_later_measure(therapist, patient, clock):
    plan = started_plan(therapist, patient, clock, leg=8)  # assessed at 09:00
    charted_session(plan, leg=(5, 3), day=weeks_later(0), hour=8)

    assert plan_outcomes(plan).leg_pain is None


def test_it_leaves_unsigned_sessions_out_of_the_outcomes(therapist, patient, clock):
    plan = started_plan(therapist, patient, clock, leg=8)
    charted_session(plan, leg=(6, 6), day=weeks_later(0))
    charted_session(plan, leg=(2, 1), day=weeks_later(1), sign=False)

    outcomes = plan_outcomes(plan)

    assert outcomes.sessions_done == 1
    assert (outcomes.leg_pain.start, outcomes.leg_pain.end) == (8, 6)


def test_it_measures_odi_from_the_intake_before_the_plan_to_the_reassessment_after(therapist, patient, clock):
    plan = started_plan(therapist, patient, clock)
    charted_session(plan, day=weeks_later(0))
    charted_session(plan, day=weeks_later(1))
    # An intake after the plan started is not its starting point, nor its re-assessment.
    assess(
        patient,
        therapist,
        kind=Assessment.Kind.INTAKE,
        at=MONDAY_MORNING + datetime.timedelta(days=1),
        odi_total=5,
    )
    assess(
        patient,
        therapist,
        kind=Assessment.Kind.REASSESSMENT,
        at=MONDAY_MORNING + datetime.timedelta(weeks=1),
        odi_total=18,
    )
    reassessment = assess(
        patient,
        therapist,
        kind=Assessment.Kind.REASSESSMENT,
        at=MONDAY_MORNING + datetime.timedelta(weeks=2),
        odi_total=15,
    )

    outcomes = plan_outcomes(plan)

    assert outcomes.odi_start.odi_percent == Decimal("44.0")
    assert outcomes.odi_reassessment == reassessment
    assert (outcomes.odi.start, outcomes.odi.end) == (Decimal("44.0"), Decimal("30.0"))
    assert outcomes.odi.meets_mic


def test_it_flags_a_plan_not_improving_at_the_reassessment_point(therapist, patient, clock):
    plan = started_plan(therapist, patient, clock, leg=6, reassessment_after_session=2)
    charted_session(plan, leg=(6, 2), day=weeks_later(0))
    charted_session(plan, leg=(6, 2), day=weeks_later(1))

    outcomes = plan_outcomes(plan)

    assert outcomes.odi is None
    assert outcomes.reassessment_due
    assert outcomes.not_improving


def test_it_does_not_flag_a_plan_before_the_reassessment_point(therapist, patient, clock):
    plan = started_plan(therapist, patient, clock, leg=6, reassessment_after_session=2)
    charted_session(plan, leg=(6, 6), day=weeks_later(0))

    outcomes = plan_outcomes(plan)

    assert not outcomes.reassessment_due
    assert not outcomes.not_improving


def test_it_does_not_flag_a_plan_whose_odi_improved_though_leg_pain_did_not(therapist, patient, clock):
    plan = started_plan(therapist, patient, clock, leg=6, reassessment_after_session=2)
    charted_session(plan, leg=(6, 6), day=weeks_later(0))
    charted_session(plan, leg=(6, 6), day=weeks_later(1))
    assess(
        patient,
        therapist,
        kind=Assessment.Kind.REASSESSMENT,
        at=MONDAY_MORNING + datetime.timedelta(weeks=1),
        odi_total=17,
        leg=6,
    )

    outcomes = plan_outcomes(plan)

    assert not outcomes.leg_pain.meets_mic
    assert outcomes.odi.meets_mic
    assert not outcomes.not_improving


def test_it_reads_the_outcomes_in_as_many_queries_for_six_sessions_as_for_one(
    therapist, patient, clock, django_assert_num_queries
):
    short = started_plan(therapist, patient, clock, planned_sessions=1, reassessment_after_session=1)
    charted_session(short, day=weeks_later(0))
    services.plan_end(plan=short, therapist=therapist, status="completed")
    long = started_plan(therapist, patient, clock, severity="chronic", planned_sessions=6)
    for week in range(1, 7):
        check_in(charted_session(long, day=weeks_later(week)), clock, leg_pain=3)

    with CaptureQueriesContext(connection) as one_session:
        assert plan_outcomes(short).sessions_done == 1
    with django_assert_num_queries(len(one_session)):
        assert plan_outcomes(long).sessions_done == 6
    assert len(one_session) == 3


@pytest.mark.django_db
def test_a_plan_with_nothing_measured_has_no_outcomes():
    plan = TreatmentPlanFactory()
    SessionChartFactory(plan=plan, leg_pain_before=None, leg_pain_after=None)

    outcomes = plan_outcomes(plan)

    assert (outcomes.leg_pain, outcomes.back_pain, outcomes.odi) == (None, None, None)
    assert outcomes.sessions_done == 1
