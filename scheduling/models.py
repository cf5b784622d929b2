import datetime
import re

from django.conf import settings
from django.db import models
from django.db.models import F, Q
from django.utils import timezone
from django.utils.functional import cached_property
from simple_history.models import HistoricalRecords

from patients import gate
from patients.models import Patient


class Room(models.Model):
    name = models.CharField(max_length=100, unique=True)
    is_active = models.BooleanField(default=True)

    class Meta:
        ordering = ["name"]

    def __str__(self):
        return self.name


class AppointmentType(models.Model):
    class Purpose(models.TextChoices):
        FIRST_ASSESSMENT = "first_assessment", "First assessment"
        REASSESSMENT = "reassessment", "Re-assessment"
        TREATMENT = "treatment", "Treatment session"

    name = models.CharField(max_length=100, unique=True)
    default_minutes = models.PositiveSmallIntegerField()
    purpose = models.CharField(max_length=20, choices=Purpose.choices, default=Purpose.TREATMENT)
    involves_needling = models.BooleanField(
        "involves dry needling",
        default=True,
        help_text="Booked only for a patient cleared for needling on the day of the visit.",
    )
    is_active = models.BooleanField(default=True)

    class Meta:
        ordering = ["name"]
        constraints = [
            models.CheckConstraint(
                condition=Q(default_minutes__gte=5, default_minutes__lte=480),
                name="appointment_type_length_range",
            )
        ]

    def __str__(self):
        return f"{self.name} ({self.default_minutes} min)"


class WorkingHours(models.Model):
    """One block of a therapist's regular week, in clinic local time."""

    class Weekday(models.IntegerChoices):
        MONDAY = 0, "Monday"
        TUESDAY = 1, "Tuesday"
        WEDNESDAY = 2, "Wednesday"
        THURSDAY = 3, "Thursday"
        FRIDAY = 4, "Friday"
        SATURDAY = 5, "Saturday"
        SUNDAY = 6, "Sunday"

    therapist = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="working_hours"
    )
    weekday = models.PositiveSmallIntegerField(choices=Weekday.choices)
    starts_at = models.TimeField()
    ends_at = models.TimeField()

    class Meta:
        ordering = ["therapist", "weekday", "starts_at"]
        verbose_name_plural = "working hours"
        constraints = [
            models.CheckConstraint(
                condition=Q(ends_at__gt=F("starts_at")),
                name="working_hours_end_after_start",
            ),
            models.UniqueConstraint(
                fields=["therapist", "weekday", "starts_at"],
                name="working_hours_unique_start",
            ),
        ]

    def __str__(self):
        return f"{self.get_weekday_display()} {self.starts_at:%H:%M}-{self.ends_at:%H:%M}"


class WorkingHoursException(models.Model):
    """A day when a therapist's regular hours do not apply: a day off (no
    hours) or a changed day (these hours instead)."""

    therapist = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="working_hours_exceptions"
    )
    date = models.DateField()
    starts_at = models.TimeField(null=True, blank=True, help_text="Empty for a day off.")
    ends_at = models.TimeField(null=True, blank=True)
    reason = models.CharField(max_length=200, blank=True)

    class Meta:
        ordering = ["date", "therapist"]
        constraints = [
            models.UniqueConstraint(fields=["therapist", "date"], name="working_hours_exception_once_a_day"),
            models.CheckConstraint(
                condition=Q(starts_at__isnull=True, ends_at__isnull=True) | Q(ends_at__gt=F("starts_at")),
                name="working_hours_exception_end_after_start",
            ),
        ]

    def __str__(self):
        if self.starts_at is None:
            return f"{self.therapist} off on {self.date}"
        return f"{self.therapist} on {self.date}: {self.starts_at:%H:%M}-{self.ends_at:%H:%M}"

    @property
    def is_day_off(self):
        return self.starts_at is None


class ClinicHours(models.Model):
    """When the clinic is open, per weekday, in clinic local time."""

    weekday = models.PositiveSmallIntegerField(choices=WorkingHours.Weekday.choices, unique=True)
    opens_at = models.TimeField()
    closes_at = models.TimeField()

    class Meta:
        ordering = ["weekday"]
        verbose_name_plural = "clinic hours"
        constraints = [
            models.CheckConstraint(
                condition=Q(closes_at__gt=F("opens_at")), name="clinic_hours_close_after_open"
            )
        ]

    def __str__(self):
        return f"{self.get_weekday_display()} {self.opens_at:%H:%M}-{self.closes_at:%H:%M}"


