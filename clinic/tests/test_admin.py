"""The Django admin as the clinic admin uses it: every model has a place
there, its lists open, search and stay quick as they grow; the catalogues
can be changed; clinical records are read, never changed or deleted."""

import datetime
from html.parser import HTMLParser

import pytest
from django.apps import apps
from django.contrib import admin
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from simple_history.models import HistoricalChanges

from clinic.tests.factories import UserFactory, WorkerHeartbeatFactory
from patients.models import ConsentText, Patient, ScreeningItem
from patients.tests.factories import (
    AssessmentFactory,
    ConsentFactory,
    ConsentTextFactory,
    PatientFactory,
    ScreeningFactory,
    ScreeningItemFactory,
    audit_checkpoint,
    audit_event,
    screening_with_answers,
)
from scheduling.models import DayTotal, Reminder
from scheduling.tests.factories import (
    AppointmentFactory,
    AppointmentSeriesFactory,
    AppointmentTypeFactory,
    CalendarFeedFactory,
    ClinicClosureFactory,
    ClinicHoursFactory,
    EmailWordingFactory,
    ReminderFactory,
    RoomFactory,
    WorkingHoursExceptionFactory,
    WorkingHoursFactory,
)
from treatments.models import TreatmentPlan
from treatments.tests.factories import (
    AdverseEventFactory,
    AftercareCheckInFactory,
    AftercareItemFactory,
    ChartAmendmentFactory,
    MuscleFactory,
    SessionChartFactory,
    TreatmentPlanFactory,
    active_plan,
    charted_session,
)

APPS = ("clinic", "patients", "scheduling", "treatments")
REGISTERED = sorted(model._meta.label for model in admin.site._registry if model._meta.app_label in APPS)
EMAIL_KINDS = Reminder.Kind.values

# The i-th row of each model the admin lists (a few models hold one row per
# weekday or per kind of email: past that, a row is found again, not added).
ROWS = {
    "clinic.WorkerHeartbeat": lambda i: WorkerHeartbeatFactory(),
    "patients.Patient": lambda i: PatientFactory(),
    "patients.ScreeningItem": lambda i: ScreeningItemFactory(),
    "patients.Screening": lambda i: ScreeningFactory(),
    "patients.ConsentText": lambda i: ConsentTextFactory(),
    "patients.Consent": lambda i: ConsentFactory(),
    "patients.Assessment": lambda i: AssessmentFactory(),
    "patients.AuditEvent": lambda i: audit_event(),
    "patients.AuditCheckpoint": lambda i: audit_checkpoint(),
    "scheduling.Room": lambda i: RoomFactory(),
    "scheduling.AppointmentType": lambda i: AppointmentTypeFactory(name=f"Long visit {i}"),
    "scheduling.WorkingHours": lambda i: WorkingHoursFactory(),
    "scheduling.WorkingHoursException": lambda i: WorkingHoursExceptionFactory(),
    "scheduling.ClinicHours": lambda i: ClinicHoursFactory(weekday=(5 + i) % 7),
    "scheduling.ClinicClosure": lambda i: ClinicClosureFactory(
        date=datetime.date(2026, 12, 1) + datetime.timedelta(days=i)
    ),
    "scheduling.AppointmentSeries": lambda i: AppointmentSeriesFactory(),
    "scheduling.Appointment": lambda i: AppointmentFactory(),
    "scheduling.DayTotal": lambda i: DayTotal.objects.get(therapist=AppointmentFactory().therapist),
    "scheduling.CalendarFeed": lambda i: CalendarFeedFactory(),
    "scheduling.Reminder": lambda i: ReminderFactory(),
    "scheduling.EmailWording": lambda i: EmailWordingFactory(kind=EMAIL_KINDS[i % len(EMAIL_KINDS)]),
    "treatments.Muscle": lambda i: MuscleFactory(),
    "treatments.AftercareItem": lambda i: AftercareItemFactory(),
    "treatments.TreatmentPlan": lambda i: TreatmentPlanFactory(),
    "treatments.SessionChart": lambda i: SessionChartFactory(),
    "treatments.AdverseEvent": lambda i: AdverseEventFactory(),
    "treatments.ChartAmendment": lambda i: ChartAmendmentFactory(),
    "treatments.AftercareCheckIn": lambda i: AftercareCheckInFactory(),
}

CLINICAL_RECORDS = [
    "patients.Patient",
    "patients.Screening",
    "patients.Consent",
    "patients.Assessment",
    "patients.AuditEvent",
    "patients.AuditCheckpoint",
    "treatments.TreatmentPlan",
    "treatments.SessionChart",
    "treatments.AdverseEvent",
    "treatments.ChartAmendment",
    "treatments.AftercareCheckIn",
]


@pytest.fixture
def superuser(db):
    return UserFactory(username="root", is_staff=True, is_superuser=True)


