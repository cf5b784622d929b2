"""The clinical gate: for a patient, a moment and an action of care, whether
it is allowed and why not."""

import datetime
from zoneinfo import ZoneInfo

import pytest
import time_machine

from patients import gate, services
from patients.gate import Action, Visit
from patients.tests.factories import ConsentFactory, PatientFactory, screening_with_answers

pytestmark = pytest.mark.django_db

CLINIC = ZoneInfo("America/New_York")
# Monday 16 November 2026, 09:00 in New York.
NOW = datetime.datetime(2026, 11, 16, 9, 0, tzinfo=CLINIC)


def at(day_offset, hour=10, minute=0):
    day = NOW.date() + datetime.timedelta(days=day_offset)
    return datetime.datetime.combine(day, datetime.time(hour, minute), CLINIC)


@pytest.fixture(autouse=True)
def clock():
    with time_machine.travel(NOW, tick=False) as traveller:
        yield traveller


@pytest.fixture
def cleared(therapist):
    patient = PatientFactory(treating_therapist=therapist)
    screening_with_answers(patient=patient, therapist=therapist)
    ConsentFactory(patient=patient, witnessed_by=therapist)
    return patient


def needling_visit(day_offset=2, **fields):
    return Visit(starts_at=at(day_offset), involves_needling=True, **fields)


def assessment_visit(day_offset=2, **fields):
    return Visit(starts_at=at(day_offset), involves_needling=False, **fields)


def reasons(patient, action, **kwargs):
    return gate.clinical_gate(patient, action, **kwargs).reasons


# Booking.


def test_it_books_a_needling_visit_for_a_cleared_patient(cleared):
    assert reasons(cleared, Action.BOOK, visit=needling_visit()) == []


def test_it_books_no_needling_visit_for_a_patient_never_screened(therapist):
    patient = PatientFactory()

    assert reasons(patient, Action.BOOK, visit=needling_visit()) == [
        "Not cleared for needling on Wed 18 Nov 2026: The patient has no signed screening.",
        "Not cleared for needling on Wed 18 Nov 2026: "
        "The patient has not given consent to the current consent text.",
    ]
    assert reasons(patient, Action.BOOK, visit=assessment_visit()) == []


def test_it_books_a_patient_on_anticoagulants_for_an_assessment_only(therapist):
    patient = PatientFactory()
    screening_with_answers(patient=patient, therapist=therapist, yes=["anticoagulants"])
    ConsentFactory(patient=patient, witnessed_by=therapist)

    assert reasons(patient, Action.BOOK, visit=needling_visit()) == [
        "Not cleared for needling on Wed 18 Nov 2026: "
        "The latest screening did not clear the patient for dry needling."
    ]
    assert reasons(patient, Action.BOOK, visit=assessment_visit()) == []


def test_a_patient_referred_out_is_booked_for_a_reassessment_only(cleared, therapist):
    screening_with_answers(patient=cleared, therapist=therapist, yes=["saddle_numbness"])
    referral = (
        "The latest screening refers the patient out: only a re-assessment can be booked "
        "until a new screening clears the patient."
    )

    assert reasons(cleared, Action.BOOK, visit=needling_visit()) == [referral]
    assert reasons(cleared, Action.BOOK, visit=assessment_visit()) == [referral]
    assert reasons(cleared, Action.BOOK, visit=assessment_visit(is_reassessment=True)) == []


def test_a_newer_screening_that_clears_lifts_the_referral(cleared, therapist, clock):
    screening_with_answers(patient=cleared, therapist=therapist, yes=["fever"])
    clock.shift(datetime.timedelta(hours=1))
    screening_with_answers(patient=cleared, therapist=therapist)

    assert reasons(cleared, Action.BOOK, visit=needling_visit()) == []


def test_it_books_no_needling_visit_after_the_screening_expires_on_that_day(cleared):
    valid_until = services.current_screening(cleared).valid_until
    last_day = (valid_until - NOW.date()).days

    assert reasons(cleared, Action.BOOK, visit=needling_visit(last_day)) == []
    assert reasons(cleared, Action.BOOK, visit=needling_visit(last_day + 1)) == [
        "Not cleared for needling on Mon 15 Feb 2027: "
        "The screening is valid until Sun 14 Feb 2027; screen the patient again."
    ]


def test_withdrawn_consent_stops_needling_visits(cleared):
    services.consent_withdraw(consent=services.current_consent(cleared))

    assert reasons(cleared, Action.BOOK, visit=needling_visit()) == [
        "Not cleared for needling on Wed 18 Nov 2026: "
        "The patient has not given consent to the current consent text."
    ]


