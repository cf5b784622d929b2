from django.db import migrations

from clinic.roles import grant_role_permissions

ROLE_PERMISSIONS = {
    "Receptionist": [
        "scheduling.view_appointmentseries",
        "scheduling.add_appointmentseries",
        "scheduling.view_appointmentchange",
        "scheduling.view_clinichours",
        "scheduling.view_clinicclosure",
        "scheduling.view_workinghoursexception",
    ],
    "Therapist": [
        "scheduling.view_clinichours",
        "scheduling.view_clinicclosure",
        "scheduling.view_workinghoursexception",
    ],
    "Clinic admin": [
        "scheduling.view_appointmentseries",
        "scheduling.view_appointmentchange",
        "scheduling.view_clinichours",
        "scheduling.add_clinichours",
        "scheduling.change_clinichours",
        "scheduling.view_clinicclosure",
        "scheduling.add_clinicclosure",
        "scheduling.change_clinicclosure",
        "scheduling.delete_clinicclosure",
        "scheduling.view_workinghoursexception",
        "scheduling.add_workinghoursexception",
        "scheduling.change_workinghoursexception",
        "scheduling.delete_workinghoursexception",
        "scheduling.view_calendarfeed",
        "scheduling.change_calendarfeed",
    ],
}


def grant(apps, schema_editor):
    grant_role_permissions(apps, ROLE_PERMISSIONS)


class Migration(migrations.Migration):
    dependencies = [
        ("clinic", "0004_treatment_permissions"),
        ("scheduling", "0005_calendar_feeds"),
    ]

    operations = [migrations.RunPython(grant, migrations.RunPython.noop)]
