"""The patient registry and clinical records through the clinic's pages:
registering, finding and archiving patients, screening, consent and
assessment, and what each refuses."""

import datetime
import html
import re
from zoneinfo import ZoneInfo

import pytest
import time_machine
from django.conf import settings
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone
from django.utils.html import escape

from patients import gate, services
from patients.models import (
    EMAIL_CONSENT_NEEDS_EMAIL,
    Assessment,
    AuditEvent,
    Consent,
    ConsentText,
    Patient,
    Screening,
    ScreeningItem,
)
from patients.tests.factories import (
    AssessmentFactory,
    ConsentFactory,
    PatientFactory,
    ScreeningFactory,
    screening_with_answers,
)
from scheduling.tests.factories import AppointmentFactory

pytestmark = pytest.mark.django_db

CLINIC_TZ = ZoneInfo(settings.TIME_ZONE)
MONDAY_MORNING = datetime.datetime(2025, 3, 3, 10, 0, tzinfo=CLINIC_TZ)


@pytest.fixture
def patient(therapist):
    return PatientFactory(
        first_name="Maria",
        last_name="Alvarez",
        date_of_birth=datetime.date(1962, 3, 14),
        phone="+12125550147",
        email="maria.alvarez@patient.example",
        treating_therapist=therapist,
    )


def text(response):
    return response.content.decode()


def listed(response):
    """The patients a list page shows, as "Last, First"."""
    return re.findall(r'<td><a href="/patients/\d+/">([^<]+)</a>', text(response))


def details(patient, **changes):
    """The edit form as it comes filled in for the patient, with changes."""
    data = {
        "first_name": patient.first_name,
        "last_name": patient.last_name,
        "date_of_birth": patient.date_of_birth.isoformat(),
        "sex": patient.sex,
        "email": patient.email,
        "phone": str(patient.phone),
        "front_desk_notes": patient.front_desk_notes,
    }
    if patient.email_consent:
        data["email_consent"] = "on"
    if patient.treating_therapist_id:
        data["treating_therapist"] = patient.treating_therapist_id
    data.update(changes)
    return {key: value for key, value in data.items() if value is not None}


def new_patient(**changes):
    return {
        "first_name": "Nadia",
        "last_name": "Okafor",
        "date_of_birth": "1980-05-01",
        "sex": Patient.Sex.FEMALE,
        "phone": "(212) 555-0199",
        "email": "nadia@patient.example",
        **changes,
    }


def screening_answers(yes=(), notes="", skip=(), acknowledgements=None):
    """The screening form as a therapist fills it in: "no" to every question
    but those in `yes`, leaving out those in `skip`."""
    acknowledgements = acknowledgements or {}
    data = {"notes": notes}
    for item in ScreeningItem.objects.filter(is_active=True):
        if item.code in skip:
            continue
        data[f"item_{item.pk}"] = "yes" if item.code in yes else "no"
        if item.code in acknowledgements:
            data[f"acknowledge_{item.pk}"] = acknowledgements[item.code]
    return data


def item(code):
    return ScreeningItem.objects.get(code=code)


# Oswestry answers totalling 23 of the 45 possible for the nine answered: 51.1%.
ODI_51 = {
    "odi_pain_intensity": "3",
    "odi_personal_care": "2",
    "odi_lifting": "4",
    "odi_walking": "1",
    "odi_sitting": "3",
    "odi_standing": "3",
    "odi_sleeping": "2",
    "odi_sex_life": "",
    "odi_social_life": "3",
    "odi_travelling": "2",
}


def an_hour_ago():
    return (timezone.localtime() - datetime.timedelta(hours=1)).strftime("%Y-%m-%dT%H:%M")


def assessment_answers(**changes):
    return {
        "kind": Assessment.Kind.INTAKE,
        "assessed_at": an_hour_ago(),
        "affected_side": Assessment.Side.LEFT,
        "radiating_pain": "on",
        "numbness": "on",
        "back_pain": "3",
        "leg_pain": "7",
        **ODI_51,
        "slr_done": "on",
        "slr_angle": "40",
        "slr_positive": "True",
        "notes": "Positive slump test on the left.",
        **changes,
    }


# Registering a patient.


def test_it_registers_a_patient(client, receptionist):
    client.force_login(receptionist)

    response = client.post(reverse("patients:register"), new_patient(), follow=True)

    patient = Patient.objects.get()
    assert response.redirect_chain == [(patient.get_absolute_url(), 302)]
    assert "Nadia Okafor is registered." in text(response)
    assert "(212) 555-0199" in text(response)
    assert (patient.first_name, patient.last_name) == ("Nadia", "Okafor")
    assert patient.date_of_birth == datetime.date(1980, 5, 1)
    assert patient.phone == "+12125550199"


def test_it_warns_of_a_patient_already_registered_with_the_same_name_and_birth_date(
    client, receptionist, patient
):
    client.force_login(receptionist)

    response = client.post(
        reverse("patients:register"),
        new_patient(first_name="maria", last_name="ALVAREZ", date_of_birth="1962-03-14"),
    )

    assert response.status_code == 200
    assert "Already registered?" in text(response)
    assert f'<a href="{patient.get_absolute_url()}">Maria Alvarez, born 1962-03-14' in text(response)
    assert 'type="checkbox" name="register_anyway"' in text(response)
    assert Patient.objects.count() == 1


