from django.contrib import admin

from scheduling.models import Appointment, AppointmentType, Room, WorkingHours


@admin.register(Room)
class RoomAdmin(admin.ModelAdmin):
    list_display = ["name", "is_active"]
    list_filter = ["is_active"]
    search_fields = ["name"]


@admin.register(AppointmentType)
class AppointmentTypeAdmin(admin.ModelAdmin):
    list_display = ["name", "default_minutes", "is_active"]
    list_filter = ["is_active"]


@admin.register(WorkingHours)
class WorkingHoursAdmin(admin.ModelAdmin):
    list_display = ["therapist", "weekday", "starts_at", "ends_at"]
    list_filter = ["therapist", "weekday"]


@admin.register(Appointment)
class AppointmentAdmin(admin.ModelAdmin):
    list_display = [
        "starts_at",
        "patient",
        "therapist",
        "room",
        "appointment_type",
        "status",
    ]
    list_filter = ["status", "therapist", "room", "appointment_type"]
    search_fields = ["patient__last_name", "patient__first_name"]
    date_hierarchy = "starts_at"
    list_select_related = ["patient", "therapist", "room", "appointment_type"]
    raw_id_fields = ["patient"]
