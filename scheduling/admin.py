from django.contrib import admin

from clinic import roles
from patients.admin import HistoryAdmin, ReadOnlyAdmin, RecordInline
from scheduling import reminders
from scheduling.models import (
    Appointment,
    AppointmentChange,
    AppointmentSeries,
    AppointmentType,
    CalendarFeed,
    ClinicClosure,
    ClinicHours,
    DayTotal,
    EmailWording,
    Reminder,
    Room,
    WorkingHours,
    WorkingHoursException,
)


@admin.register(Room)
class RoomAdmin(admin.ModelAdmin):
    list_display = ["name", "is_active"]
    list_filter = ["is_active"]
    search_fields = ["name"]


@admin.register(AppointmentType)
class AppointmentTypeAdmin(admin.ModelAdmin):
    list_display = ["name", "default_minutes", "purpose", "involves_needling", "is_active"]
    list_filter = ["purpose", "involves_needling", "is_active"]
    search_fields = ["name"]


class TherapistFieldAdmin(admin.ModelAdmin):
    """Rows that belong to a therapist: the form offers only therapists."""

    def formfield_for_foreignkey(self, db_field, request, **kwargs):
        if db_field.name == "therapist":
            kwargs["queryset"] = roles.therapists()
        return super().formfield_for_foreignkey(db_field, request, **kwargs)


THERAPIST_SEARCH = ["therapist__last_name", "therapist__first_name", "therapist__username"]


@admin.register(WorkingHours)
class WorkingHoursAdmin(TherapistFieldAdmin):
    list_display = ["therapist", "weekday", "starts_at", "ends_at"]
    list_filter = [("therapist", admin.RelatedOnlyFieldListFilter), "weekday"]
    search_fields = THERAPIST_SEARCH
    list_select_related = ["therapist"]


@admin.register(WorkingHoursException)
class WorkingHoursExceptionAdmin(TherapistFieldAdmin):
    """Holidays, time off and changed days of a therapist."""

    list_display = ["date", "therapist", "starts_at", "ends_at", "reason"]
    list_filter = [("therapist", admin.RelatedOnlyFieldListFilter), ("starts_at", admin.EmptyFieldListFilter)]
    search_fields = [*THERAPIST_SEARCH, "reason"]
    date_hierarchy = "date"
    list_select_related = ["therapist"]


@admin.register(ClinicHours)
class ClinicHoursAdmin(admin.ModelAdmin):
    """When the clinic is open, one row per weekday (no row: closed that day)."""

    list_display = ["weekday", "opens_at", "closes_at"]


@admin.register(ClinicClosure)
class ClinicClosureAdmin(admin.ModelAdmin):
    list_display = ["date", "reason"]
    search_fields = ["reason"]
    date_hierarchy = "date"


class AppointmentChangeInline(RecordInline):
    model = AppointmentChange
    fields = ["changed_at", "changed_by", "action", "detail"]

    def get_queryset(self, request):
        return super().get_queryset(request).select_related("changed_by")


@admin.register(Appointment)
class AppointmentAdmin(admin.ModelAdmin):
    """Appointments are booked and changed at the front desk, where every
    change is checked and recorded; here they are read."""

    list_display = [
        "starts_at",
        "patient",
        "therapist",
        "room",
        "appointment_type",
        "status",
        "late_cancellation",
    ]
    list_filter = [
        "status",
        "late_cancellation",
        ("therapist", admin.RelatedOnlyFieldListFilter),
        "room",
        "appointment_type",
    ]
    search_fields = ["patient__last_name", "patient__first_name", *THERAPIST_SEARCH]
    date_hierarchy = "starts_at"
    list_select_related = ["patient", "therapist", "room", "appointment_type"]
    inlines = [AppointmentChangeInline]

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


@admin.register(DayTotal)
class DayTotalAdmin(ReadOnlyAdmin):
    """What the dashboard counts each therapist's day from, kept by the
    booking services (scheduling/totals.py): read here, never edited."""

    list_display = [
        "day",
        "therapist",
        "room",
        "occupying",
        "booked_minutes",
        "no_shows",
        "late_cancellations",
    ]
    list_filter = [("therapist", admin.RelatedOnlyFieldListFilter), "room"]
    search_fields = THERAPIST_SEARCH
    date_hierarchy = "day"
    list_select_related = ["therapist", "room"]


@admin.register(AppointmentSeries)
class AppointmentSeriesAdmin(admin.ModelAdmin):
    list_display = ["description", "patient", "booked_by", "booked_at"]
    list_filter = [("booked_by", admin.RelatedOnlyFieldListFilter)]
    search_fields = ["patient__last_name", "patient__first_name", "description"]
    date_hierarchy = "booked_at"
    list_select_related = ["patient", "booked_by"]

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


@admin.register(CalendarFeed)
class CalendarFeedAdmin(admin.ModelAdmin):
    """Therapists' calendar feeds. The token is a secret and never shown;
    a therapist gets theirs on their My calendar page."""

    list_display = ["therapist", "created_at", "revoked_at"]
    list_filter = [("revoked_at", admin.EmptyFieldListFilter)]
    search_fields = THERAPIST_SEARCH
    list_select_related = ["therapist"]
    fields = ["therapist", "created_at", "revoked_at"]
    readonly_fields = fields
    actions = ["revoke"]

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_revoke_permission(self, request):
        return request.user.has_perm("scheduling.change_calendarfeed")

    @admin.action(description="Revoke the selected feeds", permissions=["revoke"])
    def revoke(self, request, queryset):
        from scheduling import services

        for feed in queryset:
            services.calendar_feed_revoke(feed=feed)
        self.message_user(request, f"Revoked {len(queryset)} calendar feed(s).")


@admin.register(Reminder)
class ReminderAdmin(admin.ModelAdmin):
    """The outbox: pending, sent and failed emails, each as it was sent. A
    failed one can be sent again."""

    list_display = ["due_at", "kind", "appointment", "status", "attempts", "sent_at", "last_error"]
    list_filter = ["status", "kind"]
    date_hierarchy = "due_at"
    search_fields = ["appointment__patient__last_name", "appointment__patient__first_name", "subject"]
    list_select_related = ["appointment__patient", "appointment__therapist"]
    fields = [
        "appointment",
        "kind",
        "status",
        "due_at",
        "attempts",
        "last_error",
        "sent_at",
        "subject",
        "body_text",
        "body_html",
    ]
    readonly_fields = fields
    actions = ["resend"]

    @admin.action(description="Send the selected failed reminders again", permissions=["change"])
    def resend(self, request, queryset):
        failed = list(queryset.filter(status=Reminder.Status.FAILED))
        for reminder in failed:
            reminders.resend(reminder)
        self.message_user(request, f"{len(failed)} reminder(s) queued to be sent again.")

    def has_add_permission(self, request):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


@admin.register(EmailWording)
class EmailWordingAdmin(HistoryAdmin):
    """The clinic's own wording of a patient email. Variables: patient,
    appointment, appointments (a booking's sessions), muscles, advice,
    next_appointment, appointment_link, checkin_url, unsubscribe_url,
    clinic_name, clinic_phone, clinic_address. Without a wording here, the
    default in templates/emails/ is used."""

    list_display = ["kind", "subject"]
    search_fields = ["subject", "body_text"]
