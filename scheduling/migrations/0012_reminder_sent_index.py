"""An index on the outbox's (status, sent_at), so the dashboard counts the
emails sent today without reading every email ever sent. On PostgreSQL it is
built CONCURRENTLY: the outbox of a large clinic (millions of rows) keeps
taking writes while it is built."""

from django.db import migrations, models

INDEX = models.Index(fields=["status", "sent_at"], name="reminder_sent_idx")


def create_index(apps, schema_editor):
    Reminder = apps.get_model("scheduling", "Reminder")
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(
            'CREATE INDEX CONCURRENTLY IF NOT EXISTS "reminder_sent_idx" '
            'ON "scheduling_reminder" ("status", "sent_at")'
        )
    else:
        schema_editor.add_index(Reminder, INDEX)


def drop_index(apps, schema_editor):
    Reminder = apps.get_model("scheduling", "Reminder")
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute('DROP INDEX CONCURRENTLY IF EXISTS "reminder_sent_idx"')
    else:
        schema_editor.remove_index(Reminder, INDEX)


class Migration(migrations.Migration):
    atomic = False  # CREATE INDEX CONCURRENTLY runs outside a transaction

    dependencies = [("scheduling", "0011_appointment_updated_at")]

    operations = [
        migrations.SeparateDatabaseAndState(
            database_operations=[migrations.RunPython(create_index, drop_index)],
            state_operations=[migrations.AddIndex(model_name="reminder", index=INDEX)],
        )
    ]
