"""The services that write patient records: screening (draft, sign,
supersede), consent and its text versions, assessments, and whether a
patient may be needled."""

import datetime
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest
import time_machine
from django.conf import settings
from django.db import IntegrityError, transaction

from patients import gate, services
from patients.models import (
    EMAIL_CONSENT_NEEDS_EMAIL,
    Assessment,
    Consent,
    ConsentText,
    Patient,
    Screening,
    ScreeningAnswer,
    ScreeningCategory,
    ScreeningItem,
)
from patients.services import PatientRecordError, ScreeningAnswerInput
from patients.tests.factories import AssessmentFactory, PatientFactory, screening_with_answers

pytestmark = pytest.mark.django_db

CLINIC_TZ = ZoneInfo(settings.TIME_ZONE)
MONDAY_MORNING = datetime.datetime(2025, 3, 3, 10, 0, tzinfo=CLINIC_TZ)

NO_SCREENING = "The patient has no signed screening."
REFERS_OUT = "The latest screening refers the patient out: not a dry-needling case."
NOT_CLEARED = "The latest screening did not clear the patient for dry needling."
NO_CONSENT = "The patient has not given consent to the current consent text."


@pytest.fixture
def patient(therapist):
    return PatientFactory(
        first_name="Maria",
        last_name="Alvarez",
        email="maria.alvarez@patient.example",
        treating_therapist=therapist,
    )


def all_no(**overrides):
    """An answer to every active question: "no" unless overridden with
    code=(answer, acknowledgement)."""
    answers = []
    for item in ScreeningItem.objects.filter(is_active=True):
        answer, note = overrides.get(item.code, (False, ""))
        answers.append(ScreeningAnswerInput(item=item, answer=answer, acknowledgement=note))
    return answers


def consent(patient, witness):
    return services.consent_record(
        patient=patient,
        consent_text=services.current_consent_text(),
        method=Consent.Method.PAPER,
        witnessed_by=witness,
    )


def assessment_for(patient, **fields):
    return AssessmentFactory.build(patient=patient, therapist=None, **fields)


# The registry.


def unsaved_patient(**fields):
    details = {"first_name": "Nadia", "last_name": "Okafor", "date_of_birth": datetime.date(1980, 5, 1)}
    return Patient(**(details | {"sex": Patient.Sex.FEMALE} | fields))


def test_it_refuses_consent_to_email_reminders_without_an_email_address():
    with pytest.raises(PatientRecordError) as refused:
        services.patient_save(patient=unsaved_patient(email="", email_consent=True))

    assert str(refused.value) == EMAIL_CONSENT_NEEDS_EMAIL
    assert not Patient.objects.filter(last_name="Okafor").exists()


def test_it_refuses_to_clear_the_address_of_a_patient_who_consents(patient):
    patient.email = ""

    with pytest.raises(PatientRecordError, match="An email address is needed for email reminders"):
        services.patient_save(patient=patient, email_consent_before=True)

    patient.refresh_from_db()
    assert patient.email == "maria.alvarez@patient.example"
    assert patient.email_consent


def test_it_turns_any_invalid_detail_into_a_patient_record_error():
    with pytest.raises(PatientRecordError, match="The date of birth cannot be in the future"):
        services.patient_save(patient=unsaved_patient(date_of_birth=datetime.date(2999, 1, 1)))


def test_the_database_refuses_consent_to_email_reminders_without_an_email_address():
    with pytest.raises(IntegrityError), transaction.atomic():
        unsaved_patient(email="", email_consent=True).save()
    with pytest.raises(IntegrityError), transaction.atomic():
        Patient.objects.filter(pk=PatientFactory().pk).update(email="")

    unsaved_patient(email="", email_consent=False).save()  # no address, no consent: fine


# Screening: draft and sign.


def test_it_saves_a_draft_with_the_result_the_answers_give(patient, therapist):
    draft = services.screening_save_draft(
        patient=patient,
        therapist=therapist,
        answers=all_no(diabetes=(True, "Check feet; watch for hypoglycaemia.")),
        notes="Type 2, well controlled.",
    )

    assert draft.result == Screening.Result.PRECAUTIONS
    assert not draft.is_signed
    assert draft.valid_until is None
    assert draft.answers.get(item__code="diabetes").acknowledgement == "Check feet; watch for hypoglycaemia."
    assert draft.answers.count() == ScreeningItem.objects.filter(is_active=True).count()


