from django.contrib import admin

from patients.models import Patient


@admin.register(Patient)
class PatientAdmin(admin.ModelAdmin):
    list_display = [
        "last_name",
        "first_name",
        "date_of_birth",
        "phone",
        "email",
        "email_consent",
        "archived_at",
    ]
    list_filter = ["email_consent", ("archived_at", admin.EmptyFieldListFilter)]
    search_fields = ["last_name", "first_name", "email", "phone"]
    date_hierarchy = "created_at"

    def has_delete_permission(self, request, obj=None):
        return False
