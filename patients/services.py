"""Writes to patient records. Each is one transaction; errors a person can
cause are PatientRecordError with a message fit to show them."""

import datetime
from dataclasses import dataclass

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.db.models import Max
from django.utils import timezone

from clinic import roles
from clinic.validation import error_messages
from patients import audit, rules, scoring
from patients.models import (
    EMAIL_CONSENT_NEEDS_EMAIL,
    Assessment,
    AuditEvent,
    Consent,
    ConsentText,
    Patient,
    Screening,
    ScreeningAnswer,
    ScreeningCategory,
    ScreeningItem,
)


class PatientRecordError(Exception):
    """A change to a patient's records that cannot be made, with the reason."""


def _validated(instance):
    """full_clean, its refusal as a PatientRecordError: never a server error."""
    try:
        instance.full_clean()
    except ValidationError as error:
        raise PatientRecordError(" ".join(error_messages(instance, error))) from None


# Access to clinical records.


def can_read_clinical_records(user, patient):
    return Patient.objects.clinically_visible_to(user).filter(pk=patient.pk).exists()


def can_record_consent(user, patient):
    """The consent's witness: the patient's therapist, or the clinic admin."""
    return roles.is_clinic_admin(user) or can_write_clinical_records(user, patient)


def can_write_clinical_records(user, patient):
    """Only a therapist writes clinical records: the patient's treating
    therapist, or any therapist while the patient has none."""
    return roles.is_therapist(user) and patient.treating_therapist_id in (None, user.pk)


def clinical_access_log(*, user, patient, record):
    """A read of a patient's details or clinical records, in the access log."""
    audit.record(action=AuditEvent.Action.READ, user=user, patient=patient, what=record)


def clinical_access_refused(*, user, patient, record):
    """An attempt to open a record the user may not read, in the access log."""
    audit.record(action=AuditEvent.Action.REFUSED, user=user, patient=patient, what=record, allowed=False)


# The registry.


def patient_save(*, patient: Patient, email_consent_before: bool | None = None) -> Patient:
    """Save a patient's details (validated by the form), noting when the
    consent to email reminders was given or withdrawn. Consent to email
    reminders needs an email address."""
    if patient.email_consent and not patient.email:
        raise PatientRecordError(EMAIL_CONSENT_NEEDS_EMAIL)
    if patient.email_consent != email_consent_before:
        patient.email_consent_changed_at = timezone.now()
    _validated(patient)
    patient.save()
    return patient


def patient_archive(*, patient: Patient) -> None:
    if patient.is_archived:
        raise PatientRecordError(f"{patient} is already archived.")
    Patient.objects.filter(pk=patient.pk).update(archived_at=timezone.now())
    audit.record_write(patient, False, patient.pk)


def patient_restore(*, patient: Patient) -> None:
    Patient.objects.filter(pk=patient.pk).update(archived_at=None)
    audit.record_write(patient, False, patient.pk)


# Screening.


@dataclass(frozen=True)
class ScreeningAnswerInput:
    item: ScreeningItem
    answer: bool
    acknowledgement: str = ""


def _check_answers(answers: list[ScreeningAnswerInput]) -> None:
    active = set(ScreeningItem.objects.filter(is_active=True).values_list("pk", flat=True))
    given = {a.item.pk for a in answers}
    if active - given:
        raise PatientRecordError("Answer every screening question before saving.")
    for a in answers:
        if a.answer and a.item.category == ScreeningCategory.PRECAUTION and not a.acknowledgement.strip():
            raise PatientRecordError(
                f"Acknowledge the precaution \u201c{a.item.question}\u201d "
                "with a note on how you will manage it."
            )


@transaction.atomic
def screening_save_draft(
    *,
    patient: Patient,
    therapist,
    answers: list[ScreeningAnswerInput],
    notes: str = "",
    screening: Screening | None = None,
) -> Screening:
    """Create or update a draft screening; its result follows from the rules."""
    if not can_write_clinical_records(therapist, patient):
        raise PatientRecordError(
            "Only the patient's treating therapist can screen this patient. "
            "Ask the clinic admin to reassign the patient."
        )
    if patient.is_archived:
        raise PatientRecordError("This patient is archived; restore the patient before screening.")
    if screening is not None:
        screening = Screening.objects.select_for_update().get(pk=screening.pk)
        if screening.is_signed:
            raise PatientRecordError("This screening is signed and can no longer be changed.")
        if screening.therapist_id != therapist.pk:
            raise PatientRecordError("Only the therapist who wrote this screening can change it.")
    _check_answers(answers)
    evaluation = rules.evaluate({a.item: a.answer for a in answers})
    if screening is None:
        screening = Screening(patient=patient, therapist=therapist)
    screening.result = evaluation.result
    screening.notes = notes
    _validated(screening)
    screening.save()
    screening.answers.all().delete()
    ScreeningAnswer.objects.bulk_create(
        ScreeningAnswer(
            screening=screening,
            item=a.item,
            answer=a.answer,
            category=a.item.category,
            acknowledgement=a.acknowledgement.strip()
            if a.answer and a.item.category == ScreeningCategory.PRECAUTION
            else "",
        )
        for a in answers
    )
    if patient.treating_therapist_id is None:
        Patient.objects.filter(pk=patient.pk, treating_therapist__isnull=True).update(
            treating_therapist=therapist
        )
    return screening


