"""Each plan's outcomes are stored (PlanOutcome) so that the dashboard, the
reports and the plan page read columns instead of every plan's history.
Whatever the clinic writes, in whatever order, the stored outcomes of every
plan are what treatments.outcomes computes from the records at that moment."""

import collections
import datetime
import threading
from zoneinfo import ZoneInfo

import pytest
import time_machine
from django.conf import settings
from django.db import transaction
from django.utils import timezone
from hypothesis import HealthCheck
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    invariant,
    rule,
    run_state_machine_as_test,
)

from patients.models import Assessment
from patients.tests.test_audit import in_a_thread
from treatments import outcomes, services
from treatments.models import AftercareCheckIn, PlanOutcome, SessionChart, TreatmentPlan
from treatments.tests.factories import active_plan, chart_fields, charted_session, cleared_patient, needling
from treatments.tests.test_outcomes import assess

MONDAY = datetime.datetime(2025, 3, 3, 7, 0, tzinfo=ZoneInfo(settings.TIME_ZONE))
pain = st.integers(min_value=0, max_value=10)
indexes = st.integers(min_value=0, max_value=50)
days = st.integers(min_value=0, max_value=10)


def pick(items, index):
    items = list(items)
    return items[index % len(items)] if items else None


def outcomes_machine(therapist, seen):
    class Clinic(RuleBasedStateMachine):
        def __init__(self):
            super().__init__()
            # Each run starts from the same clinic: its writes are rolled back after it.
            self.savepoint = transaction.savepoint()
            self.clock = time_machine.travel(MONDAY, tick=False)
            self.traveller = self.clock.start()
            self.now = MONDAY
            self.patients = [cleared_patient(therapist) for _ in range(2)]
            for patient in self.patients:
                active_plan(therapist, patient, planned_sessions=3, reassessment_after_session=2)

        def teardown(self):
            self.clock.stop()
            transaction.savepoint_rollback(self.savepoint)

        def advance(self, days=0, *, to=None):
            """Time only moves on: `days` days, or to `to` if that is later."""
            self.now = max(self.now + datetime.timedelta(days=days), to or self.now)
            self.traveller.move_to(self.now)

        def open_plans(self):
            return TreatmentPlan.objects.filter(status=TreatmentPlan.Status.ACTIVE).order_by("pk")

        @rule(index=indexes, reassess_after=st.integers(min_value=1, max_value=3))
        def start_a_plan(self, index, reassess_after):
            patient = pick(self.patients, index)
            if not patient.treatment_plans.filter(status=TreatmentPlan.Status.ACTIVE).exists():
                active_plan(therapist, patient, planned_sessions=3, reassessment_after_session=reassess_after)
                seen["plan started"] += 1

        @rule(index=indexes, day=days, reassessment=st.booleans(), leg=pain, odi=st.integers(0, 50))
        def assess(self, index, day, reassessment, leg, odi):
            self.advance(day)
            kind = Assessment.Kind.REASSESSMENT if reassessment else Assessment.Kind.INTAKE
            assess(pick(self.patients, index), therapist, kind=kind, at=self.now, odi_total=odi, leg=leg)
            seen["assessed"] += 1

        @rule(index=indexes)
        def an_assessment_is_deleted(self, index):
            assessment = pick(Assessment.objects.order_by("pk"), index)
            if assessment is not None:
                assessment.delete()
                seen["assessment deleted"] += 1

        @rule(index=indexes, day=days, before=pain, after=pain)
        def chart_a_session(self, index, day, before, after):
            plan = pick(self.open_plans(), index)
            if plan is None or plan.charts.count() >= plan.planned_sessions:
                return
            self.advance(day + 1)  # the visit is at 10:00 on a later day
            chart = charted_session(plan, leg=(before, after), day=timezone.localdate(self.now))
            self.advance(to=chart.signed_at)
            seen["session charted"] += 1

        @rule(index=indexes, leg=pain)
        def the_patient_checks_in(self, index, leg):
            chart = pick(
                SessionChart.objects.filter(signed_at__isnull=False, appointment__checkin=None), index
            )
            if chart is not None:
                self.advance(to=chart.appointment.starts_at + datetime.timedelta(hours=24))
                services.checkin_record(appointment=chart.appointment, soreness=2, leg_pain=leg, red_flags=[])
                seen["checked in"] += 1

        @rule(index=indexes)
        def a_checkin_is_deleted(self, index):
            checkin = pick(AftercareCheckIn.objects.order_by("pk"), index)
            if checkin is not None:
                checkin.delete()
                seen["check-in deleted"] += 1

        @rule(index=indexes, before=pain)
        def amend_a_chart(self, index, before):
            chart = pick(SessionChart.objects.filter(signed_at__isnull=False).order_by("pk"), index)
            if chart is not None:
                services.chart_amend(
                    chart=chart,
                    therapist=therapist,
                    reason="Pain before needling misread.",
                    fields=chart_fields(leg=(before, chart.leg_pain_after)),
                    needlings=[needling("Piriformis")],
                    adverse_events=[],
                    aftercare=[],
                )
                seen["amended"] += 1

        @rule(index=indexes, completed=st.booleans())
        def end_a_plan(self, index, completed):
            plan = pick(self.open_plans(), index)
            if plan is not None:
                status = "completed" if completed else "discontinued"
                services.plan_end(plan=plan, therapist=therapist, status=status, reason="Moved away.")
                seen["plan ended"] += 1

        @invariant()
        def every_plans_stored_outcomes_are_what_the_definition_computes(self):
            assert outcomes.stale_plans() == []
            assert PlanOutcome.objects.count() == TreatmentPlan.objects.count()

    return Clinic


