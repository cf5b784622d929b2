import datetime
import json
import re

import phonenumbers
from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.db.models import F, Q
from django.urls import reverse
from django.utils import timezone
from phonenumber_field.modelfields import PhoneNumberField
from simple_history.models import HistoricalRecords

from clinic import roles

PAIN_SCALE = [MinValueValidator(0), MaxValueValidator(10)]
ODI_SCALE = [MinValueValidator(0), MaxValueValidator(5)]
# The ten sections of the Oswestry Disability Index (version 2.1a), in order.
ODI_SECTIONS = [
    ("odi_pain_intensity", "Pain intensity"),
    ("odi_personal_care", "Personal care (washing, dressing)"),
    ("odi_lifting", "Lifting"),
    ("odi_walking", "Walking"),
    ("odi_sitting", "Sitting"),
    ("odi_standing", "Standing"),
    ("odi_sleeping", "Sleeping"),
    ("odi_sex_life", "Sex life (if applicable)"),
    ("odi_social_life", "Social life"),
    ("odi_travelling", "Travelling"),
]


def parse_date_of_birth(text):
    """A date typed as YYYY-MM-DD or MM/DD/YYYY, or None."""
    for pattern in ("%Y-%m-%d", "%m/%d/%Y"):
        try:
            return datetime.datetime.strptime(text, pattern).date()  # noqa: DTZ007 a calendar date
        except ValueError:
            continue
    return None


class PatientQuerySet(models.QuerySet):
    def active(self):
        return self.filter(archived_at__isnull=True)

    def clinically_visible_to(self, user):
        """Patients whose clinical records the user may read: every patient for
        the clinic admin; for a therapist, those assigned to them and those they
        have screened or assessed; none for anyone else."""
        if roles.is_clinic_admin(user):
            return self
        if not roles.is_therapist(user):
            return self.none()
        return self.filter(
            Q(treating_therapist=user)
            | Q(id__in=Screening.objects.filter(therapist=user).values("patient_id"))
            | Q(id__in=Assessment.objects.filter(therapist=user).values("patient_id"))
        )

    def search(self, query):
        """Patients matching a name, a date of birth, a phone number or an email."""
        query = query.strip()
        born = parse_date_of_birth(query)
        if born:
            return self.filter(date_of_birth=born)
        if "@" in query:
            return self.filter(email__istartswith=query)
        digits = re.sub(r"[^\d+]", "", query)
        if len(digits.lstrip("+")) >= 4 and not re.search(r"[A-Za-z]", query):
            try:
                number = phonenumbers.parse(query, settings.PHONENUMBER_DEFAULT_REGION)
            except phonenumbers.NumberParseException:
                number = None
            if number and phonenumbers.is_valid_number(number):
                return self.filter(
                    phone=phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)
                )
            return self.filter(phone__contains=digits.lstrip("+"))
        terms = query.split()
        if len(terms) == 1:
            # One word may also be the start of an email address.
            term = terms[0]
            return self.filter(
                Q(first_name__istartswith=term) | Q(last_name__istartswith=term) | Q(email__istartswith=term)
            )
        matches = self
        for term in terms:
            matches = matches.filter(Q(first_name__istartswith=term) | Q(last_name__istartswith=term))
        return matches

    def with_clearance(self):
        """Annotate what `patients.gate.Clearance.from_row` reads: the latest
        signed screening's result and expiry, and whether consent is current."""
        from patients import gate

        return self.annotate(**gate.annotations())


EMAIL_CONSENT_NEEDS_EMAIL = (
    "An email address is needed for email reminders: enter the patient's email, or untick the consent."
)


