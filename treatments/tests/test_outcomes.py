"""Outcomes over a plan, worked by hand: pain and Oswestry changes judged
against the minimal important change (2 points or 30% on pain, 10 points on
ODI), and the "not improving" flag at the re-assessment point."""

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
from treatments.outcomes import odi_change, pain_change, plan_outcomes
from treatments.tests.factories import charted_session, cleared_patient, draft_plan

CLINIC_TZ = ZoneInfo(settings.TIME_ZONE)
MONDAY_MORNING = datetime.datetime(2025, 3, 3, 9, 0, tzinfo=CLINIC_TZ)


# The minimal important change, by hand.


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
def test_it_judges_a_pain_change_by_2_points_or_30_percent(start, end, meets):
    change = pain_change(start, end)

    assert change.meets_mic is meets
    assert change.improvement == start - end


@pytest.mark.parametrize(
    ("start", "end", "meets"),
    [("44", "34", True), ("44", "35", False), ("44.0", "34.0", True), ("40.0", "30.2", False)],
)
def test_it_judges_an_odi_change_by_10_points(start, end, meets):
    assert odi_change(Decimal(start), Decimal(end)).meets_mic is meets


# Over a plan charted through the services.


def sections(total):
    """Oswestry answers (0-5 in each of the ten sections) adding up to `total`,
    so that the index is 2 x total percent."""
    base, extra = divmod(total, len(ODI_SECTIONS))
    scores = [base + 1] * extra + [base] * (len(ODI_SECTIONS) - extra)
    return {section: score for (section, _), score in zip(ODI_SECTIONS, scores, strict=True)}


def assess(patient, therapist, *, kind, at, odi_total):
    assessment = AssessmentFactory.build(
        patient=patient, therapist=None, kind=kind, assessed_at=at, **sections(odi_total)
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


def started_plan(therapist, patient, clock, **fields):
    """A plan drafted after an intake assessment (ODI 44%) and started an hour later."""
    assess(patient, therapist, kind=Assessment.Kind.INTAKE, at=MONDAY_MORNING, odi_total=22)
    plan = draft_plan(therapist, patient, **fields)
    clock.shift(datetime.timedelta(hours=1))
    return services.plan_activate(plan=plan, therapist=therapist)


def test_it_measures_leg_pain_from_the_first_session_before_to_the_last_after(therapist, patient, clock):
    plan = started_plan(therapist, patient, clock)
    for week, (leg, back) in enumerate([((8, 6), (5, 4)), ((6, 5), (4, 4)), ((5, 3), (4, 3))]):
        charted_session(plan, leg=leg, back=back, day=weeks_later(week))

    outcomes = plan_outcomes(plan)

    assert [(s.number, s.leg_before, s.leg_after) for s in outcomes.sessions] == [
        (1, 8, 6),
        (2, 6, 5),
        (3, 5, 3),
    ]
    assert (outcomes.leg_pain.start, outcomes.leg_pain.end) == (8, 3)
    assert outcomes.leg_pain.meets_mic
    assert (outcomes.back_pain.start, outcomes.back_pain.end) == (5, 3)
    assert outcomes.back_pain.meets_mic
    assert outcomes.sessions_done == 3


def test_it_leaves_unsigned_sessions_out_of_the_outcomes(therapist, patient, clock):
    plan = started_plan(therapist, patient, clock)
    charted_session(plan, leg=(8, 6), day=weeks_later(0))
    charted_session(plan, leg=(6, 1), day=weeks_later(1), sign=False)

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
    plan = started_plan(therapist, patient, clock, reassessment_after_session=2)
    charted_session(plan, leg=(6, 6), day=weeks_later(0))
    charted_session(plan, leg=(6, 6), day=weeks_later(1))

    outcomes = plan_outcomes(plan)

    assert outcomes.odi is None
    assert outcomes.reassessment_due
    assert outcomes.not_improving


def test_it_does_not_flag_a_plan_before_the_reassessment_point(therapist, patient, clock):
    plan = started_plan(therapist, patient, clock, reassessment_after_session=2)
    charted_session(plan, leg=(6, 6), day=weeks_later(0))

    outcomes = plan_outcomes(plan)

    assert not outcomes.reassessment_due
    assert not outcomes.not_improving


def test_it_does_not_flag_a_plan_whose_odi_improved_though_leg_pain_did_not(therapist, patient, clock):
    plan = started_plan(therapist, patient, clock, reassessment_after_session=2)
    charted_session(plan, leg=(6, 6), day=weeks_later(0))
    charted_session(plan, leg=(6, 6), day=weeks_later(1))
    assess(
        patient,
        therapist,
        kind=Assessment.Kind.REASSESSMENT,
        at=MONDAY_MORNING + datetime.timedelta(weeks=1),
        odi_total=17,
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
        charted_session(long, day=weeks_later(week))

    with CaptureQueriesContext(connection) as one_session:
        assert plan_outcomes(short).sessions_done == 1
    with django_assert_num_queries(len(one_session)):
        assert plan_outcomes(long).sessions_done == 6