class ClinicClosure(models.Model):
    """A day the whole clinic is closed (a public holiday, say)."""

    date = models.DateField(unique=True)
    reason = models.CharField(max_length=200)

    class Meta:
        ordering = ["date"]

    def __str__(self):
        return f"{self.date}: {self.reason}"


class AppointmentSeries(models.Model):
    """Appointments booked together, for example the sessions of a treatment plan."""

    patient = models.ForeignKey(Patient, on_delete=models.PROTECT, related_name="appointment_series")
    description = models.CharField(max_length=200)
    booked_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    booked_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-booked_at"]
        verbose_name_plural = "appointment series"

    def __str__(self):
        return f"{self.description} for {self.patient}"


class Overlaps(models.Func):
    """The half-open time range [starts_at, ends_at) of a row overlaps [start, end).

    On PostgreSQL it is written as the exclusion constraints' own expression
    (migration 0004), so the planner answers it from their GiST indexes rather
    than scanning every past appointment; elsewhere as two comparisons."""

    output_field = models.BooleanField()
    conditional = True

    def __init__(self, start, end, *, starts_at="starts_at", ends_at="ends_at"):
        super().__init__(F(starts_at), F(ends_at), models.Value(start), models.Value(end))

    def _parts(self, compiler, connection):
        compiled = [compiler.compile(expression) for expression in self.get_source_expressions()]
        return [sql for sql, _ in compiled], [params for _, params in compiled]

    def as_sql(self, compiler, connection, **extra_context):
        (starts_at, ends_at, start, end), params = self._parts(compiler, connection)
        sql = f"({starts_at} < {end} AND {ends_at} > {start})"
        return sql, (*params[0], *params[3], *params[1], *params[2])

    def as_postgresql(self, compiler, connection, **extra_context):
        (starts_at, ends_at, start, end), params = self._parts(compiler, connection)
        sql = f"tstzrange({starts_at}, {ends_at}, '[)') && tstzrange({start}, {end}, '[)')"
        return sql, (*params[0], *params[1], *params[2], *params[3])


class AppointmentQuerySet(models.QuerySet):
    def on_day(self, day):
        """Appointments starting on a clinic-local calendar day."""
        start = timezone.make_aware(datetime.datetime.combine(day, datetime.time.min))
        return self.filter(starts_at__gte=start, starts_at__lt=start + datetime.timedelta(days=1))

    def for_therapist(self, therapist):
        return self.filter(therapist=therapist)

    def occupying(self):
        """Appointments that hold their time: every one but the cancelled."""
        return self.exclude(status=Appointment.Status.CANCELLED)

    def with_patient_clearance(self):
        """Annotate what `Appointment.clearance_problems` reads."""
        return self.annotate(**gate.annotations("patient"))

    def overlapping(self, starts_at, ends_at):
        """Half-open ranges: one ending at 10:00 does not overlap one starting at 10:00."""
        return self.filter(Overlaps(starts_at, ends_at))


