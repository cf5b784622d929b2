import datetime

from django import forms

from clinic.reports import FIRST_YEAR, LAST_YEAR, MAX_PERIOD_DAYS, Period, therapists
from scheduling.forms import TherapistChoiceField


class PeriodForm(forms.Form):
    """The dashboard's date range (both days included) and, for the clinic
    admin, one therapist. Empty fields mean this week and every therapist."""

    first = forms.DateField(label="From", required=False, widget=forms.DateInput(attrs={"type": "date"}))
    last = forms.DateField(label="To", required=False, widget=forms.DateInput(attrs={"type": "date"}))
    therapist = TherapistChoiceField(
        queryset=None,
        required=False,
        empty_label="All therapists",
        widget=forms.Select(attrs={"class": "form-select"}),
        error_messages={"invalid_choice": "There is no such therapist; showing every therapist."},
    )

    def __init__(self, *args, with_therapist=True, today=None, **kwargs):
        super().__init__(*args, **kwargs)
        self.default = Period.this_week(today)
        if with_therapist:
            self.fields["therapist"].queryset = therapists()
        else:
            del self.fields["therapist"]

    def clean(self):
        data = super().clean()
        first, last = data.get("first"), data.get("last")
        if any(day and not FIRST_YEAR <= day.year <= LAST_YEAR for day in (first, last)):
            raise forms.ValidationError(
                f"Pick dates between {FIRST_YEAR} and {LAST_YEAR}; showing this week."
            )
        if first and last:
            if last < first:
                raise forms.ValidationError("The range ends before it starts; showing this week.")
            if (last - first).days + 1 > MAX_PERIOD_DAYS:
                raise forms.ValidationError("Pick at most two years at a time; showing this week.")
        return data

    def period(self):
        """The chosen period, or this week when the form is not valid."""
        if not self.is_valid():
            return self.default
        first, last = self.cleaned_data["first"], self.cleaned_data["last"]
        if first and not last:
            last = first + datetime.timedelta(days=6)
        elif last and not first:
            first = last - datetime.timedelta(days=6)
        return Period(first, last) if first else self.default

    def chosen_therapist(self):
        return self.cleaned_data.get("therapist") if self.is_valid() else None

    def problems(self):
        return [error for errors in self.errors.values() for error in errors] if self.is_bound else []
