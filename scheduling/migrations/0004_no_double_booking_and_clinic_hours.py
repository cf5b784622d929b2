"""No double booking on PostgreSQL, and the clinic's default opening hours.

Exclusion constraints (btree_gist, half-open time ranges) forbid two
appointments that are not cancelled from overlapping for the same therapist,
room or patient. SQLite has no such constraint: there the booking services'
check inside an IMMEDIATE transaction is what serialises bookings.
"""

import datetime

from django.db import migrations

COLUMNS = {"therapist": "therapist_id", "room": "room_id", "patient": "patient_id"}
OPENING_HOURS = [(weekday, datetime.time(7), datetime.time(20)) for weekday in range(5)] + [
    (5, datetime.time(8), datetime.time(14))
]


def create_constraints(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    schema_editor.execute("CREATE EXTENSION IF NOT EXISTS btree_gist")
    for name, column in COLUMNS.items():
        schema_editor.execute(
            f'ALTER TABLE "scheduling_appointment" ADD CONSTRAINT "appointment_no_double_booking_{name}" '
            f'EXCLUDE USING gist ("{column}" WITH =, tstzrange("starts_at", "ends_at", \'[)\') WITH &&) '
            "WHERE (status <> 'cancelled')"
        )


def drop_constraints(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    for name in COLUMNS:
        schema_editor.execute(
            f'ALTER TABLE "scheduling_appointment" DROP CONSTRAINT IF EXISTS "appointment_no_double_booking_{name}"'
        )


def create_opening_hours(apps, schema_editor):
    ClinicHours = apps.get_model("scheduling", "ClinicHours")
    for weekday, opens_at, closes_at in OPENING_HOURS:
        ClinicHours.objects.get_or_create(
            weekday=weekday, defaults={"opens_at": opens_at, "closes_at": closes_at}
        )


class Migration(migrations.Migration):
    dependencies = [("scheduling", "0003_series_exceptions_closures_history")]

    operations = [
        migrations.RunPython(create_constraints, drop_constraints),
        migrations.RunPython(create_opening_hours, migrations.RunPython.noop),
    ]
