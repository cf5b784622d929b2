from django import forms

from treatments.models import ProgramComponent, Side, Technique, TreatmentPlan
from treatments.services import proposed_sessions

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
        notes = {p["component"]: p["notes"] for p in plan.program}
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
