"""Writes to treatment plans and session charts. Each is one transaction;
errors a person can cause are TreatmentError with a message fit to show."""

from dataclasses import dataclass

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.mail import send_mail
from django.db import transaction
from django.db.models import Max
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils import timezone

from clinic.validation import error_messages
from core import links
from patients import audit, gate
from patients import services as patient_services
from scheduling import services as scheduling_services
from scheduling.models import Appointment
from treatments import outcomes
from treatments.models import (
    AdverseEvent,
    AftercareCheckIn,
    ChartAmendment,
    ChartNeedling,
    Muscle,
    SessionChart,
    TreatmentPlan,
)


class TreatmentError(Exception):
    """A change to a plan or chart that cannot be made, with the reason."""


def _validated(instance, **kwargs):
    """full_clean, its refusal as a TreatmentError: whatever reaches a service, never a server error."""
    try:
        instance.full_clean(**kwargs)
    except ValidationError as error:
        raise TreatmentError(" ".join(error_messages(instance, error))) from None


Severity = TreatmentPlan.Severity

# The range of sessions each severity proposes, and the default within it.
SESSION_RANGES = {
    Severity.MILD: (1, 3, 3),
    Severity.MODERATE: (1, 3, 3),
    Severity.CHRONIC: (4, 6, 6),
    Severity.COMPLEX: (4, 6, 6),
}


def proposed_sessions(severity: str) -> int:
    return SESSION_RANGES[severity][2]


def sessions_need_reason(severity: str, sessions: int) -> bool:
    low, high, _ = SESSION_RANGES[severity]
    return not low <= sessions <= high


def procedure_code(muscle_count: int) -> str:
    """CPT code for dry needling: 20560 for 1-2 muscles, 20561 for 3 or more."""
    if muscle_count == 0:
        return ""
    return "20560" if muscle_count <= 2 else "20561"


# Who may do what.


def is_treating_therapist(user, patient):
    return patient_services.can_write_clinical_records(user, patient)


def _require_writer(user, patient):
    if not is_treating_therapist(user, patient):
        raise TreatmentError(
            "Only the patient's treating therapist can write plans and charts. "
            "Ask the clinic admin to reassign the patient."
        )


def _require_cleared(patient):
    """A new or started plan needs a patient cleared today."""
    clearance = gate.needling_clearance(patient)
    if not clearance.is_cleared:
        raise TreatmentError("This patient cannot be needled: " + " ".join(clearance.problems))


def _require_gate(appointment, action, *, needled=True, now=None):
    """The clinical gate's answer for this visit, at this moment, holding the
    patient's row to the end of the transaction; TreatmentError if refused."""
    decision = gate.clinical_gate(
        appointment.patient, action, visit=appointment.as_visit(), needled=needled, now=now, lock=True
    )
    if not decision.allowed:
        raise TreatmentError(decision.message)
    return decision


# Plans.

PROGRAM_NEEDED = "Choose at least one part of the program around the needling."


def _check_plan(plan: TreatmentPlan) -> None:
    if sessions_need_reason(plan.severity, plan.planned_sessions) and not plan.sessions_reason.strip():
        low, high, _ = SESSION_RANGES[plan.severity]
        raise TreatmentError(
            f"A {plan.get_severity_display().lower()} case usually needs {low}-{high} sessions; "
            f"give a reason for {plan.planned_sessions}."
        )
    if not plan.target_muscles:
        raise TreatmentError("Choose at least one target muscle.")
    if not plan.techniques:
        raise TreatmentError("Choose at least one technique.")
    if not plan.program:
        raise TreatmentError(PROGRAM_NEEDED)
    if plan.reassessment_after_session > plan.planned_sessions:
        raise TreatmentError("The re-assessment point must fall within the plan's sessions.")


@transaction.atomic
def plan_save(*, plan: TreatmentPlan, therapist) -> TreatmentPlan:
    """Create or change a plan. A change to an active plan becomes a new
    version in its history; a completed or discontinued plan is closed."""
    _require_writer(therapist, plan.patient)
    if plan.pk is None:
        if plan.patient.is_archived:
            raise TreatmentError("This patient is archived; restore the patient before writing a plan.")
        _require_cleared(plan.patient)
        plan.therapist = therapist
    else:
        stored = TreatmentPlan.objects.select_for_update().get(pk=plan.pk)
        if not stored.is_open:
            raise TreatmentError(
                f"This plan is {stored.get_status_display().lower()} and can no longer change."
            )
        # The edit changes the plan's content; its life (started, ended) is as stored now.
        for field in ("patient_id", "therapist_id", "status", "status_reason", "activated_at", "ended_at"):
            setattr(plan, field, getattr(stored, field))
        done = plan.charts.count()
        if plan.planned_sessions < done:
            raise TreatmentError(f"{done} sessions are already charted; the plan cannot have fewer.")
    _check_plan(plan)
    _validated(plan)
    plan.save()
    return plan


