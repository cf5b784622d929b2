from django.contrib import admin

from clinic.models import WorkerHeartbeat

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
