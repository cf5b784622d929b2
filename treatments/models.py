from django.conf import settings
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.db.models import Q
from django.urls import reverse
from django.utils import timezone
from simple_history.models import HistoricalRecords

from patients.models import PAIN_SCALE, Assessment, Patient, Side
from scheduling.models import Appointment, AppointmentSeries


class Technique(models.TextChoices):
    TRIGGER_POINT = "trigger_point", "Trigger-point dry needling"
    IMS = "ims", "Intramuscular stimulation"
    FUNCTIONAL = "functional", "Functional dry needling"


class ProgramComponent(models.TextChoices):
    CORE = "core", "Core strengthening"
    FLEXIBILITY = "flexibility", "Flexibility exercises"
    POSTURE = "posture", "Posture correction"
    ERGONOMICS = "ergonomics", "Ergonomic advice (desk work)"
    HOME_EXERCISES = "home_exercises", "Home exercises"


class Muscle(models.Model):
    """The catalogue of muscles a plan targets and a chart records."""

    name = models.CharField(max_length=100, unique=True)
    region = models.CharField(max_length=100, blank=True, help_text="For example: hip, lumbar spine, calf.")
    position = models.PositiveSmallIntegerField(default=100)
    is_active = models.BooleanField(default=True)

    class Meta:
        ordering = ["position", "name"]

    def __str__(self):
        return self.name


class AftercareItem(models.Model):
    """An item of aftercare advice: ticked on the chart when given, and the
    text the aftercare emails send the patient."""

    code = models.SlugField(max_length=50, unique=True)
    title = models.CharField(max_length=100)
    patient_text = models.TextField(help_text="What the patient reads in the aftercare email.")
    position = models.PositiveSmallIntegerField(default=100)
    is_active = models.BooleanField(default=True)
    history = HistoricalRecords()

    class Meta:
        ordering = ["position", "id"]

    def __str__(self):
        return self.title


class TreatmentPlanQuerySet(models.QuerySet):
    def for_therapist(self, therapist):
        return self.filter(therapist=therapist)


class TreatmentPlan(models.Model):
    """A course of dry needling for one patient. Once active, every change is
    a new version in its history."""

    class Severity(models.TextChoices):
        MILD = "mild", "Mild"
        MODERATE = "moderate", "Moderate"
        CHRONIC = "chronic", "Chronic"
        COMPLEX = "complex", "Complex"

    class Frequency(models.TextChoices):
        WEEKLY = "weekly", "Once a week"
        TWICE_WEEKLY = "twice_weekly", "Twice a week"

    class Status(models.TextChoices):
        DRAFT = "draft", "Draft"
        ACTIVE = "active", "Active"
        COMPLETED = "completed", "Completed"
        DISCONTINUED = "discontinued", "Discontinued"

    patient = models.ForeignKey(Patient, on_delete=models.PROTECT, related_name="treatment_plans")
    therapist = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="treatment_plans"
    )
    severity = models.CharField(max_length=10, choices=Severity.choices)
    planned_sessions = models.PositiveSmallIntegerField(
        validators=[MinValueValidator(1), MaxValueValidator(12)]
    )
    sessions_reason = models.TextField(
        "reason for this number of sessions",
        blank=True,
        help_text="Required when the number differs from the range the severity proposes.",
    )
    frequency = models.CharField(max_length=12, choices=Frequency.choices, default=Frequency.WEEKLY)
    # [{"muscle": <Muscle id>, "side": "left"}, ...]
    target_muscles = models.JSONField(default=list)
    techniques = models.JSONField(default=list)
    # [{"component": "core", "notes": "..."}, ...]
    program = models.JSONField(default=list)
    goal_leg_pain = models.PositiveSmallIntegerField(
        "goal: leg pain at most", validators=PAIN_SCALE, null=True, blank=True
    )
    goal_odi = models.PositiveSmallIntegerField(
        "goal: ODI under (%)", validators=[MaxValueValidator(100)], null=True, blank=True
    )
    goal_notes = models.TextField("other goals", blank=True)
    reassessment_after_session = models.PositiveSmallIntegerField(
        "re-assess after session", validators=[MinValueValidator(1)]
    )
    status = models.CharField(max_length=12, choices=Status.choices, default=Status.DRAFT)
    status_reason = models.TextField(blank=True)
    created_at = models.DateTimeField(default=timezone.now, editable=False)
    activated_at = models.DateTimeField(null=True, blank=True)
    ended_at = models.DateTimeField(null=True, blank=True)
    appointment_series = models.ManyToManyField(AppointmentSeries, blank=True, related_name="treatment_plans")
    history = HistoricalRecords()

    objects = TreatmentPlanQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [
            # The reports' plans ended in a period, and the plans still running.
            models.Index(fields=["ended_at"], name="plan_ended_idx"),
            models.Index(fields=["activated_at"], condition=Q(status="active"), name="plan_active_idx"),
        ]
        constraints = [
            models.CheckConstraint(
                condition=~Q(status="discontinued") | ~Q(status_reason=""),
                name="plan_discontinued_has_reason",
            ),
            models.CheckConstraint(
                condition=Q(reassessment_after_session__lte=models.F("planned_sessions")),
                name="plan_reassessment_within_plan",
            ),
        ]

    def __str__(self):
        return f"{self.get_severity_display()} plan for {self.patient}"

    def get_absolute_url(self):
        return reverse("treatments:plan", args=[self.pk])

    @property
    def is_open(self):
        return self.status in (self.Status.DRAFT, self.Status.ACTIVE)