class Patient(models.Model):
    class Sex(models.TextChoices):
        FEMALE = "female", "Female"
        MALE = "male", "Male"
        INTERSEX = "intersex", "Intersex"
        UNDISCLOSED = "undisclosed", "Prefers not to say"

    first_name = models.CharField(max_length=100)
    last_name = models.CharField(max_length=100)
    date_of_birth = models.DateField()
    sex = models.CharField(max_length=12, choices=Sex.choices)
    email = models.EmailField(blank=True)
    phone = PhoneNumberField(blank=True)
    address_line = models.CharField("address", max_length=200, blank=True)
    city = models.CharField(max_length=100, blank=True)
    postal_code = models.CharField(max_length=20, blank=True)
    emergency_contact_name = models.CharField(max_length=200, blank=True)
    emergency_contact_phone = PhoneNumberField(blank=True)
    physician = models.CharField("GP / physician", max_length=200, blank=True)
    front_desk_notes = models.TextField(
        blank=True, help_text="Practical notes for the front desk; no clinical details."
    )
    email_consent = models.BooleanField("consents to email reminders", default=False)
    email_consent_changed_at = models.DateTimeField(null=True, blank=True)
    treating_therapist = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="assigned_patients",
        help_text="The therapist responsible for this patient's care; only the clinic admin reassigns.",
    )
    archived_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now, editable=False)

    objects = PatientQuerySet.as_manager()

    class Meta:
        ordering = ["last_name", "first_name", "id"]
        # Name and email prefix indexes for PostgreSQL: migration 0004.
        indexes = [
            models.Index(fields=["date_of_birth"], name="patient_dob_idx"),
            models.Index(fields=["phone"], name="patient_phone_idx"),
            models.Index(F("created_at").desc(), F("id").desc(), name="patient_newest_idx"),
            # The dashboard's active and new patients, counted from the index alone.
            models.Index(
                fields=["treating_therapist", "created_at"],
                condition=Q(archived_at__isnull=True),
                name="patient_active_idx",
            ),
        ]
        constraints = [
            models.CheckConstraint(
                condition=Q(email_consent=False) | ~Q(email=""),
                name="patient_email_consent_needs_email",
                violation_error_message=EMAIL_CONSENT_NEEDS_EMAIL,
            )
        ]

    def __str__(self):
        return self.full_name

    def get_absolute_url(self):
        return reverse("patients:detail", args=[self.pk])

    @property
    def full_name(self):
        return f"{self.first_name} {self.last_name}"

    @property
    def is_archived(self):
        return self.archived_at is not None

    def clean(self):
        errors = {}
        if self.date_of_birth and self.date_of_birth > timezone.localdate():
            errors["date_of_birth"] = "The date of birth cannot be in the future."
        if self.date_of_birth and self.date_of_birth < datetime.date(1900, 1, 1):
            errors["date_of_birth"] = "Check the year of birth: it is before 1900."
        # Also a constraint of the database; here the message goes to the box.
        if self.email_consent and not self.email:
            errors["email_consent"] = EMAIL_CONSENT_NEEDS_EMAIL
        if errors:
            raise ValidationError(errors)


class ScreeningCategory(models.TextChoices):
    """What a "yes" to a screening item means. Ordered from most to least serious."""

    REFER_URGENT = "refer_urgent", "Red flag: refer out urgently"
    REFER = "refer", "Red flag: refer out"
    NOT_CLEARED = "not_cleared", "Do not needle"
    PRECAUTION = "precaution", "Needle with precautions"


RED_FLAG_CATEGORIES = {ScreeningCategory.REFER_URGENT, ScreeningCategory.REFER}
# The categories a clinic admin may move an item between.
ADJUSTABLE_CATEGORIES = {ScreeningCategory.NOT_CLEARED, ScreeningCategory.PRECAUTION}


class ScreeningItem(models.Model):
    """One row of the screening rules table: a question and what a "yes" means."""

    code = models.SlugField(max_length=50, unique=True)
    question = models.CharField(max_length=200)
    category = models.CharField(max_length=20, choices=ScreeningCategory.choices)
    guidance = models.TextField(
        blank=True, help_text="What the therapist should do when the patient answers yes."
    )
    position = models.PositiveSmallIntegerField(default=100)
    is_active = models.BooleanField(default=True)
    asked_after_visit = models.BooleanField(
        "asked in the check-in after a visit",
        default=False,
        help_text="Asked again in the patient's check-in after each visit: only a red flag that is a "
        "symptom the patient can report since the visit (bladder or bowel change, saddle numbness, new leg "
        "weakness), never history (a past cancer, an earlier trauma).",
    )
    history = HistoricalRecords()

    class Meta:
        ordering = ["position", "id"]

    def __str__(self):
        return self.question

    @property
    def is_red_flag(self):
        return self.category in RED_FLAG_CATEGORIES

    def clean(self):
        before = (
            ScreeningItem.objects.filter(pk=self.pk).values("category", "is_active").first()
            if self.pk is not None
            else None
        )
        if before and before["category"] in RED_FLAG_CATEGORIES:
            if self.category != before["category"]:
                raise ValidationError(
                    {"category": "A red flag stays a red flag, and as urgent: no setting removes it."}
                )
            if not self.is_active:
                raise ValidationError({"is_active": "A red flag cannot be switched off."})
        if self.asked_after_visit and not self.is_red_flag:
            raise ValidationError(
                {"asked_after_visit": "Only a red flag is asked in the check-in after a visit."}
            )


class ScreeningQuerySet(models.QuerySet):
    def signed(self):
        return self.filter(signed_at__isnull=False)


