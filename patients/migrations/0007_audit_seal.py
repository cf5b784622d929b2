"""The access log is sealed by the sealer, after the row is written, with an
HMAC under a key of its own (patients.audit.seal_pending), instead of a plain
SHA-256 computed under a global lock by every request. Each sealed row
records its place in the chain and the key that sealed it; the sealer's
signed checkpoints (AuditCheckpoint) find rows removed from the end.

Rows written before this migration lose their SHA-256 seals, which anyone
able to change the database could recompute, and wait unsealed: the sealer
seals them, in id order, on its first run (`manage.py seal_audit_log`).
Run `manage.py verify_audit_log` before upgrading to check them one last
time against the old chain."""

import django.utils.timezone
from django.db import migrations, models


def unseal_existing_rows(apps, schema_editor):
    AuditEvent = apps.get_model("patients", "AuditEvent")
    AuditEvent.objects.update(hash=None, previous_hash="")


class Migration(migrations.Migration):
    dependencies = [
        ("patients", "0006_access_log"),
    ]

    operations = [
        migrations.CreateModel(
            name="AuditCheckpoint",
            fields=[
                (
                    "id",
                    models.BigAutoField(
                        auto_created=True, primary_key=True, serialize=False, verbose_name="ID"
                    ),
                ),
                ("created_at", models.DateTimeField(default=django.utils.timezone.now, editable=False)),
                ("row_count", models.PositiveBigIntegerField(editable=False, verbose_name="sealed rows")),
                ("head_id", models.PositiveBigIntegerField(editable=False, verbose_name="last sealed row")),
                ("head_seal", models.CharField(editable=False, max_length=64)),
                ("key_id", models.CharField(editable=False, max_length=16, verbose_name="signing key")),
                ("signature", models.CharField(editable=False, max_length=64)),
            ],
            options={"verbose_name": "access log checkpoint", "ordering": ["-id"]},
        ),
        migrations.AddField(
            model_name="auditevent",
            name="position",
            field=models.PositiveBigIntegerField(
                blank=True, editable=False, null=True, unique=True, verbose_name="place in the chain"
            ),
        ),
        migrations.AddField(
            model_name="auditevent",
            name="key_id",
            field=models.CharField(blank=True, editable=False, max_length=16, verbose_name="sealing key"),
        ),
        migrations.AlterField(
            model_name="auditevent",
            name="previous_hash",
            field=models.CharField(blank=True, editable=False, max_length=64),
        ),
        migrations.AlterField(
            model_name="auditevent",
            name="hash",
            field=models.CharField(blank=True, editable=False, max_length=64, null=True, unique=True),
        ),
        migrations.AddIndex(
            model_name="auditevent",
            index=models.Index(
                condition=models.Q(hash__isnull=True), fields=["id"], name="auditevent_unsealed"
            ),
        ),
        # Last: on PostgreSQL a table cannot be altered after its rows were
        # updated in the same transaction.
        migrations.RunPython(unseal_existing_rows, migrations.RunPython.noop),
    ]
