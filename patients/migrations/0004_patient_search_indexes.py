"""Indexes for the patient search on PostgreSQL.

Django's istartswith compiles to UPPER("col"::text) LIKE UPPER('term%'); only
an index on that same expression with text_pattern_ops serves a prefix LIKE
under a non-C collation. SQLite (the embedded default) gets none: its LIKE is
case-insensitive already and a small clinic's table scans in milliseconds.
"""

from django.db import migrations

INDEXES = {
    "patient_first_name_prefix_idx": 'UPPER("first_name"::text) text_pattern_ops',
    "patient_last_name_prefix_idx": 'UPPER("last_name"::text) text_pattern_ops',
    "patient_email_prefix_idx": 'UPPER("email"::text) text_pattern_ops',
}


def create_indexes(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    for name, expression in INDEXES.items():
        schema_editor.execute(f'CREATE INDEX IF NOT EXISTS "{name}" ON "patients_patient" ({expression})')


def drop_indexes(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    for name in INDEXES:
        schema_editor.execute(f'DROP INDEX IF EXISTS "{name}"')


class Migration(migrations.Migration):
    dependencies = [("patients", "0003_screening_rules_and_consent_text")]

    operations = [
        migrations.RemoveIndex(model_name="patient", name="patient_name_idx"),
        migrations.RemoveIndex(model_name="patient", name="patient_email_idx"),
        migrations.RunPython(create_indexes, drop_indexes),
    ]