class Screening(models.Model):
    """A therapist's intake screening of a patient. Signed, it never changes;
    a later signed screening supersedes it."""

    class Result(models.TextChoices):
        CLEARED = "cleared", "Cleared"
        PRECAUTIONS = "precautions", "Cleared with precautions"
        NOT_CLEARED = "not_cleared", "Not cleared: do not needle"
        REFER = "refer", "Refer out"
        REFER_URGENT = "refer_urgent", "Refer out urgently"

    patient = models.ForeignKey(Patient, on_delete=models.PROTECT, related_name="screenings")
    therapist = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="screenings"
    )
    result = models.CharField(max_length=20, choices=Result.choices)
    notes = models.TextField(blank=True)
    created_at = models.DateTimeField(default=timezone.now, editable=False)
    signed_at = models.DateTimeField(null=True, blank=True)
    valid_until = models.DateField(null=True, blank=True)

    objects = ScreeningQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["patient", "-signed_at"], name="screening_latest_idx")]
        constraints = [
            models.CheckConstraint(
                condition=Q(signed_at__isnull=True, valid_until__isnull=True)
                | Q(signed_at__isnull=False, valid_until__isnull=False),
                name="screening_signed_has_validity",
            )
        ]

    def __str__(self):
        return f"Screening of {self.patient} ({self.get_result_display()})"

    def get_absolute_url(self):
        return reverse("patients:screening", args=[self.patient_id, self.pk])

    @property
    def is_signed(self):
        return self.signed_at is not None

    @property
    def refers_out(self):
        return self.result in (self.Result.REFER, self.Result.REFER_URGENT)

    @property
    def clears_needling(self):
        return self.result in (self.Result.CLEARED, self.Result.PRECAUTIONS)

    def is_valid_on(self, day):
        return self.is_signed and self.valid_until >= day


class ScreeningAnswer(models.Model):
    """An answer, with the item's category as it stood when the screening was
    written, so that a later change of the rules never rewrites a result."""

    screening = models.ForeignKey(Screening, on_delete=models.CASCADE, related_name="answers")
    item = models.ForeignKey(ScreeningItem, on_delete=models.PROTECT, related_name="+")
    answer = models.BooleanField()
    category = models.CharField(max_length=20, choices=ScreeningCategory.choices)
    acknowledgement = models.TextField(
        blank=True, help_text="For a precaution answered yes: how the therapist will manage it."
    )

    class Meta:
        ordering = ["item__position", "item_id"]
        constraints = [
            models.UniqueConstraint(fields=["screening", "item"], name="screening_answer_once_per_item")
        ]

    def __str__(self):
        return f"{self.item.code}: {'yes' if self.answer else 'no'}"


class ConsentText(models.Model):
    """One version of the informed-consent text. A new version never replaces
    an old one; consents point at the version the patient agreed to."""

    version = models.PositiveIntegerField(unique=True)
    title = models.CharField(max_length=200)
    body = models.TextField()
    published_at = models.DateTimeField(default=timezone.now)
    published_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )

    class Meta:
        ordering = ["-version"]
        get_latest_by = "version"

    def __str__(self):
        return f"{self.title} (version {self.version})"


class Consent(models.Model):
    class Method(models.TextChoices):
        PAPER = "paper", "Signed on paper"
        ON_SCREEN = "on_screen", "Confirmed on screen"

    patient = models.ForeignKey(Patient, on_delete=models.PROTECT, related_name="consents")
    consent_text = models.ForeignKey(ConsentText, on_delete=models.PROTECT, related_name="consents")
    method = models.CharField(max_length=12, choices=Method.choices)
    witnessed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="witnessed_consents"
    )
    given_at = models.DateTimeField(default=timezone.now)
    withdrawn_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-given_at", "-id"]

    def __str__(self):
        return f"Consent of {self.patient} to version {self.consent_text.version}"


class Side(models.TextChoices):
    """The side of the body: of sciatica symptoms, of a muscle needled."""

    LEFT = "left", "Left"
    RIGHT = "right", "Right"
    BOTH = "both", "Both"


