import datetime

from django import forms
from django.contrib.auth import get_user_model
from django.utils import formats, timezone
from django.utils.dateparse import parse_date, parse_time

from clinic import roles
from patients.models import Patient
from scheduling.availability import local
from scheduling.models import Appointment, AppointmentType, Room

# How far from today the schedule pages and forms accept a day.
BOOKING_HORIZON = datetime.timedelta(days=366)
BROWSING_HORIZON = datetime.timedelta(days=3660)


def day_from(text):
    """A day typed as YYYY-MM-DD within ten years of today, or None."""
    try:
        day = parse_date(text or "")
    except ValueError:  # a well-formed but impossible date, such as 2026-02-30
        return None
    if day is None or abs(day - timezone.localdate()) > BROWSING_HORIZON:
        return None
    return day


def time_from(text):
    try:
        return parse_time(text or "")
    except ValueError:
        return None


def wall_clock(day, time):
    """A clinic-local day and time as an aware datetime; a time the clocks
    skip (02:30 on the night they go forward) is refused, not moved."""
    moment = local(day, time)
    if timezone.localtime(moment.astimezone(datetime.UTC)).time() != time:
        raise forms.ValidationError(
            f"{time:%H:%M} does not exist on {formats.date_format(day, 'D j M Y')}: the clocks go forward."
        )
    return moment


class TherapistChoiceField(forms.ModelChoiceField):
    def label_from_instance(self, user):
        return roles.display_name(user)


class AppointmentForm(forms.Form):
    """Book one appointment. The patient comes from the patient's page; the
    form shows the chosen therapist's free slots for the chosen day."""

    patient = forms.ModelChoiceField(queryset=Patient.objects.active(), widget=forms.HiddenInput)
    therapist = TherapistChoiceField(queryset=get_user_model().objects.none())
    appointment_type = forms.ModelChoiceField(queryset=AppointmentType.objects.filter(is_active=True))
    day = forms.DateField(widget=forms.DateInput(attrs={"type": "date"}))
    time = forms.TimeField(widget=forms.TimeInput(attrs={"type": "time", "step": 900}))
    room = forms.ModelChoiceField(queryset=Room.objects.filter(is_active=True))

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["therapist"].queryset = roles.therapists()

    def clean(self):
        data = super().clean()
        if data.get("day") and data.get("time"):
            data["starts_at"] = wall_clock(data["day"], data["time"])
            if data["starts_at"] < timezone.now():
                raise forms.ValidationError("That time has already passed; choose a later one.")
            if data["day"] > timezone.localdate() + BOOKING_HORIZON:
                raise forms.ValidationError("Book at most a year ahead.")
        return data


class SeriesForm(forms.Form):
    """The pattern of a series: first day, time, weekdays and interval."""

    first_day = forms.DateField(widget=forms.DateInput(attrs={"type": "date"}))
    time = forms.TimeField(widget=forms.TimeInput(attrs={"type": "time", "step": 900}))
    weekdays = forms.TypedMultipleChoiceField(
        choices=[(n, day) for n, day in enumerate(["Mon", "Tue", "Wed", "Thu", "Fri", "Sat"])],
        coerce=int,
        widget=forms.CheckboxSelectMultiple,
        error_messages={"required": "Choose at least one weekday."},
    )
    interval_weeks = forms.TypedChoiceField(
        label="Every", choices=[(1, "week"), (2, "2 weeks"), (3, "3 weeks")], coerce=int, initial=1
    )
    appointment_type = forms.ModelChoiceField(queryset=AppointmentType.objects.filter(is_active=True))
    room = forms.ModelChoiceField(queryset=Room.objects.filter(is_active=True))

    def clean_first_day(self):
        day = self.cleaned_data["first_day"]
        if day < timezone.localdate():
            raise forms.ValidationError("The first session cannot be in the past.")
        if day > timezone.localdate() + datetime.timedelta(days=365):
            raise forms.ValidationError("Book at most a year ahead.")
        return day


class SessionTimesForm(forms.Form):
    """The time kept or picked for each session of a previewed series: the
    proposed time, an offered alternative (both posted as ISO times), or
    another time typed in. Every time is in the clinic's zone, not past, and
    within the booking horizon."""

    def __init__(self, *args, count, **kwargs):
        super().__init__(*args, **kwargs)
        self.count = count
        for number in range(1, count + 1):
            self.fields[f"session_{number}"] = forms.CharField(
                max_length=40,
                error_messages={"required": f"Choose a time for session {number}."},
            )
            self.fields[f"session_{number}_other"] = forms.DateTimeField(
                required=False,
                input_formats=["%Y-%m-%dT%H:%M", "%Y-%m-%d %H:%M"],
                error_messages={"invalid": f"Give session {number}'s other time as a date and a time."},
            )

    def _moment(self, number):
        choice = self.cleaned_data.get(f"session_{number}", "")
        if choice == "other":
            moment = self.cleaned_data.get(f"session_{number}_other")
            if moment is None:
                raise forms.ValidationError(f"Give the other time for session {number}.")
        else:
            try:
                moment = datetime.datetime.fromisoformat(choice)
            except ValueError:
                raise forms.ValidationError(f"Choose a time for session {number}.") from None
        if abs(moment.date() - timezone.localdate()) > BOOKING_HORIZON:
            raise forms.ValidationError(f"Session {number}: book from today to at most a year ahead.")
        if moment.tzinfo is not None:
            moment = timezone.localtime(moment).replace(tzinfo=None)
        starts_at = wall_clock(moment.date(), moment.time())
        if starts_at < timezone.now():
            raise forms.ValidationError(
                f"Session {number}: that time has already passed; choose a later one."
            )
        if moment.date() > timezone.localdate() + BOOKING_HORIZON:
            raise forms.ValidationError(f"Session {number}: book at most a year ahead.")
        return starts_at

    def clean(self):
        data = super().clean()
        if self.errors:
            return data
        data["starts"] = [self._moment(number) for number in range(1, self.count + 1)]
        return data


class RescheduleForm(forms.Form):
    day = forms.DateField(widget=forms.DateInput(attrs={"type": "date"}))
    time = forms.TimeField(widget=forms.TimeInput(attrs={"type": "time", "step": 900}))
    room = forms.ModelChoiceField(queryset=Room.objects.filter(is_active=True))

    def clean(self):
        data = super().clean()
        if data.get("day") and data.get("time"):
            data["starts_at"] = wall_clock(data["day"], data["time"])
            if data["starts_at"] < timezone.now():
                raise forms.ValidationError("That time has already passed; choose a later one.")
            if data["day"] > timezone.localdate() + BOOKING_HORIZON:
                raise forms.ValidationError("Book at most a year ahead.")
        return data


def cancelled_by_from(data):
    """Who cancelled, as posted by the front desk's "by patient / by clinic"
    choice; the patient unless it says otherwise."""
    value = data.get("cancelled_by")
    return value if value in Appointment.CancelledBy.values else Appointment.CancelledBy.PATIENT
