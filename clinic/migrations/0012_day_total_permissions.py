from django.db import migrations

from clinic.roles import grant_role_permissions

# The day totals the dashboard reads: the clinic admin can look them up.
ROLE_PERMISSIONS = {"Clinic admin": ["scheduling.view_daytotal"]}


def grant(apps, schema_editor):
    grant_role_permissions(apps, ROLE_PERMISSIONS)


class Migration(migrations.Migration):
    dependencies = [
        ("clinic", "0011_audit_checkpoint_permissions"),
        ("scheduling", "0013_day_totals"),
    ]

    operations = [migrations.RunPython(grant, migrations.RunPython.noop)]
