"""What PostgreSQL does with the clearance annotations that every list of
patients and appointments carries: an index probe per row shown, never a
pass over every consent the clinic has recorded."""

import re

import pytest
from django.db import connection
from django.db.models import F

from clinic import roles
from clinic.tests.factories import UserFactory
from patients import gate
from patients.models import Consent, ConsentText, Patient
from patients.tests.factories import PatientFactory

pytestmark = [pytest.mark.postgresql, pytest.mark.django_db]

PATIENTS = 5000


def test_a_page_of_patients_reads_their_consents_by_index_not_all_of_them():
    therapist = UserFactory(role=roles.THERAPIST)
    text = ConsentText.objects.latest()
    patients = Patient.objects.bulk_create(PatientFactory.build() for _ in range(PATIENTS))
    Consent.objects.bulk_create(
        Consent(patient=patient, consent_text=text, method=Consent.Method.PAPER, witnessed_by=therapist)
        for patient in patients
    )
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE patients_patient, patients_consent")
    page = (
        Patient.objects.active()
        .annotate(**gate.annotations())
        .order_by(F("created_at").desc(), F("id").desc())[:50]
    )

    plan = page.explain()

    assert not re.search(r"Seq Scan on patients_consent\b", plan), plan
    assert all(patient.has_current_consent for patient in page)
