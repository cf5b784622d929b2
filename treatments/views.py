import datetime

from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.shortcuts import get_object_or_404, redirect, render
from django.utils import timezone
from django.views.decorators.http import require_POST

from clinic import roles
from patients import services as patient_services
from patients.models import Patient
from scheduling.models import Appointment
from treatments import outcomes, services
from treatments.forms import PlanEndForm, PlanForm
from treatments.models import Muscle, ProgramComponent, SessionChart, TreatmentPlan
from treatments.services import TreatmentError


@roles.role_required(roles.THERAPIST)
def my_day(request):
    """Therapist: today's visits with their charts, and charts left unsigned."""
    today = timezone.localdate()
    mine = Appointment.objects.for_therapist(request.user).exclude(status=Appointment.Status.CANCELLED)
    visits = mine.on_day(today).select_related("patient", "room", "appointment_type", "chart")
    tomorrow = timezone.make_aware(
        datetime.datetime.combine(today + datetime.timedelta(days=1), datetime.time.min)
    )
    week_end = tomorrow + datetime.timedelta(days=6)
    later_this_week = mine.filter(starts_at__gte=tomorrow, starts_at__lt=week_end).count()
    unsigned = (
        SessionChart.objects.filter(therapist=request.user, signed_at__isnull=True)
        .select_related("plan__patient", "appointment")
        .order_by("appointment__starts_at")
    )
    return render(
        request,
        "treatments/my_day.html",
        {"today": today, "visits": visits, "later_this_week": later_this_week, "unsigned": unsigned},
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
    clearance = patient_services.needling_clearance(patient)
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
            "targets": [(muscles.get(t["muscle"]), t["side"]) for t in plan.target_muscles],
            "techniques": [
                label
                for value, label in PlanForm.base_fields["techniques"].choices
                if value in plan.techniques
            ],
            "program": [(ProgramComponent(item["component"]).label, item["notes"]) for item in plan.program],
            "charts": plan.charts.select_related("appointment").order_by("session_number"),
            "versions": plan.history.select_related("history_user").order_by("-history_date")[:20],
            "can_write": services.is_treating_therapist(request.user, plan.patient),
            "end_form": PlanEndForm(),
        },
    )
