"""The access log: every read, write and refusal around a patient's records,
every login and role change; rows can only be added, and a row changed
outside the application is found by `verify_audit_log`."""

import pytest
from django.contrib.auth.models import Group
from django.core.management import CommandError, call_command
from django.db import connection
from django.urls import reverse

from clinic import roles
from clinic.tests.factories import PASSWORD
from patients import audit
from patients.models import AuditEvent, AuditLogIsAppendOnly
from patients.tests.factories import PatientFactory, ScreeningFactory

pytestmark = pytest.mark.django_db

Action = AuditEvent.Action


def log(since=0):
    """The log's rows from the `since`-th on (fixtures write rows of their own)."""
    rows = AuditEvent.objects.order_by("id").values_list("username", "action", "patient", "record", "allowed")
    return list(rows)[since:]


@pytest.fixture
def patient(therapist):
    return PatientFactory(first_name="Maria", last_name="Alvarez", treating_therapist=therapist)


def test_it_logs_logins_failed_logins_and_logouts(client, receptionist):
    since = AuditEvent.objects.count()
    client.post(reverse("login"), {"username": receptionist.username, "password": "not-it"})
    client.post(reverse("login"), {"username": receptionist.username, "password": PASSWORD})
    client.post(reverse("logout"))

    assert log(since) == [
        (receptionist.username, Action.LOGIN_FAILED, None, "", False),
        (receptionist.username, Action.LOGIN, None, "", True),
        (receptionist.username, Action.LOGOUT, None, "", True),
    ]
    assert AuditEvent.objects.get(action=Action.LOGIN).ip_address == "127.0.0.1"


def test_it_logs_reads_and_refusals_of_clinical_records(client, therapist, other_therapist, patient):
    screening = ScreeningFactory(patient=patient, therapist=therapist)
    client.force_login(other_therapist)
    first = AuditEvent.objects.count()  # the login is logged too; only what follows matters here

    refused = client.get(reverse("patients:screening", args=[patient.pk, screening.pk]))
    client.force_login(therapist)
    client.get(reverse("patients:screening", args=[patient.pk, screening.pk]))

    assert refused.status_code == 403
    rows = log(first)
    assert (other_therapist.username, Action.REFUSED, patient.pk, refused.request["PATH_INFO"], False) in rows
    assert (therapist.username, Action.READ, patient.pk, f"screening {screening.pk}", True) in rows


def test_it_logs_who_wrote_a_patients_details(client, receptionist, patient):
    client.force_login(receptionist)
    client.post(reverse("patients:archive", args=[patient.pk]))

    assert (receptionist.username, Action.CHANGE, patient.pk, f"patient {patient.pk}", True) in log()


def test_it_logs_a_role_change_with_who_made_it(client, clinic_admin, receptionist):
    client.force_login(clinic_admin)
    therapists = Group.objects.get(name=roles.THERAPIST)
    form = client.get(reverse("admin:auth_user_change", args=[receptionist.pk])).context["adminform"].form
    data = {key: value for key, value in form.initial.items() if value is not None and key != "password"}
    data.update(
        groups=[receptionist.groups.get().pk, therapists.pk],
        user_permissions=[],
        date_joined_0=receptionist.date_joined.strftime("%Y-%m-%d"),
        date_joined_1=receptionist.date_joined.strftime("%H:%M:%S"),
        last_login_0="",
        last_login_1="",
    )
    client.post(reverse("admin:auth_user_change", args=[receptionist.pk]), data)

    assert receptionist.groups.filter(name=roles.THERAPIST).exists()
    assert (
        clinic_admin.username,
        Action.ROLE_CHANGE,
        None,
        f"{receptionist.username} added to {roles.THERAPIST}",
        True,
    ) in log()


def test_the_log_cannot_be_changed_or_deleted_through_the_orm(therapist, patient):
    event = audit.record(action=Action.READ, user=therapist, patient=patient, what="screening 1")

    event.record = "nothing to see"
    with pytest.raises(AuditLogIsAppendOnly):
        event.save()
    with pytest.raises(AuditLogIsAppendOnly):
        event.delete()
    with pytest.raises(AuditLogIsAppendOnly):
        AuditEvent.objects.filter(pk=event.pk).update(record="nothing to see")
    with pytest.raises(AuditLogIsAppendOnly):
        AuditEvent.objects.all().delete()
    assert AuditEvent.objects.get(pk=event.pk).record == "screening 1"


def test_the_clinic_admin_searches_the_log_by_patient_and_by_user_but_cannot_change_it(
    client, clinic_admin, therapist, other_therapist, patient
):
    other = PatientFactory(first_name="James", last_name="Brooks")
    audit.record(action=Action.READ, user=therapist, patient=patient, what="screening 1")
    audit.record(action=Action.READ, user=other_therapist, patient=other, what="screening 2")
    client.force_login(clinic_admin)
    changelist = reverse("admin:patients_auditevent_changelist")

    by_patient = client.get(changelist, {"q": "Alvarez"}).context["cl"].result_list
    by_user = client.get(changelist, {"q": other_therapist.username}).context["cl"].result_list

    assert [e.record for e in by_patient if e.action == Action.READ] == ["screening 1"]
    assert [e.record for e in by_user if e.action == Action.READ] == ["screening 2"]
    event = AuditEvent.objects.get(record="screening 1")
    delete = client.post(reverse("admin:patients_auditevent_delete", args=[event.pk]), {"post": "yes"})
    assert delete.status_code == 403
    assert AuditEvent.objects.filter(pk=event.pk).exists()


def test_the_verify_command_passes_an_intact_log(therapist, patient, capsys):
    for number in range(3):
        audit.record(action=Action.READ, user=therapist, patient=patient, what=f"screening {number}")

    call_command("verify_audit_log")

    assert f"The access log is intact ({AuditEvent.objects.count()} rows)." in capsys.readouterr().out


@pytest.mark.parametrize(
    ("tamper", "row"),
    [
        ("UPDATE patients_auditevent SET record = 'nothing' WHERE id = %(second)s", "second"),
        ("UPDATE patients_auditevent SET allowed = NOT allowed WHERE id = %(first)s", "first"),
        ("DELETE FROM patients_auditevent WHERE id = %(second)s", "third"),
    ],
)
def test_the_verify_command_finds_a_row_changed_or_removed_in_the_database(therapist, patient, tamper, row):
    rows = {
        name: audit.record(action=Action.READ, user=therapist, patient=patient, what=f"screening {n}").pk
        for n, name in enumerate(["first", "second", "third"])
    }
    with connection.cursor() as cursor:
        cursor.execute(tamper % rows)

    with pytest.raises(CommandError, match=f"row {rows[row]} does not match"):
        call_command("verify_audit_log")
