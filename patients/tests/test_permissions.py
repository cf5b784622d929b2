"""Who may open and change what in the patient registry and clinical records.

The matrix below is written out by hand, one row per URL name of the
`patients` namespace; a new URL without a row fails the first test."""

import datetime

import pytest
from django.template.defaultfilters import date as date_filter
from django.urls import reverse
from django.utils import timezone

from clinic.tests.factories import PASSWORD
from clinic.tests.matrix import LOGIN, PERSONAS, assert_status, log_in
from patients import urls
from patients.models import (
    ODI_SECTIONS,
    Assessment,
    AuditEvent,
    Consent,
    Patient,
    Screening,
    ScreeningAnswer,
    ScreeningItem,
)
from patients.tests.factories import AssessmentFactory, ConsentFactory, PatientFactory, screening_with_answers

pytestmark = pytest.mark.django_db


# What each persona gets for a GET. "therapist" treats the patient; "other_therapist" does not.
#                       anonymous  receptionist therapist other  admin  no role
GET_EXPECTED = {
    "list":             (LOGIN,    200,         200,      200,   200,   403),
    "register":         (LOGIN,    200,         403,      403,   200,   403),
    "detail":           (LOGIN,    200,         200,      200,   200,   403),
    "edit":             (LOGIN,    200,         403,      403,   200,   403),
    "archive":          (LOGIN,    405,         405,      405,   405,   405),
    "restore":          (LOGIN,    405,         405,      405,   405,   405),
    "screening-new":    (LOGIN,    403,         200,      403,   403,   403),
    "screening":        (LOGIN,    403,         200,      403,   200,   403),
    "screening-edit":   (LOGIN,    403,         200,      403,   403,   403),
    "screening-sign":   (LOGIN,    405,         405,      405,   405,   405),
    "consent-new":      (LOGIN,    403,         200,      403,   200,   403),
    "consent-withdraw": (LOGIN,    405,         405,      405,   405,   405),
    "assessment-new":   (LOGIN,    403,         200,      403,   403,   403),
    "assessment":       (LOGIN,    403,         200,      403,   200,   403),
}  # fmt: skip

# What each persona gets for a valid POST to a URL that changes records: 302
# means it was done (and the test checks that records changed), anything else
# that nothing changed.
#                       anonymous  receptionist therapist other  admin  no role
POST_EXPECTED = {
    "register":         (LOGIN,    302,         403,      403,   302,   403),
    "edit":             (LOGIN,    302,         403,      403,   302,   403),
    "archive":          (LOGIN,    302,         403,      403,   302,   403),
    "restore":          (LOGIN,    302,         403,      403,   302,   403),
    "screening-new":    (LOGIN,    403,         302,      403,   403,   403),
    "screening-edit":   (LOGIN,    403,         302,      403,   403,   403),
    "screening-sign":   (LOGIN,    403,         302,      403,   403,   403),
    "consent-new":      (LOGIN,    403,         302,      403,   302,   403),
    "consent-withdraw": (LOGIN,    403,         302,      403,   302,   403),
    "assessment-new":   (LOGIN,    403,         302,      403,   403,   403),
}  # fmt: skip

GET_CELLS = [
    pytest.param(name, persona, expected[column], id=f"GET {name} as {persona}")
    for name, expected in GET_EXPECTED.items()
    for column, persona in enumerate(PERSONAS)
]
POST_CELLS = [
    pytest.param(name, persona, expected[column], id=f"POST {name} as {persona}")
    for name, expected in POST_EXPECTED.items()
    for column, persona in enumerate(PERSONAS)
]

# Strings put into the clinical records, which only the patient's therapists
# and the clinic admin may read.
ACKNOWLEDGEMENT = "Inspect both feet for ulcers first"
SCREENING_NOTES = "Lives alone; daughter drives her to appointments"
DRAFT_NOTES = "Draft: asked about the new tablets"
ASSESSMENT_NOTES = "Guarding on lumbar flexion"


@pytest.fixture
def world(therapist, other_therapist, receptionist, clinic_admin, no_role_user):
    """A patient treated by `therapist`, with a signed screening (a precaution
    answered yes), a draft screening, a consent and an assessment."""
    patient = PatientFactory(
        first_name="Maria", last_name="Alvarez", phone="+12125550147", treating_therapist=therapist
    )
    signed = screening_with_answers(
        patient=patient, therapist=therapist, yes={"diabetes"}, notes=SCREENING_NOTES
    )
    ScreeningAnswer.objects.filter(screening=signed, item__code="diabetes").update(
        acknowledgement=ACKNOWLEDGEMENT
    )
    draft = screening_with_answers(patient=patient, therapist=therapist, notes=DRAFT_NOTES, sign=False)
    consent = ConsentFactory(patient=patient, witnessed_by=therapist)
    assessment = AssessmentFactory(
        patient=patient,
        therapist=therapist,
        leg_pain=7,
        back_pain=3,
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
        notes=ASSESSMENT_NOTES,
    )
    return {
        "patient": patient,
        "signed": signed,
        "draft": draft,
        "consent": consent,
        "assessment": assessment,
        "users": {
            "receptionist": receptionist,
            "therapist": therapist,
            "other_therapist": other_therapist,
            "clinic_admin": clinic_admin,
            "no_role_user": no_role_user,
        },
    }