@transaction.atomic
def plan_activate(*, plan: TreatmentPlan, therapist) -> TreatmentPlan:
    _require_writer(therapist, plan.patient)
    _require_cleared(plan.patient)
    # Saved, not updated in place, so that the start is a version in the plan's history.
    plan = TreatmentPlan.objects.select_for_update().get(pk=plan.pk)
    if plan.status != TreatmentPlan.Status.DRAFT:
        raise TreatmentError("Only a draft plan can be started.")
    plan.status, plan.activated_at = TreatmentPlan.Status.ACTIVE, timezone.now()
    plan.save()
    return plan


@transaction.atomic
def plan_end(*, plan: TreatmentPlan, therapist, status: str, reason: str = "") -> TreatmentPlan:
    """Complete or discontinue a plan (discontinuing needs a reason)."""
    _require_writer(therapist, plan.patient)
    if status == TreatmentPlan.Status.DISCONTINUED and not reason.strip():
        raise TreatmentError("Give the reason the plan is discontinued.")
    if status not in (TreatmentPlan.Status.COMPLETED, TreatmentPlan.Status.DISCONTINUED):
        raise TreatmentError("A plan ends as completed or discontinued.")
    plan = TreatmentPlan.objects.select_for_update().get(pk=plan.pk)
    if not plan.is_open:
        raise TreatmentError(f"This plan is already {plan.get_status_display().lower()}.")
    plan.status, plan.status_reason, plan.ended_at = status, reason.strip(), timezone.now()
    plan.save()
    return plan


def sessions_to_book(plan: TreatmentPlan) -> int:
    """Sessions of the plan neither charted nor already booked ahead."""
    booked = (
        Appointment.objects.filter(series__treatment_plans=plan, status__in=scheduling_services.UPCOMING)
        .exclude(chart__isnull=False)
        .count()
    )
    return max(plan.planned_sessions - plan.charts.count() - booked, 0)


@transaction.atomic
def plan_series_book(*, plan: TreatmentPlan, room, appointment_type, starts, booked_by):
    """Book a plan's remaining sessions as one series with the plan's
    therapist, all or nothing, and link the series to the plan in the same
    transaction. Every session meets the clinical gate (through scheduling's
    series booking); a clash raises scheduling's SeriesConflict."""
    # Locking the plan serialises two bookings of its sessions at once.
    plan = TreatmentPlan.objects.select_for_update().select_related("patient", "therapist").get(pk=plan.pk)
    if plan.status != TreatmentPlan.Status.ACTIVE:
        raise TreatmentError("Only an active plan's sessions can be booked; the therapist starts the plan.")
    remaining = sessions_to_book(plan)
    if remaining == 0:
        raise TreatmentError("Every session of this plan is charted or booked.")
    if len(starts) > remaining:
        raise TreatmentError(f"This plan has {remaining} session{'s' * (remaining != 1)} left to book.")
    series = scheduling_services.series_book(
        patient=plan.patient,
        therapist=plan.therapist,
        room=room,
        appointment_type=appointment_type,
        starts=starts,
        booked_by=booked_by,
        description=f"{plan.get_severity_display()} plan: {len(starts)} sessions",
    )
    plan.appointment_series.add(series)
    return series


# Charts.


NEW_PROBLEM_REASON = "A new contraindication or red flag was reported at the pre-needling check."


