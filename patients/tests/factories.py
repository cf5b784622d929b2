import datetime

import factory

from patients.models import Patient


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
    email_consent = True