def url(name, world):
    patient = world["patient"].pk
    kwargs = {
        "list": {},
        "register": {},
        "screening": {"pk": patient, "screening_pk": world["signed"].pk},
        "screening-edit": {"pk": patient, "screening_pk": world["draft"].pk},
        "screening-sign": {"pk": patient, "screening_pk": world["draft"].pk},
        "consent-withdraw": {"pk": patient, "consent_pk": world["consent"].pk},
        "assessment": {"pk": patient, "assessment_pk": world["assessment"].pk},
    }.get(name, {"pk": patient})
    return reverse(f"patients:{name}", kwargs=kwargs)


def valid_post(name, world):
    """Form data that the persona allowed to POST it gets saved."""
    patient = world["patient"]
    all_no = {
        f"item_{pk}": "no" for pk in ScreeningItem.objects.filter(is_active=True).values_list("pk", flat=True)
    }
    now = timezone.localtime().strftime("%Y-%m-%dT%H:%M")
    details = {
        "first_name": patient.first_name,
        "last_name": patient.last_name,
        "date_of_birth": patient.date_of_birth.isoformat(),
        "sex": patient.sex,
        "email": patient.email,
        "phone": str(patient.phone),
        "email_consent": "on",
    }
    return {
        "register": {
            "first_name": "Nadia",
            "last_name": "Okafor",
            "date_of_birth": "1980-05-01",
            "sex": Patient.Sex.FEMALE,
        },
        "edit": {**details, "front_desk_notes": "Prefers morning appointments."},
        "screening-new": {**all_no, "notes": "Screened again."},
        "screening-edit": {**all_no, "notes": "Draft changed."},
        "consent-new": {"method": Consent.Method.PAPER, "given_at": now, "confirmed": "on"},
        "assessment-new": {
            "kind": Assessment.Kind.INTAKE,
            "assessed_at": now,
            "affected_side": Assessment.Side.RIGHT,
            "radiating_pain": "on",
            "back_pain": "2",
            "leg_pain": "5",
            **{section: "1" for section, _ in ODI_SECTIONS},
        },
    }.get(name, {})


def records():
    """Everything a POST to a patients URL could change."""
    return {
        "patients": list(
            Patient.objects.order_by("pk").values_list(
                "pk", "first_name", "front_desk_notes", "archived_at", "treating_therapist"
            )
        ),
        "screenings": list(
            Screening.objects.order_by("pk").values_list("pk", "result", "notes", "signed_at")
        ),
        "answers": list(
            ScreeningAnswer.objects.order_by("pk").values_list("pk", "answer", "acknowledgement")
        ),
        "consents": list(Consent.objects.order_by("pk").values_list("pk", "withdrawn_at")),
        "assessments": list(Assessment.objects.order_by("pk").values_list("pk", "notes")),
    }


def test_the_matrix_has_a_row_for_every_url_of_the_patients_namespace():
    names = {pattern.name for pattern in urls.urlpatterns}

    assert set(GET_EXPECTED) == names
    post_only = {name for name, expected in GET_EXPECTED.items() if expected[1] == 405}
    assert post_only <= set(POST_EXPECTED) <= names


@pytest.mark.parametrize(("name", "persona", "expected"), GET_CELLS)
def test_it_answers_a_get_as_the_matrix_says(client, world, name, persona, expected):
    log_in(client, persona, world)
    before = records()

    response = client.get(url(name, world))

    assert_status(response, expected)
    assert records() == before


@pytest.mark.parametrize(("name", "persona", "expected"), POST_CELLS)
def test_it_answers_a_post_as_the_matrix_says(client, world, name, persona, expected):
    if name == "restore":
        Patient.objects.filter(pk=world["patient"].pk).update(archived_at=timezone.now())
    log_in(client, persona, world)
    before = records()

    response = client.post(url(name, world), valid_post(name, world))

    assert_status(response, expected)
    if expected == 302:
        assert records() != before
    else:
        assert records() == before


def test_the_login_page_takes_an_anonymous_visitor_back_to_the_patient(client, world):
    detail = url("detail", world)
    response = client.get(detail)

    response = client.post(response.url, {"username": "rosa", "password": PASSWORD})

    assert response.status_code == 302
    assert response.url == detail


# What the front desk sees of clinical records: the clearance, nothing else.

CLINICAL_STRINGS = [
    "Diabetes?",
    ACKNOWLEDGEMENT,
    SCREENING_NOTES,
    DRAFT_NOTES,
    ASSESSMENT_NOTES,
    "leg pain 7/10",
    "51.1",
    "Oswestry",
    "ODI",
]


