from django.contrib import admin
from simple_history.admin import SimpleHistoryAdmin

from patients.models import (
    RED_FLAG_CATEGORIES,
    Assessment,
    ClinicalRecordAccess,
    Consent,
    ConsentText,
    Patient,
    Screening,
    ScreeningAnswer,
    ScreeningItem,
)


class ReadOnlyAdmin(admin.ModelAdmin):
    """Clinical records are written through the clinic's pages, never here,
    and never deleted."""

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


@admin.register(Patient)
class PatientAdmin(admin.ModelAdmin):
    list_display = [
        "last_name",
        "first_name",
        "date_of_birth",
        "phone",
        "email",
        "treating_therapist",
        "email_consent",
        "archived_at",
    ]
    list_filter = ["email_consent", "treating_therapist", ("archived_at", admin.EmptyFieldListFilter)]
    search_fields = ["last_name", "first_name", "email", "phone"]
    date_hierarchy = "created_at"
    list_select_related = ["treating_therapist"]

    def has_delete_permission(self, request, obj=None):
        return False


@admin.register(ScreeningItem)
class ScreeningItemAdmin(SimpleHistoryAdmin):
    """The screening rules table. Every change is kept in its history."""

    list_display = ["question", "category", "is_active", "position"]
    list_filter = ["category", "is_active"]
    search_fields = ["question", "code"]
    ordering = ["position"]

    def get_readonly_fields(self, request, obj=None):
        # A red flag's category and switch are fixed: no setting removes a red flag.
        if obj is not None and obj.category in RED_FLAG_CATEGORIES:
            return ["code", "category", "is_active"]
        return ["code"] if obj is not None else []

    def has_delete_permission(self, request, obj=None):
        return False  # answers refer to items; switch one off instead


class ScreeningAnswerInline(admin.TabularInline):
    model = ScreeningAnswer
    fields = ["item", "answer", "category", "acknowledgement"]
    readonly_fields = fields
    can_delete = False
    extra = 0

    def has_add_permission(self, request, obj=None):
        return False


@admin.register(Screening)
class ScreeningAdmin(ReadOnlyAdmin):
    list_display = ["patient", "therapist", "result", "signed_at", "valid_until"]
    list_filter = ["result", ("signed_at", admin.EmptyFieldListFilter)]
    search_fields = ["patient__last_name", "patient__first_name"]
    list_select_related = ["patient", "therapist"]
    inlines = [ScreeningAnswerInline]


@admin.register(ConsentText)
class ConsentTextAdmin(admin.ModelAdmin):
    """A consent text is never edited: the clinic admin adds a new version,
    and every consent keeps pointing at the version the patient agreed to."""

    list_display = ["version", "title", "published_at", "published_by"]
    fields = ["title", "body"]

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False

    def save_model(self, request, obj, form, change):
        from patients.services import consent_text_publish

        published = consent_text_publish(title=obj.title, body=obj.body, published_by=request.user)
        obj.pk, obj.version = published.pk, published.version


@admin.register(Consent)
class ConsentAdmin(ReadOnlyAdmin):
    list_display = ["patient", "consent_text", "method", "witnessed_by", "given_at", "withdrawn_at"]
    list_filter = ["method", "consent_text"]
    list_select_related = ["patient", "consent_text", "witnessed_by"]


@admin.register(Assessment)
class AssessmentAdmin(ReadOnlyAdmin):
    list_display = ["patient", "kind", "assessed_at", "therapist", "leg_pain", "back_pain", "odi_percent"]
    list_filter = ["kind"]
    list_select_related = ["patient", "therapist"]


@admin.register(ClinicalRecordAccess)
class ClinicalRecordAccessAdmin(ReadOnlyAdmin):
    list_display = ["accessed_at", "user", "patient", "record"]
    list_filter = ["user"]
    search_fields = ["record", "patient__last_name"]
    date_hierarchy = "accessed_at"
    list_select_related = ["user", "patient"]
