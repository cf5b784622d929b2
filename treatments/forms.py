from decimal import Decimal

from django import forms

from treatments.models import (
    AdverseEvent,
    AftercareItem,
    Muscle,
    ProgramComponent,
    SessionChart,
    Side,
    Technique,
    TreatmentPlan,
)
from treatments.services import PROGRAM_NEEDED, AdverseEventInput, NeedlingInput, proposed_sessions

NOT_TARGETED = [("", "Not targeted")]


class PlanForm(forms.ModelForm):
    """A plan: severity and sessions, a side per target muscle, techniques,
    the program around the needling with notes, goals and re-assessment."""

    techniques = forms.MultipleChoiceField(
        choices=Technique.choices,
        widget=forms.CheckboxSelectMultiple,
        error_messages={"required": "Choose at least one technique."},
    )

    class Meta:
        model = TreatmentPlan
        fields = [
            "severity",
            "planned_sessions",
            "sessions_reason",
            "frequency",
            "goal_leg_pain",
            "goal_odi",
            "goal_notes",
            "reassessment_after_session",
        ]
        widgets = {
            "severity": forms.RadioSelect,
            "frequency": forms.RadioSelect,
            "sessions_reason": forms.Textarea(attrs={"rows": 2}),
            "goal_notes": forms.Textarea(attrs={"rows": 2}),
        }
        help_texts = {
            "planned_sessions": "Leave empty for the number the severity proposes: "
            "mild or moderate 3 (1-3), chronic or complex 6 (4-6).",
        }

    def __init__(self, *args, muscles, **kwargs):
        super().__init__(*args, **kwargs)
        self.muscles = list(muscles)
        self.fields["planned_sessions"].required = False
        self.fields["reassessment_after_session"].required = False
        self.fields[
            "reassessment_after_session"
        ].help_text = "Leave empty to re-assess after the last session."
        plan = self.instance
        sides = {t["muscle"]: t["side"] for t in plan.target_muscles}
        notes = {p["component"]: p.get("notes", "") for p in plan.program}
        self.fields["techniques"].initial = plan.techniques
        for muscle in self.muscles:
            self.fields[f"muscle_{muscle.pk}"] = forms.ChoiceField(
                label=muscle.name,
                choices=NOT_TARGETED + list(Side.choices),
                required=False,
                initial=sides.get(muscle.pk, ""),
            )
        for value, label in ProgramComponent.choices:
            self.fields[f"program_{value}"] = forms.BooleanField(
                label=label, required=False, initial=value in notes
            )
            self.fields[f"program_{value}_notes"] = forms.CharField(
                label=f"{label}: notes", required=False, initial=notes.get(value, "")
            )

    def muscle_fields(self):
        return [self[f"muscle_{m.pk}"] for m in self.muscles]

    def program_fields(self):
        return [(self[f"program_{v}"], self[f"program_{v}_notes"]) for v, _ in ProgramComponent.choices]

    def clean(self):
        data = super().clean()
        targets = [
            {"muscle": m.pk, "side": data[f"muscle_{m.pk}"]}
            for m in self.muscles
            if data.get(f"muscle_{m.pk}")
        ]
        if not targets:
            raise forms.ValidationError("Choose at least one target muscle and its side.")
        self.instance.target_muscles = targets
        self.instance.techniques = data.get("techniques", [])
        self.instance.program = [
            {"component": v, "notes": data.get(f"program_{v}_notes", "").strip()}
            for v, _ in ProgramComponent.choices
            if data.get(f"program_{v}")
        ]
        if not self.instance.program:
            raise forms.ValidationError(PROGRAM_NEEDED)
        severity = data.get("severity")
        if severity and not data.get("planned_sessions"):
            data["planned_sessions"] = proposed_sessions(severity)
        if data.get("planned_sessions") and not data.get("reassessment_after_session"):
            data["reassessment_after_session"] = data["planned_sessions"]
        return data


class PlanEndForm(forms.Form):
    status = forms.ChoiceField(
        choices=[
            (TreatmentPlan.Status.COMPLETED, "Completed"),
            (TreatmentPlan.Status.DISCONTINUED, "Discontinued"),
        ],
        widget=forms.RadioSelect(attrs={"class": "form-check-input"}),
    )
    reason = forms.CharField(
        widget=forms.Textarea(attrs={"rows": 2}), required=False, help_text="Required to discontinue."
    )