class Appointment(models.Model):
    class Status(models.TextChoices):
        BOOKED = "booked", "Booked"
        CONFIRMED = "confirmed", "Confirmed"
        CHECKED_IN = "checked_in", "Checked in"
        COMPLETED = "completed", "Completed"
        NO_SHOW = "no_show", "No-show"
        CANCELLED = "cancelled", "Cancelled"

    class CancelledBy(models.TextChoices):
        CLINIC = "clinic", "The clinic"
        PATIENT = "patient", "The patient"

    patient = models.ForeignKey(Patient, on_delete=models.PROTECT, related_name="appointments")
    therapist = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="appointments"
    )
    room = models.ForeignKey(Room, on_delete=models.PROTECT, related_name="appointments")
    appointment_type = models.ForeignKey(AppointmentType, on_delete=models.PROTECT)
    starts_at = models.DateTimeField()
    ends_at = models.DateTimeField()
    status = models.CharField(max_length=12, choices=Status.choices, default=Status.BOOKED)
    series = models.ForeignKey(
        AppointmentSeries, on_delete=models.PROTECT, null=True, blank=True, related_name="appointments"
    )
    cancelled_by = models.CharField(max_length=8, choices=CancelledBy.choices, blank=True)
    late_cancellation = models.BooleanField(default=False)
    created_at = models.DateTimeField(default=timezone.now, editable=False)
    # When anything a calendar shows last changed: the feeds' ETag and
    # Last-Modified. Services that change a row with update() set it too.
    updated_at = models.DateTimeField(auto_now=True)

    objects = AppointmentQuerySet.as_manager()

    class Meta:
        ordering = ["starts_at", "id"]
        indexes = [
            models.Index(fields=["therapist", "starts_at"], name="appointment_therapist_idx"),
            models.Index(fields=["room", "starts_at"], name="appointment_room_idx"),
            models.Index(fields=["patient", "starts_at"], name="appointment_patient_idx"),
            models.Index(fields=["starts_at"], name="appointment_start_idx"),
        ]
        constraints = [
            models.CheckConstraint(
                condition=Q(ends_at__gt=F("starts_at")),
                name="appointment_end_after_start",
            ),
        ]

    def __str__(self):
        local = timezone.localtime(self.starts_at)
        return f"{self.patient} with {self.therapist} on {local:%Y-%m-%d %H:%M}"

    def as_visit(self) -> gate.Visit:
        """This appointment as the clinical gate sees it."""
        return gate.Visit(
            starts_at=self.starts_at,
            involves_needling=self.appointment_type.involves_needling,
            is_reassessment=self.appointment_type.purpose == AppointmentType.Purpose.REASSESSMENT,
            checked_in=self.status == self.Status.CHECKED_IN,
        )

    @cached_property
    def clearance_problems(self) -> list[str]:
        """Why the patient may not be needled on this visit's day, from the
        annotations of `with_patient_clearance()`; empty when cleared."""
        day = timezone.localdate(self.starts_at)
        return gate.Clearance.from_row(self, day).problems_on(day)

    @property
    def needling_not_cleared(self) -> bool:
        """A needling visit on a day its patient is not cleared for: the front
        desk and the therapist are warned."""
        return self.appointment_type.involves_needling and bool(self.clearance_problems)

    @property
    def check_in_opens_at(self):
        return gate.check_in_window(self.starts_at)[0]

    @property
    def check_in_closes_at(self):
        return gate.check_in_window(self.starts_at)[1]


class AppointmentChange(models.Model):
    """Who changed an appointment, when, and how: booking, status changes,
    reschedules and cancellations, all kept."""

    appointment = models.ForeignKey(Appointment, on_delete=models.CASCADE, related_name="changes")
    changed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
        help_text="Empty when the patient acted through their link.",
    )
    changed_at = models.DateTimeField(default=timezone.now)
    action = models.CharField(max_length=30)
    detail = models.JSONField(default=dict, blank=True)

    class Meta:
        ordering = ["changed_at", "id"]

    def __str__(self):
        return f"{self.action} of appointment {self.appointment_id} at {self.changed_at:%Y-%m-%d %H:%M}"


def calendar_feed_token():
    """A fresh secret for a calendar feed's address."""
    import secrets

    return secrets.token_urlsafe(32)


class CalendarFeed(models.Model):
    """A therapist's private calendar address: anyone holding the token can
    read their appointments, so it can be revoked and replaced."""

    therapist = models.OneToOneField(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="calendar_feed"
    )
    token = models.CharField(max_length=64, unique=True, default=calendar_feed_token, editable=False)
    created_at = models.DateTimeField(default=timezone.now)
    revoked_at = models.DateTimeField(null=True, blank=True)

    def __str__(self):
        state = "revoked" if self.revoked_at else "active"
        return f"Calendar feed of {self.therapist} ({state})"

    @property
    def is_active(self):
        return self.revoked_at is None


