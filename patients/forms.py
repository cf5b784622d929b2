import datetime

from django import forms
from django.utils import timezone
from phonenumber_field.formfields import PhoneNumberField

from clinic import roles
from patients.models import ODI_SECTIONS, Assessment, Consent, Patient, ScreeningCategory

YES_NO = [("yes", "Yes"), ("no", "No")]
ODI_CHOICES = [("", "Not answered")] + [(str(n), str(n)) for n in range(6)]


class PatientForm(forms.ModelForm):
    phone = PhoneNumberField(required=False, help_text="Local numbers are read as US numbers.")
    emergency_contact_phone = PhoneNumberField(required=False)
    # Shown only once a possible duplicate has been found.
    register_anyway = forms.BooleanField(
        required=False,
        label="This is a different person with the same name and date of birth: register anyway",
        widget=forms.HiddenInput,
    )

    class Meta:
        model = Patient
        fields = [
            "first_name",
            "last_name",
            "date_of_birth",
            "sex",
            "email",
            "phone",
            "address_line",
            "city",
            "postal_code",
            "emergency_contact_name",
            "emergency_contact_phone",
            "physician",
            "front_desk_notes",
            "email_consent",
            "treating_therapist",
        ]
        widgets = {
            "date_of_birth": forms.DateInput(attrs={"type": "date"}, format="%Y-%m-%d"),
            "front_desk_notes": forms.Textarea(attrs={"rows": 2}),
        }

    def __init__(self, *args, user, **kwargs):
        super().__init__(*args, **kwargs)
        self.duplicates = Patient.objects.none()
        if roles.is_clinic_admin(user):
            self.fields["treating_therapist"].queryset = roles.therapists()
        else:
            # Only the clinic admin assigns or reassigns a patient's therapist.
            del self.fields["treating_therapist"]
        if self.instance.pk:
            del self.fields["register_anyway"]

    def clean(self):
        data = super().clean()
        first, last, born = data.get("first_name"), data.get("last_name"), data.get("date_of_birth")
        if self.instance.pk is None and first and last and born:
            self.duplicates = Patient.objects.filter(
                first_name__iexact=first.strip(), last_name__iexact=last.strip(), date_of_birth=born
            )
            if self.duplicates.exists() and not data.get("register_anyway"):
                self.fields["register_anyway"].widget = forms.CheckboxInput()
                raise forms.ValidationError(
                    "A patient with this name and date of birth is already registered. "
                    "Open the existing record, or tick \u201cregister anyway\u201d if this is someone else.",
                    code="possible_duplicate",
                )
        return data


class PatientSearchForm(forms.Form):
    q = forms.CharField(
        label="Search patients",
        required=False,
        max_length=100,
        widget=forms.TextInput(
            attrs={"placeholder": "Name, date of birth (YYYY-MM-DD), phone or email", "type": "search"}
        ),
    )
    archived = forms.BooleanField(label="Include archived patients", required=False)


