import datetime

import factory
from django.utils import timezone

from clinic import roles
from clinic.tests.factories import UserFactory
from patients.tests.factories import PatientFactory
from scheduling.models import Appointment, AppointmentType, Room


class RoomFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Room
        django_get_or_create = ["name"]

    name = factory.Sequence(lambda n: f"Room {n + 1}")


class AppointmentTypeFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = AppointmentType
        django_get_or_create = ["name"]

    name = "Follow-up"
    default_minutes = 45


class AppointmentFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Appointment

    patient = factory.SubFactory(PatientFactory)
    therapist = factory.SubFactory(UserFactory, role=roles.THERAPIST)
    room = factory.SubFactory(RoomFactory)
    appointment_type = factory.SubFactory(AppointmentTypeFactory)
    starts_at = factory.LazyFunction(
        lambda: timezone.make_aware(datetime.datetime.combine(timezone.localdate(), datetime.time(10)))
    )
    ends_at = factory.LazyAttribute(
        lambda a: a.starts_at + datetime.timedelta(minutes=a.appointment_type.default_minutes)
    )