class SessionChart(models.Model):
    """The record of one visit of a plan. Signed, it is never edited, only
    amended, and the version before each amendment is kept."""

    plan = models.ForeignKey(TreatmentPlan, on_delete=models.PROTECT, related_name="charts")
    appointment = models.OneToOneField(Appointment, on_delete=models.PROTECT, related_name="chart")
    therapist = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="charts")
    session_number = models.PositiveSmallIntegerField()
    # The pre-needling check.
    screening_confirmed_valid = models.BooleanField(default=False)
    new_contraindication_reported = models.BooleanField(default=False)
    needled = models.BooleanField(
        default=True, help_text="False when the visit took place without needling (the reason says why)."
    )
    not_needled_reason = models.TextField("why there was no needling", blank=True)
    back_pain_before = models.PositiveSmallIntegerField(validators=PAIN_SCALE, null=True, blank=True)
    leg_pain_before = models.PositiveSmallIntegerField(validators=PAIN_SCALE, null=True, blank=True)
    back_pain_after = models.PositiveSmallIntegerField(validators=PAIN_SCALE, null=True, blank=True)
    leg_pain_after = models.PositiveSmallIntegerField(validators=PAIN_SCALE, null=True, blank=True)
    slr_done = models.BooleanField("straight-leg raise done", default=False)
    slr_angle = models.PositiveSmallIntegerField(null=True, blank=True, validators=[MaxValueValidator(90)])
    slr_positive = models.BooleanField(null=True, blank=True)
    aftercare_given = models.ManyToManyField(AftercareItem, blank=True, related_name="+")
    aftercare_notes = models.TextField(blank=True)
    notes = models.TextField(blank=True)
    muscle_count = models.PositiveSmallIntegerField(default=0)
    procedure_code = models.CharField(max_length=5, blank=True)
    created_at = models.DateTimeField(default=timezone.now, editable=False)
    signed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["plan", "session_number"]
        indexes = [
            # Today's unsigned charts per therapist (dashboard, my day), not their years of signed ones.
            models.Index(
                fields=["therapist"], condition=Q(signed_at__isnull=True), name="chart_unsigned_by_therapist"
            )
        ]
        constraints = [
            models.UniqueConstraint(fields=["plan", "session_number"], name="chart_session_once_per_plan"),
            models.CheckConstraint(
                condition=Q(needled=True) | ~Q(not_needled_reason=""), name="chart_not_needled_has_reason"
            ),
            models.CheckConstraint(
                condition=Q(back_pain_before__lte=10)
                & Q(leg_pain_before__lte=10)
                & Q(back_pain_after__lte=10)
                & Q(leg_pain_after__lte=10),
                name="chart_pain_0_10",
            ),
        ]

    def __str__(self):
        return f"Session {self.session_number} of {self.plan}"

    def get_absolute_url(self):
        return reverse("treatments:chart", args=[self.pk])

    @property
    def is_signed(self):
        return self.signed_at is not None