class Reminder(models.Model):
    """The outbox: one email to a patient about an appointment, written in the
    same transaction as the change that causes it, and sent once by the
    dispatcher (scheduling/reminders.py)."""

    class Kind(models.TextChoices):
        BOOKING_CONFIRMATION = "booking_confirmation", "Booking confirmation"
        APPOINTMENT_REMINDER = "appointment_reminder", "Appointment reminder"
        AFTERCARE_SAME_DAY = "aftercare_same_day", "Aftercare, same day"
        AFTERCARE_24H = "aftercare_24h", "Aftercare at 24 hours"
        AFTERCARE_48H = "aftercare_48h", "Aftercare at 48 hours"

    class Status(models.TextChoices):
        PENDING = "pending", "Pending"
        SENDING = "sending", "Claimed for sending"
        DELIVERING = "delivering", "Being delivered"
        SENT = "sent", "Sent"
        FAILED = "failed", "Failed"
        CANCELLED = "cancelled", "Cancelled"
        SKIPPED = "skipped", "Not sent (no email consent)"

    appointment = models.ForeignKey(Appointment, on_delete=models.CASCADE, related_name="reminders")
    kind = models.CharField(max_length=24, choices=Kind.choices)
    due_at = models.DateTimeField()
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.PENDING)
    attempts = models.PositiveSmallIntegerField(default=0)
    last_error = models.TextField(blank=True)
    lease_until = models.DateTimeField(null=True, blank=True)
    sent_at = models.DateTimeField(null=True, blank=True)
    # What the change that caused it handed over (the sessions of a series,
    # the muscles and aftercare of a visit), and the email as sent.
    context = models.JSONField(default=dict, blank=True)
    subject = models.CharField(max_length=200, blank=True)
    body_text = models.TextField(blank=True)
    body_html = models.TextField(blank=True)
    created_at = models.DateTimeField(default=timezone.now, editable=False)

    class Meta:
        ordering = ["due_at", "id"]
        indexes = [
            models.Index(fields=["status", "due_at"], name="reminder_due_idx"),
            # The dashboard's "sent today", without reading every email ever sent.
            models.Index(fields=["status", "sent_at"], name="reminder_sent_idx"),
        ]
        constraints = [
            models.UniqueConstraint(fields=["appointment", "kind"], name="reminder_once_per_kind"),
        ]

    def __str__(self):
        return (
            f"{self.get_kind_display()} for appointment {self.appointment_id} ({self.get_status_display()})"
        )


# What the clinic's own email wording may not reach: the templates get whole
# model objects (a therapist's password hash is one lookup away), and the debug
# tag would print the whole context. (Django refuses names starting with _.)
FORBIDDEN_IN_WORDING = re.compile(r"\{[{%][^}]*password[^}]*[}%]\}|\{%\s*debug\b", re.IGNORECASE)


class EmailWording(models.Model):
    """The clinic's own wording of one kind of patient email, replacing the
    default in templates/emails/<kind>/ without a code change. Same template
    language and variables; every change is kept."""

    kind = models.CharField(max_length=24, choices=Reminder.Kind.choices, unique=True)
    subject = models.CharField(
        max_length=200, help_text="For example: Your appointment on {{ appointment.starts_at|date:'D j M' }}"
    )
    body_text = models.TextField("text version")
    body_html = models.TextField("HTML version")
    history = HistoricalRecords()

    class Meta:
        ordering = ["kind"]
        verbose_name = "email wording"

    def __str__(self):
        return self.get_kind_display()

    def clean(self):
        from django.core.exceptions import ValidationError
        from django.template import Template, TemplateSyntaxError

        for name in ("subject", "body_text", "body_html"):
            source = getattr(self, name)
            try:
                Template(source)
            except TemplateSyntaxError as error:
                raise ValidationError({name: f"This wording has a template error: {error}"}) from None
            if FORBIDDEN_IN_WORDING.search(source):
                raise ValidationError(
                    {
                        name: "Emails may show the patient's and the appointment's details only: "
                        "no password and no debug tag."
                    }
                )


class DayTotal(models.Model):
    """One therapist's appointments in one room on one clinic day, totalled:
    what the dashboard and the reports read instead of ten years of
    appointments. Kept by the services that write appointments, in their
    transaction (scheduling/totals.py); never edited by hand."""

    day = models.DateField()
    therapist = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    room = models.ForeignKey(Room, on_delete=models.CASCADE, related_name="+")
    occupying = models.PositiveIntegerField(help_text="Appointments that hold their time.")
    booked_minutes = models.PositiveIntegerField(help_text="Their minutes.")
    no_shows = models.PositiveIntegerField()
    late_cancellations = models.PositiveIntegerField(help_text="Cancelled late by the patient.")

    class Meta:
        ordering = ["day", "therapist", "room"]
        constraints = [
            models.UniqueConstraint(fields=["therapist", "day", "room"], name="day_total_once"),
        ]
        indexes = [models.Index(fields=["day"], name="day_total_day_idx")]

    def __str__(self):
        return f"{self.day} of therapist {self.therapist_id} in room {self.room_id}"
