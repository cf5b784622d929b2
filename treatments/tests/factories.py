"""Plans and charts for tests, written through the services as a therapist
would: a cleared patient, an active plan, a visit, the muscles needled."""

import datetime
from decimal import Decimal

import factory
from django.utils import timezone

from clinic import roles
from clinic.tests.factories import UserFactory
from patients.tests.factories import ConsentFactory, PatientFactory, screening_with_answers
from scheduling.models import Appointment
from scheduling.tests.factories import AppointmentFactory, needling_type
from treatments import services
from treatments.models import (
    AdverseEvent,
    AftercareCheckIn,
    AftercareItem,
    ChartAmendment,
    Muscle,
    SessionChart,
    Side,
    Technique,
    TreatmentPlan,
)


def muscle(name):
    return Muscle.objects.get(name=name)


def cleared_patient(therapist, **fields):
    """A patient of `therapist`, screened by them (every answer "no", so
    cleared and signed) and consenting to the current consent text."""
    patient = PatientFactory(treating_therapist=therapist, **fields)
    screening_with_answers(patient=patient, therapist=therapist)
    ConsentFactory(patient=patient, witnessed_by=therapist)
    return patient


class PlanFactory(factory.django.DjangoModelFactory):
    """An unsaved plan's fields: a moderate case, three weekly sessions,
    piriformis and gluteus medius on the left. Save it with services.plan_save
    (or use draft_plan / active_plan)."""

    class Meta:
        model = TreatmentPlan

    severity = TreatmentPlan.Severity.MODERATE
    planned_sessions = factory.LazyAttribute(lambda p: services.proposed_sessions(p.severity))
    frequency = TreatmentPlan.Frequency.WEEKLY
    target_muscles = factory.LazyFunction(
        lambda: [
            {"muscle": muscle("Piriformis").pk, "side": Side.LEFT},
            {"muscle": muscle("Gluteus medius").pk, "side": Side.LEFT},
        ]
    )
    techniques = factory.LazyFunction(lambda: [Technique.TRIGGER_POINT])
    program = factory.LazyFunction(
        lambda: [{"component": "core", "notes": "Bird-dog, dead bug."}, {"component": "ergonomics"}]
    )
    goal_leg_pain = 2
    goal_odi = 20
    goal_notes = "Sit through a working day without leg pain."
    reassessment_after_session = factory.LazyAttribute(lambda p: min(2, p.planned_sessions))


def draft_plan(therapist, patient=None, **fields):
    """A draft plan saved through the services, for a cleared patient of `therapist`."""
    patient = patient or cleared_patient(therapist)
    plan = PlanFactory.build(patient=patient, therapist=therapist, **fields)
    return services.plan_save(plan=plan, therapist=therapist)


def active_plan(therapist, patient=None, **fields):
    plan = draft_plan(therapist, patient, **fields)
    return services.plan_activate(plan=plan, therapist=therapist)


def visit(plan, day=None, hour=None, **fields):
    """A checked-in visit (the status can be given) of the plan's patient
    with the plan's therapist, of the seeded dry-needling type, on `day`
    (clinic-local, today by default) at `hour`; with neither, one that began
    up to an hour ago today, so that its chart can be signed now."""
    if day is None and hour is None:
        now = timezone.localtime()
        began = max(now - datetime.timedelta(hours=1), now.replace(hour=0, minute=0))
        starts_at = began.replace(minute=began.minute - began.minute % 15, second=0, microsecond=0)
    else:
        day = day or timezone.localdate()
        starts_at = timezone.make_aware(
            datetime.datetime.combine(day, datetime.time(10 if hour is None else hour))
        )
    fields.setdefault("status", Appointment.Status.CHECKED_IN)
    fields.setdefault("appointment_type", needling_type())
    return AppointmentFactory(patient=plan.patient, therapist=plan.therapist, starts_at=starts_at, **fields)