def test_it_refuses_a_screening_with_an_unanswered_question(patient, therapist):
    answers = all_no()[1:]

    with pytest.raises(PatientRecordError, match="Answer every screening question"):
        services.screening_save_draft(patient=patient, therapist=therapist, answers=answers)

    assert not Screening.objects.exists()


def test_it_refuses_a_precaution_answered_yes_without_a_note(patient, therapist):
    with pytest.raises(PatientRecordError, match="Acknowledge the precaution \u201cEpilepsy\\?\u201d"):
        services.screening_save_draft(
            patient=patient, therapist=therapist, answers=all_no(epilepsy=(True, "   "))
        )

    assert not Screening.objects.exists()


def test_it_lets_only_the_treating_therapist_save_a_screening_draft(patient, other_therapist):
    with pytest.raises(PatientRecordError, match="Only the patient's treating therapist can screen"):
        services.screening_save_draft(patient=patient, therapist=other_therapist, answers=all_no())

    assert not Screening.objects.exists()
    patient.refresh_from_db()
    assert patient.treating_therapist.username == "theo"


def test_it_makes_the_therapist_who_screens_an_unassigned_patient_the_treating_therapist(other_therapist):
    patient = PatientFactory(treating_therapist=None)

    services.screening_save_draft(patient=patient, therapist=other_therapist, answers=all_no())

    patient.refresh_from_db()
    assert patient.treating_therapist == other_therapist


def test_it_refuses_to_screen_an_archived_patient(patient, therapist):
    services.patient_archive(patient=patient)
    patient.refresh_from_db()

    with pytest.raises(PatientRecordError, match="archived"):
        services.screening_save_draft(patient=patient, therapist=therapist, answers=all_no())

    assert not Screening.objects.exists()


def test_it_signs_a_draft_valid_for_the_configured_days(patient, therapist):
    draft = screening_with_answers(patient=patient, therapist=therapist, sign=False)

    with time_machine.travel(MONDAY_MORNING, tick=False):
        signed = services.screening_sign(screening=draft, therapist=therapist)

    assert signed.signed_at == MONDAY_MORNING
    assert settings.SCREENING_VALID_DAYS == 90
    assert signed.valid_until == datetime.date(2025, 6, 1)
    assert signed.result == Screening.Result.CLEARED


def test_it_refuses_a_second_signature(patient, therapist):
    with time_machine.travel(MONDAY_MORNING, tick=False):
        signed = screening_with_answers(patient=patient, therapist=therapist)

    with pytest.raises(PatientRecordError, match="already signed"):
        services.screening_sign(screening=signed, therapist=therapist)

    signed.refresh_from_db()
    assert signed.signed_at == MONDAY_MORNING
    assert signed.valid_until == datetime.date(2025, 6, 1)


def test_a_second_signature_is_refused_as_such_even_after_the_rules_table_grew(patient, therapist):
    with time_machine.travel(MONDAY_MORNING, tick=False):
        signed = screening_with_answers(patient=patient, therapist=therapist)
    ScreeningItem.objects.create(code="new_question", question="A new question?", category="precaution")

    with pytest.raises(PatientRecordError, match="already signed"):
        services.screening_sign(screening=signed, therapist=therapist)

    signed.refresh_from_db()
    assert signed.signed_at == MONDAY_MORNING


def test_it_lets_only_the_therapist_who_wrote_a_screening_sign_it(therapist, other_therapist):
    patient = PatientFactory(treating_therapist=None)
    draft = screening_with_answers(patient=patient, therapist=therapist, sign=False)

    with pytest.raises(PatientRecordError, match="Only the therapist who wrote this screening can sign it"):
        services.screening_sign(screening=draft, therapist=other_therapist)

    draft.refresh_from_db()
    assert not draft.is_signed


def test_it_refuses_to_change_a_signed_screening(patient, therapist):
    signed = screening_with_answers(patient=patient, therapist=therapist, notes="Nothing of note.")

    with pytest.raises(PatientRecordError, match="signed and can no longer be changed"):
        services.screening_save_draft(
            patient=patient,
            therapist=therapist,
            answers=all_no(fever=(True, "")),
            notes="Rewritten.",
            screening=signed,
        )

    signed.refresh_from_db()
    assert signed.result == Screening.Result.CLEARED
    assert signed.notes == "Nothing of note."
    assert not signed.answers.filter(answer=True).exists()


