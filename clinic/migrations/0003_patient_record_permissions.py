from django.db import migrations

from clinic.roles import grant_role_permissions

ROLE_PERMISSIONS = {
    "Therapist": [
        "patients.add_screening",
        "patients.change_screening",
        "patients.view_screening",
        "patients.add_assessment",
        "patients.view_assessment",
        "patients.add_consent",
        "patients.change_consent",
        "patients.view_consent",
        "patients.view_screeningitem",
        "patients.view_consenttext",
    ],
    "Clinic admin": [
        "patients.view_screening",
        "patients.view_screeningitem",
        "patients.add_screeningitem",
        "patients.change_screeningitem",
        "patients.view_assessment",
        "patients.add_consent",
        "patients.change_consent",
        "patients.view_consent",
        "patients.view_consenttext",
        "patients.add_consenttext",
        "patients.view_clinicalrecordaccess",
    ],
}


def grant(apps, schema_editor):
    grant_role_permissions(apps, ROLE_PERMISSIONS)


class Migration(migrations.Migration):
    dependencies = [
        ("clinic", "0002_role_groups"),
        ("patients", "0003_screening_rules_and_consent_text"),
    ]

    operations = [migrations.RunPython(grant, migrations.RunPython.noop)]