def test_it_registers_the_namesake_when_register_anyway_is_ticked(client, receptionist, patient):
    client.force_login(receptionist)

    response = client.post(
        reverse("patients:register"),
        new_patient(
            first_name="Maria", last_name="Alvarez", date_of_birth="1962-03-14", register_anyway="on"
        ),
    )

    assert response.status_code == 302
    assert Patient.objects.filter(first_name="Maria", last_name="Alvarez").count() == 2


def test_it_warns_of_an_archived_namesake_too(client, receptionist, patient):
    services.patient_archive(patient=patient)
    client.force_login(receptionist)

    response = client.post(
        reverse("patients:register"),
        new_patient(first_name="Maria", last_name="Alvarez", date_of_birth="1962-03-14"),
    )

    assert "Already registered?" in text(response)
    assert "(archived)" in text(response)
    assert Patient.objects.count() == 1


def test_it_refuses_a_date_of_birth_in_the_future(client, receptionist):
    client.force_login(receptionist)
    tomorrow = timezone.localdate() + datetime.timedelta(days=1)

    response = client.post(reverse("patients:register"), new_patient(date_of_birth=tomorrow.isoformat()))

    assert response.status_code == 200
    assert "The date of birth cannot be in the future." in text(response)
    assert not Patient.objects.exists()


@pytest.mark.parametrize("phone", ["12", "+1 555"])
def test_it_refuses_an_impossible_phone_number(client, receptionist, phone):
    client.force_login(receptionist)

    response = client.post(reverse("patients:register"), new_patient(phone=phone))

    assert response.status_code == 200
    assert "Enter a valid phone number" in text(response)
    assert not Patient.objects.exists()


# Changing a patient's details.


def test_it_changes_a_patients_details(client, receptionist, patient):
    client.force_login(receptionist)

    response = client.post(
        reverse("patients:edit", args=[patient.pk]),
        details(patient, phone="212-555-0100", front_desk_notes="Uses a wheelchair; ground floor room."),
        follow=True,
    )

    assert escape("Maria Alvarez's details are saved.") in text(response)
    assert "Uses a wheelchair; ground floor room." in text(response)
    patient.refresh_from_db()
    assert patient.phone == "+12125550100"


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("date_of_birth", "2999-01-01", "The date of birth cannot be in the future."),
        ("phone", "12", "Enter a valid phone number"),
        ("phone", "+1 555", "Enter a valid phone number"),
    ],
)
def test_it_refuses_bad_details_and_keeps_the_old_ones(client, receptionist, patient, field, value, message):
    client.force_login(receptionist)

    response = client.post(
        reverse("patients:edit", args=[patient.pk]),
        details(patient, front_desk_notes="Changed.", **{field: value}),
    )

    assert response.status_code == 200
    assert message in text(response)
    patient.refresh_from_db()
    assert patient.date_of_birth == datetime.date(1962, 3, 14)
    assert patient.phone == "+12125550147"
    assert patient.front_desk_notes == ""


def test_it_notes_when_the_patient_withdraws_consent_to_email_reminders(client, receptionist, patient):
    client.force_login(receptionist)

    with time_machine.travel(MONDAY_MORNING, tick=False):
        response = client.post(
            reverse("patients:edit", args=[patient.pk]), details(patient, email_consent=None), follow=True
        )

    patient.refresh_from_db()
    assert patient.email_consent is False
    assert patient.email_consent_changed_at == MONDAY_MORNING
    assert "<strong>No</strong> (since 3 Mar 2025)" in text(response)


def test_it_keeps_the_consent_date_when_the_email_consent_does_not_change(client, receptionist, patient):
    Patient.objects.filter(pk=patient.pk).update(email_consent_changed_at=MONDAY_MORNING)
    patient.refresh_from_db()
    client.force_login(receptionist)

    client.post(reverse("patients:edit", args=[patient.pk]), details(patient, city="Newark"))

    patient.refresh_from_db()
    assert patient.city == "Newark"
    assert patient.email_consent_changed_at == MONDAY_MORNING


def field_error(response, name):
    """The message shown under a field of the patient form."""
    found = re.search(rf'id="error_1_id_{name}"[^>]*>\s*<strong>(.*?)</strong>', text(response), re.DOTALL)
    return html.unescape(found.group(1)) if found else None


def test_it_refuses_consent_to_email_reminders_without_an_email_address(client, receptionist):
    client.force_login(receptionist)

    response = client.post(
        reverse("patients:register"), new_patient(email="", email_consent="on", city="Hoboken")
    )

    assert response.status_code == 200
    assert field_error(response, "email_consent") == EMAIL_CONSENT_NEEDS_EMAIL
    assert field_error(response, "email") is None
    form = response.context["form"]
    assert (form["first_name"].value(), form["city"].value(), form["email_consent"].value()) == (
        "Nadia",
        "Hoboken",
        True,
    )
    assert 'value="Hoboken"' in text(response)
    assert not Patient.objects.filter(last_name="Okafor").exists()


def test_it_refuses_to_clear_the_email_address_of_a_patient_who_consents(client, receptionist, patient):
    client.force_login(receptionist)

    response = client.post(reverse("patients:edit", args=[patient.pk]), details(patient, email=""))

    assert field_error(response, "email_consent") == EMAIL_CONSENT_NEEDS_EMAIL
    patient.refresh_from_db()
    assert (patient.email, patient.email_consent) == ("maria.alvarez@patient.example", True)


