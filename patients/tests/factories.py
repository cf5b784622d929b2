import datetime

import factory
from django.conf import settings
from django.db.models import Max
from django.utils import timezone

from clinic import roles
from clinic.tests.factories import UserFactory
from patients import scoring, services
from patients.models import (
    ODI_SECTIONS,
    RED_FLAG_CATEGORIES,
    Assessment,
    Consent,
    ConsentText,
    Patient,
    Screening,
    ScreeningCategory,
    ScreeningItem,
)


class PatientFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Patient

    first_name = factory.Faker("first_name")
    last_name = factory.Faker("last_name")
    date_of_birth = factory.Faker(
        "date_between", start_date=datetime.date(1940, 1, 1), end_date=datetime.date(2005, 12, 31)
    )
    sex = Patient.Sex.FEMALE
    email = factory.LazyAttribute(lambda p: f"{p.first_name}.{p.last_name}@patient.example".lower())
    phone = factory.Sequence(lambda n: f"+1212555{n % 10000:04d}")
    # Consent to email reminders needs an address: a patient made without one has not consented.
    email_consent = factory.LazyAttribute(lambda p: bool(p.email))


class ScreeningFactory(factory.django.DjangoModelFactory):
    """A signed screening (no answers): enough for timelines and clearance
    badges. Tests of the rules go through services.screening_save_draft."""

    class Meta:
        model = Screening

    class Params:
        draft = factory.Trait(signed_at=None, valid_until=None)

    patient = factory.SubFactory(PatientFactory)
    therapist = factory.SubFactory(UserFactory, role=roles.THERAPIST)
    result = Screening.Result.CLEARED
    signed_at = factory.LazyFunction(timezone.now)
    valid_until = factory.LazyAttribute(
        lambda s: (
            timezone.localdate(s.signed_at) + datetime.timedelta(days=settings.SCREENING_VALID_DAYS)
            if s.signed_at
            else None
        )
    )


class ConsentFactory(factory.django.DjangoModelFactory):
    """Consent to the current consent text, witnessed by a therapist."""

    class Meta:
        model = Consent

    patient = factory.SubFactory(PatientFactory)
    consent_text = factory.LazyFunction(lambda: ConsentText.objects.latest())
    method = Consent.Method.PAPER
    witnessed_by = factory.SubFactory(UserFactory, role=roles.THERAPIST)


class AssessmentFactory(factory.django.DjangoModelFactory):
    """An intake assessment with every Oswestry section answered 2 (40%)."""

    class Meta:
        model = Assessment

    patient = factory.SubFactory(PatientFactory)
    therapist = factory.SubFactory(UserFactory, role=roles.THERAPIST)
    kind = Assessment.Kind.INTAKE
    affected_side = Assessment.Side.LEFT
    radiating_pain = True
    tingling = False
    numbness = False
    weakness = False
    worse_when_sitting = True
    back_pain = 4
    leg_pain = 6
    odi_pain_intensity = 2
    odi_personal_care = 2
    odi_lifting = 2
    odi_walking = 2
    odi_sitting = 2
    odi_standing = 2
    odi_sleeping = 2
    odi_sex_life = 2
    odi_social_life = 2
    odi_travelling = 2
    odi_percent = factory.LazyAttribute(lambda a: _odi_percent_or_zero(a))


def _odi_percent_or_zero(assessment):
    # An unsaved assessment built with too few answers, for a test of the
    # service that refuses it, still needs a value here.
    try:
        return scoring.odi_percent([getattr(assessment, section) for section, _ in ODI_SECTIONS])
    except ValueError:
        return 0


def screening_with_answers(*, patient, therapist, yes=(), notes="", sign=True):
    """A screening written through the services, as a therapist would: every
    active question answered, "yes" to the item codes in `yes` (a precaution
    answered yes gets an acknowledgement note), signed unless sign=False."""
    answers = [
        services.ScreeningAnswerInput(
            item=item,
            answer=item.code in yes,
            acknowledgement=f"Managing {item.code}." if item.code in yes else "",
        )
        for item in ScreeningItem.objects.filter(is_active=True)
    ]
    screening = services.screening_save_draft(
        patient=patient, therapist=therapist, answers=answers, notes=notes
    )
    if sign:
        screening = services.screening_sign(screening=screening, therapist=therapist)
    return screening


class ScreeningItemFactory(factory.django.DjangoModelFactory):
    """A row of the rules table: a precaution unless told. A red flag is a
    symptom the check-in after a visit asks again, unless asked_after_visit=False."""

    class Meta:
        model = ScreeningItem
        django_get_or_create = ["code"]

    code = factory.Sequence(lambda n: f"recent_surgery_{n}")
    question = factory.LazyAttribute(lambda i: f"Surgery in the last six weeks ({i.code})?")
    category = ScreeningCategory.PRECAUTION
    guidance = "Do not needle near the scar."
    position = 500
    asked_after_visit = factory.LazyAttribute(lambda i: i.category in RED_FLAG_CATEGORIES)


class ConsentTextFactory(factory.django.DjangoModelFactory):
    """The next version of the consent text, saved as it is (the clinic
    publishes one through services.consent_text_publish)."""

    class Meta:
        model = ConsentText

    version = factory.LazyFunction(lambda: (ConsentText.objects.aggregate(v=Max("version"))["v"] or 0) + 1)
    title = factory.LazyAttribute(lambda t: f"Consent to dry needling, version {t.version}")
    body = "Dry needling may cause soreness, bruising and, rarely, more serious harm."


def audit_event(*, user=None, patient=None, record="screening 1"):
    """A read in the access log, written the only way rows are written: appended to the chain."""
    from patients import audit
    from patients.models import AuditEvent

    return audit.record(
        action=AuditEvent.Action.READ,
        user=user or UserFactory(role=roles.THERAPIST),
        patient=patient or PatientFactory(),
        what=record,
    )


def audit_checkpoint():
    """A checkpoint of the access log, written the only way they are written: by the sealer."""
    from patients import audit

    audit_event()
    return audit.seal_pending()