def test_it_signs_with_the_rules_in_force_at_signing(patient, therapist):
    draft = screening_with_answers(patient=patient, therapist=therapist, yes={"diabetes"}, sign=False)
    assert draft.result == Screening.Result.PRECAUTIONS
    diabetes = ScreeningItem.objects.get(code="diabetes")
    diabetes.category = ScreeningCategory.NOT_CLEARED
    diabetes.full_clean()
    diabetes.save()

    signed = services.screening_sign(screening=draft, therapist=therapist)

    assert signed.result == Screening.Result.NOT_CLEARED
    assert signed.answers.get(item=diabetes).category == ScreeningCategory.NOT_CLEARED


def test_it_never_rewrites_a_signed_result_when_the_rules_change_later(patient, therapist):
    signed = screening_with_answers(patient=patient, therapist=therapist, yes={"diabetes"})
    diabetes = ScreeningItem.objects.get(code="diabetes")
    diabetes.category = ScreeningCategory.NOT_CLEARED
    diabetes.save()

    signed.refresh_from_db()
    assert signed.result == Screening.Result.PRECAUTIONS
    assert signed.answers.get(item=diabetes).category == ScreeningCategory.PRECAUTION
    assert gate.needling_clearance(patient).screening.result == Screening.Result.PRECAUTIONS


def test_current_screening_is_the_latest_signed_one(patient, therapist):
    with time_machine.travel(MONDAY_MORNING, tick=False):
        screening_with_answers(patient=patient, therapist=therapist, yes={"anticoagulants"})
    with time_machine.travel(MONDAY_MORNING + datetime.timedelta(days=7), tick=False):
        latest = screening_with_answers(patient=patient, therapist=therapist)
    with time_machine.travel(MONDAY_MORNING + datetime.timedelta(days=8), tick=False):
        screening_with_answers(patient=patient, therapist=therapist, yes={"fever"}, sign=False)

    assert services.current_screening(patient) == latest


def test_current_screening_is_none_while_only_a_draft_exists(patient, therapist):
    screening_with_answers(patient=patient, therapist=therapist, sign=False)

    assert services.current_screening(patient) is None


# Whether a patient may be needled.


def test_it_clears_a_screened_and_consented_patient(patient, therapist):
    screening_with_answers(patient=patient, therapist=therapist, yes={"epilepsy"})
    consent(patient, therapist)

    clearance = gate.needling_clearance(patient)

    assert clearance.is_cleared
    assert clearance.problems == []


def test_it_does_not_clear_a_patient_with_no_screening_and_no_consent(patient):
    clearance = gate.needling_clearance(patient)

    assert not clearance.is_cleared
    assert clearance.problems == [NO_SCREENING, NO_CONSENT]


def test_it_does_not_clear_a_patient_with_only_a_draft_screening(patient, therapist):
    screening_with_answers(patient=patient, therapist=therapist, sign=False)
    consent(patient, therapist)

    assert gate.needling_clearance(patient).problems == [NO_SCREENING]


@pytest.mark.parametrize("red_flag", ["saddle_numbness", "history_of_cancer"])
def test_it_does_not_clear_a_patient_referred_out(patient, therapist, red_flag):
    screening_with_answers(patient=patient, therapist=therapist, yes={red_flag})
    consent(patient, therapist)

    clearance = gate.needling_clearance(patient)

    assert not clearance.is_cleared
    assert clearance.problems == [REFERS_OUT]


def test_it_does_not_clear_a_patient_not_cleared_for_needling(patient, therapist):
    screening_with_answers(patient=patient, therapist=therapist, yes={"anticoagulants"})
    consent(patient, therapist)

    clearance = gate.needling_clearance(patient)

    assert not clearance.is_cleared
    assert clearance.problems == [NOT_CLEARED]


def test_a_later_screening_that_does_not_clear_supersedes_a_clearing_one(patient, therapist):
    with time_machine.travel(MONDAY_MORNING, tick=False):
        screening_with_answers(patient=patient, therapist=therapist)
        consent(patient, therapist)
    with time_machine.travel(MONDAY_MORNING + datetime.timedelta(days=14), tick=False):
        screening_with_answers(patient=patient, therapist=therapist, yes={"pregnancy"})

        assert gate.needling_clearance(patient).problems == [NOT_CLEARED]


