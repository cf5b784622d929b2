from django.db import migrations

from clinic.roles import grant_role_permissions

FRONT_DESK = [
    "patients.add_patient",
    "patients.change_patient",
    "patients.view_patient",
    "scheduling.add_appointment",
    "scheduling.change_appointment",
    "scheduling.view_appointment",
    "scheduling.view_room",
    "scheduling.view_appointmenttype",
    "scheduling.view_workinghours",
]

ROLE_PERMISSIONS = {
    "Receptionist": FRONT_DESK,
    "Therapist": [
        "patients.view_patient",
        "scheduling.change_appointment",
        "scheduling.view_appointment",
        "scheduling.view_room",
        "scheduling.view_appointmenttype",
        "scheduling.view_workinghours",
    ],
    # Patients are archived, never deleted, so no role may delete them.
    "Clinic admin": [
        *FRONT_DESK,
        "auth.add_user",
        "auth.change_user",
        "auth.view_user",
        "auth.view_group",
        "clinic.view_workerheartbeat",
        "scheduling.add_room",
        "scheduling.change_room",
        "scheduling.delete_room",
        "scheduling.add_appointmenttype",
        "scheduling.change_appointmenttype",
        "scheduling.add_workinghours",
        "scheduling.change_workinghours",
        "scheduling.delete_workinghours",
    ],
}


def create_role_groups(apps, schema_editor):
    grant_role_permissions(apps, ROLE_PERMISSIONS)


def remove_role_groups(apps, schema_editor):
    apps.get_model("auth", "Group").objects.filter(name__in=ROLE_PERMISSIONS).delete()


class Migration(migrations.Migration):
    dependencies = [
        ("auth", "0012_alter_user_first_name_max_length"),
        ("clinic", "0001_initial"),
        ("patients", "0001_initial"),
        ("scheduling", "0001_initial"),
    ]

    operations = [migrations.RunPython(create_role_groups, remove_role_groups)]
