import datetime

from django.contrib import messages
from django.contrib.auth.decorators import login_not_required
from django.core.exceptions import PermissionDenied
from django.db.models import Count, Q
from django.shortcuts import get_object_or_404, redirect, render
from django.utils import timezone
from django.views.decorators.http import require_POST

from clinic import roles
from clinic.ratelimit import rate_limited
from patients import gate
from patients import services as patient_services
from patients.models import Patient
from scheduling import services as scheduling_services
from scheduling.forms import SeriesForm, SessionTimesForm
from scheduling.models import Appointment
from treatments import outcomes, services
from treatments.forms import (
    AdverseEventFormSet,
    AmendmentForm,
    ChartForm,
    CheckInForm,
    NeedlingFormSet,
    PlanEndForm,
    PlanForm,
    PreNeedlingCheckForm,
)
from treatments.models import AftercareCheckIn, Muscle, ProgramComponent, SessionChart, Side, TreatmentPlan
from treatments.services import TreatmentError


@roles.role_required(roles.THERAPIST)
def my_day(request):
    """Therapist: today's visits with their charts, and charts left unsigned."""
    today = timezone.localdate()
    mine = Appointment.objects.for_therapist(request.user).exclude(status=Appointment.Status.CANCELLED)
    visits = (
        mine.on_day(today)
        .select_related("patient", "room", "appointment_type", "chart")
        .with_patient_clearance()
    )
    tomorrow = timezone.make_aware(
        datetime.datetime.combine(today + datetime.timedelta(days=1), datetime.time.min)
    )
    week_end = tomorrow + datetime.timedelta(days=6 - today.weekday())
    ahead = mine.filter(starts_at__gte=tomorrow, starts_at__lt=tomorrow + datetime.timedelta(days=28))
    # The next four weeks: only the needling visits still to come are read
    # (whose patient's clearance may have lapsed since booking); the rest of
    # this week is counted.
    needling_ahead = (
        ahead.filter(status__in=scheduling_services.UPCOMING, appointment_type__involves_needling=True)
        .select_related("patient", "appointment_type")
        .only(
            "starts_at",
            "status",
            "patient__first_name",
            "patient__last_name",
            "appointment_type__involves_needling",
        )
        .with_patient_clearance()
        .order_by("starts_at")
    )
    visits = list(visits)
    for visit in visits:
        # Looked up once: a visit with no chart is costly to ask in a template.
        visit.todays_chart = getattr(visit, "chart", None)
    unsigned = (
        SessionChart.objects.filter(therapist=request.user, signed_at__isnull=True)
        .select_related("plan__patient", "appointment")
        .order_by("appointment__starts_at")
    )
    alerts = (
        AftercareCheckIn.objects.filter(alert=True, acknowledged_at__isnull=True)
        .filter(
            Q(appointment__patient__treating_therapist=request.user)
            | Q(appointment__patient__treating_therapist__isnull=True, appointment__therapist=request.user)
        )
        .select_related("appointment__patient")
        .order_by("-submitted_at")
    )
    return render(
        request,
        "treatments/my_day.html",
        {
            "today": today,
            "not_cleared": [
                visit
                for visit in [*visits, *needling_ahead]
                if visit.status in scheduling_services.UPCOMING and visit.needling_not_cleared
            ],
            "visits": visits,
            "later_this_week": ahead.filter(starts_at__lt=week_end).count(),
            "unsigned": unsigned,
            "alerts": alerts,
        },
    )


def get_plan(request, pk, *, write=False):
    """The plan, if the user may read it (or write it); else 403.

    Receptionists see a plan's status and sessions through the patient's
    page, never the plan itself."""
    plan = get_object_or_404(TreatmentPlan.objects.select_related("patient", "therapist"), pk=pk)
    allowed = (
        services.is_treating_therapist(request.user, plan.patient)
        if write
        else patient_services.can_read_clinical_records(request.user, plan.patient)
    )
    if not allowed:
        patient_services.clinical_access_refused(user=request.user, patient=plan.patient, record=request.path)
        raise PermissionDenied(
            "Only the patient's treating therapist writes plans; the clinic admin reads them."
        )
    return plan


def _muscles():
    return Muscle.objects.filter(is_active=True).order_by("position", "name")