def test_a_screening_clears_for_90_days_and_expires_on_the_91st(patient, therapist):
    with time_machine.travel(MONDAY_MORNING, tick=False):
        screening_with_answers(patient=patient, therapist=therapist)
        consent(patient, therapist)

    with time_machine.travel(MONDAY_MORNING + datetime.timedelta(days=90), tick=False):
        assert gate.needling_clearance(patient).is_cleared

    with time_machine.travel(MONDAY_MORNING + datetime.timedelta(days=91), tick=False):
        clearance = gate.needling_clearance(patient)

    assert not clearance.is_cleared
    assert clearance.problems == ["The screening is valid until Sun 1 Jun 2025; screen the patient again."]


def test_it_does_not_clear_a_screened_patient_without_consent(patient, therapist):
    screening_with_answers(patient=patient, therapist=therapist)

    clearance = gate.needling_clearance(patient)

    assert not clearance.is_cleared
    assert clearance.problems == [NO_CONSENT]


def test_it_does_not_clear_a_patient_whose_consent_was_withdrawn(patient, therapist):
    screening_with_answers(patient=patient, therapist=therapist)
    services.consent_withdraw(consent=consent(patient, therapist))

    assert gate.needling_clearance(patient).problems == [NO_CONSENT]


def test_a_new_consent_text_makes_the_consent_to_the_old_one_not_current(patient, therapist, clinic_admin):
    screening_with_answers(patient=patient, therapist=therapist)
    consent(patient, therapist)
    assert gate.needling_clearance(patient).is_cleared

    services.consent_text_publish(title="Consent to dry needling", body="Revised.", published_by=clinic_admin)

    clearance = gate.needling_clearance(patient)
    assert not clearance.is_cleared
    assert clearance.consent is None
    assert clearance.problems == [NO_CONSENT]


# Consent and its text.


def test_it_numbers_consent_text_versions_and_keeps_the_old_ones(clinic_admin):
    ConsentText.objects.all().delete()

    texts = [
        services.consent_text_publish(title="Consent", body=f"Body {n}.", published_by=clinic_admin)
        for n in (1, 2, 3)
    ]

    assert [text.version for text in texts] == [1, 2, 3]
    assert list(ConsentText.objects.order_by("version").values_list("version", "body")) == [
        (1, "Body 1."),
        (2, "Body 2."),
        (3, "Body 3."),
    ]
    assert services.current_consent_text() == texts[-1]
    assert texts[0].published_by == clinic_admin


def test_it_publishes_the_version_after_the_seeded_text(clinic_admin):
    text = services.consent_text_publish(title="Consent", body="New.", published_by=clinic_admin)

    assert text.version == 2
    assert ConsentText.objects.filter(version=1).exists()


def test_it_records_consent_to_the_current_text_with_its_witness(patient, therapist):
    given = MONDAY_MORNING - datetime.timedelta(hours=1)

    with time_machine.travel(MONDAY_MORNING, tick=False):
        recorded = services.consent_record(
            patient=patient,
            consent_text=services.current_consent_text(),
            method=Consent.Method.ON_SCREEN,
            witnessed_by=therapist,
            given_at=given,
        )

    recorded.refresh_from_db()
    assert (recorded.consent_text.version, recorded.method) == (1, Consent.Method.ON_SCREEN)
    assert (recorded.witnessed_by, recorded.given_at) == (therapist, given)
    assert services.current_consent(patient) == recorded


def test_it_refuses_consent_to_an_old_consent_text(patient, therapist, clinic_admin):
    old = services.current_consent_text()
    services.consent_text_publish(title="Consent", body="Revised.", published_by=clinic_admin)

    with pytest.raises(PatientRecordError, match="A newer consent text has been published"):
        services.consent_record(
            patient=patient, consent_text=old, method=Consent.Method.PAPER, witnessed_by=therapist
        )

    assert not Consent.objects.exists()


def test_it_refuses_consent_given_in_the_future(patient, therapist):
    with pytest.raises(PatientRecordError, match="in the future"):
        services.consent_record(
            patient=patient,
            consent_text=services.current_consent_text(),
            method=Consent.Method.PAPER,
            witnessed_by=therapist,
            given_at=datetime.datetime.now(tz=CLINIC_TZ) + datetime.timedelta(hours=2),
        )

    assert not Consent.objects.exists()