@pytest.fixture(params=["clinic_admin", "superuser"])
def admin_user(request, db):
    """The clinic admin, and a superuser, whom no permission stops: what they
    cannot do, the admin itself refuses."""
    return request.getfixturevalue(request.param)


def url_of(model, view, *args):
    return reverse(f"admin:{model._meta.app_label}_{model._meta.model_name}_{view}", args=args)


def listed(response):
    return [row.pk for row in response.context["cl"].result_list]


def search_term(row, field):
    """A word of the row's value for an admin search field ("patient__last_name")."""
    value = row
    for name in field.lstrip("^=@").split("__"):
        value = getattr(value, name)
    return str(value).split()[0]


class FormControls(HTMLParser):
    """The names of the fields a person could type into or tick on a page."""

    def __init__(self, page):
        super().__init__()
        self.names = []
        self.feed(page)

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag in ("input", "select", "textarea") and attrs.get("name") and attrs.get("type") != "hidden":
            self.names.append(attrs["name"])


def form_data(response, **changes):
    """The admin form's current values as a browser would post them, with changes."""
    form = response.context["adminform"].form
    data = {}
    for name in form.fields:
        value = form[name].value()
        if value is True:
            data[name] = "on"
        elif value is not False and value is not None:
            data[name] = value
    data.update({name: str(value) for name, value in changes.items()})
    return data


def fields_of(row):
    row.refresh_from_db()
    return {field.attname: getattr(row, field.attname) for field in row._meta.concrete_fields}


# Every model has a place.


def test_every_model_of_the_clinic_is_in_the_admin_or_shown_on_a_record_there():
    shown = set(admin.site._registry) | {
        inline.model for model_admin in admin.site._registry.values() for inline in model_admin.inlines
    }
    missing = [
        model._meta.label
        for app in APPS
        for model in apps.get_app_config(app).get_models()
        if model not in shown and not issubclass(model, HistoricalChanges)
    ]
    assert missing == []


@pytest.mark.parametrize("label", REGISTERED)
def test_the_clinic_admin_opens_and_searches_every_list(client, clinic_admin, label):
    model = apps.get_model(label)
    row = ROWS[label](0)
    search_fields = admin.site.get_model_admin(model).search_fields
    term = search_term(row, search_fields[0]) if search_fields else "anything"
    client.force_login(clinic_admin)

    response = client.get(url_of(model, "changelist"))
    found = client.get(url_of(model, "changelist"), {"q": term})

    assert response.status_code == 200
    assert row.pk in listed(response)
    assert found.status_code == 200
    assert row.pk in listed(found)
    if search_fields:
        assert listed(client.get(url_of(model, "changelist"), {"q": "Zzyzx-nobody"})) == []


# Clinical records are never deleted, and read-only ones never change.


@pytest.mark.parametrize("label", CLINICAL_RECORDS)
def test_a_clinical_record_cannot_be_deleted_in_the_admin(client, admin_user, label):
    model = apps.get_model(label)
    row = ROWS[label](0)
    client.force_login(admin_user)

    delete_page = client.get(url_of(model, "delete", row.pk))
    delete_post = client.post(url_of(model, "delete", row.pk), {"post": "yes"})
    changelist = client.get(url_of(model, "changelist"))
    client.post(
        url_of(model, "changelist"),
        {"action": "delete_selected", "_selected_action": [row.pk], "post": "yes"},
    )

    assert delete_page.status_code == delete_post.status_code == 403
    action_form = changelist.context["action_form"]
    actions = [name for name, _ in action_form.fields["action"].choices] if action_form else []
    assert "delete_selected" not in actions
    assert model.objects.filter(pk=row.pk).exists()


def signed_screening(therapist):
    patient = PatientFactory(treating_therapist=therapist)
    return screening_with_answers(patient=patient, therapist=therapist, yes={"diabetes"})


def signed_chart(therapist):
    return charted_session(active_plan(therapist))


def access_log_entry(therapist):
    return audit_event(user=therapist, record="screening 12")


@pytest.mark.parametrize(
    ("make", "shown", "post"),
    [
        # The answers and needlings are shown with the record they belong to.
        (signed_screening, "Managing diabetes.", {"result": "refer", "notes": "Changed in the admin"}),
        (signed_chart, "Gluteus medius", {"notes": "Changed in the admin", "leg_pain_after": "0"}),
        (access_log_entry, "screening 12", {"record": "nothing"}),
    ],
    ids=["signed screening", "signed chart", "access log"],
)
def test_a_signed_record_is_shown_with_nothing_to_edit_and_a_post_changes_nothing(
    client, admin_user, therapist, make, shown, post
):
    row = make(therapist)
    before = fields_of(row)
    client.force_login(admin_user)

    page = client.get(url_of(type(row), "change", row.pk))
    posted = client.post(url_of(type(row), "change", row.pk), post)

    assert page.status_code == 200
    assert shown in page.content.decode()
    assert FormControls(page.content.decode()).names == []
    assert posted.status_code == 403
    assert fields_of(row) == before


