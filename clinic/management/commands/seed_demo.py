"""Fill an empty clinic with demo users, rooms, working hours, patients and a
few appointments, and print the demo logins.

Safe to run again: what exists already is left as it is. Refuses to run with
DJANGO_ENV=production, because the demo passwords are public.
"""

import datetime
from decimal import Decimal

from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.core.management.base import BaseCommand, CommandError
from django.db import transaction
from django.utils import timezone

from clinic import roles
from patients import services as patient_services
from patients.models import ODI_SECTIONS, Assessment, Consent, Patient, ScreeningItem
from scheduling.models import Appointment, AppointmentType, Room, WorkingHours
from treatments import services as treatment_services
from treatments.models import AftercareItem, Muscle, TreatmentPlan

DEMO_PASSWORD = "demo-clinic-2026"

USERS = [
    # username, first name, last name, role
    ("admin", "Alex", "Morgan", roles.CLINIC_ADMIN),
    ("reception", "Rosa", "Diaz", roles.RECEPTIONIST),
    ("therapist", "Theo", "Grant", roles.THERAPIST),
    ("therapist2", "Priya", "Shah", roles.THERAPIST),
    ("therapist3", "Marcus", "Lee", roles.THERAPIST),
]

ROOMS = ["Room 1", "Room 2", "Room 3"]

# Working hours per therapist: (weekdays, start, end). Marcus works part time.
MORNING = (datetime.time(8), datetime.time(12))
AFTERNOON = (datetime.time(13), datetime.time(17))
HOURS = {
    "therapist": [((0, 1, 2, 3, 4), *MORNING), ((0, 1, 2, 3, 4), *AFTERNOON)],
    "therapist2": [((0, 1, 2, 3, 4), *MORNING), ((0, 2, 4), *AFTERNOON)],
    "therapist3": [((1, 3), datetime.time(9), datetime.time(17)), ((5,), *MORNING)],
}

PATIENTS = [
    # first, last, date of birth, sex, phone, email consent
    ("Maria", "Alvarez", "1971-03-14", "female", "+12125550111", True),
    ("James", "Brooks", "1965-11-02", "male", "+12125550112", True),
    ("Aisha", "Khan", "1988-06-23", "female", "+12125550113", True),
    ("Daniel", "Okafor", "1979-01-30", "male", "+12125550114", False),
    ("Helen", "Fischer", "1958-09-09", "female", "+12125550115", True),
    ("Tomás", "Ruiz", "1992-04-17", "male", "+12125550116", True),
    ("Grace", "Liu", "1984-12-05", "female", "+12125550117", True),
    ("Robert", "Novak", "1969-07-21", "male", "+12125550118", False),
    ("Fatima", "Haddad", "1995-02-11", "female", "+12125550119", True),
    ("William", "Carter", "1950-10-28", "male", "+12125550120", True),
    ("Sofia", "Rossi", "1986-08-03", "female", "+12125550121", True),
    ("Kwame", "Mensah", "1976-05-19", "male", "+12125550122", True),
]


# Screenings of demo patients: (therapist, items answered yes, (back pain, leg pain, ODI answers)).
CLINICAL = {
    ("Maria", "Alvarez"): ("therapist", set(), (4, 7, [3, 1, 3, 2, 4, 3, 2, None, 2, 3])),
    ("James", "Brooks"): ("therapist", {"diabetes"}, (5, 6, [3, 2, 3, 2, 3, 2, 2, 1, 2, 2])),
    ("Aisha", "Khan"): ("therapist2", set(), (3, 8, [4, 1, 3, 3, 4, 3, 3, 2, 3, 3])),
    ("Daniel", "Okafor"): ("therapist", {"anticoagulants"}, None),
    ("Helen", "Fischer"): ("therapist2", {"saddle_numbness"}, None),
}


# Plans of the cleared demo patients: (severity, sessions already signed,
# leg pain before/after each, an adverse event at the first session).
PLANS = {
    ("Maria", "Alvarez"): ("chronic", 3, [(8, 6), (6, 5), (5, 3)], None),
    ("James", "Brooks"): ("moderate", 2, [(6, 5), (5, 5)], ("bruising", "mild", "Small bruise, gluteal")),
    ("Aisha", "Khan"): ("chronic", 1, [(7, 6)], ("soreness", "moderate", "")),
}


