import datetime

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.shortcuts import get_object_or_404, redirect, render
from django.utils import timezone
from django.views.decorators.http import require_POST

from clinic import roles
from patients import gate
from patients.models import Patient
from scheduling import availability, services
from scheduling.forms import (
    AppointmentForm,
    RescheduleForm,
    cancelled_by_from,
    day_from,
    time_from,
    wall_clock,
)
from scheduling.models import Appointment, AppointmentSeries, AppointmentType, Room


def free_rooms(starts_at, ends_at):
    """Active rooms with nothing booked in them then."""
    taken = Appointment.objects.occupying().overlapping(starts_at, ends_at).values("room_id")
    return Room.objects.filter(is_active=True).exclude(pk__in=taken)


@roles.role_required(*roles.FRONT_DESK)
def appointment_book(request, patient_pk):
    """Receptionist and clinic admin: book one appointment for a patient,
    choosing from the therapist's free slots and the free rooms."""
    patient = get_object_or_404(Patient.objects.active(), pk=patient_pk)
    data = request.POST if request.method == "POST" else None
    initial = {"patient": patient.pk, "day": request.GET.get("day") or timezone.localdate()}
    for name in ("therapist", "appointment_type", "time", "room"):
        if request.GET.get(name):
            initial[name] = request.GET[name]
    form = AppointmentForm(data, initial=initial)
    slot_taken = None
    if request.method == "POST" and form.is_valid():
        try:
            appointment = services.appointment_book(
                patient=patient,
                therapist=form.cleaned_data["therapist"],
                room=form.cleaned_data["room"],
                appointment_type=form.cleaned_data["appointment_type"],
                starts_at=form.cleaned_data["starts_at"],
                booked_by=request.user,
            )
        except services.SlotUnavailable as problem:
            slot_taken = problem
            form.add_error(None, str(problem))
        except services.SchedulingError as problem:
            form.add_error(None, str(problem))
        else:
            when = timezone.localtime(appointment.starts_at)
            messages.success(
                request,
                f"Booked {patient} with {appointment.therapist.get_full_name()} on {when:%a %d %b at %H:%M}.",
            )
            return redirect("patients:detail", pk=patient.pk)
    return render(
        request,
        "scheduling/book.html",
        {
            "form": form,
            "patient": patient,
            "slot_taken": slot_taken,
            "clearance": gate.needling_clearance(patient),
            **_slots_and_rooms(form),
        },
    )


def _picked(form, name, lookup):
    raw = form[name].value()
    if raw in (None, ""):
        return None
    if not isinstance(raw, str):
        raw = str(raw.pk) if hasattr(raw, "pk") else raw.isoformat()
    return lookup(raw)


def _slots_and_rooms(form):
    """The chosen therapist's free slots on the chosen day, and the rooms free
    at the chosen time, for the form to offer (from whatever was typed so far)."""
    therapist = _picked(
        form,
        "therapist",
        lambda v: roles.therapists().filter(pk=v).first() if v.isdecimal() and v.isascii() else None,
    )
    kind = _picked(
        form,
        "appointment_type",
        lambda v: AppointmentType.objects.filter(pk=v).first() if v.isdecimal() and v.isascii() else None,
    )
    day = _picked(form, "day", lambda v: day_from(v[:10]))
    time = _picked(form, "time", lambda v: time_from(v[:5]))
    slots = rooms = None
    if therapist and kind and day:
        slots = availability.free_slots(therapist=therapist, day=day, minutes=kind.default_minutes)
    if kind and day and time:
        try:
            starts_at = wall_clock(day, time).astimezone(datetime.UTC)
        except ValidationError:
            pass  # a time the clocks skip: the form says so
        else:
            rooms = free_rooms(starts_at, starts_at + datetime.timedelta(minutes=kind.default_minutes))
    return {"free_slots": slots, "free_rooms": rooms}


@roles.role_required(*roles.FRONT_DESK)
def appointment_reschedule(request, pk):
    """Receptionist and clinic admin: move an upcoming appointment; its
    history keeps where it was."""
    appointment = get_object_or_404(
        Appointment.objects.select_related("patient", "therapist", "room", "appointment_type"), pk=pk
    )
    local_start = timezone.localtime(appointment.starts_at)
    initial = {"day": local_start.date(), "time": local_start.time(), "room": appointment.room_id}
    day = day_from(request.GET.get("day")) or local_start.date()
    if request.GET.get("time"):
        initial.update(day=day, time=request.GET["time"])
    form = RescheduleForm(request.POST or None, initial=initial)
    slot_taken = None
    if request.method == "POST" and form.is_valid():
        try:
            appointment = services.appointment_reschedule(
                appointment=appointment,
                starts_at=form.cleaned_data["starts_at"],
                room=form.cleaned_data["room"],
                user=request.user,
            )
        except services.SlotUnavailable as problem:
            slot_taken = problem
            form.add_error(None, str(problem))
        except services.SchedulingError as problem:
            form.add_error(None, str(problem))
        else:
            when = timezone.localtime(appointment.starts_at)
            messages.success(
                request, f"Moved {appointment.patient}'s appointment to {when:%a %d %b at %H:%M}."
            )
            return redirect("patients:detail", pk=appointment.patient_id)
    minutes = int((appointment.ends_at - appointment.starts_at).total_seconds() // 60)
    return render(
        request,
        "scheduling/reschedule.html",
        {
            "appointment": appointment,
            "form": form,
            "slot_taken": slot_taken,
            "clearance": gate.needling_clearance(appointment.patient),
            "day": day,
            "free_slots": availability.free_slots(
                therapist=appointment.therapist, day=day, minutes=minutes, exclude_pk=appointment.pk
            ),
        },
    )


@require_POST
@roles.role_required(*roles.FRONT_DESK)
def series_cancel_rest(request, pk):
    """Receptionist and clinic admin: cancel every upcoming appointment of a series."""
    series = get_object_or_404(AppointmentSeries, pk=pk)
    cancelled_by = cancelled_by_from(request.POST)
    count = services.series_cancel_rest(series=series, cancelled_by=cancelled_by, user=request.user)
    messages.success(
        request, f"Cancelled {count} upcoming appointment{'s' if count != 1 else ''} of the series."
    )
    return redirect("patients:detail", pk=series.patient_id)