class Assessment(models.Model):
    """Intake or re-assessment: symptoms, pain scales, the Oswestry Disability
    Index and the straight-leg raise. Scores are computed, never typed."""

    class Kind(models.TextChoices):
        INTAKE = "intake", "Intake"
        REASSESSMENT = "reassessment", "Re-assessment"

    Side = Side

    patient = models.ForeignKey(Patient, on_delete=models.PROTECT, related_name="assessments")
    therapist = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="assessments"
    )
    kind = models.CharField(max_length=14, choices=Kind.choices)
    assessed_at = models.DateTimeField(default=timezone.now)
    affected_side = models.CharField(max_length=5, choices=Side.choices)
    radiating_pain = models.BooleanField("pain radiating into the leg")
    tingling = models.BooleanField()
    numbness = models.BooleanField()
    weakness = models.BooleanField()
    worse_when_sitting = models.BooleanField()
    back_pain = models.PositiveSmallIntegerField("back pain (0-10)", validators=PAIN_SCALE)
    leg_pain = models.PositiveSmallIntegerField("leg pain (0-10)", validators=PAIN_SCALE)
    odi_pain_intensity = models.PositiveSmallIntegerField(null=True, blank=True, validators=ODI_SCALE)
    odi_personal_care = models.PositiveSmallIntegerField(null=True, blank=True, validators=ODI_SCALE)
    odi_lifting = models.PositiveSmallIntegerField(null=True, blank=True, validators=ODI_SCALE)
    odi_walking = models.PositiveSmallIntegerField(null=True, blank=True, validators=ODI_SCALE)
    odi_sitting = models.PositiveSmallIntegerField(null=True, blank=True, validators=ODI_SCALE)
    odi_standing = models.PositiveSmallIntegerField(null=True, blank=True, validators=ODI_SCALE)
    odi_sleeping = models.PositiveSmallIntegerField(null=True, blank=True, validators=ODI_SCALE)
    odi_sex_life = models.PositiveSmallIntegerField(null=True, blank=True, validators=ODI_SCALE)
    odi_social_life = models.PositiveSmallIntegerField(null=True, blank=True, validators=ODI_SCALE)
    odi_travelling = models.PositiveSmallIntegerField(null=True, blank=True, validators=ODI_SCALE)
    odi_percent = models.DecimalField(
        "Oswestry Disability Index (%)", max_digits=5, decimal_places=1, editable=False
    )
    slr_done = models.BooleanField("straight-leg raise done", default=False)
    slr_angle = models.PositiveSmallIntegerField(
        "straight-leg raise angle (degrees)", null=True, blank=True, validators=[MaxValueValidator(90)]
    )
    slr_positive = models.BooleanField("straight-leg raise positive", null=True, blank=True)
    notes = models.TextField(blank=True)

    class Meta:
        ordering = ["-assessed_at", "-id"]
        constraints = [
            models.CheckConstraint(
                condition=Q(back_pain__lte=10) & Q(leg_pain__lte=10), name="assessment_pain_0_10"
            ),
            models.CheckConstraint(
                condition=Q(odi_percent__gte=0) & Q(odi_percent__lte=100), name="assessment_odi_0_100"
            ),
            *(
                models.CheckConstraint(
                    condition=Q(**{f"{section}__isnull": True}) | Q(**{f"{section}__lte": 5}),
                    name=f"assessment_{section}_0_5",
                )
                for section, _ in ODI_SECTIONS
            ),
        ]

    def __str__(self):
        return (
            f"{self.get_kind_display()} of {self.patient} on {timezone.localtime(self.assessed_at):%Y-%m-%d}"
        )

    def get_absolute_url(self):
        return reverse("patients:assessment", args=[self.patient_id, self.pk])

    def odi_answers(self):
        return [getattr(self, section) for section, _ in ODI_SECTIONS]


class AppendOnlyQuerySet(models.QuerySet):
    def update(self, **kwargs):
        raise AuditLogIsAppendOnly

    def delete(self):
        raise AuditLogIsAppendOnly


class AuditQuerySet(AppendOnlyQuerySet):
    def reads(self):
        return self.filter(action=AuditEvent.Action.READ)

    def sealed(self):
        return self.filter(hash__isnull=False)

    def unsealed(self):
        return self.filter(hash__isnull=True)

    def set_seal(self, event):
        """The one change a row ever sees: the sealer (patients.audit) sets
        the seal of an unsealed row. Returns how many rows changed (0 or 1)."""
        fields = {name: getattr(event, name) for name in AuditEvent.SEAL_FIELDS}
        return models.QuerySet.update(self.filter(pk=event.pk, hash__isnull=True), **fields)


class AuditLogIsAppendOnly(Exception):
    def __init__(self):
        super().__init__("The audit log is append-only: its rows are never changed or deleted.")


class AppendOnly(models.Model):
    """A row written once and never changed or deleted through the ORM (the
    database refuses it too, on PostgreSQL)."""

    class Meta:
        abstract = True

    def save(self, *args, **kwargs):
        if self.pk is not None:
            raise AuditLogIsAppendOnly
        super().save(*args, **kwargs)

    def delete(self, *args, **kwargs):
        raise AuditLogIsAppendOnly


