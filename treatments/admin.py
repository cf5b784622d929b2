from django.contrib import admin

from patients.admin import HistoryAdmin, ReadOnlyAdmin, RecordInline
from treatments.models import (
    AdverseEvent,
    AftercareCheckIn,
    AftercareItem,
    ChartAmendment,
    ChartNeedling,
    Muscle,
    PlanOutcome,
    SessionChart,
    TreatmentPlan,
)

PATIENT_SEARCH = ["plan__patient__last_name", "plan__patient__first_name"]


@admin.register(Muscle)
class MuscleAdmin(admin.ModelAdmin):
    list_display = ["name", "region", "position", "is_active"]
    list_filter = ["region", "is_active"]
    search_fields = ["name", "region"]

    def has_delete_permission(self, request, obj=None):
        return False  # charts refer to muscles; switch one off instead


@admin.register(AftercareItem)
class AftercareItemAdmin(HistoryAdmin):
    """The aftercare advice: the checklist on each chart and the text the emails send."""

    list_display = ["title", "code", "position", "is_active"]
    list_filter = ["is_active"]
    search_fields = ["title", "code", "patient_text"]

    def get_readonly_fields(self, request, obj=None):
        return ["code"] if obj is not None else []  # sent emails and charts name items by code

    def has_delete_permission(self, request, obj=None):
        return False


class PlanOutcomeInline(RecordInline):
    """The plan's outcomes as stored for the reports (computed from its charts and assessments)."""

    model = PlanOutcome
    fields = [
        "sessions_done",
        "leg_start",
        "leg_end",
        "leg_meets_mic",
        "odi_start",
        "odi_end",
        "odi_meets_mic",
        "reassessment_due",
        "not_improving",
    ]


@admin.register(TreatmentPlan)
class TreatmentPlanAdmin(ReadOnlyAdmin, HistoryAdmin):
    patient_of = "patient"
    list_display = ["patient", "therapist", "severity", "planned_sessions", "status", "created_at"]
    list_filter = ["status", "severity", ("therapist", admin.RelatedOnlyFieldListFilter)]
    search_fields = ["patient__last_name", "patient__first_name"]
    date_hierarchy = "created_at"
    list_select_related = ["patient", "therapist"]
    inlines = [PlanOutcomeInline]


class ChartNeedlingInline(RecordInline):
    model = ChartNeedling
    fields = [
        "muscle",
        "side",
        "needles",
        "needle_length_mm",
        "needle_gauge_mm",
        "technique",
        "twitch_response",
        "familiar_pain",
    ]

    def get_queryset(self, request):
        return super().get_queryset(request).select_related("muscle")


class AdverseEventInline(RecordInline):
    model = AdverseEvent
    fields = ["kind", "severity", "notes"]


@admin.register(SessionChart)
class SessionChartAdmin(ReadOnlyAdmin):
    patient_of = "plan.patient"
    list_display = [
        "plan__patient",
        "session_number",
        "appointment__starts_at",
        "therapist",
        "procedure_code",
        "signed_at",
    ]
    list_filter = [
        ("signed_at", admin.EmptyFieldListFilter),
        "procedure_code",
        ("therapist", admin.RelatedOnlyFieldListFilter),
    ]
    search_fields = PATIENT_SEARCH
    date_hierarchy = "appointment__starts_at"
    list_select_related = ["plan__patient", "appointment", "therapist"]
    inlines = [ChartNeedlingInline, AdverseEventInline]


@admin.register(AdverseEvent)
class AdverseEventAdmin(ReadOnlyAdmin):
    """Adverse events as charted; a serious one is also flagged on the dashboard."""

    patient_of = "chart.plan.patient"
    list_display = ["visit_at", "chart__plan__patient", "kind", "severity", "serious"]
    list_filter = ["kind", "severity"]
    search_fields = ["chart__plan__patient__last_name", "chart__plan__patient__first_name", "notes"]
    date_hierarchy = "visit_at"
    list_select_related = ["chart__plan__patient"]

    @admin.display(boolean=True)
    def serious(self, event):
        return event.is_serious


@admin.register(ChartAmendment)
class ChartAmendmentAdmin(ReadOnlyAdmin):
    patient_of = "chart.plan.patient"
    list_display = ["chart", "amended_by", "amended_at", "reason"]
    list_filter = [("amended_by", admin.RelatedOnlyFieldListFilter)]
    search_fields = ["chart__plan__patient__last_name", "chart__plan__patient__first_name", "reason"]
    date_hierarchy = "amended_at"
    list_select_related = ["chart__plan__patient", "amended_by"]


@admin.register(AftercareCheckIn)
class AftercareCheckInAdmin(ReadOnlyAdmin):
    """What patients reported after a visit; the treating therapist acknowledges alerts."""

    patient_of = "appointment.patient"
    list_display = [
        "submitted_at",
        "appointment__patient",
        "appointment__therapist",
        "soreness",
        "leg_pain",
        "alert",
        "acknowledged_at",
    ]
    list_filter = ["alert", ("acknowledged_at", admin.EmptyFieldListFilter)]
    search_fields = ["appointment__patient__last_name", "appointment__patient__first_name"]
    date_hierarchy = "submitted_at"
    list_select_related = ["appointment__patient", "appointment__therapist"]