def test_it_registers_a_patient_with_no_email_address_who_does_not_consent(client, receptionist):
    client.force_login(receptionist)

    response = client.post(reverse("patients:register"), new_patient(email=""))

    assert response.status_code == 302
    assert Patient.objects.get(last_name="Okafor").email_consent is False


def admin_form_data(response, **changes):
    """The admin form's current values as a browser would post them, with changes."""
    form = response.context["adminform"].form
    data = {}
    for name in form.fields:
        value = form[name].value()
        if value is True:
            data[name] = "on"
        elif value not in (False, None):
            data[name] = value
    data.update(changes)
    return data


def test_the_admin_refuses_consent_to_email_reminders_without_an_email_address(client, clinic_admin, patient):
    client.force_login(clinic_admin)
    url = reverse("admin:patients_patient_change", args=[patient.pk])

    response = client.post(url, admin_form_data(client.get(url), email=""))

    assert response.status_code == 200
    assert response.context["adminform"].form.errors == {"email_consent": [EMAIL_CONSENT_NEEDS_EMAIL]}
    assert EMAIL_CONSENT_NEEDS_EMAIL in html.unescape(text(response))
    patient.refresh_from_db()
    assert (patient.email, patient.email_consent) == ("maria.alvarez@patient.example", True)


def test_only_the_clinic_admin_reassigns_the_treating_therapist(
    client, receptionist, clinic_admin, other_therapist, patient
):
    client.force_login(receptionist)
    edit = reverse("patients:edit", args=[patient.pk])

    assert "treating_therapist" not in text(client.get(edit))
    client.post(edit, details(patient, treating_therapist=other_therapist.pk))
    patient.refresh_from_db()
    assert patient.treating_therapist.username == "theo"

    client.force_login(clinic_admin)
    client.post(edit, details(patient, treating_therapist=other_therapist.pk))
    patient.refresh_from_db()
    assert patient.treating_therapist == other_therapist


# Archiving.


@time_machine.travel(MONDAY_MORNING, tick=False)
def test_it_archives_a_patient_and_hides_them_from_the_list(client, receptionist, patient):
    client.force_login(receptionist)

    response = client.post(reverse("patients:archive", args=[patient.pk]), follow=True)

    assert "Maria Alvarez is archived. Their records are kept." in text(response)
    patient.refresh_from_db()
    assert patient.archived_at == MONDAY_MORNING
    assert listed(client.get(reverse("patients:list"), {"q": "alvarez"})) == []
    with_archived = client.get(reverse("patients:list"), {"q": "alvarez", "archived": "on"})
    assert listed(with_archived) == ["Alvarez, Maria"]
    assert "Archived</span>" in text(with_archived)


def test_it_refuses_to_archive_an_archived_patient(client, receptionist, patient):
    Patient.objects.filter(pk=patient.pk).update(archived_at=MONDAY_MORNING)
    client.force_login(receptionist)

    response = client.post(reverse("patients:archive", args=[patient.pk]), follow=True)

    assert "Maria Alvarez is already archived." in text(response)
    patient.refresh_from_db()
    assert patient.archived_at == MONDAY_MORNING


def test_it_restores_an_archived_patient(client, receptionist, patient):
    Patient.objects.filter(pk=patient.pk).update(archived_at=MONDAY_MORNING)
    client.force_login(receptionist)

    response = client.post(reverse("patients:restore", args=[patient.pk]), follow=True)

    assert "Maria Alvarez is restored." in text(response)
    patient.refresh_from_db()
    assert patient.archived_at is None
    assert listed(client.get(reverse("patients:list"), {"q": "alvarez"})) == ["Alvarez, Maria"]


# Finding a patient.


@pytest.fixture
def registry(patient):
    """Maria Alvarez and her near-namesakes, one of them archived."""
    PatientFactory(
        first_name="Mario",
        last_name="Alvarado",
        date_of_birth=datetime.date(1970, 1, 1),
        phone="+12125550148",
        email="mario.alvarado@patient.example",
    )
    PatientFactory(
        first_name="Maria",
        last_name="Lopez",
        date_of_birth=datetime.date(1962, 3, 15),
        phone="+13125550147",
        email="maria.lopez@patient.example",
    )
    PatientFactory(
        first_name="Marianne",
        last_name="Alvers",
        date_of_birth=datetime.date(1962, 3, 14),
        phone="+12015550147",
        email="maria.alvarez@elsewhere.example",
        archived_at=MONDAY_MORNING,
    )


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("maria alv", ["Alvarez, Maria"]),
        ("MARIA ALV", ["Alvarez, Maria"]),
        ("alvarez", ["Alvarez, Maria"]),
        ("mar", ["Alvarado, Mario", "Alvarez, Maria", "Lopez, Maria"]),
        ("1962-03-14", ["Alvarez, Maria"]),
        ("03/14/1962", ["Alvarez, Maria"]),
        ("(212) 555-0147", ["Alvarez, Maria"]),
        ("212-555-0147", ["Alvarez, Maria"]),
        ("212 555 0147", ["Alvarez, Maria"]),
        ("+1 212 555 0147", ["Alvarez, Maria"]),
        ("maria.alvarez@pat", ["Alvarez, Maria"]),
        ("MARIA.ALVAREZ@PATIENT.EXAMPLE", ["Alvarez, Maria"]),
        ("maria@", []),
        ("zzz", []),
    ],
)
def test_it_finds_active_patients_by_name_birth_date_phone_or_email(
    client, receptionist, registry, query, expected
):
    client.force_login(receptionist)

    response = client.get(reverse("patients:list"), {"q": query})

    assert listed(response) == expected
    if not expected:
        assert "No patients found." in text(response)


