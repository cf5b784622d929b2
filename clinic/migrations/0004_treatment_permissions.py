from django.db import migrations

from clinic.roles import grant_role_permissions

ROLE_PERMISSIONS = {
    "Receptionist": ["treatments.view_treatmentplan"],
    "Therapist": [
        "treatments.add_treatmentplan",
        "treatments.change_treatmentplan",
        "treatments.view_treatmentplan",
        "treatments.add_sessionchart",
        "treatments.change_sessionchart",
        "treatments.view_sessionchart",
        "treatments.add_chartamendment",
        "treatments.view_chartamendment",
        "treatments.view_muscle",
        "treatments.view_aftercareitem",
    ],
    "Clinic admin": [
        "treatments.view_treatmentplan",
        "treatments.view_sessionchart",
        "treatments.view_chartamendment",
        "treatments.view_adverseevent",
        "treatments.add_muscle",
        "treatments.change_muscle",
        "treatments.view_muscle",
        "treatments.add_aftercareitem",
        "treatments.change_aftercareitem",
        "treatments.view_aftercareitem",
    ],
}


def grant(apps, schema_editor):
    grant_role_permissions(apps, ROLE_PERMISSIONS)


class Migration(migrations.Migration):
    dependencies = [
        ("clinic", "0003_patient_record_permissions"),
        ("treatments", "0002_muscle_and_aftercare_catalogues"),
    ]

    operations = [migrations.RunPython(grant, migrations.RunPython.noop)]