def until(screening):
    return f"until {date_filter(screening.valid_until, 'j M Y')}"


@pytest.mark.parametrize("persona", ["receptionist", "other_therapist"])
def test_the_patient_page_shows_an_outsider_the_clearance_but_no_clinical_record(client, world, persona):
    log_in(client, persona, world)

    page = client.get(url("detail", world)).content.decode()

    assert "Cleared with precautions" in page
    assert until(world["signed"]) in page
    for secret in CLINICAL_STRINGS:
        assert secret not in page
    assert reverse("patients:screening", args=[world["patient"].pk, world["signed"].pk]) not in page
    assert reverse("patients:assessment", args=[world["patient"].pk, world["assessment"].pk]) not in page


@pytest.mark.parametrize("persona", ["receptionist", "other_therapist"])
def test_the_patient_list_shows_an_outsider_the_clearance_but_no_clinical_record(client, world, persona):
    log_in(client, persona, world)

    page = client.get(reverse("patients:list"), {"q": "alvarez"}).content.decode()

    assert "Alvarez, Maria" in page
    assert "Cleared with precautions" in page
    assert until(world["signed"]) in page
    for secret in CLINICAL_STRINGS:
        assert secret not in page


def test_the_treating_therapist_reads_the_clinical_records_the_front_desk_does_not(client, world):
    log_in(client, "therapist", world)
    patient = world["patient"].pk

    page = client.get(url("detail", world)).content.decode()
    screening = client.get(url("screening", world)).content.decode()
    assessment = client.get(url("assessment", world)).content.decode()

    assert "leg pain 7/10" in page
    assert "ODI 51.1%" in page
    assert reverse("patients:screening", args=[patient, world["draft"].pk]) in page
    assert reverse("patients:screening", args=[patient, world["signed"].pk]) in page
    assert "Diabetes?" in screening
    assert ACKNOWLEDGEMENT in screening
    assert SCREENING_NOTES in screening
    assert ASSESSMENT_NOTES in assessment
    assert "51.1%" in assessment


def test_the_clinic_admin_reads_every_clinical_record_but_no_other_therapists_draft(client, world):
    log_in(client, "clinic_admin", world)
    draft_url = reverse("patients:screening", args=[world["patient"].pk, world["draft"].pk])

    page = client.get(url("detail", world)).content.decode()
    draft = client.get(draft_url)

    assert "ODI 51.1%" in page
    assert draft_url not in page
    assert draft.status_code == 403
    assert DRAFT_NOTES not in draft.content.decode()


def test_an_outsider_reads_no_clinical_record_and_leaves_no_access_log(client, world):
    for persona in ["receptionist", "other_therapist", "no_role_user"]:
        client.force_login(world["users"][persona])
        for name in ["detail", "screening", "assessment"]:
            client.get(url(name, world))

    assert not AuditEvent.objects.reads().exclude(record="patient details").exists()


def test_a_therapist_who_screened_a_patient_keeps_reading_their_records_after_reassignment(
    client, world, other_therapist
):
    """Reassigned to another therapist, the patient's earlier therapist may
    still read what they wrote; they may no longer write."""
    Patient.objects.filter(pk=world["patient"].pk).update(treating_therapist=other_therapist)
    log_in(client, "therapist", world)

    assert client.get(url("screening", world)).status_code == 200
    assert client.get(url("assessment", world)).status_code == 200
    assert client.get(url("screening-new", world)).status_code == 403
    assert client.get(url("assessment-new", world)).status_code == 403


def test_a_screening_of_another_patient_is_not_found_through_this_patients_address(client, world):
    other = PatientFactory(treating_therapist=world["users"]["therapist"])
    log_in(client, "therapist", world)

    for name, kwargs in [
        ("screening", {"screening_pk": world["signed"].pk}),
        ("screening-edit", {"screening_pk": world["draft"].pk}),
        ("assessment", {"assessment_pk": world["assessment"].pk}),
    ]:
        assert client.get(reverse(f"patients:{name}", kwargs={"pk": other.pk, **kwargs})).status_code == 404
    before = records()
    response = client.post(
        reverse("patients:screening-sign", kwargs={"pk": other.pk, "screening_pk": world["draft"].pk})
    )
    assert response.status_code == 404
    assert records() == before


def test_it_answers_404_for_a_patient_that_does_not_exist(client, world):
    log_in(client, "clinic_admin", world)

    assert client.get(reverse("patients:detail", args=[world["patient"].pk + 1000])).status_code == 404


def test_the_front_desk_sees_an_expired_screening_as_expired(client, world):
    yesterday = timezone.localdate() - datetime.timedelta(days=1)
    Screening.objects.filter(pk=world["signed"].pk).update(
        signed_at=timezone.now() - datetime.timedelta(days=91), valid_until=yesterday
    )
    log_in(client, "receptionist", world)

    page = client.get(url("detail", world)).content.decode()

    assert f"Screening expired {date_filter(yesterday, 'j M Y')}" in page
    assert "Cleared with precautions" not in page