@roles.role_required(roles.THERAPIST)
def plan_new(request, patient_pk):
    """Treating therapist: write a plan for a cleared, consented patient."""
    patient = get_object_or_404(Patient, pk=patient_pk)
    if not services.is_treating_therapist(request.user, patient):
        raise PermissionDenied("Only the patient's treating therapist writes plans.")
    clearance = gate.needling_clearance(patient)
    form = PlanForm(request.POST or None, instance=TreatmentPlan(patient=patient), muscles=_muscles())
    if request.method == "POST" and form.is_valid():
        try:
            plan = services.plan_save(plan=form.save(commit=False), therapist=request.user)
        except TreatmentError as error:
            form.add_error(None, str(error))
        else:
            messages.success(request, "Plan saved as a draft. Start it when the patient agrees.")
            return redirect(plan)
    return render(
        request, "treatments/plan_form.html", {"form": form, "patient": patient, "clearance": clearance}
    )


@roles.role_required(roles.THERAPIST)
def plan_edit(request, pk):
    """Treating therapist: change an open plan; each change is a new version."""
    plan = get_plan(request, pk, write=True)
    form = PlanForm(request.POST or None, instance=plan, muscles=_muscles())
    if request.method == "POST" and form.is_valid():
        try:
            services.plan_save(plan=form.save(commit=False), therapist=request.user)
        except TreatmentError as error:
            form.add_error(None, str(error))
        else:
            messages.success(request, "Plan changed; the earlier version is kept in its history.")
            return redirect(plan)
    return render(request, "treatments/plan_form.html", {"form": form, "patient": plan.patient, "plan": plan})


@require_POST
@roles.role_required(roles.THERAPIST)
def plan_activate(request, pk):
    plan = get_plan(request, pk, write=True)
    try:
        services.plan_activate(plan=plan, therapist=request.user)
    except TreatmentError as error:
        messages.error(request, str(error))
    else:
        messages.success(request, "Plan started.")
    return redirect(plan)


@require_POST
@roles.role_required(roles.THERAPIST)
def plan_end(request, pk):
    """Treating therapist: complete or discontinue (with a reason) a plan."""
    plan = get_plan(request, pk, write=True)
    form = PlanEndForm(request.POST)
    if not form.is_valid():
        messages.error(request, "Choose whether the plan is completed or discontinued.")
        return redirect(plan)
    try:
        services.plan_end(
            plan=plan,
            therapist=request.user,
            status=form.cleaned_data["status"],
            reason=form.cleaned_data["reason"],
        )
    except TreatmentError as error:
        messages.error(request, str(error))
    else:
        messages.success(request, "Plan closed.")
    return redirect(plan)


@roles.role_required(roles.THERAPIST, roles.CLINIC_ADMIN)
def plan_detail(request, pk):
    """The plan's therapist and the clinic admin: the plan, its sessions, the
    outcome trend against the minimal important change, and its versions."""
    plan = get_plan(request, pk)
    patient_services.clinical_access_log(
        user=request.user, patient=plan.patient, record=f"treatment plan {plan.pk}"
    )
    result = outcomes.plan_outcomes(plan)
    muscles = Muscle.objects.in_bulk([t["muscle"] for t in plan.target_muscles])
    return render(
        request,
        "treatments/plan_detail.html",
        {
            "plan": plan,
            "patient": plan.patient,
            "outcomes": result,
            "chart": outcomes.trend_chart(result),
            "targets": [(muscles.get(t["muscle"]), Side(t["side"]).label) for t in plan.target_muscles],
            "techniques": [
                label
                for value, label in PlanForm.base_fields["techniques"].choices
                if value in plan.techniques
            ],
            "program": [
                (ProgramComponent(item["component"]).label, item.get("notes", "")) for item in plan.program
            ],
            "charts": plan.charts.select_related("appointment__checkin")
            .annotate(amendment_count=Count("amendments"))
            .order_by("session_number"),
            "sessions_remaining": max(plan.planned_sessions - result.sessions_done, 0),
            "versions": plan.history.select_related("history_user").order_by("-history_date")[:20],
            "can_write": services.is_treating_therapist(request.user, plan.patient),
            "end_form": PlanEndForm(),
        },
    )


# Charts.


