from django.db import migrations

from clinic.roles import grant_role_permissions

ROLE_PERMISSIONS = {
    "Therapist": ["treatments.view_aftercarecheckin", "treatments.change_aftercarecheckin"],
    "Clinic admin": ["treatments.view_aftercarecheckin"],
}


def grant(apps, schema_editor):
    grant_role_permissions(apps, ROLE_PERMISSIONS)


class Migration(migrations.Migration):
    dependencies = [
        ("clinic", "0006_reminder_permissions"),
        ("treatments", "0004_aftercare_checkin"),
    ]

    operations = [migrations.RunPython(grant, migrations.RunPython.noop)]