@pytest.mark.parametrize(
    "query", ["maria alv", "1962-03-14", "03/14/1962", "555-0147", "maria.alvarez@", "mar"]
)
def test_it_finds_archived_patients_only_when_asked(client, receptionist, registry, query):
    client.force_login(receptionist)

    without = listed(client.get(reverse("patients:list"), {"q": query}))
    with_archived = listed(client.get(reverse("patients:list"), {"q": query, "archived": "on"}))

    assert "Alvers, Marianne" not in without
    assert "Alvers, Marianne" in with_archived
    assert set(with_archived) - set(without) == {"Alvers, Marianne"}


def test_it_lists_the_newest_registrations_first(client, receptionist):
    with time_machine.travel(MONDAY_MORNING, tick=False):
        PatientFactory(first_name="Ada", last_name="Early")
    PatientFactory(first_name="Zoe", last_name="Late")
    client.force_login(receptionist)

    assert listed(client.get(reverse("patients:list"))) == ["Late, Zoe", "Early, Ada"]


def test_the_next_page_of_a_search_still_includes_archived_patients(client, receptionist):
    PatientFactory.create_batch(51, last_name="Archer", archived_at=MONDAY_MORNING)
    client.force_login(receptionist)
    first_page = client.get(reverse("patients:list"), {"q": "archer", "archived": "on"})
    assert len(listed(first_page)) == 50
    next_link = re.search(r'<a class="page-link" href="([^"]+)">Next</a>', text(first_page))

    second_page = client.get(reverse("patients:list") + html.unescape(next_link.group(1)))

    assert len(listed(second_page)) == 1


def test_the_patient_list_pages_without_counting_the_whole_table(client, receptionist):
    PatientFactory.create_batch(53, last_name="Archer")
    PatientFactory.create_batch(3, last_name="Zimmer")
    client.force_login(receptionist)

    with CaptureQueriesContext(connection) as queries:
        first_page = client.get(reverse("patients:list"), {"q": "archer"})
    assert not [query for query in queries.captured_queries if "COUNT(" in query["sql"].upper()]
    assert len(listed(first_page)) == 50
    assert "More than 50 match" in text(first_page)
    next_link = re.search(r'<a class="page-link" href="([^"]+)">Next</a>', text(first_page))
    second_page = client.get(reverse("patients:list") + html.unescape(next_link.group(1)))
    assert len(listed(second_page)) == 3
    assert "Page 2" in text(second_page)
    assert 'class="page-link" href="?q=archer&amp;page=1">Previous</a>' in text(second_page)
    assert ">Next</a>" not in text(second_page)

    assert "3 patients match &ldquo;zimmer&rdquo;." in text(
        client.get(reverse("patients:list"), {"q": "zimmer"})
    )


@pytest.mark.parametrize("page", ["0", "-1", "x", "99999999999999999999999", "10001"])
def test_an_impossible_page_number_shows_the_first_page(client, receptionist, page):
    PatientFactory(last_name="Archer")
    client.force_login(receptionist)

    response = client.get(reverse("patients:list"), {"page": page})

    assert response.status_code == 200
    assert listed(response) == [f"Archer, {Patient.objects.get().first_name}"]


def test_a_page_past_the_last_says_so(client, receptionist):
    PatientFactory(last_name="Archer")
    client.force_login(receptionist)

    response = client.get(reverse("patients:list"), {"page": "3"})

    assert listed(response) == []
    assert "No more patients." in text(response)


# How many queries the pages run.


def test_the_patient_list_runs_as_many_queries_for_60_patients_as_for_5(
    client, receptionist, django_assert_num_queries
):
    for _ in range(5):
        ScreeningFactory(patient=PatientFactory())
    client.force_login(receptionist)
    client.get(reverse("patients:list"))
    with CaptureQueriesContext(connection) as five:
        response = client.get(reverse("patients:list"))
    assert len(listed(response)) == 5

    for _ in range(55):
        ScreeningFactory(patient=PatientFactory(), result=Screening.Result.PRECAUTIONS)

    with django_assert_num_queries(len(five)):
        response = client.get(reverse("patients:list"))
    assert len(listed(response)) == 50
    assert "Cleared with precautions" in text(response)


@pytest.mark.parametrize("persona", ["therapist", "receptionist"])
def test_the_patient_page_runs_as_many_queries_for_10_entries_of_each_kind_as_for_1(
    client, request, therapist, patient, django_assert_num_queries, persona
):
    def add_entries(count, first_day):
        for n in range(first_day, first_day + count):
            day = MONDAY_MORNING + datetime.timedelta(days=n)
            ScreeningFactory(patient=patient, therapist=therapist, signed_at=day)
            AppointmentFactory(patient=patient, therapist=therapist, starts_at=day)
            AssessmentFactory(patient=patient, therapist=therapist, assessed_at=day)
            ConsentFactory(patient=patient, witnessed_by=therapist, given_at=day)

    add_entries(1, first_day=0)
    client.force_login(request.getfixturevalue(persona))
    client.get(patient.get_absolute_url())
    with CaptureQueriesContext(connection) as one_each:
        response = client.get(patient.get_absolute_url())
    assert text(response).count("Follow-up</strong>") == 1

    add_entries(9, first_day=1)

    with django_assert_num_queries(len(one_each)):
        response = client.get(patient.get_absolute_url())
    assert text(response).count("Follow-up</strong>") == 10
    # The patient comes with their clearance (no queries of the gate's own).
    assert len(one_each) <= 13


