from django.db import migrations

from clinic.roles import grant_role_permissions

# The access log became patients.AuditEvent: the clinic admin reads and searches it.
ROLE_PERMISSIONS = {"Clinic admin": ["patients.view_auditevent"]}


def grant(apps, schema_editor):
    grant_role_permissions(apps, ROLE_PERMISSIONS)


class Migration(migrations.Migration):
    dependencies = [
        ("clinic", "0009_account_security_permissions"),
        ("patients", "0006_access_log"),
    ]

    operations = [migrations.RunPython(grant, migrations.RunPython.noop)]