class AuditEvent(AppendOnly):
    """The access log: every read and write of a patient's records, every
    refused attempt, every login and role change. Rows are only ever added
    (patients.audit.record) and then sealed, in order, by the sealer: each
    seal is an HMAC of the row's content and of the seal before it, so that
    `manage.py verify_audit_log` detects any row changed or removed outside
    the application. A row with no hash yet waits for the sealer."""

    class Action(models.TextChoices):
        READ = "read", "Read"
        CREATE = "create", "Created"
        CHANGE = "change", "Changed"
        REFUSED = "refused", "Refused"
        LOGIN = "login", "Logged in"
        LOGIN_FAILED = "login_failed", "Login failed"
        LOGOUT = "logout", "Logged out"
        ROLE_CHANGE = "role_change", "Role changed"

    # What the sealer sets, once; every other field is fixed when the row is written.
    SEAL_FIELDS = ("position", "previous_hash", "key_id", "hash")

    accessed_at = models.DateTimeField("when (UTC)", default=timezone.now, db_index=True)
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    username = models.CharField(max_length=150, blank=True, help_text="As typed, for failed logins too.")
    action = models.CharField(max_length=12, choices=Action.choices, default=Action.READ)
    patient = models.ForeignKey(Patient, on_delete=models.PROTECT, null=True, blank=True, related_name="+")
    record = models.CharField(max_length=200, blank=True, help_text="What, e.g. 'screening 12'.")
    allowed = models.BooleanField(default=True)
    ip_address = models.GenericIPAddressField(null=True, blank=True)
    position = models.PositiveBigIntegerField(
        "place in the chain", null=True, blank=True, unique=True, editable=False
    )
    previous_hash = models.CharField(max_length=64, blank=True, editable=False)
    key_id = models.CharField("sealing key", max_length=16, blank=True, editable=False)
    hash = models.CharField(max_length=64, null=True, blank=True, unique=True, editable=False)

    objects = AuditQuerySet.as_manager()

    class Meta:
        ordering = ["-id"]
        verbose_name = "access log entry"
        verbose_name_plural = "access log"
        indexes = [
            # The sealer's queue: the rows not sealed yet, oldest first.
            models.Index(fields=["id"], condition=Q(hash__isnull=True), name="auditevent_unsealed"),
        ]

    def __str__(self):
        who = self.username or "system"
        return f"{who} {self.get_action_display().lower()} {self.record}".strip()

    def content(self):
        """What the seal covers, in a fixed order: the row's id and place in
        the chain, the seal before it, the key and every field. JSON, so that
        no text can move from one field into the next."""
        fields = [
            self.pk,
            self.position,
            self.previous_hash,
            self.key_id,
            self.accessed_at.astimezone(datetime.UTC).isoformat(),
            self.user_id,
            self.username,
            self.action,
            self.patient_id,
            self.record,
            self.allowed,
            self.ip_address,
        ]
        return json.dumps(fields, separators=(",", ":"), ensure_ascii=False)


class AuditCheckpoint(AppendOnly):
    """A signed note, written by the sealer after each run, of how many rows
    the chain holds and which seal ends it. Rows removed from the end of the
    log leave a chain that is intact but shorter than its newest checkpoint;
    each checkpoint also goes to the log stream (`checkpoint.line()`), out of
    reach of whoever can change the database, to be given to
    `verify_audit_log --checkpoint`."""

    created_at = models.DateTimeField(default=timezone.now, editable=False)
    row_count = models.PositiveBigIntegerField("sealed rows", editable=False)
    head_id = models.PositiveBigIntegerField("last sealed row", editable=False)
    head_seal = models.CharField(max_length=64, editable=False)
    key_id = models.CharField("signing key", max_length=16, editable=False)
    signature = models.CharField(max_length=64, editable=False)

    objects = AppendOnlyQuerySet.as_manager()

    class Meta:
        ordering = ["-id"]
        verbose_name = "access log checkpoint"

    def __str__(self):
        return f"{self.row_count} sealed rows up to row {self.head_id}"

    def fields(self):
        """What the signature covers, as the log line writes it."""
        return {
            "count": str(self.row_count),
            "head": str(self.head_id),
            "seal": self.head_seal,
            "at": self.created_at.astimezone(datetime.UTC).isoformat(),
            "key": self.key_id,
        }

    def line(self):
        """The checkpoint as one line of the log stream, to be copied as it is."""
        fields = " ".join(f"{name}={value}" for name, value in self.fields().items())
        return f"audit checkpoint {fields} sig={self.signature}"