@transaction.atomic
def chart_start(
    *,
    plan: TreatmentPlan,
    appointment: Appointment,
    therapist,
    screening_still_valid: bool,
    new_problem: bool,
    not_needled_reason: str = "",
    now=None,
) -> SessionChart:
    """Open the chart of a checked-in visit after the pre-needling check.

    A new contraindication or red flag means no needling: the chart opens
    as "not needled" and the patient needs a new screening. A therapist may
    also chart a visit without needling, giving the reason; that is the only
    chart a patient who is not cleared can have."""
    _require_writer(therapist, plan.patient)
    # Locking the plan serialises two charts opened at once: each gets its own session number.
    plan = TreatmentPlan.objects.select_for_update().select_related("patient").get(pk=plan.pk)
    appointment = (
        Appointment.objects.select_for_update()
        .select_related("patient", "appointment_type")
        .get(pk=appointment.pk)
    )
    if appointment.patient_id != plan.patient_id:
        raise TreatmentError("This visit belongs to another patient.")
    if appointment.status in (Appointment.Status.CANCELLED, Appointment.Status.NO_SHOW):
        raise TreatmentError("This visit was cancelled or missed; it cannot be charted.")
    if SessionChart.objects.filter(appointment=appointment).exists():
        raise TreatmentError("This visit already has a chart.")
    reason = not_needled_reason.strip()
    if new_problem:
        reason = reason or NEW_PROBLEM_REASON
    elif not reason and not screening_still_valid:
        raise TreatmentError(
            "Confirm the screening is still valid before needling, or chart the visit without "
            "needling and give the reason."
        )
    needled = not reason
    _require_gate(appointment, gate.Action.START_CHART, needled=needled, now=now)
    if plan.status != TreatmentPlan.Status.ACTIVE:
        raise TreatmentError("Start the plan before charting its sessions.")
    done = plan.charts.aggregate(n=Max("session_number"))["n"] or 0
    if done >= plan.planned_sessions:
        raise TreatmentError(
            f"All {plan.planned_sessions} sessions of this plan are charted; extend the plan first."
        )
    return SessionChart.objects.create(
        plan=plan,
        appointment=appointment,
        therapist=therapist,
        session_number=done + 1,
        screening_confirmed_valid=screening_still_valid and not new_problem,
        new_contraindication_reported=new_problem,
        needled=needled,
        not_needled_reason=reason,
    )


@dataclass(frozen=True)
class NeedlingInput:
    muscle: Muscle
    side: str
    needles: int
    needle_length_mm: int
    needle_gauge_mm: object
    technique: str
    twitch_response: bool
    familiar_pain: bool


@dataclass(frozen=True)
class AdverseEventInput:
    kind: str
    severity: str
    notes: str = ""


def _write_content(chart, *, fields, needlings, adverse_events, aftercare, now=None, ask_gate=True):
    """Write a chart's content. Needling is recorded only on a chart of a
    needled visit, and (unless `ask_gate` is off, for a signed chart's
    correction) only while the clinical gate allows it."""
    for name, value in fields.items():
        setattr(chart, name, value)
    if chart.needled:
        chart.not_needled_reason = ""
    else:
        chart.not_needled_reason = chart.not_needled_reason.strip()
        if not chart.not_needled_reason:
            raise TreatmentError("Give the reason there was no needling at this visit.")
        if needlings:
            raise TreatmentError(
                "This visit is charted as not needled: remove the muscles needled, or chart it as needled."
            )
    if needlings and ask_gate:
        _require_gate(chart.appointment, gate.Action.NEEDLE, now=now)
    if not chart.slr_done:
        chart.slr_angle = chart.slr_positive = None
    chart.muscle_count = len({(n.muscle.pk, n.side) for n in needlings})
    chart.procedure_code = procedure_code(chart.muscle_count)
    _validated(chart)
    chart.save()
    chart.needlings.all().delete()
    chart.adverse_events.all().delete()
    for n in needlings:
        _validated(ChartNeedling(chart=chart, **n.__dict__), exclude=["chart"])
    ChartNeedling.objects.bulk_create(ChartNeedling(chart=chart, **n.__dict__) for n in needlings)
    AdverseEvent.objects.bulk_create(
        AdverseEvent(chart=chart, visit_at=chart.appointment.starts_at, **e.__dict__) for e in adverse_events
    )
    chart.aftercare_given.set(aftercare)


@transaction.atomic
def chart_save_draft(
    *, chart, therapist, fields, needlings, adverse_events, aftercare, now=None
) -> SessionChart:
    """Save a draft chart. `fields` may switch it between needled and not
    needled (with `not_needled_reason`)."""
    chart = (
        SessionChart.objects.select_for_update()
        .select_related("appointment__appointment_type")
        .get(pk=chart.pk)
    )
    if chart.is_signed:
        raise TreatmentError("This chart is signed; amend it instead, giving a reason.")
    if chart.therapist_id != therapist.pk:
        raise TreatmentError("Only the therapist who opened this chart can change it.")
    _write_content(
        chart, fields=fields, needlings=needlings, adverse_events=adverse_events, aftercare=aftercare, now=now
    )
    return chart


