import factory
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.utils import timezone

from clinic import roles

PASSWORD = "correct-horse-battery"


class UserFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = get_user_model()
        django_get_or_create = ["username"]
        skip_postgeneration_save = True

    username = factory.Sequence(lambda n: f"user{n}")
    first_name = factory.Faker("first_name")
    last_name = factory.Faker("last_name")
    email = factory.LazyAttribute(lambda u: f"{u.username}@clinic.example")
    password = factory.PostGenerationMethodCall("set_password", PASSWORD)

    @factory.post_generation
    def role(self, create, extracted, **kwargs):
        if extracted:
            self.groups.add(Group.objects.get(name=extracted))
        if create:
            self.save()


def receptionist(**kwargs):
    return UserFactory(role=roles.RECEPTIONIST, **kwargs)


def therapist(**kwargs):
    return UserFactory(role=roles.THERAPIST, **kwargs)


def clinic_admin(**kwargs):
    return UserFactory(role=roles.CLINIC_ADMIN, is_staff=True, **kwargs)


class WorkerHeartbeatFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = "clinic.WorkerHeartbeat"
        django_get_or_create = ["worker"]

    worker = factory.Sequence(lambda n: f"celery@worker{n}")
    last_seen_at = factory.LazyFunction(timezone.now)