class PreNeedlingCheckForm(forms.Form):
    """Asked before every session's needling. A visit can also be charted
    without needling, giving the reason: the only way for a patient who is
    not cleared (`cleared=False`), whose check questions are then not asked."""

    screening_still_valid = forms.TypedChoiceField(
        label="Is the patient's screening still valid, and nothing in it has changed?",
        choices=[("yes", "Yes"), ("no", "No")],
        coerce=lambda value: value == "yes",
        widget=forms.RadioSelect(attrs={"class": "form-check-input"}),
    )
    new_problem = forms.TypedChoiceField(
        label="Does the patient report any new contraindication or red flag since the screening "
        "(new medication, pregnancy, infection, bladder or bowel change, numbness or weakness)?",
        choices=[("no", "No"), ("yes", "Yes")],
        coerce=lambda value: value == "yes",
        widget=forms.RadioSelect(attrs={"class": "form-check-input"}),
    )
    not_needled_reason = forms.CharField(
        label="No needling at this visit: why?",
        required=False,
        max_length=2000,
        widget=forms.Textarea(attrs={"rows": 2, "class": "form-control"}),
        help_text="Fill in only to chart the visit without needling "
        "(for example: assessment and exercises only, the patient declined).",
    )

    def __init__(self, *args, cleared=True, **kwargs):
        super().__init__(*args, **kwargs)
        self.cleared = cleared
        if not cleared:
            del self.fields["screening_still_valid"], self.fields["new_problem"]
            self.fields["not_needled_reason"].required = True
            self.fields["not_needled_reason"].error_messages["required"] = (
                "The patient is not cleared for needling: give the reason to chart the visit without it."
            )
            self.fields["not_needled_reason"].help_text = ""

    def clean(self):
        data = super().clean()
        data.setdefault("screening_still_valid", False)
        data.setdefault("new_problem", False)
        return data


class ChartForm(forms.ModelForm):
    class Meta:
        model = SessionChart
        fields = [
            "back_pain_before",
            "leg_pain_before",
            "back_pain_after",
            "leg_pain_after",
            "slr_done",
            "slr_angle",
            "slr_positive",
            "aftercare_given",
            "aftercare_notes",
            "notes",
            "needled",
            "not_needled_reason",
        ]
        widgets = {
            "aftercare_given": forms.CheckboxSelectMultiple,
            "slr_positive": forms.RadioSelect(choices=[(True, "Positive"), (False, "Negative")]),
            "aftercare_notes": forms.Textarea(attrs={"rows": 2}),
            "notes": forms.Textarea(attrs={"rows": 3}),
            "needled": forms.RadioSelect(choices=[(True, "Needled"), (False, "Not needled")]),
            "not_needled_reason": forms.Textarea(attrs={"rows": 2}),
            **{
                name: forms.NumberInput(attrs={"min": 0, "max": 10})
                for name in ("back_pain_before", "leg_pain_before", "back_pain_after", "leg_pain_after")
            },
        }
        labels = {
            "back_pain_before": "Back pain before (0-10)",
            "leg_pain_before": "Leg pain before (0-10)",
            "back_pain_after": "Back pain after (0-10)",
            "leg_pain_after": "Leg pain after (0-10)",
            "slr_angle": "Straight-leg raise angle (degrees)",
            "slr_positive": "Straight-leg raise",
            "aftercare_given": "Aftercare given (the patient's aftercare emails repeat these)",
            "needled": "Dry needling at this visit",
        }

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["aftercare_given"].queryset = AftercareItem.objects.filter(is_active=True)

    def _posted_or_kept(self, name):
        # A form posted without the choice (an amendment, a crafted post) keeps the chart as it is.
        if self.add_prefix(name) not in self.data:
            return getattr(self.instance, name)
        return self.cleaned_data[name]

    def clean_needled(self):
        return self._posted_or_kept("needled")

    def clean_not_needled_reason(self):
        return self._posted_or_kept("not_needled_reason")

    def clean(self):
        data = super().clean()
        if data.get("slr_done") and (data.get("slr_angle") is None or data.get("slr_positive") is None):
            raise forms.ValidationError("Give the straight-leg raise angle and whether it was positive.")
        if data.get("needled") is False and not (data.get("not_needled_reason") or "").strip():
            self.add_error("not_needled_reason", "Give the reason there was no needling at this visit.")
        return data


