"""The muscle catalogue and the aftercare advice, both editable by the clinic admin."""

from django.db import migrations

MUSCLES = [
    ("Gluteus maximus", "hip"),
    ("Gluteus medius", "hip"),
    ("Gluteus minimus", "hip"),
    ("Piriformis", "hip"),
    ("Hamstrings", "thigh"),
    ("Erector spinae", "lumbar spine"),
    ("Quadratus lumborum", "lumbar spine"),
    ("Multifidus", "lumbar spine"),
    ("Iliopsoas", "hip"),
    ("Gastrocnemius", "calf"),
    ("Soleus", "calf"),
]

AFTERCARE = [
    (
        "hydration",
        "Hydration",
        "Drink plenty of water today and tomorrow; it helps the treated muscles recover.",
    ),
    (
        "stretching",
        "Gentle stretching",
        "Do the gentle stretches your therapist showed you, slowly and without bouncing, two or three times today.",
    ),
    (
        "light_movement",
        "Light movement",
        "Keep moving gently: a short walk is better than resting all day. Avoid heavy lifting and hard exercise for 24 hours.",
    ),
    (
        "expected_soreness",
        "What soreness to expect",
        "Soreness in the treated muscles, like after a hard workout, is normal for 24 to 48 hours. Warmth and gentle movement ease it.",
    ),
    (
        "warning_signs",
        "Warning signs",
        "Call the clinic or seek medical help if you notice increasing pain, fever, redness or swelling at a needle site, "
        "shortness of breath, new numbness or weakness, or any change in bladder or bowel control.",
    ),
]


def create_catalogues(apps, schema_editor):
    Muscle = apps.get_model("treatments", "Muscle")
    for position, (name, region) in enumerate(MUSCLES, start=1):
        Muscle.objects.get_or_create(name=name, defaults={"region": region, "position": position * 10})
    AftercareItem = apps.get_model("treatments", "AftercareItem")
    for position, (code, title, text) in enumerate(AFTERCARE, start=1):
        AftercareItem.objects.get_or_create(
            code=code, defaults={"title": title, "patient_text": text, "position": position * 10}
        )


class Migration(migrations.Migration):
    dependencies = [("treatments", "0001_plans_and_charts")]

    operations = [migrations.RunPython(create_catalogues, migrations.RunPython.noop)]