def needling(muscle_name="Piriformis", side=Side.LEFT, **fields):
    values = {
        "needles": 2,
        "needle_length_mm": 60,
        "needle_gauge_mm": Decimal("0.30"),
        "technique": Technique.TRIGGER_POINT,
        "twitch_response": True,
        "familiar_pain": True,
        **fields,
    }
    return services.NeedlingInput(muscle=muscle(muscle_name), side=side, **values)


def aftercare(*codes):
    return list(AftercareItem.objects.filter(code__in=codes))


def chart_fields(*, leg=(6, 4), back=(5, 3), **fields):
    """The chart's scalar fields: leg and back pain as (before, after)."""
    return {
        "leg_pain_before": leg[0],
        "leg_pain_after": leg[1],
        "back_pain_before": back[0],
        "back_pain_after": back[1],
        "slr_done": True,
        "slr_angle": 55,
        "slr_positive": True,
        "notes": "Tolerated well.",
        **fields,
    }


def during(appointment, minutes=30):
    """A moment `minutes` into the visit, or now if that is later: charts of
    visits days ahead of a test's clock are written as of their visit, the
    way the demo's history is (the services take `now=`)."""
    return max(timezone.now(), appointment.starts_at + datetime.timedelta(minutes=minutes))


def open_chart(plan, appointment=None, **visit_fields):
    appointment = appointment or visit(plan, **visit_fields)
    return services.chart_start(
        plan=plan,
        appointment=appointment,
        therapist=plan.therapist,
        screening_still_valid=True,
        new_problem=False,
        now=during(appointment, 5),
    )


def charted_session(plan, *, leg=(6, 4), back=(5, 3), needlings=None, sign=True, **visit_fields):
    """A visit opened, charted and (unless sign=False) signed through the
    services, as of the visit (see during())."""
    chart = open_chart(plan, **visit_fields)
    chart = services.chart_save_draft(
        chart=chart,
        therapist=plan.therapist,
        fields=chart_fields(leg=leg, back=back),
        needlings=needlings or [needling("Piriformis"), needling("Gluteus medius")],
        adverse_events=[],
        aftercare=aftercare("hydration", "expected_soreness"),
    )
    if sign:
        chart = services.chart_sign(chart=chart, therapist=plan.therapist, now=during(chart.appointment, 45))
    return chart


# Rows saved as they are, without the services' checks: for lists and the admin.


class MuscleFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Muscle
        django_get_or_create = ["name"]

    name = factory.Sequence(lambda n: f"Tibialis anterior {n}")
    region = "calf"
    position = 500


class AftercareItemFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = AftercareItem
        django_get_or_create = ["code"]

    code = factory.Sequence(lambda n: f"ice_{n}")
    title = "Ice the area"
    patient_text = "Ten minutes of ice, wrapped in a cloth, if the area is sore."
    position = 500


class TreatmentPlanFactory(PlanFactory):
    """A draft plan saved directly, for a new patient and therapist unless told."""

    patient = factory.SubFactory(PatientFactory)
    therapist = factory.SubFactory(UserFactory, role=roles.THERAPIST)


class SessionChartFactory(factory.django.DjangoModelFactory):
    """The first session of a new plan, at a visit of its patient with its
    therapist; signed unless draft=True."""

    class Meta:
        model = SessionChart

    class Params:
        draft = factory.Trait(signed_at=None)

    plan = factory.SubFactory(TreatmentPlanFactory)
    therapist = factory.SelfAttribute("plan.therapist")
    appointment = factory.SubFactory(
        AppointmentFactory,
        patient=factory.SelfAttribute("..plan.patient"),
        therapist=factory.SelfAttribute("..plan.therapist"),
        status="completed",
    )
    session_number = 1
    leg_pain_before = 6
    leg_pain_after = 4
    notes = "Tolerated well."
    signed_at = factory.LazyFunction(timezone.now)


class AdverseEventFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = AdverseEvent

    chart = factory.SubFactory(SessionChartFactory)
    kind = AdverseEvent.Kind.SORENESS
    severity = AdverseEvent.Severity.MILD
    visit_at = factory.LazyAttribute(lambda event: event.chart.appointment.starts_at)


class ChartAmendmentFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = ChartAmendment

    chart = factory.SubFactory(SessionChartFactory)
    reason = "Leg pain after was recorded on the wrong line."
    amended_by = factory.SelfAttribute("chart.therapist")
    previous = factory.LazyAttribute(lambda a: {"leg_pain_after": a.chart.leg_pain_after})


class AftercareCheckInFactory(factory.django.DjangoModelFactory):
    """A patient's 24-hour check-in: some soreness, leg pain better."""

    class Meta:
        model = AftercareCheckIn

    appointment = factory.SubFactory(AppointmentFactory, status="completed")
    soreness = 3
    leg_pain = 2


# What the treatments pages post, for tests that go through the views.


def plan_form_data(
    *,
    severity=TreatmentPlan.Severity.MODERATE,
    planned_sessions="",
    sessions_reason="",
    muscles=(("Piriformis", Side.LEFT), ("Gluteus medius", Side.LEFT)),
    techniques=(Technique.TRIGGER_POINT,),
    reassessment_after_session="",
    **fields,
):
    """The plan form as a therapist fills it in: sessions and the
    re-assessment point left empty unless given, core strengthening ticked."""
    data = {
        "severity": severity,
        "planned_sessions": planned_sessions,
        "sessions_reason": sessions_reason,
        "frequency": TreatmentPlan.Frequency.WEEKLY,
        "techniques": list(techniques),
        "goal_leg_pain": "2",
        "goal_odi": "20",
        "goal_notes": "Sit through a working day without leg pain.",
        "reassessment_after_session": reassessment_after_session,
        "program_core": "on",
        "program_core_notes": "Bird-dog, dead bug.",
        **{f"muscle_{muscle(name).pk}": side for name, side in muscles},
    }
    data.update(fields)
    return data


def _management_form(prefix, total):
    # Every row posted counts as one the page offered (the page offers the
    # rows it fills in as initial forms), so that each is validated and kept.
    return {
        f"{prefix}-TOTAL_FORMS": str(total),
        f"{prefix}-INITIAL_FORMS": str(total),
        f"{prefix}-MIN_NUM_FORMS": "0",
        f"{prefix}-MAX_NUM_FORMS": "1000",
    }


def chart_form_data(
    *,
    leg=(6, 4),
    back=(5, 3),
    muscles=("Piriformis", "Gluteus medius"),
    events=(),
    aftercare_codes=("hydration", "expected_soreness"),
    notes="Tolerated well.",
    **fields,
):
    """The chart form as a therapist fills it in: pain as (before, after), one
    needling row per muscle (left side), adverse events as (kind, severity)."""
    data = {
        "leg_pain_before": str(leg[0]),
        "leg_pain_after": str(leg[1]),
        "back_pain_before": str(back[0]),
        "back_pain_after": str(back[1]),
        "slr_done": "on",
        "slr_angle": "55",
        "slr_positive": "True",
        "aftercare_given": [str(item.pk) for item in aftercare(*aftercare_codes)],
        "aftercare_notes": "",
        "notes": notes,
        **_management_form("needling", len(muscles)),
        **_management_form("event", max(len(events), 1)),
    }
    for row, name in enumerate(muscles):
        data.update(
            {
                f"needling-{row}-muscle": str(muscle(name).pk),
                f"needling-{row}-side": Side.LEFT,
                f"needling-{row}-needles": "2",
                f"needling-{row}-needle_length_mm": "60",
                f"needling-{row}-needle_gauge_mm": "0.30",
                f"needling-{row}-technique": Technique.TRIGGER_POINT,
                f"needling-{row}-twitch_response": "on",
            }
        )
    for row, (kind, severity) in enumerate(events):
        data.update({f"event-{row}-kind": kind, f"event-{row}-severity": severity})
    data.update(fields)
    return data


def credit_versions(plan, user=None):
    """Credit the plan's versions saved outside a request to `user` (the
    plan's therapist by default), as the history middleware does for a plan
    saved through the pages."""
    TreatmentPlan.history.filter(id=plan.pk, history_user__isnull=True).update(
        history_user=user or plan.therapist
    )
    return plan