def test_it_refuses_to_withdraw_a_consent_twice(patient, therapist):
    recorded = consent(patient, therapist)
    with time_machine.travel(MONDAY_MORNING, tick=False):
        services.consent_withdraw(consent=recorded)
    recorded.refresh_from_db()

    with pytest.raises(PatientRecordError, match="already withdrawn"):
        services.consent_withdraw(consent=recorded)

    recorded.refresh_from_db()
    assert recorded.withdrawn_at == MONDAY_MORNING


# Assessment.


def test_it_computes_the_oswestry_index_from_the_answers(patient, therapist):
    assessment = assessment_for(
        patient,
        odi_pain_intensity=3,
        odi_personal_care=2,
        odi_lifting=4,
        odi_walking=1,
        odi_sitting=3,
        odi_standing=3,
        odi_sleeping=2,
        odi_sex_life=None,
        odi_social_life=3,
        odi_travelling=2,
    )

    saved = services.assessment_record(assessment=assessment, therapist=therapist)

    saved.refresh_from_db()
    # 23 points of the 45 possible for the nine sections answered.
    assert saved.odi_percent == Decimal("51.1")
    assert saved.therapist == therapist


def test_it_refuses_an_oswestry_index_with_fewer_than_8_answers(patient, therapist):
    assessment = assessment_for(patient, odi_sex_life=None, odi_travelling=None, odi_lifting=None)

    with pytest.raises(PatientRecordError, match="needs at least 8 of its 10 sections answered; 7 were"):
        services.assessment_record(assessment=assessment, therapist=therapist)

    assert not Assessment.objects.exists()


def test_it_refuses_an_oswestry_answer_outside_0_to_5(patient, therapist):
    assessment = assessment_for(patient, odi_walking=7)

    with pytest.raises(PatientRecordError, match="scores from 0 to 5"):
        services.assessment_record(assessment=assessment, therapist=therapist)

    assert not Assessment.objects.exists()


def test_it_refuses_a_straight_leg_raise_done_without_its_angle(patient, therapist):
    assessment = assessment_for(patient, slr_done=True, slr_angle=None, slr_positive=True)

    with pytest.raises(PatientRecordError, match="Give the straight-leg raise angle"):
        services.assessment_record(assessment=assessment, therapist=therapist)

    assert not Assessment.objects.exists()


def test_it_drops_straight_leg_raise_findings_when_it_was_not_done(patient, therapist):
    assessment = assessment_for(patient, slr_done=False, slr_angle=45, slr_positive=True)

    saved = services.assessment_record(assessment=assessment, therapist=therapist)

    saved.refresh_from_db()
    assert (saved.slr_angle, saved.slr_positive) == (None, None)


def test_it_lets_only_the_treating_therapist_assess_a_patient(patient, other_therapist):
    with pytest.raises(PatientRecordError, match="Only the patient's treating therapist can assess"):
        services.assessment_record(assessment=assessment_for(patient), therapist=other_therapist)

    assert not Assessment.objects.exists()


def test_it_makes_the_therapist_who_assesses_an_unassigned_patient_the_treating_therapist(other_therapist):
    patient = PatientFactory(treating_therapist=None)

    services.assessment_record(assessment=assessment_for(patient), therapist=other_therapist)

    assert Patient.objects.get(pk=patient.pk).treating_therapist == other_therapist


# The registry.


def test_it_refuses_to_archive_an_archived_patient(patient):
    with time_machine.travel(MONDAY_MORNING, tick=False):
        services.patient_archive(patient=patient)
    patient.refresh_from_db()

    with pytest.raises(PatientRecordError, match="already archived"):
        services.patient_archive(patient=patient)

    patient.refresh_from_db()
    assert patient.archived_at == MONDAY_MORNING


def test_it_keeps_every_answer_of_a_signed_screening(patient, therapist):
    signed = screening_with_answers(patient=patient, therapist=therapist, yes={"diabetes", "epilepsy"})

    yes = ScreeningAnswer.objects.filter(screening=signed, answer=True)
    assert sorted(yes.values_list("item__code", "acknowledgement")) == [
        ("diabetes", "Managing diabetes."),
        ("epilepsy", "Managing epilepsy."),
    ]
