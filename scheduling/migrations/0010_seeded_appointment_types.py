"""The seeded appointment types say what they are for and whether they
involve needling: a first assessment and a re-assessment do not, a
dry-needling session does."""

from django.db import migrations

RENAMED = {
    # old name: (new name, purpose, involves needling)
    "First visit": ("First assessment", "first_assessment", False),
    "Follow-up": ("Dry-needling session", "treatment", True),
}
ADDED = [("Re-assessment", 45, "reassessment", False)]


def name_types(apps, schema_editor):
    AppointmentType = apps.get_model("scheduling", "AppointmentType")
    for old, (new, purpose, needling) in RENAMED.items():
        if not AppointmentType.objects.filter(name=new).exists():
            AppointmentType.objects.filter(name=old).update(
                name=new, purpose=purpose, involves_needling=needling
            )
    for name, minutes, purpose, needling in ADDED:
        AppointmentType.objects.get_or_create(
            name=name,
            defaults={"default_minutes": minutes, "purpose": purpose, "involves_needling": needling},
        )


def restore_names(apps, schema_editor):
    AppointmentType = apps.get_model("scheduling", "AppointmentType")
    for old, (new, _, _) in RENAMED.items():
        AppointmentType.objects.filter(name=new).update(name=old)


class Migration(migrations.Migration):
    dependencies = [("scheduling", "0009_appointment_type_purpose_and_needling")]

    operations = [migrations.RunPython(name_types, restore_names)]