def get_chart(request, pk, *, write=False):
    """The chart, if the user may read it (or write it); else 403."""
    chart = get_object_or_404(
        SessionChart.objects.select_related("plan__patient", "plan__therapist", "appointment", "therapist"),
        pk=pk,
    )
    patient = chart.plan.patient
    allowed = (
        services.is_treating_therapist(request.user, patient)
        if write
        else patient_services.can_read_clinical_records(request.user, patient)
    )
    if not allowed:
        patient_services.clinical_access_refused(user=request.user, patient=patient, record=request.path)
        raise PermissionDenied(
            "Only the patient's treating therapist writes charts; the clinic admin reads them."
        )
    return chart


@roles.role_required(roles.THERAPIST)
def chart_start(request, appointment_pk):
    """Treating therapist: the pre-needling check that opens a checked-in
    visit's chart; a visit can also be charted without needling, with the reason."""
    appointment = get_object_or_404(
        Appointment.objects.select_related("patient", "therapist", "appointment_type"), pk=appointment_pk
    )
    patient = appointment.patient
    if not services.is_treating_therapist(request.user, patient):
        raise PermissionDenied("Only the patient's treating therapist charts their visits.")
    existing = SessionChart.objects.filter(appointment=appointment).first()
    if existing:
        return redirect(existing)
    plan = (
        patient.treatment_plans.filter(status=TreatmentPlan.Status.ACTIVE).order_by("-activated_at").first()
    )
    # What the gate says now, shown before anything is typed; the service asks again.
    needling = gate.clinical_gate(patient, gate.Action.START_CHART, visit=appointment.as_visit())
    charting = gate.clinical_gate(
        patient, gate.Action.START_CHART, visit=appointment.as_visit(), needled=False
    )
    cleared = needling.clearance.cleared_on(timezone.localdate(appointment.starts_at))
    form = PreNeedlingCheckForm(request.POST or None, cleared=cleared)
    if request.method == "POST" and form.is_valid():
        try:
            if plan is None:
                raise TreatmentError("This patient has no active treatment plan to chart against.")
            chart = services.chart_start(
                plan=plan,
                appointment=appointment,
                therapist=request.user,
                screening_still_valid=form.cleaned_data["screening_still_valid"],
                new_problem=form.cleaned_data["new_problem"],
                not_needled_reason=form.cleaned_data["not_needled_reason"],
            )
        except TreatmentError as error:
            form.add_error(None, str(error))
        else:
            if not chart.needled:
                messages.warning(
                    request,
                    "Charting this visit without needling. Screen the patient again before any needling.",
                )
            return redirect("treatments:chart-edit", pk=chart.pk)
    return render(
        request,
        "treatments/chart_start.html",
        {
            "form": form,
            "appointment": appointment,
            "patient": patient,
            "plan": plan,
            "needling": needling,
            "charting": charting,
            "screening": needling.clearance.screening,
            "visit_day": timezone.localdate(appointment.starts_at),
        },
    )


def _chart_forms(request, chart):
    """The chart's form and its two formsets, bound on POST, else filled from the chart."""
    data = request.POST if request.method == "POST" else None
    needlings = [
        {
            "muscle": n.muscle_id,
            "side": n.side,
            "needles": n.needles,
            "needle_length_mm": n.needle_length_mm,
            "needle_gauge_mm": n.needle_gauge_mm,
            "technique": n.technique,
            "twitch_response": n.twitch_response,
            "familiar_pain": n.familiar_pain,
        }
        for n in chart.needlings.all()
    ] or [
        {"muscle": t["muscle"], "side": t["side"], "technique": (chart.plan.techniques or [""])[0]}
        for t in chart.plan.target_muscles
    ]
    events = [{"kind": e.kind, "severity": e.severity, "notes": e.notes} for e in chart.adverse_events.all()]
    return (
        ChartForm(data, instance=chart),
        NeedlingFormSet(data, prefix="needling", initial=needlings),
        AdverseEventFormSet(data, prefix="event", initial=events),
    )


def _chart_content(form, needling_formset, event_formset):
    """The content of valid chart forms, as the services take it."""
    fields = {name: form.cleaned_data[name] for name in form.Meta.fields if name != "aftercare_given"}
    return {
        "fields": fields,
        "needlings": [row for row in (f.as_input() for f in needling_formset) if row],
        "adverse_events": [row for row in (f.as_input() for f in event_formset) if row],
        "aftercare": list(form.cleaned_data["aftercare_given"]),
    }