def test_it_books_nothing_for_an_archived_patient(cleared):
    services.patient_archive(patient=cleared)
    cleared.refresh_from_db()

    assert reasons(cleared, Action.BOOK, visit=assessment_visit()) == [
        "This patient is archived; restore the patient before booking."
    ]


# Checking in.


@pytest.mark.parametrize(
    ("moment", "expected"),
    [
        (at(0, 3, 30), ["Check-in opens 60 minutes before the visit: 09:45."]),
        (at(0, 9, 44), ["Check-in opens 60 minutes before the visit: 09:45."]),
        (at(0, 9, 45), []),
        (at(0, 23, 59), []),
        (at(1, 0, 0), ["This visit was on Mon 16 Nov 2026; it can no longer be checked in."]),
        (at(-1, 10), ["Check-in opens 60 minutes before the visit: Mon 16 Nov 2026 at 09:45."]),
    ],
)
def test_a_visit_is_checked_in_on_its_day_from_an_hour_before(cleared, moment, expected):
    visit = Visit(starts_at=at(0, 10, 45))

    assert reasons(cleared, Action.CHECK_IN, visit=visit, now=moment) == expected


def test_a_patient_not_cleared_is_still_checked_in(therapist):
    """The screening can be done at the visit; the needling is what waits."""
    patient = PatientFactory()

    assert reasons(patient, Action.CHECK_IN, visit=Visit(starts_at=at(0, 9, 30))) == []


# Charting and signing.


def test_a_chart_is_started_only_once_the_visit_is_checked_in(cleared):
    assert reasons(cleared, Action.START_CHART, visit=needling_visit(0)) == [
        "Check the patient in before charting the visit."
    ]
    assert reasons(cleared, Action.START_CHART, visit=needling_visit(0, checked_in=True)) == []


def test_a_needled_chart_needs_a_cleared_patient_but_one_without_needling_does_not(therapist):
    patient = PatientFactory()
    visit = needling_visit(0, checked_in=True)

    assert reasons(patient, Action.START_CHART, visit=visit) == [
        "Not cleared for needling: The patient has no signed screening.",
        "Not cleared for needling: The patient has not given consent to the current consent text.",
    ]
    assert reasons(patient, Action.START_CHART, visit=visit, needled=False) == []
    assert reasons(patient, Action.NEEDLE, visit=visit) != []


def test_a_chart_is_signed_only_once_its_visit_has_begun(cleared):
    visit = Visit(starts_at=at(0, 9, 30), checked_in=True)

    assert reasons(cleared, Action.SIGN, visit=visit, now=at(0, 9, 29)) == [
        "The visit begins at 09:30 on Mon 16 Nov 2026; sign its chart after."
    ]
    assert reasons(cleared, Action.SIGN, visit=visit, now=at(0, 9, 30)) == []


def test_a_chart_of_a_visit_a_week_ahead_is_not_signed(cleared):
    visit = Visit(starts_at=at(7), checked_in=True)

    assert reasons(cleared, Action.SIGN, visit=visit) == [
        "The visit begins at 10:00 on Mon 23 Nov 2026; sign its chart after."
    ]


def test_signing_asks_for_clearance_at_that_moment(cleared, therapist):
    visit = Visit(starts_at=at(0, 8), checked_in=True)
    assert reasons(cleared, Action.SIGN, visit=visit) == []

    screening_with_answers(patient=cleared, therapist=therapist, yes=["bladder_bowel_dysfunction"])

    assert reasons(cleared, Action.SIGN, visit=visit) == [
        "Not cleared for needling: The latest screening refers the patient out: not a dry-needling case."
    ]
    assert reasons(cleared, Action.SIGN, visit=visit, needled=False) == []


# The rule is one statement, for single patients and for lists.


def test_the_annotated_list_and_the_single_patient_agree(cleared, therapist):
    lapsed = PatientFactory()
    screening_with_answers(patient=lapsed, therapist=therapist, yes=["pregnancy"])
    never = PatientFactory()
    from patients.models import Patient

    rows = {row.pk: row for row in Patient.objects.with_clearance()}
    for patient in (cleared, lapsed, never):
        for day in (NOW.date(), NOW.date() + datetime.timedelta(days=120)):
            assert gate.Clearance.from_row(rows[patient.pk], day).problems_on(day) == (
                gate.needling_clearance(patient).problems_on(day)
            )