class ScreeningForm(forms.Form):
    """One yes/no question per active item of the rules table, an
    acknowledgement note for each precaution, and free notes."""

    notes = forms.CharField(widget=forms.Textarea(attrs={"rows": 3}), required=False, label="Notes")

    def __init__(self, *args, items, screening=None, **kwargs):
        super().__init__(*args, **kwargs)
        self.items = list(items)
        previous = {a.item_id: a for a in screening.answers.all()} if screening else {}
        if screening is not None:
            self.fields["notes"].initial = screening.notes
        for item in self.items:
            answer = previous.get(item.pk)
            self.fields[self.answer_field(item)] = forms.ChoiceField(
                label=item.question,
                choices=YES_NO,
                widget=forms.RadioSelect(attrs={"class": "form-check-input"}),
                initial=("yes" if answer.answer else "no") if answer else None,
                error_messages={"required": "Answer this question."},
            )
            if item.category == ScreeningCategory.PRECAUTION:
                self.fields[self.acknowledgement_field(item)] = forms.CharField(
                    label=f"If yes: how will you manage this precaution? ({item.guidance})",
                    required=False,
                    widget=forms.Textarea(attrs={"rows": 2, "class": "form-control"}),
                    initial=answer.acknowledgement if answer else "",
                )

    @staticmethod
    def answer_field(item):
        return f"item_{item.pk}"

    @staticmethod
    def acknowledgement_field(item):
        return f"acknowledge_{item.pk}"

    def clean(self):
        data = super().clean()
        for item in self.items:
            if item.category != ScreeningCategory.PRECAUTION:
                continue
            note_field = self.acknowledgement_field(item)
            if data.get(self.answer_field(item)) == "yes" and not data.get(note_field, "").strip():
                self.add_error(note_field, "Acknowledge this precaution with a note before saving.")
        return data

    def answers(self):
        """(item, answered yes, acknowledgement) for each question."""
        return [
            (
                item,
                self.cleaned_data[self.answer_field(item)] == "yes",
                self.cleaned_data.get(self.acknowledgement_field(item), ""),
            )
            for item in self.items
        ]

    def question_rows(self):
        """Bound fields grouped per question, for the template."""
        return [
            (
                item,
                self[self.answer_field(item)],
                self[self.acknowledgement_field(item)]
                if self.acknowledgement_field(item) in self.fields
                else None,
            )
            for item in self.items
        ]


class ConsentForm(forms.ModelForm):
    confirmed = forms.BooleanField(
        label="The patient has read this consent text, had their questions answered, and agrees",
        error_messages={"required": "Confirm that the patient agrees to this text."},
    )

    class Meta:
        model = Consent
        fields = ["method", "given_at"]
        widgets = {
            "method": forms.RadioSelect,
            "given_at": forms.DateTimeInput(attrs={"type": "datetime-local"}, format="%Y-%m-%dT%H:%M"),
        }
        labels = {"given_at": "Given on"}

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["given_at"].initial = timezone.localtime().replace(second=0, microsecond=0)

    def clean_given_at(self):
        given_at = self.cleaned_data["given_at"]
        if given_at > timezone.now() + datetime.timedelta(minutes=1):
            raise forms.ValidationError("Consent cannot be recorded as given in the future.")
        return given_at


class AssessmentForm(forms.ModelForm):
    class Meta:
        model = Assessment
        fields = [
            "kind",
            "assessed_at",
            "affected_side",
            "radiating_pain",
            "tingling",
            "numbness",
            "weakness",
            "worse_when_sitting",
            "back_pain",
            "leg_pain",
            *(name for name, _ in ODI_SECTIONS),
            "slr_done",
            "slr_angle",
            "slr_positive",
            "notes",
        ]
        widgets = {
            "assessed_at": forms.DateTimeInput(attrs={"type": "datetime-local"}, format="%Y-%m-%dT%H:%M"),
            "affected_side": forms.RadioSelect,
            "kind": forms.RadioSelect,
            "back_pain": forms.NumberInput(attrs={"min": 0, "max": 10}),
            "leg_pain": forms.NumberInput(attrs={"min": 0, "max": 10}),
            "slr_angle": forms.NumberInput(attrs={"min": 0, "max": 90}),
            "slr_positive": forms.RadioSelect(choices=[(True, "Positive"), (False, "Negative")]),
            "notes": forms.Textarea(attrs={"rows": 3}),
        }

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["assessed_at"].initial = timezone.localtime().replace(second=0, microsecond=0)
        for name, label in ODI_SECTIONS:
            self.fields[name] = forms.TypedChoiceField(
                label=f"ODI: {label}",
                choices=ODI_CHOICES,
                coerce=int,
                empty_value=None,
                required=False,
                help_text="Score 0 (no difficulty) to 5 (worst), as the patient answered.",
            )

    def clean_assessed_at(self):
        assessed_at = self.cleaned_data["assessed_at"]
        if assessed_at > timezone.now() + datetime.timedelta(minutes=1):
            raise forms.ValidationError("An assessment cannot be dated in the future.")
        return assessed_at