@roles.role_required(roles.THERAPIST)
def chart_edit(request, pk):
    """Treating therapist: write the draft chart of a session."""
    chart = get_chart(request, pk, write=True)
    if chart.is_signed:
        messages.error(request, "This chart is signed; amend it instead, giving a reason.")
        return redirect(chart)
    form, needling_formset, event_formset = _chart_forms(request, chart)
    if request.method == "POST" and all(f.is_valid() for f in (form, needling_formset, event_formset)):
        try:
            services.chart_save_draft(
                chart=chart, therapist=request.user, **_chart_content(form, needling_formset, event_formset)
            )
        except TreatmentError as error:
            form.add_error(None, str(error))
        else:
            messages.info(request, "Chart saved. Check it, then sign it.")
            return redirect(chart)
    return render(
        request,
        "treatments/chart_form.html",
        {"chart": chart, "form": form, "needling_formset": needling_formset, "event_formset": event_formset},
    )


@roles.role_required(roles.THERAPIST)
def chart_amend(request, pk):
    """Treating therapist: amend a signed chart, giving a reason; the earlier version is kept."""
    chart = get_chart(request, pk, write=True)
    if not chart.is_signed:
        return redirect("treatments:chart-edit", pk=chart.pk)
    form, needling_formset, event_formset = _chart_forms(request, chart)
    amendment_form = AmendmentForm(request.POST or None)
    forms_ = (amendment_form, form, needling_formset, event_formset)
    if request.method == "POST" and all(f.is_valid() for f in forms_):
        try:
            services.chart_amend(
                chart=chart,
                therapist=request.user,
                reason=amendment_form.cleaned_data["reason"],
                **_chart_content(form, needling_formset, event_formset),
            )
        except TreatmentError as error:
            amendment_form.add_error(None, str(error))
        else:
            messages.success(request, "Chart amended. The version before is kept below.")
            return redirect(chart)
    return render(
        request,
        "treatments/chart_form.html",
        {
            "chart": chart,
            "form": form,
            "needling_formset": needling_formset,
            "event_formset": event_formset,
            "amendment_form": amendment_form,
        },
    )


@roles.role_required(roles.THERAPIST, roles.CLINIC_ADMIN)
def chart_detail(request, pk):
    """The patient's therapist and the clinic admin: a session's chart, with
    every earlier version kept by its amendments. The read is logged."""
    chart = get_chart(request, pk)
    patient_services.clinical_access_log(
        user=request.user, patient=chart.plan.patient, record=f"session chart {chart.pk}"
    )
    return render(
        request,
        "treatments/chart_detail.html",
        {
            "chart": chart,
            "patient": chart.plan.patient,
            "content": services.chart_snapshot(chart),
            "amendments": chart.amendments.select_related("amended_by").order_by("-amended_at", "-id"),
            "can_write": services.is_treating_therapist(request.user, chart.plan.patient),
        },
    )


@require_POST
@roles.role_required(roles.THERAPIST)
def chart_sign(request, pk):
    """Treating therapist who wrote it: sign the chart; the visit is completed."""
    chart = get_chart(request, pk, write=True)
    try:
        services.chart_sign(chart=chart, therapist=request.user)
    except TreatmentError as error:
        messages.error(request, str(error))
    else:
        messages.success(request, "Chart signed; the visit is completed and its aftercare is on its way.")
    return redirect(chart)


# Booking a plan's sessions as one series.


