from operator import attrgetter

from django.contrib import admin
from django.core.exceptions import PermissionDenied
from django.http import Http404
from simple_history.admin import SimpleHistoryAdmin

from clinic import roles
from patients import audit
from patients.models import (
    RED_FLAG_CATEGORIES,
    Assessment,
    AuditCheckpoint,
    AuditEvent,
    Consent,
    ConsentText,
    Patient,
    Screening,
    ScreeningAnswer,
    ScreeningItem,
)
from patients.services import patient_save


class ReadOnlyAdmin(admin.ModelAdmin):
    """Clinical records are written through the clinic's pages, never here,
    and never deleted. Opening one here is a read in the access log, as on
    the clinic's pages: `patient_of` names the row's patient ("plan.patient")."""

    patient_of = None

    def change_view(self, request, object_id, form_url="", extra_context=None):
        response = super().change_view(request, object_id, form_url, extra_context)
        original = getattr(response, "context_data", {}).get("original")
        if self.patient_of and original is not None and response.status_code == 200:
            audit.record(
                action=AuditEvent.Action.READ,
                user=request.user,
                patient_id=attrgetter(f"{self.patient_of}_id")(original),
                what=f"{self.model._meta.verbose_name} {original.pk} (admin)",
                ip_address=audit.client_ip(request),
            )
        return response

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


class HistoryAdmin(SimpleHistoryAdmin):
    """An admin that shows every version of a row. simple_history saves a
    version posted from its history page with only the view permission
    checked; here reverting needs the change permission, as any change does."""

    def history_view(self, request, object_id, extra_context=None):
        if not str(object_id).isdigit():
            raise Http404  # simple_history would fail on a non-numeric id
        return super().history_view(request, object_id, extra_context)

    def history_form_view(self, request, object_id, version_id, extra_context=None):
        if not (str(object_id).isdigit() and str(version_id).isdigit()):
            raise Http404
        if request.method == "POST" and not self.has_change_permission(request):
            raise PermissionDenied
        return super().history_form_view(request, object_id, version_id, extra_context)


class RecordInline(admin.TabularInline):
    """Rows that are part of a clinical record (a screening's answers, a
    chart's needlings), shown on it as they were written: whoever may read the
    record reads them, and nobody adds, changes or deletes them here."""

    extra = 0
    can_delete = False

    def has_view_permission(self, request, obj=None):
        return self.admin_site.get_model_admin(self.parent_model).has_view_permission(request, obj)

    def has_add_permission(self, request, obj=None):
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
    list_filter = [
        "email_consent",
        ("treating_therapist", admin.RelatedOnlyFieldListFilter),
        ("archived_at", admin.EmptyFieldListFilter),
    ]
    search_fields = ["last_name", "first_name", "email", "phone"]
    date_hierarchy = "created_at"
    list_select_related = ["treating_therapist"]
    # Archiving is done on the patient's page; the consent date follows the box.
    readonly_fields = ["email_consent_changed_at", "archived_at", "created_at"]

    def formfield_for_foreignkey(self, db_field, request, **kwargs):
        if db_field.name == "treating_therapist":
            kwargs["queryset"] = roles.therapists()
        return super().formfield_for_foreignkey(db_field, request, **kwargs)

    def save_model(self, request, obj, form, change):
        patient_save(patient=obj, email_consent_before=form.initial.get("email_consent"))

    def has_delete_permission(self, request, obj=None):
        return False  # archived, never deleted


@admin.register(ScreeningItem)
class ScreeningItemAdmin(HistoryAdmin):
    """The screening rules table. Every change is kept in its history."""

    list_display = ["question", "code", "category", "is_active", "asked_after_visit", "position"]
    list_filter = ["category", "is_active", "asked_after_visit"]
    search_fields = ["question", "code", "guidance"]
    ordering = ["position"]

    def get_readonly_fields(self, request, obj=None):
        # A red flag's category and switch are fixed: no setting removes a red flag.
        if obj is not None and obj.category in RED_FLAG_CATEGORIES:
            return ["code", "category", "is_active"]
        return ["code"] if obj is not None else []

    def has_delete_permission(self, request, obj=None):
        return False  # answers refer to items; switch one off instead


class ScreeningAnswerInline(RecordInline):
    model = ScreeningAnswer
    fields = ["item", "answer", "category", "acknowledgement"]

    def get_queryset(self, request):
        return super().get_queryset(request).select_related("item")


@admin.register(Screening)
class ScreeningAdmin(ReadOnlyAdmin):
    patient_of = "patient"
    list_display = ["patient", "therapist", "result", "created_at", "signed_at", "valid_until"]
    list_filter = [
        "result",
        ("signed_at", admin.EmptyFieldListFilter),
        ("therapist", admin.RelatedOnlyFieldListFilter),
    ]
    search_fields = ["patient__last_name", "patient__first_name"]
    date_hierarchy = "created_at"
    list_select_related = ["patient", "therapist"]
    inlines = [ScreeningAnswerInline]


@admin.register(ConsentText)
class ConsentTextAdmin(admin.ModelAdmin):
    """A consent text is never edited: the clinic admin adds a new version,
    and every consent keeps pointing at the version the patient agreed to."""

    list_display = ["version", "title", "published_at", "published_by"]
    search_fields = ["title", "body"]
    date_hierarchy = "published_at"
    list_select_related = ["published_by"]

    def get_fields(self, request, obj=None):
        if obj is None:
            return ["title", "body"]
        return ["version", "title", "body", "published_at", "published_by"]

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
    patient_of = "patient"
    list_display = ["patient", "consent_text", "method", "witnessed_by", "given_at", "withdrawn_at"]
    list_filter = ["method", "consent_text", ("withdrawn_at", admin.EmptyFieldListFilter)]
    search_fields = ["patient__last_name", "patient__first_name"]
    date_hierarchy = "given_at"
    list_select_related = ["patient", "consent_text", "witnessed_by"]


@admin.register(Assessment)
class AssessmentAdmin(ReadOnlyAdmin):
    patient_of = "patient"
    list_display = ["patient", "kind", "assessed_at", "therapist", "leg_pain", "back_pain", "odi_percent"]
    list_filter = ["kind", ("therapist", admin.RelatedOnlyFieldListFilter)]
    search_fields = ["patient__last_name", "patient__first_name"]
    date_hierarchy = "assessed_at"
    list_select_related = ["patient", "therapist"]


@admin.register(AuditEvent)
class AuditEventAdmin(ReadOnlyAdmin):
    """The access log: who read or wrote which record of which patient, who
    was refused, who logged in. Search by patient name or username."""

    list_display = ["accessed_at", "username", "action", "allowed", "patient", "record", "ip_address"]
    list_filter = ["action", "allowed", ("user", admin.RelatedOnlyFieldListFilter)]
    search_fields = ["patient__last_name", "patient__first_name", "username", "record"]
    date_hierarchy = "accessed_at"
    list_select_related = ["user", "patient"]
    actions = None


@admin.register(AuditCheckpoint)
class AuditCheckpointAdmin(ReadOnlyAdmin):
    """The sealer's signed checkpoints of the access log; each line is also
    in the log stream, for `manage.py verify_audit_log --checkpoint`."""

    list_display = ["created_at", "row_count", "head_id", "key_id"]
    fields = readonly_fields = ["created_at", "row_count", "head_id", "head_seal", "key_id", "line"]
    date_hierarchy = "created_at"
    actions = None

    @admin.display(description="checkpoint line")
    def line(self, checkpoint):
        return checkpoint.line()