class ChartNeedling(models.Model):
    """One muscle needled in a session."""

    chart = models.ForeignKey(SessionChart, on_delete=models.CASCADE, related_name="needlings")
    muscle = models.ForeignKey(Muscle, on_delete=models.PROTECT, related_name="+")
    side = models.CharField(max_length=5, choices=Side.choices)
    needles = models.PositiveSmallIntegerField(validators=[MinValueValidator(1), MaxValueValidator(30)])
    needle_length_mm = models.PositiveSmallIntegerField(
        "needle length (mm)", validators=[MinValueValidator(10), MaxValueValidator(125)]
    )
    needle_gauge_mm = models.DecimalField(
        "needle gauge (mm)",
        max_digits=3,
        decimal_places=2,
        validators=[MinValueValidator(0.12), MaxValueValidator(0.40)],
    )
    technique = models.CharField(max_length=20, choices=Technique.choices)
    twitch_response = models.BooleanField("local twitch response seen", default=False)
    familiar_pain = models.BooleanField("familiar pain reproduced", default=False)

    class Meta:
        ordering = ["id"]

    def __str__(self):
        return f"{self.muscle} ({self.get_side_display()})"


class AdverseEvent(models.Model):
    class Kind(models.TextChoices):
        SORENESS = "soreness", "Soreness"
        BRUISING = "bruising", "Bruising"
        BLEEDING = "bleeding", "Bleeding"
        FATIGUE = "fatigue", "Fatigue"
        LIGHTHEADEDNESS = "lightheadedness", "Lightheadedness"
        FAINTING = "fainting", "Fainting"
        INCREASED_SYMPTOMS = "increased_symptoms", "Increased symptoms"
        INFECTION = "infection", "Infection (serious)"
        NERVE_INJURY = "nerve_injury", "Nerve injury (serious)"
        PNEUMOTHORAX = "pneumothorax", "Pneumothorax (serious)"

    SERIOUS = {Kind.INFECTION, Kind.NERVE_INJURY, Kind.PNEUMOTHORAX}

    class Severity(models.TextChoices):
        MILD = "mild", "Mild"
        MODERATE = "moderate", "Moderate"
        SEVERE = "severe", "Severe"

    chart = models.ForeignKey(SessionChart, on_delete=models.CASCADE, related_name="adverse_events")
    kind = models.CharField(max_length=20, choices=Kind.choices)
    severity = models.CharField(max_length=10, choices=Severity.choices)
    notes = models.TextField(blank=True)
    # The visit's start, copied from the chart's appointment (which cannot be
    # moved once charted), so that reports find a period's events by index.
    visit_at = models.DateTimeField(editable=False)

    class Meta:
        ordering = ["id"]
        indexes = [models.Index(fields=["visit_at"], name="adverse_event_visit_idx")]

    def __str__(self):
        return f"{self.get_kind_display()} ({self.get_severity_display()})"

    @property
    def is_serious(self):
        return self.kind in self.SERIOUS


class ChartAmendment(models.Model):
    """A change to a signed chart: why, who, when, and the chart as it stood before."""

    chart = models.ForeignKey(SessionChart, on_delete=models.PROTECT, related_name="amendments")
    reason = models.TextField()
    amended_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    amended_at = models.DateTimeField(default=timezone.now)
    previous = models.JSONField(help_text="The chart's content before this amendment.")

    class Meta:
        ordering = ["amended_at", "id"]
        constraints = [models.CheckConstraint(condition=~Q(reason=""), name="amendment_has_reason")]

    def __str__(self):
        return f"Amendment of {self.chart} at {self.amended_at:%Y-%m-%d %H:%M}"