class Command(BaseCommand):
    help = "Create demo users, rooms, working hours, patients and appointments (idempotent)."

    def add_arguments(self, parser):
        parser.add_argument(
            "--dry-run",
            action="store_true",
            help="Report what would be created, change nothing.",
        )

    def handle(self, *args, dry_run=False, **options):
        if settings.PRODUCTION:
            raise CommandError("seed_demo creates users with public passwords; not in production.")
        self.created = []
        with transaction.atomic():
            self.create_users()
            self.create_rooms_and_hours()
            self.create_patients()
            self.create_clinical_records()
            # The coming days' visits first: the plans' charted sessions are past ones.
            self.create_appointments()
            self.create_plans_and_charts()
            if dry_run:
                transaction.set_rollback(True)
        verb = "Would create" if dry_run else "Created"
        if self.created:
            if options["verbosity"] >= 2:
                for line in self.created:
                    self.stdout.write(f"{verb} {line}")
            self.stdout.write(self.style.SUCCESS(f"{verb} {len(self.created)} demo records."))
        else:
            self.stdout.write("Demo data already present; nothing changed.")
        self.print_logins()

    def note(self, what):
        self.created.append(what)

    def create_users(self):
        User = get_user_model()
        for username, first, last, role in USERS:
            user, created = User.objects.get_or_create(
                username=username,
                defaults={
                    "first_name": first,
                    "last_name": last,
                    "email": f"{username}@clinic.example",
                    "is_staff": role == roles.CLINIC_ADMIN,
                },
            )
            if created:
                user.set_password(DEMO_PASSWORD)
                user.save(update_fields=["password"])
                user.groups.add(Group.objects.get(name=role))
                self.note(f"user {username} ({role})")

    def create_rooms_and_hours(self):
        for name in ROOMS:
            _, created = Room.objects.get_or_create(name=name)
            if created:
                self.note(f"room {name}")
        User = get_user_model()
        for username, blocks in HOURS.items():
            therapist = User.objects.get(username=username)
            for weekdays, start, end in blocks:
                for weekday in weekdays:
                    _, created = WorkingHours.objects.get_or_create(
                        therapist=therapist,
                        weekday=weekday,
                        starts_at=start,
                        defaults={"ends_at": end},
                    )
                    if created:
                        self.note(f"working hours {username} {weekday} {start}-{end}")

    def create_patients(self):
        for first, last, dob, sex, phone, consent in PATIENTS:
            _, created = Patient.objects.get_or_create(
                first_name=first,
                last_name=last,
                date_of_birth=datetime.date.fromisoformat(dob),
                defaults={
                    "sex": sex,
                    "phone": phone,
                    "email": f"{first}.{last}@patient.example".lower(),
                    "city": "New York",
                    "email_consent": consent,
                    "email_consent_changed_at": timezone.now() if consent else None,
                },
            )
            if created:
                self.note(f"patient {first} {last}")

    def create_clinical_records(self):
        """Screenings, consents and intake assessments for some demo patients,
        one of each screening result, written through the same services as the
        therapists' pages. Only for patients not yet screened."""
        therapists = get_user_model().objects.in_bulk(["therapist", "therapist2"], field_name="username")
        items = list(ScreeningItem.objects.filter(is_active=True))
        consent_text = patient_services.current_consent_text()
        for (first, last), (username, yes_codes, pain) in CLINICAL.items():
            patient = Patient.objects.get(first_name=first, last_name=last)
            if patient.screenings.exists():
                continue
            therapist = therapists[username]
            answers = [
                patient_services.ScreeningAnswerInput(
                    item=item,
                    answer=item.code in yes_codes,
                    acknowledgement="Check skin and healing; asked about glucose control."
                    if item.code == "diabetes"
                    else "",
                )
                for item in items
            ]
            screening = patient_services.screening_save_draft(
                patient=patient, therapist=therapist, answers=answers
            )
            screening = patient_services.screening_sign(screening=screening, therapist=therapist)
            self.note(f"screening of {patient}: {screening.get_result_display()}")
            if not screening.clears_needling:
                continue
            patient_services.consent_record(
                patient=patient,
                consent_text=consent_text,
                method=Consent.Method.PAPER,
                witnessed_by=therapist,
            )
            patient.refresh_from_db()
            back_pain, leg_pain, odi = pain
            patient_services.assessment_record(
                assessment=Assessment(
                    patient=patient,
                    kind=Assessment.Kind.INTAKE,
                    affected_side=Assessment.Side.LEFT,
                    radiating_pain=True,
                    tingling=True,
                    numbness=False,
                    weakness=False,
                    worse_when_sitting=True,
                    back_pain=back_pain,
                    leg_pain=leg_pain,
                    slr_done=True,
                    slr_angle=45,
                    slr_positive=True,
                    **dict(zip((name for name, _ in ODI_SECTIONS), odi, strict=True)),
                ),
                therapist=therapist,
            )
            self.note(f"consent and intake assessment of {patient}")

    def create_plans_and_charts(self):
        """An active plan for each cleared demo patient, with sessions charted
        and signed on the past weeks' visits (pain falling), through the same
        services as the therapists' pages. Only for patients without a plan."""
        follow_up = AppointmentType.objects.get(name="Follow-up")
        muscles = {m.name: m for m in Muscle.objects.all()}
        aftercare = list(
            AftercareItem.objects.filter(code__in=["hydration", "stretching", "expected_soreness"])
        )
        today = timezone.localdate()
        for index, ((first, last), (severity, past_sessions, leg_pains, event)) in enumerate(PLANS.items()):
            patient = Patient.objects.get(first_name=first, last_name=last)
            if patient.treatment_plans.exists():
                continue
            therapist = patient.treating_therapist
            plan = treatment_services.plan_save(
                plan=TreatmentPlan(
                    patient=patient,
                    severity=severity,
                    planned_sessions=treatment_services.proposed_sessions(severity),
                    target_muscles=[
                        {"muscle": muscles["Piriformis"].pk, "side": "left"},
                        {"muscle": muscles["Gluteus medius"].pk, "side": "left"},
                        {"muscle": muscles["Quadratus lumborum"].pk, "side": "left"},
                    ],
                    techniques=["trigger_point"],
                    program=[
                        {"component": "core", "notes": "Dead bug and bird dog, 3 x 10 daily"},
                        {"component": "ergonomics", "notes": "Desk chair and screen height checked"},
                    ],
                    goal_leg_pain=3,
                    goal_odi=20,
                    reassessment_after_session=3,
                ),
                therapist=therapist,
            )
            treatment_services.plan_activate(plan=plan, therapist=therapist)
            room = Room.objects.get(name=ROOMS[index % len(ROOMS)])
            for number in range(past_sessions):
                day = today - datetime.timedelta(weeks=past_sessions - number)
                starts_at = timezone.make_aware(datetime.datetime.combine(day, datetime.time(14 + index)))
                appointment = Appointment.objects.create(
                    patient=patient,
                    therapist=therapist,
                    room=room,
                    appointment_type=follow_up,
                    starts_at=starts_at,
                    ends_at=starts_at + datetime.timedelta(minutes=follow_up.default_minutes),
                )
                chart = treatment_services.chart_start(
                    plan=plan,
                    appointment=appointment,
                    therapist=therapist,
                    screening_still_valid=True,
                    new_problem=False,
                )
                before, after = leg_pains[number]
                treatment_services.chart_save_draft(
                    chart=chart,
                    therapist=therapist,
                    fields={
                        "leg_pain_before": before,
                        "leg_pain_after": after,
                        "back_pain_before": max(before - 2, 0),
                        "back_pain_after": max(after - 2, 0),
                    },
                    needlings=[
                        treatment_services.NeedlingInput(
                            muscle=muscles[name],
                            side="left",
                            needles=2,
                            needle_length_mm=60,
                            needle_gauge_mm=Decimal("0.30"),
                            technique="trigger_point",
                            twitch_response=True,
                            familiar_pain=name == "Piriformis",
                        )
                        for name in ("Piriformis", "Gluteus medius")
                    ],
                    adverse_events=[treatment_services.AdverseEventInput(*event)]
                    if event and number == 0
                    else [],
                    aftercare=aftercare,
                )
                treatment_services.chart_sign(chart=chart, therapist=therapist)
            self.note(f"{plan} with {past_sessions} signed sessions")

    def create_appointments(self):
        """Three morning visits per working therapist on each of the next four
        days, only if the demo patients have no appointments yet."""
        patients = list(Patient.objects.filter(email__endswith="@patient.example").order_by("id"))
        if Appointment.objects.filter(patient__in=patients).exists():
            return
        follow_up = AppointmentType.objects.get(name="Follow-up")
        first_visit = AppointmentType.objects.get(name="First visit")
        rooms = list(Room.objects.filter(name__in=ROOMS).order_by("name"))
        therapist_usernames = list(HOURS)
        therapists = get_user_model().objects.in_bulk(therapist_usernames, field_name="username")
        today = timezone.localdate()
        count = 0
        for day in (today + datetime.timedelta(days=n) for n in range(4)):
            for room, username in zip(rooms, therapist_usernames, strict=True):
                works_mornings = any(
                    day.weekday() in weekdays and start <= datetime.time(9) and end >= datetime.time(12)
                    for weekdays, start, end in HOURS[username]
                )
                if not works_mornings:
                    continue
                for hour in (9, 10, 11):
                    kind = first_visit if hour == 9 else follow_up
                    starts_at = timezone.make_aware(datetime.datetime.combine(day, datetime.time(hour)))
                    Appointment.objects.create(
                        patient=patients[count % len(patients)],
                        therapist=therapists[username],
                        room=room,
                        appointment_type=kind,
                        starts_at=starts_at,
                        ends_at=starts_at + datetime.timedelta(minutes=kind.default_minutes),
                    )
                    count += 1
        self.note(f"{count} appointments")

    def print_logins(self):
        self.stdout.write(f"\nDemo logins (password for all: {DEMO_PASSWORD}):")
        for username, first, last, role in USERS:
            self.stdout.write(f"  {username:<12} {role:<14} {first} {last}")
