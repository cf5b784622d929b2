from django.contrib import admin
from simple_history.admin import SimpleHistoryAdmin

from patients.admin import ReadOnlyAdmin
from treatments.models import AdverseEvent, AftercareItem, ChartAmendment, Muscle, SessionChart, TreatmentPlan


@admin.register(Muscle)
class MuscleAdmin(admin.ModelAdmin):
    list_display = ["name", "region", "position", "is_active"]
    list_filter = ["region", "is_active"]
    search_fields = ["name"]

    def has_delete_permission(self, request, obj=None):
        return False  # charts refer to muscles; switch one off instead


@admin.register(AftercareItem)
class AftercareItemAdmin(SimpleHistoryAdmin):
    """The aftercare advice: the checklist on each chart and the text the emails send."""

    list_display = ["title", "position", "is_active"]
    list_filter = ["is_active"]

    def has_delete_permission(self, request, obj=None):
        return False


@admin.register(TreatmentPlan)
class TreatmentPlanAdmin(ReadOnlyAdmin, SimpleHistoryAdmin):
    list_display = ["patient", "therapist", "severity", "planned_sessions", "status", "created_at"]
    list_filter = ["status", "severity", "therapist"]
    search_fields = ["patient__last_name", "patient__first_name"]
    list_select_related = ["patient", "therapist"]


class AdverseEventInline(admin.TabularInline):
    model = AdverseEvent
    fields = ["kind", "severity", "notes"]
    readonly_fields = fields
    extra = 0
    can_delete = False

    def has_add_permission(self, request, obj=None):
        return False


@admin.register(SessionChart)
class SessionChartAdmin(ReadOnlyAdmin):
    list_display = ["plan", "session_number", "therapist", "procedure_code", "signed_at"]
    list_filter = [("signed_at", admin.EmptyFieldListFilter), "procedure_code"]
    list_select_related = ["plan__patient", "therapist"]
    inlines = [AdverseEventInline]


@admin.register(ChartAmendment)
class ChartAmendmentAdmin(ReadOnlyAdmin):
    list_display = ["chart", "amended_by", "amended_at", "reason"]
    list_select_related = ["chart__plan__patient", "amended_by"]