@transaction.atomic
def screening_sign(*, screening: Screening, therapist) -> Screening:
    """Sign a draft screening. Signed, it is final and valid for
    SCREENING_VALID_DAYS; it supersedes the patient's earlier screenings."""
    if screening.therapist_id != therapist.pk:
        raise PatientRecordError("Only the therapist who wrote this screening can sign it.")
    # The clinical gate holds this row while it decides; signing waits for it.
    Patient.objects.select_for_update().filter(pk=screening.patient_id).first()
    if Screening.objects.filter(pk=screening.pk, signed_at__isnull=False).exists():
        raise PatientRecordError("This screening is already signed.")
    # Re-read the answers' categories now, so the signed result follows the
    # rules in force at signing even if the table changed since the draft.
    answers = list(screening.answers.select_related("item"))
    _check_answers([ScreeningAnswerInput(a.item, a.answer, a.acknowledgement) for a in answers])
    evaluation = rules.evaluate({a.item: a.answer for a in answers})
    for a in answers:
        a.category = a.item.category
    now = timezone.now()
    valid_until = timezone.localdate(now) + datetime.timedelta(days=settings.SCREENING_VALID_DAYS)
    # The conditional update is the lock: of two "sign" requests, one changes the row.
    signed = Screening.objects.filter(pk=screening.pk, signed_at__isnull=True).update(
        signed_at=now, valid_until=valid_until, result=evaluation.result
    )
    if not signed:
        raise PatientRecordError("This screening is already signed.")
    audit.record_write(screening, False, screening.patient_id)
    ScreeningAnswer.objects.bulk_update(answers, ["category"])
    screening.refresh_from_db()
    return screening


def current_screening(patient: Patient) -> Screening | None:
    """The patient's latest signed screening, which supersedes all earlier ones."""
    return patient.screenings.signed().order_by("-signed_at").first()


# Consent.


@transaction.atomic
def consent_text_publish(*, title: str, body: str, published_by) -> ConsentText:
    """Publish a new version of the consent text; earlier versions stay."""
    latest = ConsentText.objects.select_for_update().aggregate(v=Max("version"))["v"] or 0
    text = ConsentText(version=latest + 1, title=title, body=body, published_by=published_by)
    _validated(text)
    try:
        with transaction.atomic():
            text.save()
    except IntegrityError:
        raise PatientRecordError("Another version was published at the same moment; try again.") from None
    return text


def current_consent_text() -> ConsentText | None:
    return ConsentText.objects.order_by("-version").first()


def consent_record(
    *, patient: Patient, consent_text: ConsentText, method: str, witnessed_by, given_at=None
) -> Consent:
    if consent_text != current_consent_text():
        raise PatientRecordError(
            "A newer consent text has been published; record consent to the current version."
        )
    if patient.is_archived:
        raise PatientRecordError("This patient is archived; restore the patient before recording consent.")
    given_at = given_at or timezone.now()
    if given_at > timezone.now():
        raise PatientRecordError("Consent cannot be recorded as given in the future.")
    consent = Consent(
        patient=patient,
        consent_text=consent_text,
        method=method,
        witnessed_by=witnessed_by,
        given_at=given_at,
    )
    _validated(consent)
    consent.save()
    return consent


@transaction.atomic
def consent_withdraw(*, consent: Consent) -> None:
    # The clinical gate holds this row while it decides; withdrawing waits for it.
    Patient.objects.select_for_update().filter(pk=consent.patient_id).first()
    if consent.withdrawn_at is not None:
        raise PatientRecordError("This consent was already withdrawn.")
    if Consent.objects.filter(pk=consent.pk, withdrawn_at__isnull=True).update(withdrawn_at=timezone.now()):
        audit.record_write(consent, False, consent.patient_id)


def current_consent(patient: Patient) -> Consent | None:
    """The patient's consent to the current consent text, if not withdrawn."""
    text = current_consent_text()
    if text is None:
        return None
    return patient.consents.filter(consent_text=text, withdrawn_at__isnull=True).order_by("-given_at").first()


# Assessment.


def assessment_record(*, assessment: Assessment, therapist) -> Assessment:
    """Save an assessment with its Oswestry index computed from the answers."""
    if not can_write_clinical_records(therapist, assessment.patient):
        raise PatientRecordError(
            "Only the patient's treating therapist can assess this patient. "
            "Ask the clinic admin to reassign the patient."
        )
    if assessment.patient.is_archived:
        raise PatientRecordError("This patient is archived; restore the patient before assessing.")
    assessment.therapist = therapist
    try:
        assessment.odi_percent = scoring.odi_percent(assessment.odi_answers())
    except ValueError as error:
        raise PatientRecordError(str(error)) from None
    if not assessment.slr_done:
        assessment.slr_angle = assessment.slr_positive = None
    elif assessment.slr_angle is None or assessment.slr_positive is None:
        raise PatientRecordError("Give the straight-leg raise angle and whether it was positive.")
    _validated(assessment)
    with transaction.atomic():
        assessment.save()
        if assessment.patient.treating_therapist_id is None:
            Patient.objects.filter(pk=assessment.patient_id, treating_therapist__isnull=True).update(
                treating_therapist=therapist
            )
    return assessment
