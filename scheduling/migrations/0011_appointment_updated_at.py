"""When an appointment last changed, for the calendar feeds' ETag and
Last-Modified. Existing rows take the time of the migration: later than their
real last change, so a calendar fetches them once more, never too few times.
On PostgreSQL a column with a constant default is added without rewriting
the table."""

from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [("scheduling", "0010_seeded_appointment_types")]

    operations = [
        migrations.AddField(
            model_name="appointment",
            name="updated_at",
            field=models.DateTimeField(auto_now=True),
        ),
    ]
