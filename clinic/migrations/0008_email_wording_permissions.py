from django.db import migrations

from clinic.roles import grant_role_permissions

ROLE_PERMISSIONS = {
    "Clinic admin": [
        "scheduling.view_emailwording",
        "scheduling.add_emailwording",
        "scheduling.change_emailwording",
        "scheduling.delete_emailwording",
    ],
}


def grant(apps, schema_editor):
    grant_role_permissions(apps, ROLE_PERMISSIONS)


class Migration(migrations.Migration):
    dependencies = [
        ("clinic", "0007_checkin_permissions"),
        ("scheduling", "0007_email_wording"),
    ]

    operations = [migrations.RunPython(grant, migrations.RunPython.noop)]
