import datetime

import factory
from django.utils import timezone

from clinic import roles
from clinic.tests.factories import UserFactory
from patients.tests.factories import PatientFactory
from scheduling import totals
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
    # A visit without needling: scheduling's own tests are about time, not
    # clearance. Needling visits use the seeded type (needling_type()).
    involves_needling = False


def needling_type():
    """The seeded dry-needling session type: booked only for a cleared patient."""
    return AppointmentType.objects.get(name="Dry-needling session")


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

    @classmethod
    def _create(cls, model_class, *args, **kwargs):
        # As the booking services leave it: its day counted in the totals.
        appointment = super()._create(model_class, *args, **kwargs)
        totals.refresh_for(appointment)
        return appointment


class WorkingHoursFactory(factory.django.DjangoModelFactory):
    """A block of a therapist's regular week (Monday 08:00-12:00 unless told)."""

    class Meta:
        model = "scheduling.WorkingHours"

    therapist = factory.SubFactory(UserFactory, role=roles.THERAPIST)
    weekday = 0
    starts_at = datetime.time(8)
    ends_at = datetime.time(12)


class WorkingHoursExceptionFactory(factory.django.DjangoModelFactory):
    """A day off unless given hours."""

    class Meta:
        model = "scheduling.WorkingHoursException"

    therapist = factory.SubFactory(UserFactory, role=roles.THERAPIST)
    date = datetime.date(2026, 11, 16)
    starts_at = None
    ends_at = None
    reason = "Day off"


class ClinicClosureFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = "scheduling.ClinicClosure"
        django_get_or_create = ["date"]

    date = datetime.date(2026, 11, 16)
    reason = "Staff training"


class AppointmentSeriesFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = "scheduling.AppointmentSeries"

    patient = factory.SubFactory(PatientFactory)
    description = "Six sessions for the lower back"
    booked_by = factory.SubFactory(UserFactory, role=roles.RECEPTIONIST)


class ClinicHoursFactory(factory.django.DjangoModelFactory):
    """The opening hours of a weekday (Saturday 09:00-13:00 unless told)."""

    class Meta:
        model = "scheduling.ClinicHours"
        django_get_or_create = ["weekday"]

    weekday = 5
    opens_at = datetime.time(9)
    closes_at = datetime.time(13)


class CalendarFeedFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = "scheduling.CalendarFeed"

    therapist = factory.SubFactory(UserFactory, role=roles.THERAPIST)


class ReminderFactory(factory.django.DjangoModelFactory):
    """An appointment reminder waiting in the outbox."""

    class Meta:
        model = "scheduling.Reminder"

    appointment = factory.SubFactory(AppointmentFactory)
    kind = "appointment_reminder"
    due_at = factory.LazyAttribute(lambda r: r.appointment.starts_at - datetime.timedelta(days=1))


class EmailWordingFactory(factory.django.DjangoModelFactory):
    """The clinic's own wording of an email (the appointment reminder unless told)."""

    class Meta:
        model = "scheduling.EmailWording"
        django_get_or_create = ["kind"]

    kind = "appointment_reminder"
    subject = "See you on {{ appointment.starts_at|date:'D j M' }}"
    body_text = "Dear {{ patient.first_name }}, see you soon."
    body_html = "<p>Dear {{ patient.first_name }}, see you soon.</p>"


def working_week(therapist, hours=((8, 12), (13, 17))):
    """Monday to Friday, 08:00-12:00 and 13:00-17:00 unless told."""
    for weekday in range(5):
        for starts, ends in hours:
            WorkingHoursFactory(
                therapist=therapist,
                weekday=weekday,
                starts_at=datetime.time(starts),
                ends_at=datetime.time(ends),
            )
    return therapist


def busy_day(day, therapists, count, already=0, first=datetime.time(8)):
    """`count` appointments on a day, shared out between the therapists in
    turn, each therapist's 46 minutes apart, each with its own room and
    patient (PostgreSQL forbids overlaps). `already`: how many an earlier
    call made, to carry on after them."""
    start = timezone.make_aware(datetime.datetime.combine(day, first))
    return [
        AppointmentFactory(
            therapist=therapists[n % len(therapists)],
            starts_at=start + datetime.timedelta(minutes=46 * (n // len(therapists))),
        )
        for n in range(already, already + count)
    ]


def aftercare(
    muscles=(("Piriformis", "Left"),), advice=(("hydration", "Hydration", "Drink plenty of water."),)
):
    """What a signed chart hands to appointment_complete: the muscles treated
    and the advice ticked, as the aftercare emails will say them."""
    return {
        "muscles": [{"muscle": muscle, "side": side} for muscle, side in muscles],
        "advice": [{"code": code, "title": title, "patient_text": text} for code, title, text in advice],
    }