def test_a_past_version_of_a_plan_cannot_be_restored_from_its_history(client, admin_user, therapist):
    plan = active_plan(therapist)
    draft = plan.history.earliest()
    url = reverse("admin:treatments_treatmentplan_simple_history", args=[plan.pk, draft.history_id])
    client.force_login(admin_user)

    page = client.get(url)
    posted = client.post(url, form_data(page))

    assert page.status_code == 200
    assert posted.status_code == 403
    plan.refresh_from_db()
    assert plan.status == TreatmentPlan.Status.ACTIVE


# The catalogues the clinic admin keeps.


@pytest.mark.parametrize(
    ("label", "changes"),
    [
        ("treatments.Muscle", {"name": "Tibialis posterior", "is_active": False}),
        ("treatments.AftercareItem", {"patient_text": "Drink two extra glasses of water today."}),
        ("scheduling.Room", {"name": "Needling room 3"}),
        ("scheduling.AppointmentType", {"default_minutes": 50}),
        ("scheduling.WorkingHours", {"ends_at": datetime.time(11, 30)}),
        ("scheduling.WorkingHoursException", {"starts_at": datetime.time(9), "ends_at": datetime.time(13)}),
        ("scheduling.ClinicHours", {"closes_at": datetime.time(12)}),
        ("scheduling.ClinicClosure", {"reason": "Independence Day"}),
        ("scheduling.EmailWording", {"subject": "Your visit on {{ appointment.starts_at|date:'j M' }}"}),
        ("patients.ScreeningItem", {"guidance": "Check the blood sugar before needling."}),
    ],
)
def test_the_clinic_admin_changes_a_catalogue_row_in_the_admin(client, clinic_admin, label, changes):
    row = ROWS[label](0)
    url = url_of(type(row), "change", row.pk)
    client.force_login(clinic_admin)

    data = form_data(client.get(url), **changes)
    for name, value in changes.items():
        if value is False:
            data.pop(name)  # an unticked box is not posted
    response = client.post(url, data)

    assert response.status_code == 302, response.context["adminform"].form.errors
    row.refresh_from_db()
    assert {name: getattr(row, name) for name in changes} == changes


def test_the_clinic_admin_publishes_a_new_consent_text_and_the_old_one_stays(client, clinic_admin):
    current = ConsentText.objects.latest()
    client.force_login(clinic_admin)

    response = client.post(
        url_of(ConsentText, "add"), {"title": "Consent to dry needling", "body": "Risks, revised."}
    )

    assert response.status_code == 302
    published = ConsentText.objects.latest()
    assert (published.version, published.body, published.published_by) == (
        current.version + 1,
        "Risks, revised.",
        clinic_admin,
    )
    assert fields_of(current) == fields_of(ConsentText.objects.get(pk=current.pk))
    assert client.post(url_of(ConsentText, "change", current.pk), {"body": "Edited"}).status_code == 403


def test_a_screening_question_cannot_be_deleted_only_switched_off(client, admin_user):
    item = ScreeningItem.objects.get(code="diabetes")
    client.force_login(admin_user)

    assert client.post(url_of(ScreeningItem, "delete", item.pk), {"post": "yes"}).status_code == 403
    assert ScreeningItem.objects.filter(pk=item.pk).exists()


def test_a_patients_email_consent_changed_in_the_admin_is_dated_and_only_therapists_are_offered(
    client, clinic_admin, therapist, receptionist
):
    patient = PatientFactory(email_consent=True, treating_therapist=therapist)
    url = url_of(Patient, "change", patient.pk)
    client.force_login(clinic_admin)
    page = client.get(url)

    data = form_data(page, treating_therapist=therapist.pk)
    data.pop("email_consent")  # unticked: the patient opted out
    response = client.post(url, data)

    offered = page.context["adminform"].form.fields["treating_therapist"].queryset
    assert therapist in offered
    assert receptionist not in offered
    assert response.status_code == 302
    patient.refresh_from_db()
    assert not patient.email_consent
    assert patient.email_consent_changed_at is not None


# Lists stay quick as they grow.


@pytest.mark.parametrize("label", REGISTERED)
def test_a_list_of_thirty_rows_takes_no_more_queries_than_a_list_of_three(
    client, clinic_admin, django_assert_max_num_queries, label
):
    model = apps.get_model(label)
    for i in range(3):
        ROWS[label](i)
    url = url_of(model, "changelist")
    client.force_login(clinic_admin)
    client.get(url)  # the session and the content types, once
    with CaptureQueriesContext(connection) as three_rows:
        client.get(url)

    for i in range(3, 30):
        ROWS[label](i)
    with django_assert_max_num_queries(len(three_rows)):
        response = client.get(url)

    assert response.status_code == 200
