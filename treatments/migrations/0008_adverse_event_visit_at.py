from django.db import migrations, models
from django.db.models import OuterRef, Subquery


def copy_visit_start(apps, schema_editor):
    AdverseEvent = apps.get_model("treatments", "AdverseEvent")
    SessionChart = apps.get_model("treatments", "SessionChart")
    AdverseEvent.objects.update(
        visit_at=Subquery(
            SessionChart.objects.filter(pk=OuterRef("chart_id")).values("appointment__starts_at")
        )
    )


class Migration(migrations.Migration):
    dependencies = [
        ("treatments", "0007_chart_unsigned_by_therapist"),
    ]

    operations = [
        migrations.AddField(
            model_name="adverseevent",
            name="visit_at",
            field=models.DateTimeField(editable=False, null=True),
        ),
        migrations.RunPython(copy_visit_start, migrations.RunPython.noop),
        migrations.AlterField(
            model_name="adverseevent",
            name="visit_at",
            field=models.DateTimeField(editable=False),
        ),
        migrations.AddIndex(
            model_name="adverseevent",
            index=models.Index(fields=["visit_at"], name="adverse_event_visit_idx"),
        ),
    ]