def upcoming_days(response):
    return re.findall(r"<strong>(\w{3} \d{1,2} \w{3} \d{4}), 10:00</strong>", text(response))


def later_link(response):
    found = re.search(r'<a href="([^"]+)">Show later appointments</a>', text(response))
    return html.unescape(found.group(1)) if found else None


def test_a_patient_booked_weekly_a_year_ahead_sees_the_next_ten_and_pages_through_the_rest(
    client, receptionist, patient, time_machine, django_assert_max_num_queries
):
    time_machine.move_to(MONDAY_MORNING - datetime.timedelta(days=1), tick=False)
    weeks = [MONDAY_MORNING + datetime.timedelta(weeks=n) for n in range(52)]
    for starts_at in weeks:
        AppointmentFactory(patient=patient, starts_at=starts_at)
    client.force_login(receptionist)
    url = patient.get_absolute_url()
    client.get(url)
    with CaptureQueriesContext(connection) as first_page:
        page = client.get(url)

    assert upcoming_days(page) == [f"{day:%a} {day.day} {day:%b %Y}" for day in weeks[:10]]
    seen = upcoming_days(page)
    while link := later_link(page):
        with django_assert_max_num_queries(len(first_page)):
            page = client.get(url + link.removeprefix(url))
        assert "Back to the next appointments" in text(page)
        seen += upcoming_days(page)

    assert seen == [f"{day:%a} {day.day} {day:%b %Y}" for day in weeks]


def test_an_unreadable_upcoming_cursor_shows_the_next_appointments(
    client, receptionist, patient, time_machine
):
    time_machine.move_to(MONDAY_MORNING - datetime.timedelta(days=1), tick=False)
    AppointmentFactory(patient=patient, starts_at=MONDAY_MORNING)
    client.force_login(receptionist)

    for after in ["tomorrow", "2026-13-45T25:00", "9999-12-31T23:59:59+99:00", "2026-03-08T02:30"]:
        response = client.get(patient.get_absolute_url(), {"upcoming_after": after})
        assert response.status_code == 200
        assert len(upcoming_days(response)) == 1


def timeline_entries(response):
    return re.findall(
        r'<li class="list-group-item">\s*<div class="d-flex flex-wrap justify-content-between gap-2">',
        text(response),
    )


def earlier_link(response):
    found = re.search(r'<a href="([^"]+)">Show earlier entries</a>', text(response))
    return html.unescape(found.group(1)) if found else None


def test_a_long_history_is_shown_a_page_at_a_time_and_every_entry_once(client, therapist, patient):
    """420 visits over the years: the page shows the newest 40 and pages
    back through the rest, each visit exactly once, in as many queries per
    page as for a short history."""
    first = MONDAY_MORNING - datetime.timedelta(days=3 * 420)
    for n in range(420):
        AppointmentFactory(
            patient=patient, therapist=therapist, starts_at=first + datetime.timedelta(days=3 * n)
        )
    client.force_login(therapist)
    url = patient.get_absolute_url()
    client.get(url)
    with CaptureQueriesContext(connection) as newest:
        page = client.get(url)
    assert len(timeline_entries(page)) == 40
    assert "Back to the newest" not in text(page)

    seen = re.findall(r"(\w{3} \d{1,2} \w{3} \d{4}), 10:00", text(page))
    pages = 1
    while link := earlier_link(page):
        with CaptureQueriesContext(connection) as earlier:
            page = client.get(url + link.removeprefix(url))
        assert len(earlier) <= len(newest) + 1
        assert "Back to the newest" in text(page)
        seen += re.findall(r"(\w{3} \d{1,2} \w{3} \d{4}), 10:00", text(page))
        pages += 1

    assert pages == 11
    assert len(seen) == len(set(seen)) == 420


def test_an_unreadable_timeline_cursor_shows_the_newest_entries(client, therapist, patient):
    AppointmentFactory(patient=patient, therapist=therapist, starts_at=MONDAY_MORNING)
    client.force_login(therapist)

    for before in ["yesterday", "2026-13-45T25:00", "9999-12-31T23:59:59+99:00", "2026-03-08T02:30"]:
        response = client.get(patient.get_absolute_url(), {"before": before})
        assert response.status_code == 200
        assert len(timeline_entries(response)) == 1


# Screening.


def test_it_shows_one_yes_no_question_per_active_item_and_a_note_per_precaution(client, therapist, patient):
    retired = ScreeningItem.objects.create(
        code="retired", question="A retired question?", category="precaution", is_active=False
    )
    client.force_login(therapist)

    page = text(client.get(reverse("patients:screening-new", args=[patient.pk])))

    for active in ScreeningItem.objects.filter(is_active=True):
        assert escape(active.question) in page
        assert page.count(f'name="item_{active.pk}"') == 2
        has_note = f'name="acknowledge_{active.pk}"' in page
        assert has_note == (active.category == "precaution")
    assert retired.question not in page
    assert f'name="item_{retired.pk}"' not in page


