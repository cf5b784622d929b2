"""Which items of the screening rules table the check-in after a visit asks:
the red flags that are symptoms a patient can report since the visit, never
the history a patient answered at screening (a past cancer, an earlier
trauma, weight lost before). The clinic admin changes it in the admin."""

from django.db import migrations, models

ASKED_AFTER_VISIT = [
    "bladder_bowel_dysfunction",
    "saddle_numbness",
    "progressive_leg_weakness",
    "bilateral_leg_symptoms",
    "fever",
]


def asked_after_visit():
    return models.BooleanField(
        default=False,
        help_text="Asked again in the patient's check-in after each visit: only a red flag that is a "
        "symptom the patient can report since the visit (bladder or bowel change, saddle numbness, new leg "
        "weakness), never history (a past cancer, an earlier trauma).",
        verbose_name="asked in the check-in after a visit",
    )


def ask_the_symptoms_after_a_visit(apps, schema_editor):
    ScreeningItem = apps.get_model("patients", "ScreeningItem")
    ScreeningItem.objects.filter(code__in=ASKED_AFTER_VISIT).update(asked_after_visit=True)


class Migration(migrations.Migration):
    # After the audit log's 0007 and 0008 once they are merged.
    dependencies = [("patients", "0008_audit_triggers")]

    operations = [
        migrations.AddField(
            model_name="historicalscreeningitem", name="asked_after_visit", field=asked_after_visit()
        ),
        migrations.AddField(model_name="screeningitem", name="asked_after_visit", field=asked_after_visit()),
        migrations.RunPython(ask_the_symptoms_after_a_visit, migrations.RunPython.noop),
    ]