class NeedlingForm(forms.Form):
    """One muscle needled. A row left without a muscle is ignored."""

    muscle = forms.ModelChoiceField(queryset=Muscle.objects.none(), required=False, empty_label="—")
    side = forms.ChoiceField(choices=Side.choices, required=False)
    needles = forms.IntegerField(min_value=1, max_value=30, required=False, label="Needles")
    needle_length_mm = forms.IntegerField(min_value=10, max_value=125, required=False, label="Length (mm)")
    needle_gauge_mm = forms.DecimalField(
        min_value=Decimal("0.12"),
        max_value=Decimal("0.40"),
        decimal_places=2,
        required=False,
        label="Gauge (mm)",
    )
    technique = forms.ChoiceField(choices=Technique.choices, required=False)
    twitch_response = forms.BooleanField(required=False, label="Twitch")
    familiar_pain = forms.BooleanField(required=False, label="Familiar pain")

    REQUIRED_WITH_MUSCLE = ("side", "needles", "needle_length_mm", "needle_gauge_mm", "technique")

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["muscle"].queryset = Muscle.objects.filter(is_active=True)
        for field in self.fields.values():
            field.widget.attrs["class"] = {
                "Select": "form-select form-select-sm",
                "CheckboxInput": "form-check-input",
            }.get(type(field.widget).__name__, "form-control form-control-sm")

    def clean(self):
        data = super().clean()
        if data.get("muscle"):
            for name in self.REQUIRED_WITH_MUSCLE:
                if data.get(name) in (None, ""):
                    self.add_error(name, "Required for a muscle needled.")
        return data

    def as_input(self):
        data = self.cleaned_data
        if not data.get("muscle"):
            return None
        return NeedlingInput(**{name: data[name] for name in NeedlingInput.__dataclass_fields__})


class AdverseEventForm(forms.Form):
    """One adverse event. A row left without a kind is ignored."""

    kind = forms.ChoiceField(choices=[("", "—"), *AdverseEvent.Kind.choices], required=False)
    severity = forms.ChoiceField(choices=[("", "—"), *AdverseEvent.Severity.choices], required=False)
    notes = forms.CharField(required=False)

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        for name, field in self.fields.items():
            field.widget.attrs["class"] = "form-control" if name == "notes" else "form-select"

    def clean(self):
        data = super().clean()
        if data.get("kind") and not data.get("severity"):
            self.add_error("severity", "Give the severity of this event.")
        return data

    def as_input(self):
        data = self.cleaned_data
        if not data.get("kind"):
            return None
        return AdverseEventInput(kind=data["kind"], severity=data["severity"], notes=data["notes"])


NeedlingFormSet = forms.formset_factory(NeedlingForm, extra=2)
AdverseEventFormSet = forms.formset_factory(AdverseEventForm, extra=1)


class AmendmentForm(forms.Form):
    reason = forms.CharField(
        label="Reason for the amendment",
        widget=forms.Textarea(attrs={"rows": 2}),
        error_messages={"required": "Give the reason for the amendment."},
    )


class CheckInForm(forms.Form):
    """The patient's check-in, a day after the visit: soreness, leg pain now,
    and the red flags asked after a visit. No login: the link is the key."""

    soreness = forms.TypedChoiceField(
        label="How sore are the treated muscles now? (0 = not at all, 10 = worst imaginable)",
        choices=[(n, str(n)) for n in range(11)],
        coerce=int,
        widget=forms.RadioSelect(attrs={"class": "form-check-input"}),
    )
    leg_pain = forms.TypedChoiceField(
        label="How bad is the pain in your leg now? (0 = no pain, 10 = worst imaginable)",
        choices=[(n, str(n)) for n in range(11)],
        coerce=int,
        widget=forms.RadioSelect(attrs={"class": "form-check-input"}),
    )
    notes = forms.CharField(
        label="Anything else you want us to know", required=False, widget=forms.Textarea(attrs={"rows": 3})
    )

    def __init__(self, *args, red_flags, **kwargs):
        super().__init__(*args, **kwargs)
        self.red_flag_items = list(red_flags)
        for item in self.red_flag_items:
            self.fields[f"flag_{item.code}"] = forms.ChoiceField(
                label=f"Since your visit: {item.question}",
                choices=[("no", "No"), ("yes", "Yes")],
                widget=forms.RadioSelect(attrs={"class": "form-check-input"}),
                error_messages={"required": "Please answer this question."},
            )
        self.order_fields([name for name in self.fields if name != "notes"] + ["notes"])

    def red_flags(self):
        return [item.code for item in self.red_flag_items if self.cleaned_data[f"flag_{item.code}"] == "yes"]
