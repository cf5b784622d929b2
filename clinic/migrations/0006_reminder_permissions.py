from django.db import migrations

from clinic.roles import grant_role_permissions

ROLE_PERMISSIONS = {
    "Receptionist": ["scheduling.view_reminder"],
    # change: the admin's "send again" action for failed reminders.
    "Clinic admin": ["scheduling.view_reminder", "scheduling.change_reminder"],
}


def grant(apps, schema_editor):
    grant_role_permissions(apps, ROLE_PERMISSIONS)


class Migration(migrations.Migration):
    dependencies = [
        ("clinic", "0005_scheduling_permissions"),
        ("scheduling", "0006_reminder_outbox"),
    ]

    operations = [migrations.RunPython(grant, migrations.RunPython.noop)]
