from django.db import migrations

from clinic.roles import grant_role_permissions

# The access log's signed checkpoints: the clinic admin reads them (and copies
# one for verify_audit_log --checkpoint).
ROLE_PERMISSIONS = {"Clinic admin": ["patients.view_auditcheckpoint"]}


def grant(apps, schema_editor):
    grant_role_permissions(apps, ROLE_PERMISSIONS)


class Migration(migrations.Migration):
    dependencies = [
        ("clinic", "0010_access_log_permissions"),
        ("patients", "0007_audit_seal"),
    ]

    operations = [migrations.RunPython(grant, migrations.RunPython.noop)]