@roles.role_required(roles.RECEPTIONIST, roles.CLINIC_ADMIN)
def plan_book_series(request, pk):
    """Receptionist and clinic admin: book the plan's remaining sessions as one
    series: pick the pattern, see every session's problems (the patient's
    clearance among them) and the nearest free alternatives, adjust, then
    book all or nothing."""
    plan = get_object_or_404(TreatmentPlan.objects.select_related("patient", "therapist"), pk=pk)
    patient = plan.patient
    remaining = services.sessions_to_book(plan)
    if plan.status != TreatmentPlan.Status.ACTIVE:
        messages.error(
            request, "Only an active plan's sessions can be booked; the therapist starts the plan."
        )
        return redirect(patient)
    if remaining == 0:
        messages.info(request, "Every session of this plan is charted or booked.")
        return redirect(patient)
    form = SeriesForm(request.POST or None)
    times = SessionTimesForm(request.POST or None, count=remaining)
    context = {
        "plan": plan,
        "patient": patient,
        "remaining": remaining,
        "form": form,
        "times": times,
        "clearance": gate.needling_clearance(patient),
    }
    if request.method == "POST" and form.is_valid():
        pattern = form.cleaned_data
        starts = None
        if request.POST.get("action") == "confirm":
            if times.is_valid():
                try:
                    services.plan_series_book(
                        plan=plan,
                        room=pattern["room"],
                        appointment_type=pattern["appointment_type"],
                        starts=times.cleaned_data["starts"],
                        booked_by=request.user,
                    )
                except (TreatmentError, scheduling_services.SchedulingError) as error:
                    form.add_error(None, str(error))
                else:
                    messages.success(request, f"Booked {remaining} sessions for {patient}.")
                    return redirect(patient)
                starts = times.cleaned_data["starts"]
            else:
                for error in [*times.non_field_errors(), *(e for f in times for e in f.errors)]:
                    form.add_error(None, error)
        if starts is None and not form.non_field_errors():
            try:
                starts = scheduling_services.series_dates(
                    first_day=pattern["first_day"],
                    time=pattern["time"],
                    weekdays=pattern["weekdays"],
                    interval_weeks=pattern["interval_weeks"],
                    count=remaining,
                )
            except scheduling_services.SchedulingError as error:
                form.add_error(None, str(error))
        if starts:
            context["preview"] = scheduling_services.series_preview(
                patient=patient,
                therapist=plan.therapist,
                room=pattern["room"],
                appointment_type=pattern["appointment_type"],
                starts=starts,
            )
    return render(request, "treatments/book_series.html", context)


# The patient's check-in (no login: the signed link is the key).


@login_not_required
@rate_limited("check-in")
def checkin(request, token):
    """The patient, from the 24-hour aftercare email: how they are now. A link
    already used shows what was sent, and no form."""
    try:
        appointment = services.checkin_appointment(token)
    except services.CheckInInvalid as error:
        return render(request, "treatments/checkin.html", {"invalid": str(error)}, status=400)
    sent = services.checkin_of(appointment)
    if sent is not None:
        return _checkin_sent(request, appointment, sent)
    form = CheckInForm(request.POST or None, red_flags=services.red_flag_items())
    if request.method == "POST" and form.is_valid():
        try:
            result = services.checkin_record(
                appointment=appointment,
                soreness=form.cleaned_data["soreness"],
                leg_pain=form.cleaned_data["leg_pain"],
                red_flags=form.red_flags(),
                notes=form.cleaned_data["notes"],
            )
        except services.CheckInInvalid as error:
            sent = services.checkin_of(appointment)  # sent from another tab a moment ago
            if sent is not None:
                return _checkin_sent(request, appointment, sent)
            return render(request, "treatments/checkin.html", {"invalid": str(error)}, status=400)
        return render(request, "treatments/checkin.html", {"done": result, "appointment": appointment})
    return render(request, "treatments/checkin.html", {"form": form, "appointment": appointment})


def _checkin_sent(request, appointment, sent):
    """The check-in the patient already sent, as they sent it; a second one posted is refused."""
    refused = request.method == "POST"
    return render(
        request,
        "treatments/checkin.html",
        {
            "sent": sent,
            "appointment": appointment,
            "reported": services.checkin_reported(sent),
            "refused": refused,
        },
        status=400 if refused else 200,
    )


@require_POST
@roles.role_required(roles.THERAPIST)
def checkin_acknowledge(request, pk):
    """Treating therapist: the alert has been seen and acted on."""
    checkin = get_object_or_404(AftercareCheckIn.objects.select_related("appointment__patient"), pk=pk)
    if not services.is_treating_therapist(request.user, checkin.appointment.patient):
        raise PermissionDenied("Only the patient's treating therapist handles this alert.")
    services.checkin_acknowledge(checkin=checkin, therapist=request.user)
    messages.success(request, f"Check-in alert of {checkin.appointment.patient} marked as handled.")
    return redirect("treatments:my-day")
