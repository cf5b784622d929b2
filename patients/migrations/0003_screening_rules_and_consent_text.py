"""The default screening rules table and the first informed-consent text."""

from django.db import migrations

URGENT_REFERRAL = (
    "Suspected cauda equina syndrome. Do not needle. Refer the patient to the emergency "
    "department today for urgent assessment (MRI); do not send them home to wait. Call the "
    "emergency department or the patient's physician and document who you spoke to and when."
)
REFERRAL = (
    "Possible serious pathology. Do not needle. Refer the patient to their physician for "
    "investigation before any treatment, and write to them with your findings."
)

# code, question, category, guidance
ITEMS = [
    # Sciatica red flags: refer out urgently (suspected cauda equina).
    (
        "bladder_bowel_dysfunction",
        "New bladder or bowel dysfunction (retention, incontinence, loss of sensation)?",
        "refer_urgent",
        URGENT_REFERRAL,
    ),
    (
        "saddle_numbness",
        "Numbness or altered sensation in the saddle area (buttocks, genitals, inner thighs)?",
        "refer_urgent",
        URGENT_REFERRAL,
    ),
    (
        "progressive_leg_weakness",
        "New or progressive weakness in the leg(s)?",
        "refer_urgent",
        URGENT_REFERRAL,
    ),
    (
        "bilateral_leg_symptoms",
        "Symptoms in both legs (pain, numbness or weakness)?",
        "refer_urgent",
        URGENT_REFERRAL,
    ),
    # Red flags: refer out.
    ("fever", "Fever, or feeling generally unwell, with the back pain?", "refer", REFERRAL),
    ("unexplained_weight_loss", "Unexplained weight loss?", "refer", REFERRAL),
    ("history_of_cancer", "A history of cancer?", "refer", REFERRAL),
    (
        "significant_trauma",
        "Significant trauma (a fall or accident) before the pain began?",
        "refer",
        REFERRAL,
    ),
    # Do not needle.
    ("bleeding_disorder", "A bleeding disorder (for example haemophilia)?", "not_cleared", "Do not needle."),
    (
        "anticoagulants",
        "Taking anticoagulant medication (for example warfarin, apixaban, rivaroxaban)?",
        "not_cleared",
        "Do not needle while the patient takes anticoagulants.",
    ),
    ("immunocompromised", "A compromised immune system?", "not_cleared", "Do not needle."),
    (
        "active_infection",
        "An active infection, local or systemic?",
        "not_cleared",
        "Do not needle until the infection has cleared.",
    ),
    ("pregnancy", "Pregnant, or could be pregnant?", "not_cleared", "Do not needle."),
    (
        "needle_phobia",
        "A severe fear of needles?",
        "not_cleared",
        "Do not needle; offer treatment without needles.",
    ),
    ("cannot_consent", "Unable to give informed consent?", "not_cleared", "Do not needle."),
    # Needle with precautions.
    (
        "epilepsy",
        "Epilepsy?",
        "precaution",
        "Treat lying down, keep sessions short, and know the seizure plan.",
    ),
    (
        "diabetes",
        "Diabetes?",
        "precaution",
        "Check skin integrity and healing; watch for hypoglycaemia; use strict asepsis.",
    ),
    (
        "vascular_disease",
        "Vascular disease?",
        "precaution",
        "Avoid needling near affected vessels; check circulation first.",
    ),
    (
        "lymphoedema",
        "Lymphoedema in the area to be treated?",
        "precaution",
        "Do not needle the affected limb or area.",
    ),
    (
        "metal_allergy",
        "An allergy to metals (for example nickel)?",
        "precaution",
        "Use needles the patient is not allergic to.",
    ),
]

CONSENT_TEXT = """Dry needling uses fine, solid, sterile single-use needles inserted into muscle to release trigger points and reduce pain. It is one part of your physiotherapy programme for sciatica, alongside exercise and advice.

What to expect: a brief ache or twitch in the muscle during treatment. Afterwards, soreness in the treated muscles is common for 24 to 48 hours. Bruising, minor bleeding, tiredness or light-headedness can occur.

Rare but serious risks: infection, nerve injury, and (when needling near the chest wall) a collapsed lung (pneumothorax). Your therapist chooses the muscles and needle depth to keep these risks as low as possible.

You have told us about your health and medication. Tell your therapist before each session if anything has changed, in particular a new medication, pregnancy, infection, or any change in bladder or bowel control, numbness or weakness.

You may ask questions at any time, and you may refuse or stop treatment at any time without it affecting the rest of your care.

I have read and understood this information and agree to dry needling as part of my treatment."""


def create_rules_and_consent(apps, schema_editor):
    ScreeningItem = apps.get_model("patients", "ScreeningItem")
    for position, (code, question, category, guidance) in enumerate(ITEMS, start=1):
        ScreeningItem.objects.get_or_create(
            code=code,
            defaults={
                "question": question,
                "category": category,
                "guidance": guidance,
                "position": position * 10,
            },
        )
    ConsentText = apps.get_model("patients", "ConsentText")
    ConsentText.objects.get_or_create(
        version=1, defaults={"title": "Consent to dry needling", "body": CONSENT_TEXT}
    )


class Migration(migrations.Migration):
    dependencies = [("patients", "0002_screening_consent_assessment")]

    operations = [migrations.RunPython(create_rules_and_consent, migrations.RunPython.noop)]