@pytest.mark.django_db
def test_the_stored_outcomes_follow_every_write(therapist):
    seen = collections.Counter()
    run_state_machine_as_test(
        outcomes_machine(therapist, seen),
        settings=hypothesis_settings(
            max_examples=20,
            stateful_step_count=30,
            deadline=None,
            derandomize=True,
            suppress_health_check=[HealthCheck.too_slow],
        ),
    )
    print(f"stored outcomes state machine: {dict(seen)}")
    for step in ["session charted", "checked in", "amended", "assessed", "assessment deleted", "plan ended"]:
        assert seen[step] > 0, seen


@pytest.mark.django_db
def test_a_plan_whose_outcomes_went_stale_is_found_and_stored_again_by_the_nightly_task(therapist):
    with time_machine.travel(MONDAY, tick=False):
        plan = active_plan(therapist, cleared_patient(therapist))
        charted_session(plan, leg=(7, 4), day=MONDAY.date())
    # A write that goes round the signals, as a raw UPDATE would.
    SessionChart.objects.filter(plan=plan).update(leg_pain_before=2)
    assert outcomes.stale_plans() == [plan.pk]

    from treatments.tasks import refresh_plan_outcomes

    assert refresh_plan_outcomes.apply().get() == 1
    assert outcomes.stale_plans() == []
    assert PlanOutcome.objects.get(plan=plan).leg_start == 2
    assert settings.CELERY_BEAT_SCHEDULE["refresh-plan-outcomes"]["task"] == refresh_plan_outcomes.name


@pytest.mark.postgresql
@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_two_writers_of_one_plan_at_once_leave_its_stored_outcomes_current(postgresql, therapist):
    with time_machine.travel(MONDAY, tick=False):
        patient = cleared_patient(therapist)
        plan = active_plan(therapist, patient)
        chart = charted_session(plan, leg=(7, 4), day=MONDAY.date())
    amended, finish = threading.Event(), threading.Event()

    def amend_and_wait():
        # The therapist corrects the pain before needling (the baseline) to 2,
        # and the request's transaction stays open a while.
        with transaction.atomic():
            services.chart_amend(
                chart=chart,
                therapist=therapist,
                reason="Pain before needling misread.",
                fields=chart_fields(leg=(2, 4)),
                needlings=[needling("Piriformis")],
                adverse_events=[],
                aftercare=[],
            )
            amended.set()
            assert finish.wait(timeout=30)

    with time_machine.travel(MONDAY + datetime.timedelta(days=1), tick=False):
        first = in_a_thread(amend_and_wait)
        assert amended.wait(timeout=30)
        # Meanwhile the patient is re-assessed: another write of the same plan's measures.
        reassessed = Assessment.Kind.REASSESSMENT
        second = in_a_thread(
            lambda: assess(patient, therapist, kind=reassessed, at=timezone.now(), odi_total=10)
        )
        second.join(timeout=2)
        assert second.is_alive(), "the re-assessment's refresh did not wait for the amendment's"
        finish.set()
        first.join(timeout=30)
        second.join(timeout=30)

    assert "error" not in first.outcome, first.outcome
    assert "error" not in second.outcome, second.outcome
    assert outcomes.stale_plans() == []
    assert PlanOutcome.objects.get(plan=plan).leg_start == 2
