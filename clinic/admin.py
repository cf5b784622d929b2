from django.contrib import admin
from django.contrib.auth import get_user_model
from django.contrib.auth.admin import UserAdmin

from clinic.models import WorkerHeartbeat

User = get_user_model()

admin.site.site_header = "Clinic settings"
admin.site.site_title = "Clinic settings"


@admin.register(WorkerHeartbeat)
class WorkerHeartbeatAdmin(admin.ModelAdmin):
    """Proof that beat, broker and worker all work: written by the workers, read here."""

    list_display = ["worker", "last_seen_at"]
    search_fields = ["worker"]

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False


class ClinicUserAdmin(UserAdmin):
    """Staff accounts. A clinic admin gives roles (groups), switches accounts
    off and sets new passwords; only a superuser grants superuser status or
    single permissions, or touches a superuser's account."""

    def get_fieldsets(self, request, obj=None):
        fieldsets = super().get_fieldsets(request, obj)
        if request.user.is_superuser:
            return fieldsets
        hidden = {"is_superuser", "user_permissions"}
        return [
            (name, {**options, "fields": [f for f in options["fields"] if f not in hidden]})
            for name, options in fieldsets
        ]

    def has_change_permission(self, request, obj=None):
        if obj is not None and obj.is_superuser and not request.user.is_superuser:
            return False
        return super().has_change_permission(request, obj)


admin.site.unregister(User)
admin.site.register(User, ClinicUserAdmin)