class AftercareCheckIn(models.Model):
    """What the patient reported through the link in the 24-hour aftercare
    email. Worse leg pain than before the visit, or any red flag, alerts the
    treating therapist."""

    appointment = models.OneToOneField(Appointment, on_delete=models.PROTECT, related_name="checkin")
    soreness = models.PositiveSmallIntegerField(validators=PAIN_SCALE)
    leg_pain = models.PositiveSmallIntegerField(validators=PAIN_SCALE)
    # The codes of the red-flag questions the patient answered "yes".
    red_flags = models.JSONField(default=list, blank=True)
    notes = models.TextField(blank=True)
    submitted_at = models.DateTimeField(default=timezone.now)
    alert = models.BooleanField(default=False)
    alert_reasons = models.JSONField(default=list, blank=True)
    acknowledged_at = models.DateTimeField(null=True, blank=True)
    acknowledged_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )

    class Meta:
        ordering = ["-submitted_at"]
        constraints = [
            models.CheckConstraint(
                condition=Q(soreness__lte=10) & Q(leg_pain__lte=10), name="checkin_scores_0_10"
            )
        ]

    def __str__(self):
        return f"Check-in after appointment {self.appointment_id}"


class PlanOutcome(models.Model):
    """A plan's outcomes as treatments.outcomes computes them, kept current by
    `outcomes.refresh` whenever a measure they are computed from is written:
    reports and pages read these columns instead of computing every plan's
    history again on each request."""

    plan = models.OneToOneField(
        TreatmentPlan, on_delete=models.CASCADE, primary_key=True, related_name="outcome"
    )
    sessions_done = models.PositiveSmallIntegerField(default=0)
    leg_start = models.PositiveSmallIntegerField(null=True)
    leg_end = models.PositiveSmallIntegerField(null=True)
    back_start = models.PositiveSmallIntegerField(null=True)
    back_end = models.PositiveSmallIntegerField(null=True)
    odi_start = models.DecimalField(max_digits=5, decimal_places=1, null=True)
    odi_end = models.DecimalField(max_digits=5, decimal_places=1, null=True)
    last_leg_before = models.PositiveSmallIntegerField(null=True)
    last_leg_after = models.PositiveSmallIntegerField(null=True)
    reassessment_due = models.BooleanField(default=False)
    leg_meets_mic = models.BooleanField(default=False)
    back_meets_mic = models.BooleanField(default=False)
    odi_meets_mic = models.BooleanField(default=False)
    not_improving = models.BooleanField(default=False)
    # Where and when each pain scale's baseline and latest measure were taken.
    leg_baseline_source = models.CharField(max_length=16, blank=True)
    leg_baseline_at = models.DateTimeField(null=True)
    leg_baseline_session = models.PositiveSmallIntegerField(null=True)
    leg_latest_source = models.CharField(max_length=16, blank=True)
    leg_latest_at = models.DateTimeField(null=True)
    leg_latest_session = models.PositiveSmallIntegerField(null=True)
    back_baseline_source = models.CharField(max_length=16, blank=True)
    back_baseline_at = models.DateTimeField(null=True)
    back_baseline_session = models.PositiveSmallIntegerField(null=True)
    back_latest_source = models.CharField(max_length=16, blank=True)
    back_latest_at = models.DateTimeField(null=True)
    back_latest_session = models.PositiveSmallIntegerField(null=True)
    odi_start_assessment = models.ForeignKey(
        Assessment, on_delete=models.SET_NULL, null=True, related_name="+"
    )
    odi_reassessment = models.ForeignKey(Assessment, on_delete=models.SET_NULL, null=True, related_name="+")

    class Meta:
        indexes = [
            models.Index(fields=["plan"], condition=Q(not_improving=True), name="outcome_not_improving")
        ]

    def __str__(self):
        return f"Outcomes of plan {self.plan_id}"