def test_it_saves_a_screening_as_a_draft_then_signs_it(client, therapist, patient):
    client.force_login(therapist)
    answers = screening_answers(
        yes={"diabetes"},
        acknowledgements={"diabetes": "Check both feet before needling."},
        notes="Type 2 diabetes, on metformin.",
    )

    response = client.post(reverse("patients:screening-new", args=[patient.pk]), answers, follow=True)

    screening = Screening.objects.get()
    assert response.redirect_chain == [(screening.get_absolute_url(), 302)]
    page = text(response)
    assert "Screening saved as a draft. Check the result, then sign it." in page
    assert "Draft: not signed yet." in page
    assert "Cleared with precautions" in page
    assert "Check both feet before needling." in page
    assert "Type 2 diabetes, on metformin." in page
    assert services.current_screening(patient) is None

    with time_machine.travel(MONDAY_MORNING, tick=False):
        response = client.post(
            reverse("patients:screening-sign", args=[patient.pk, screening.pk]), follow=True
        )

    page = text(response)
    assert "Screening signed: Cleared with precautions." in page
    assert "valid until 1 June 2025" in page
    assert "Sign screening" not in page
    assert services.current_screening(patient) == screening


def test_it_lets_the_therapist_change_a_draft_before_signing(client, therapist, patient):
    draft = screening_with_answers(patient=patient, therapist=therapist, sign=False)
    client.force_login(therapist)

    response = client.post(
        reverse("patients:screening-edit", args=[patient.pk, draft.pk]),
        screening_answers(yes={"pregnancy"}, notes="Pregnant, 12 weeks."),
        follow=True,
    )

    assert "Draft screening updated." in text(response)
    assert "Not cleared: do not needle" in text(response)
    draft.refresh_from_db()
    assert draft.result == Screening.Result.NOT_CLEARED
    assert draft.notes == "Pregnant, 12 weeks."


def test_it_shows_the_urgent_referral_wording_for_suspected_cauda_equina(client, therapist, patient):
    client.force_login(therapist)

    response = client.post(
        reverse("patients:screening-new", args=[patient.pk]),
        screening_answers(yes={"saddle_numbness"}),
        follow=True,
    )

    page = text(response)
    assert "Urgent referral: suspected cauda equina syndrome" in page
    assert escape(item("saddle_numbness").question) in page
    assert "This patient cannot be put on a dry-needling plan." in page

    screening = Screening.objects.get()
    client.post(reverse("patients:screening-sign", args=[patient.pk, screening.pk]))
    clearance = gate.needling_clearance(patient)
    assert not clearance.is_cleared
    assert clearance.problems[0] == "The latest screening refers the patient out: not a dry-needling case."
    patient_page = text(client.get(patient.get_absolute_url()))
    assert "Referred out urgently" in patient_page
    assert "The latest screening refers the patient out: not a dry-needling case." in patient_page


def test_it_shows_a_referral_without_urgency_for_other_red_flags(client, therapist, patient):
    client.force_login(therapist)

    response = client.post(
        reverse("patients:screening-new", args=[patient.pk]),
        screening_answers(yes={"unexplained_weight_loss"}),
        follow=True,
    )

    assert "Refer out: red flags for serious pathology" in text(response)
    assert "Urgent referral" not in text(response)


def test_a_patient_not_cleared_cannot_be_cleared_for_needling(client, therapist, patient):
    client.force_login(therapist)
    client.post(
        reverse("patients:screening-new", args=[patient.pk]), screening_answers(yes={"anticoagulants"})
    )
    screening = Screening.objects.get()
    client.post(reverse("patients:screening-sign", args=[patient.pk, screening.pk]))
    ConsentFactory(patient=patient, witnessed_by=therapist)

    clearance = gate.needling_clearance(patient)

    assert not clearance.is_cleared
    assert clearance.problems == ["The latest screening did not clear the patient for dry needling."]
    assert "Not cleared</span>" in text(client.get(patient.get_absolute_url()))


def test_it_refuses_a_screening_with_unanswered_questions(client, therapist, patient):
    client.force_login(therapist)

    response = client.post(
        reverse("patients:screening-new", args=[patient.pk]),
        screening_answers(skip={"fever", "epilepsy"}),
    )

    assert response.status_code == 200
    assert text(response).count("Answer this question.") == 2
    assert not Screening.objects.exists()


def test_it_refuses_a_precaution_answered_yes_without_a_note(client, therapist, patient):
    client.force_login(therapist)

    response = client.post(
        reverse("patients:screening-new", args=[patient.pk]),
        screening_answers(yes={"epilepsy"}, acknowledgements={"epilepsy": "  "}),
    )

    assert response.status_code == 200
    assert "Acknowledge this precaution with a note before saving." in text(response)
    assert not Screening.objects.exists()


def test_it_refuses_a_second_signature(client, therapist, patient):
    with time_machine.travel(MONDAY_MORNING, tick=False):
        signed = screening_with_answers(patient=patient, therapist=therapist)
    client.force_login(therapist)

    response = client.post(reverse("patients:screening-sign", args=[patient.pk, signed.pk]), follow=True)

    assert "This screening is already signed." in text(response)
    signed.refresh_from_db()
    assert signed.signed_at == MONDAY_MORNING
    assert signed.valid_until == datetime.date(2025, 6, 1)


def test_it_refuses_to_change_a_signed_screening_by_a_crafted_post(client, therapist, patient):
    signed = screening_with_answers(patient=patient, therapist=therapist, notes="Nothing of note.")
    client.force_login(therapist)

    response = client.post(
        reverse("patients:screening-edit", args=[patient.pk, signed.pk]),
        screening_answers(yes={"fever"}, notes="Rewritten."),
        follow=True,
    )

    assert response.redirect_chain == [(signed.get_absolute_url(), 302)]
    assert "This screening is signed and can no longer be changed." in text(response)
    signed.refresh_from_db()
    assert signed.result == Screening.Result.CLEARED
    assert signed.notes == "Nothing of note."
    assert not signed.answers.filter(answer=True).exists()