def chart_snapshot(chart: SessionChart) -> dict:
    """The chart's content as plain data: kept in an amendment, sent with aftercare."""
    return {
        "back_pain_before": chart.back_pain_before,
        "leg_pain_before": chart.leg_pain_before,
        "back_pain_after": chart.back_pain_after,
        "leg_pain_after": chart.leg_pain_after,
        "slr_done": chart.slr_done,
        "slr_angle": chart.slr_angle,
        "slr_positive": chart.slr_positive,
        "notes": chart.notes,
        "needled": chart.needled,
        "not_needled_reason": chart.not_needled_reason,
        "aftercare_notes": chart.aftercare_notes,
        "muscle_count": chart.muscle_count,
        "procedure_code": chart.procedure_code,
        "needlings": [
            {
                "muscle": n.muscle.name,
                "side": n.get_side_display(),
                "needles": n.needles,
                "needle_length_mm": n.needle_length_mm,
                "needle_gauge_mm": str(n.needle_gauge_mm),
                "technique": n.get_technique_display(),
                "twitch_response": n.twitch_response,
                "familiar_pain": n.familiar_pain,
            }
            for n in chart.needlings.select_related("muscle")
        ],
        "adverse_events": [
            {"kind": e.get_kind_display(), "severity": e.get_severity_display(), "notes": e.notes}
            for e in chart.adverse_events.all()
        ],
        "aftercare": [
            {"code": a.code, "title": a.title, "patient_text": a.patient_text}
            for a in chart.aftercare_given.order_by("position")
        ],
    }


@transaction.atomic
def chart_sign(*, chart: SessionChart, therapist, now=None) -> SessionChart:
    """Sign a chart: it locks, the visit is completed, and scheduling is told
    once, with the aftercare to send. The clinical gate is asked again at this
    moment: a needled chart is signed only for a patient still cleared."""
    now = now or timezone.now()
    if chart.therapist_id != therapist.pk:
        raise TreatmentError("Only the therapist who wrote this chart can sign it.")
    chart = (
        SessionChart.objects.select_for_update()
        .select_related("appointment__appointment_type", "appointment__patient", "plan")
        .get(pk=chart.pk)
    )
    if chart.is_signed:
        raise TreatmentError("This chart is already signed.")
    _require_gate(chart.appointment, gate.Action.SIGN, needled=chart.needled, now=now)
    if chart.leg_pain_before is None or chart.back_pain_before is None:
        raise TreatmentError("Record the pain scores before needling before signing.")
    has_needling = chart.needlings.exists()
    if chart.needled:
        if chart.leg_pain_after is None or chart.back_pain_after is None:
            raise TreatmentError("Record the pain scores after needling before signing.")
        if not has_needling:
            raise TreatmentError(
                "Record at least one muscle needled before signing, or chart the visit as not needled."
            )
    elif has_needling:
        raise TreatmentError("This visit is charted as not needled; it cannot record needling.")
    # The conditional update decides between two "sign" requests: one changes the row.
    signed = SessionChart.objects.filter(pk=chart.pk, signed_at__isnull=True).update(signed_at=now)
    if not signed:
        raise TreatmentError("This chart is already signed.")
    audit.record_write(chart, False, chart.plan.patient_id)
    outcomes.refresh([chart.plan_id])
    chart.refresh_from_db()
    content = chart_snapshot(chart)
    try:
        scheduling_services.appointment_complete(
            appointment=chart.appointment,
            aftercare={
                "needled": chart.needled,
                "muscles": content["needlings"],
                "advice": content["aftercare"],
                "checkin_url": links.CHECKIN.url(chart.appointment.pk) if chart.needled else None,
            },
            completed_by=therapist,
            now=now,
        )
    except scheduling_services.SchedulingError as error:
        raise TreatmentError(str(error)) from None
    return chart


@transaction.atomic
def chart_amend(
    *, chart, therapist, reason, fields, needlings, adverse_events, aftercare, now=None
) -> ChartAmendment:
    """Change a signed chart: the version before is kept with the reason.
    Whether the visit was needled stays as signed: an amendment corrects the
    needling recorded, never adds needling to a visit signed without it."""
    if not reason.strip():
        raise TreatmentError("Give the reason for the amendment.")
    chart = (
        SessionChart.objects.select_for_update()
        .select_related("appointment__appointment_type", "appointment__patient", "plan__patient")
        .get(pk=chart.pk)
    )
    if not chart.is_signed:
        raise TreatmentError("This chart is not signed yet; change the draft instead.")
    _require_writer(therapist, chart.plan.patient)
    _require_gate(chart.appointment, gate.Action.AMEND, needled=chart.needled, now=now)
    fields = {name: value for name, value in fields.items() if name not in ("needled", "not_needled_reason")}
    if chart.needled and not needlings:
        raise TreatmentError("This visit was signed as needled: keep at least one muscle needled.")
    if not chart.needled and needlings:
        raise TreatmentError("This visit was signed as not needled; an amendment cannot add needling.")
    amendment = ChartAmendment.objects.create(
        chart=chart, reason=reason.strip(), amended_by=therapist, previous=chart_snapshot(chart)
    )
    # Its needling was allowed when it was signed: correcting it asks the gate nothing more.
    _write_content(
        chart,
        fields=fields,
        needlings=needlings,
        adverse_events=adverse_events,
        aftercare=aftercare,
        ask_gate=False,
    )
    return amendment


