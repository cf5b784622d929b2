"""The clinical-record access log becomes the audit log (AuditEvent): it also
records writes, refusals, logins and role changes, and every row is sealed
in a hash chain. Existing rows are kept and sealed in order."""

import datetime
import hashlib

import django.db.models.deletion
import django.utils.timezone
from django.conf import settings
from django.db import migrations, models

GENESIS = "0" * 64


def seal_existing_rows(apps, schema_editor):
    # The same content and order as AuditEvent.content(), frozen here.
    AuditEvent = apps.get_model("patients", "AuditEvent")
    previous = GENESIS
    for event in AuditEvent.objects.order_by("id"):
        user = event.user_id and apps.get_model(*settings.AUTH_USER_MODEL.split(".")).objects.get(
            pk=event.user_id
        )
        event.username = user.username if user else ""
        event.previous_hash = previous
        fields = [
            previous,
            event.accessed_at.astimezone(datetime.UTC).isoformat(),
            event.user_id or "",
            event.username,
            event.action,
            event.patient_id or "",
            event.record,
            int(event.allowed),
            event.ip_address or "",
        ]
        event.hash = hashlib.sha256("|".join(str(value) for value in fields).encode()).hexdigest()
        event.save(update_fields=["username", "previous_hash", "hash"])
        previous = event.hash


class Migration(migrations.Migration):
    dependencies = [
        ("patients", "0005_patient_newest_index"),
        # After the role migrations that granted permissions on the old name.
        ("clinic", "0008_email_wording_permissions"),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.RenameModel("ClinicalRecordAccess", "AuditEvent"),
        migrations.AlterModelOptions(
            name="auditevent",
            options={
                "ordering": ["-id"],
                "verbose_name": "access log entry",
                "verbose_name_plural": "access log",
            },
        ),
        migrations.AlterField(
            model_name="auditevent",
            name="accessed_at",
            field=models.DateTimeField(
                db_index=True, default=django.utils.timezone.now, verbose_name="when (UTC)"
            ),
        ),
        migrations.AlterField(
            model_name="auditevent",
            name="user",
            field=models.ForeignKey(
                blank=True,
                null=True,
                on_delete=django.db.models.deletion.PROTECT,
                related_name="+",
                to=settings.AUTH_USER_MODEL,
            ),
        ),
        migrations.AlterField(
            model_name="auditevent",
            name="patient",
            field=models.ForeignKey(
                blank=True,
                null=True,
                on_delete=django.db.models.deletion.PROTECT,
                related_name="+",
                to="patients.patient",
            ),
        ),
        migrations.AlterField(
            model_name="auditevent",
            name="record",
            field=models.CharField(blank=True, help_text="What, e.g. 'screening 12'.", max_length=200),
        ),
        migrations.AddField(
            model_name="auditevent",
            name="username",
            field=models.CharField(blank=True, help_text="As typed, for failed logins too.", max_length=150),
        ),
        migrations.AddField(
            model_name="auditevent",
            name="action",
            field=models.CharField(
                choices=[
                    ("read", "Read"),
                    ("create", "Created"),
                    ("change", "Changed"),
                    ("refused", "Refused"),
                    ("login", "Logged in"),
                    ("login_failed", "Login failed"),
                    ("logout", "Logged out"),
                    ("role_change", "Role changed"),
                ],
                default="read",
                max_length=12,
            ),
        ),
        migrations.AddField(model_name="auditevent", name="allowed", field=models.BooleanField(default=True)),
        migrations.AddField(
            model_name="auditevent",
            name="ip_address",
            field=models.GenericIPAddressField(blank=True, null=True),
        ),
        migrations.AddField(
            model_name="auditevent",
            name="previous_hash",
            field=models.CharField(default="", editable=False, max_length=64),
            preserve_default=False,
        ),
        migrations.AddField(
            model_name="auditevent",
            name="hash",
            field=models.CharField(default="", editable=False, max_length=64),
            preserve_default=False,
        ),
        migrations.RunPython(seal_existing_rows, migrations.RunPython.noop),
        migrations.AlterField(
            model_name="auditevent",
            name="hash",
            field=models.CharField(editable=False, max_length=64, unique=True),
        ),
    ]