def test_a_new_signed_screening_supersedes_the_old_one(client, therapist, patient):
    with time_machine.travel(MONDAY_MORNING, tick=False):
        old = screening_with_answers(patient=patient, therapist=therapist, yes={"anticoagulants"})
    with time_machine.travel(MONDAY_MORNING + datetime.timedelta(days=30), tick=False):
        new = screening_with_answers(patient=patient, therapist=therapist)
        client.force_login(therapist)

        old_page = text(client.get(old.get_absolute_url()))
        patient_page = text(client.get(patient.get_absolute_url()))

    assert f'Superseded by <a href="{new.get_absolute_url()}">the screening of 2 April 2025</a>' in old_page
    assert "Superseded" not in text(client.get(new.get_absolute_url()))
    assert services.current_screening(patient) == new
    clearance_card = patient_page.split('id="clearance-heading"')[1].split("</section>")[0]
    assert "Cleared</span>" in clearance_card
    assert "Not cleared" not in clearance_card


def test_the_therapist_who_screens_an_unassigned_patient_becomes_their_therapist(client, other_therapist):
    patient = PatientFactory(first_name="Ines", last_name="Duarte", treating_therapist=None)
    client.force_login(other_therapist)

    client.post(reverse("patients:screening-new", args=[patient.pk]), screening_answers())

    patient.refresh_from_db()
    assert patient.treating_therapist == other_therapist
    assert f"Therapist: {escape(other_therapist.get_full_name())}" in text(
        client.get(patient.get_absolute_url())
    )


def test_another_therapist_cannot_screen_or_assess_the_patient(client, other_therapist, patient):
    client.force_login(other_therapist)

    screening = client.post(reverse("patients:screening-new", args=[patient.pk]), screening_answers())
    assessment = client.post(reverse("patients:assessment-new", args=[patient.pk]), assessment_answers())
    patient_page = text(client.get(patient.get_absolute_url()))

    assert (screening.status_code, assessment.status_code) == (403, 403)
    assert not Screening.objects.exists()
    assert not Assessment.objects.exists()
    patient.refresh_from_db()
    assert patient.treating_therapist.username == "theo"
    assert "Clinical records are visible only to the patient's treating therapist." in patient_page
    assert "New screening" not in patient_page


def test_it_refuses_to_screen_an_archived_patient(client, therapist, patient):
    Patient.objects.filter(pk=patient.pk).update(archived_at=MONDAY_MORNING)
    client.force_login(therapist)

    response = client.post(reverse("patients:screening-new", args=[patient.pk]), screening_answers())

    assert response.status_code == 200
    assert "This patient is archived; restore the patient before screening." in text(response)
    assert not Screening.objects.exists()


# Who read which clinical record.


def test_it_logs_each_read_of_a_clinical_record(client, therapist, clinic_admin, patient):
    screening = screening_with_answers(patient=patient, therapist=therapist)
    assessment = AssessmentFactory(patient=patient, therapist=therapist)

    with time_machine.travel(MONDAY_MORNING, tick=False):
        client.force_login(therapist)
        client.get(patient.get_absolute_url())
        client.get(screening.get_absolute_url())
        client.get(assessment.get_absolute_url())
        client.force_login(clinic_admin)
        client.get(patient.get_absolute_url())

    logged = (
        AuditEvent.objects.reads()
        .order_by("id")
        .values_list("user__username", "patient", "record", "accessed_at")
    )
    assert list(logged) == [
        ("theo", patient.pk, "clinical timeline", MONDAY_MORNING),
        ("theo", patient.pk, f"screening {screening.pk}", MONDAY_MORNING),
        ("theo", patient.pk, f"assessment {assessment.pk}", MONDAY_MORNING),
        ("alex", patient.pk, "clinical timeline", MONDAY_MORNING),
    ]


def test_it_logs_the_front_desk_reading_details_but_no_clinical_record(
    client, receptionist, therapist, patient
):
    screening_with_answers(patient=patient, therapist=therapist)
    client.force_login(receptionist)

    client.get(patient.get_absolute_url())
    client.get(reverse("patients:list"))

    reads = AuditEvent.objects.reads().values_list("user", "patient", "record")
    assert list(reads) == [(receptionist.pk, patient.pk, "patient details")]


# Consent.


def test_it_records_consent_to_the_current_text_witnessed_by_the_therapist(client, therapist, patient):
    client.force_login(therapist)
    consent_page = text(client.get(reverse("patients:consent-new", args=[patient.pk])))
    assert "Consent to dry needling" in consent_page
    assert "version 1" in consent_page

    given_at = an_hour_ago()
    response = client.post(
        reverse("patients:consent-new", args=[patient.pk]),
        {"method": Consent.Method.ON_SCREEN, "given_at": given_at, "confirmed": "on"},
        follow=True,
    )

    assert response.redirect_chain == [(patient.get_absolute_url(), 302)]
    assert "Consent to version 1 recorded." in text(response)
    assert f"version 1, confirmed on screen, witnessed by {escape(therapist.get_full_name())}" in text(
        response
    )
    consent = Consent.objects.get()
    assert (consent.patient, consent.witnessed_by, consent.method) == (
        patient,
        therapist,
        Consent.Method.ON_SCREEN,
    )
    assert timezone.localtime(consent.given_at).strftime("%Y-%m-%dT%H:%M") == given_at


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"confirmed": ""}, "Confirm that the patient agrees to this text."),
        (
            {"given_at": (timezone.localtime() + datetime.timedelta(days=1)).strftime("%Y-%m-%dT%H:%M")},
            "Consent cannot be recorded as given in the future.",
        ),
        ({"method": "verbal"}, "Select a valid choice."),
    ],
)
def test_it_refuses_a_consent_form_that_is_not_complete(client, therapist, patient, changes, message):
    client.force_login(therapist)
    data = {"method": Consent.Method.PAPER, "given_at": an_hour_ago(), "confirmed": "on", **changes}

    response = client.post(reverse("patients:consent-new", args=[patient.pk]), data)

    assert response.status_code == 200
    assert message in text(response)
    assert not Consent.objects.exists()