# The patient's check-in after a visit.


class CheckInInvalid(TreatmentError):
    pass


def checkin_appointment(token) -> Appointment:
    """The visit a check-in link is for; CheckInInvalid if tampered or expired."""
    pk = links.CHECKIN.pk_of(token)
    if pk is None:
        raise CheckInInvalid("This link is not valid or has expired.")
    appointment = (
        Appointment.objects.filter(pk=pk, status=Appointment.Status.COMPLETED)
        .select_related("patient", "therapist", "chart")
        .first()
    )
    if appointment is None:
        raise CheckInInvalid("This link is not valid or has expired.")
    return appointment


def red_flag_items():
    """The red flags of the screening rules table that the check-in asks
    again: those marked as asked after a visit (symptoms a patient can report
    since the visit, never history such as a past cancer)."""
    from patients.models import RED_FLAG_CATEGORIES, ScreeningItem

    return ScreeningItem.objects.filter(
        category__in=RED_FLAG_CATEGORIES, is_active=True, asked_after_visit=True
    ).order_by("position", "id")


def checkin_of(appointment) -> AftercareCheckIn | None:
    """The check-in the patient sent for this visit, if they did."""
    return AftercareCheckIn.objects.filter(appointment=appointment).first()


def checkin_reported(checkin: AftercareCheckIn) -> list[str]:
    """The questions the patient answered "yes" in a check-in, as they were asked."""
    from patients.models import ScreeningItem

    questions = dict(ScreeningItem.objects.filter(code__in=checkin.red_flags).values_list("code", "question"))
    return [questions.get(code, code) for code in checkin.red_flags]


@transaction.atomic
def checkin_record(*, appointment, soreness, leg_pain, red_flags, notes="") -> AftercareCheckIn:
    """Record the patient's check-in, once; worse leg pain than before the
    visit, or any red flag, alerts the treating therapist at once."""
    # Two check-ins posted at once for one visit (two tabs) wait for each other here.
    Appointment.objects.select_for_update().filter(pk=appointment.pk).first()
    if checkin_of(appointment) is not None:
        raise CheckInInvalid("You have already sent your check-in for this visit. Thank you.")
    reasons = []
    chart = getattr(appointment, "chart", None)
    if chart is not None and chart.leg_pain_before is not None and leg_pain > chart.leg_pain_before:
        reasons.append(f"Leg pain {leg_pain}/10, worse than {chart.leg_pain_before}/10 before the visit.")
    flagged = {item.code: item.question for item in red_flag_items()}
    reasons += [f"Red flag: {flagged[code]}" for code in red_flags if code in flagged]
    checkin = AftercareCheckIn(
        appointment=appointment,
        soreness=soreness,
        leg_pain=leg_pain,
        red_flags=[code for code in red_flags if code in flagged],
        notes=notes,
        alert=bool(reasons),
        alert_reasons=reasons,
    )
    _validated(checkin)
    checkin.save()
    if checkin.alert:
        from treatments.tasks import send_checkin_alert

        send_checkin_alert.delay_on_commit(checkin.pk)
    return checkin


def checkin_alert_email(checkin: AftercareCheckIn) -> None:
    """Tell the treating therapist by email (no clinical detail beyond what
    they need to act; the page has the rest)."""
    appointment = checkin.appointment
    therapist = appointment.patient.treating_therapist or appointment.therapist
    if not therapist.email:
        return
    context = {
        "patient": appointment.patient,
        "visit_at": timezone.localtime(appointment.starts_at),
        "reasons": checkin.alert_reasons,
        "link": settings.SITE_URL + reverse("treatments:my-day"),
    }
    send_mail(
        subject=f"Check-in alert: {appointment.patient.full_name}",
        message=render_to_string("emails/checkin_alert/body.txt", context),
        html_message=render_to_string("emails/checkin_alert/body.html", context),
        from_email=None,
        recipient_list=[therapist.email],
    )


def checkin_acknowledge(*, checkin, therapist) -> None:
    if AftercareCheckIn.objects.filter(pk=checkin.pk, acknowledged_at__isnull=True).update(
        acknowledged_at=timezone.now(), acknowledged_by=therapist
    ):
        audit.record_write(checkin, False, checkin.appointment.patient_id)
