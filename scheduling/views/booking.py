import datetime

from django.contrib import messages
from django.shortcuts import get_object_or_404, redirect, render
from django.utils import timezone
from django.utils.dateparse import parse_date, parse_time

from clinic import roles
from patients.models import Patient
from scheduling import availability, services
from scheduling.forms import AppointmentForm, therapists
from scheduling.models import Appointment, AppointmentType, Room

FRONT_DESK = (roles.RECEPTIONIST, roles.CLINIC_ADMIN)


def free_rooms(starts_at, ends_at):
    """Active rooms with nothing booked in them then."""
    taken = Appointment.objects.occupying().overlapping(starts_at, ends_at).values("room_id")
    return Room.objects.filter(is_active=True).exclude(pk__in=taken)


@roles.role_required(*FRONT_DESK)
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
        {"form": form, "patient": patient, "slot_taken": slot_taken, **_slots_and_rooms(form)},
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
        form, "therapist", lambda v: therapists().filter(pk=v).first() if v.isdigit() else None
    )
    kind = _picked(
        form,
        "appointment_type",
        lambda v: AppointmentType.objects.filter(pk=v).first() if v.isdigit() else None,
    )
    day = _picked(form, "day", lambda v: parse_date(v[:10]) if len(v) >= 10 else None)
    time = _picked(form, "time", lambda v: parse_time(v[:5]) if len(v) >= 5 else None)
    slots = rooms = None
    if therapist and kind and day:
        slots = availability.free_slots(therapist=therapist, day=day, minutes=kind.default_minutes)
    if kind and day and time:
        starts_at = availability.local(day, time)
        rooms = free_rooms(starts_at, starts_at + datetime.timedelta(minutes=kind.default_minutes))
    return {"free_slots": slots, "free_rooms": rooms}
