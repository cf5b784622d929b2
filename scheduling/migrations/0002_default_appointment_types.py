from django.db import migrations

DEFAULT_TYPES = [("First visit", 60), ("Follow-up", 45)]


def create_types(apps, schema_editor):
    AppointmentType = apps.get_model("scheduling", "AppointmentType")
    for name, minutes in DEFAULT_TYPES:
        AppointmentType.objects.get_or_create(name=name, defaults={"default_minutes": minutes})


class Migration(migrations.Migration):
    dependencies = [("scheduling", "0001_initial")]

    operations = [migrations.RunPython(create_types, migrations.RunPython.noop)]