@time_machine.travel(MONDAY_MORNING, tick=False)
def test_it_records_the_withdrawal_of_consent_once(client, therapist, patient):
    consent = ConsentFactory(patient=patient, witnessed_by=therapist)
    client.force_login(therapist)
    withdraw = reverse("patients:consent-withdraw", args=[patient.pk, consent.pk])

    response = client.post(withdraw, follow=True)

    assert "Consent withdrawn. No needling until the patient consents again." in text(response)
    assert "Withdrawn 3 Mar 2025" in text(response)
    consent.refresh_from_db()
    assert consent.withdrawn_at == MONDAY_MORNING

    response = client.post(withdraw, follow=True)

    assert "This consent was already withdrawn." in text(response)
    consent.refresh_from_db()
    assert consent.withdrawn_at == MONDAY_MORNING


def test_a_new_consent_text_version_asks_for_consent_again(client, therapist, clinic_admin, patient):
    screening_with_answers(patient=patient, therapist=therapist)
    ConsentFactory(patient=patient, witnessed_by=therapist)
    assert gate.needling_clearance(patient).is_cleared
    services.consent_text_publish(
        title="Consent to dry needling", body="Now also covers electro-needling.", published_by=clinic_admin
    )
    client.force_login(therapist)

    patient_page = text(client.get(patient.get_absolute_url()))
    consent_page = text(client.get(reverse("patients:consent-new", args=[patient.pk])))

    assert "The patient has not given consent to the current consent text." in patient_page
    assert "version 2" in consent_page
    assert "Now also covers electro-needling." in consent_page

    client.post(
        reverse("patients:consent-new", args=[patient.pk]),
        {"method": Consent.Method.PAPER, "given_at": an_hour_ago(), "confirmed": "on"},
    )

    assert services.current_consent(patient).consent_text == ConsentText.objects.get(version=2)
    assert gate.needling_clearance(patient).is_cleared


# Assessment.


def test_it_records_an_assessment_with_its_oswestry_index(client, therapist, patient):
    client.force_login(therapist)

    response = client.post(
        reverse("patients:assessment-new", args=[patient.pk]), assessment_answers(), follow=True
    )

    assessment = Assessment.objects.get()
    assert response.redirect_chain == [(assessment.get_absolute_url(), 302)]
    page = text(response)
    assert "Assessment saved: ODI 51.1%." in page
    assert "Severe disability" in page
    assert "Sex life (if applicable): <em>not answered</em>" in page
    assert "40°" in page
    assert "Positive" in page
    assert (assessment.leg_pain, assessment.back_pain, assessment.odi_sex_life) == (7, 3, None)
    assert assessment.therapist == therapist


def test_it_refuses_to_assess_an_archived_patient(client, therapist, patient):
    """As for a screening: the patient page offers no "New assessment" for an
    archived patient, and a crafted POST records nothing."""
    Patient.objects.filter(pk=patient.pk).update(archived_at=MONDAY_MORNING)
    client.force_login(therapist)

    response = client.post(reverse("patients:assessment-new", args=[patient.pk]), assessment_answers())

    assert response.status_code == 200
    assert "This patient is archived" in text(response)
    assert not Assessment.objects.exists()


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"odi_walking": "7"}, "Select a valid choice. 7 is not one of the available choices."),
        ({"odi_walking": "-1"}, "Select a valid choice. -1 is not one of the available choices."),
        ({"leg_pain": "11"}, "Ensure this value is less than or equal to 10."),
        ({"back_pain": "-1"}, "Ensure this value is greater than or equal to 0."),
        (
            {"odi_walking": "", "odi_lifting": ""},
            "The Oswestry Disability Index needs at least 8 of its 10 sections answered; 7 were.",
        ),
        ({"slr_angle": ""}, "Give the straight-leg raise angle and whether it was positive."),
        ({"slr_positive": ""}, "Give the straight-leg raise angle and whether it was positive."),
        ({"slr_angle": "120"}, "Ensure this value is less than or equal to 90."),
        (
            {"assessed_at": (timezone.localtime() + datetime.timedelta(days=1)).strftime("%Y-%m-%dT%H:%M")},
            "An assessment cannot be dated in the future.",
        ),
    ],
)
def test_it_refuses_a_bad_assessment_and_saves_nothing(client, therapist, patient, changes, message):
    client.force_login(therapist)

    response = client.post(
        reverse("patients:assessment-new", args=[patient.pk]), assessment_answers(**changes)
    )

    assert response.status_code == 200
    assert message in text(response)
    assert not Assessment.objects.exists()
