"""Consent to email reminders needs an email address, in the database too.
A patient who consented but has no address gets no email anyway: their
consent is cleared first (and dated), then the constraint is added."""

from django.db import migrations, models
from django.utils import timezone

EMAIL_CONSENT_NEEDS_EMAIL = (
    "An email address is needed for email reminders: enter the patient's email, or untick the consent."
)


def clear_consent_without_an_address(apps, schema_editor):
    Patient = apps.get_model("patients", "Patient")
    Patient.objects.filter(email_consent=True, email="").update(
        email_consent=False, email_consent_changed_at=timezone.now()
    )


class Migration(migrations.Migration):
    dependencies = [("patients", "0009_screening_item_asked_after_visit")]

    operations = [
        migrations.RunPython(clear_consent_without_an_address, migrations.RunPython.noop),
        migrations.AddConstraint(
            model_name="patient",
            constraint=models.CheckConstraint(
                condition=models.Q(email_consent=False) | ~models.Q(email=""),
                name="patient_email_consent_needs_email",
                violation_error_message=EMAIL_CONSENT_NEEDS_EMAIL,
            ),
        ),
    ]
