"""Fill an empty clinic with demo users, rooms, working hours, patients and
six weeks of their care, and print the demo logins.

The care is written relative to today in the clinic's time zone, so that
every panel of the clinic admin's dashboard has something to show whatever
the day: visits charted and signed over the past weeks, plans completed (with
a re-assessment) and discontinued, one active plan that is not improving,
no-shows and late cancellations, adverse events (one of them serious),
screenings of every result with an urgent referral, patient emails sent,
waiting and one failed, and check-ins with an open alert. Today, if the
therapists work, has visits completed, one checked in with its chart still
a draft, and more to come.

Records are written through the same services as the pages (screening,
consent, assessment, plans, charts, booking, check-in, no-shows,
cancellations, completing a visit); visits in the past, which the booking
service refuses, are written as rows and then go through those services. A
timetable drawn up first in memory keeps every visit within working hours
and never lets two overlap for a therapist, a room or a patient. Each record
is then dated when it would have happened.

Safe to run again: what exists already is left as it is, and only patients
not yet in the clinic get a history. Refuses to run with DJANGO_ENV=production,
because the demo passwords are public.
"""

import datetime
from collections import defaultdict
from dataclasses import dataclass, field
from decimal import Decimal

from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.hashers import make_password
from django.contrib.auth.models import Group
from django.core.management.base import BaseCommand, CommandError
from django.db import transaction
from django.utils import timezone

from clinic import roles
from patients import services as patient_services
from patients.models import ODI_SECTIONS, Assessment, Consent, Patient, Screening, ScreeningItem
from scheduling import reminders, totals
from scheduling import services as scheduling_services
from scheduling.availability import local
from scheduling.models import (
    Appointment,
    AppointmentChange,
    AppointmentType,
    ClinicClosure,
    ClinicHours,
    Reminder,
    Room,
    WorkingHours,
    WorkingHoursException,
)
from treatments import outcomes
from treatments import services as treatment_services
from treatments.models import AftercareCheckIn, AftercareItem, Muscle, SessionChart, TreatmentPlan

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
# Where each therapist usually works; every fourth patient is seen in the next room.
HOME_ROOM = {"therapist": 0, "therapist2": 1, "therapist3": 2}

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
    ("Olivia", "Bennett", "1990-01-26", "female", "+12125550123", True),
    ("Ethan", "Kowalski", "1982-07-08", "male", "+12125550124", True),
    ("Mei", "Tanaka", "1974-04-02", "female", "+12125550125", True),
    ("Samuel", "Adeyemi", "1963-12-19", "male", "+12125550126", True),
    ("Laura", "Jensen", "1979-09-30", "female", "+12125550127", True),
    ("Diego", "Morales", "1968-02-14", "male", "+12125550128", True),
    ("Hannah", "Schwartz", "1997-06-11", "female", "+12125550129", True),
    ("Arjun", "Patel", "1981-10-05", "male", "+12125550130", True),
    ("Viktor", "Petrov", "1959-03-23", "male", "+12125550131", True),
    ("Naomi", "Cohen", "1993-08-17", "female", "+12125550132", True),
    ("Luis", "Ortega", "1972-11-29", "male", "+12125550133", True),
    ("Emily", "Walsh", "1987-05-06", "female", "+12125550134", True),
    ("Yusuf", "Demir", "1985-01-15", "male", "+12125550135", False),
    ("Rachel", "Kim", "1977-07-27", "female", "+12125550136", True),
    ("Patrick", "Doyle", "1966-04-09", "male", "+12125550137", True),
    ("Beatriz", "Santos", "1991-12-01", "female", "+12125550138", True),
    ("Jonah", "Friedman", "1955-02-20", "male", "+12125550139", True),
    ("Chloe", "Dubois", "1994-09-13", "female", "+12125550140", True),
    ("Amara", "Nwosu", "1989-03-04", "female", "+12125550141", True),
    ("Lucas", "Moreau", "1980-06-22", "male", "+12125550142", True),
]

COMPLETED, DISCONTINUED = TreatmentPlan.Status.COMPLETED, TreatmentPlan.Status.DISCONTINUED
# The seeded appointment types (scheduling's migration 0010).
FIRST_VISIT, SESSION = "First assessment", "Dry-needling session"


@dataclass(frozen=True)
class Story:
    """The care of one demo patient. Weeks count from this week (0; -1 is
    last week): the week of the first visit for an active plan, of the last
    visit for a plan that ended, of the screening for a patient not treated."""

    therapist: str
    week: int = 0
    # The screening items answered "yes".
    screening: frozenset = frozenset()
    severity: str = ""
    planned: int = 0
    # Back pain and Oswestry index (%, even) at intake; leg pain is the first session's.
    intake: tuple = (4, 40)
    # (leg pain before, after) for each session that can be charted.
    pains: tuple = ()
    ending: str = ""
    reason: str = ""
    # (at session, Oswestry index %) of each re-assessment.
    reassessments: tuple = ()
    # (session, kind, severity, notes) of each adverse event.
    events: tuple = ()
    # The weekday of the visits: "today", "recent" (two working days ago)
    # or, when empty, the therapist's working days in turn.
    day: str = ""
    hour: int = 9
    muscles: tuple = ("Piriformis", "Gluteus medius")
    side: str = "left"
    # The patient's check-in after a visit: "alert" (open) or "acknowledged".
    checkin: str = ""
    # Registered this week; the first visit is still to come.
    new: bool = False


STORIES = {
    # Plans that ended: every session in the past, the last in `week`.
    ("Grace", "Liu"): Story(
        "therapist",
        week=-3,
        severity="mild",
        planned=3,
        intake=(3, 30),
        pains=((6, 4), (4, 3), (3, 1)),
        ending=COMPLETED,
        reassessments=((3, 12),),
        events=((1, "soreness", "mild", "Gluteal soreness, settled within a day"),),
        hour=10,
    ),
    ("Tomás", "Ruiz"): Story(
        "therapist2",
        week=-2,
        severity="moderate",
        planned=3,
        intake=(4, 38),
        pains=((7, 5), (5, 4), (4, 2)),
        ending=COMPLETED,
        reassessments=((3, 22),),
        hour=11,
        muscles=("Piriformis", "Hamstrings"),
        side="right",
    ),
    ("Fatima", "Haddad"): Story(
        "therapist3",
        week=-1,
        severity="moderate",
        planned=3,
        intake=(3, 30),
        pains=((5, 4), (5, 4), (5, 4)),
        ending=COMPLETED,
        reassessments=((3, 26),),
        events=((2, "fatigue", "mild", "Tired for the rest of the day"),),
        hour=10,
    ),
    ("William", "Carter"): Story(
        "therapist",
        week=0,
        severity="chronic",
        planned=6,
        intake=(6, 52),
        pains=((8, 7), (7, 6), (7, 5), (6, 4), (5, 4), (4, 3)),
        ending=COMPLETED,
        reassessments=((3, 44), (6, 34)),
        events=((5, "soreness", "mild", ""),),
        hour=14,
        muscles=("Gluteus medius", "Quadratus lumborum", "Erector spinae"),
    ),
    ("Sofia", "Rossi"): Story(
        "therapist2",
        week=-1,
        severity="complex",
        planned=5,
        intake=(5, 44),
        pains=((7, 6), (7, 5), (6, 5), (6, 4), (5, 4)),
        ending=COMPLETED,
        reassessments=((3, 40), (5, 36)),
        events=((3, "bruising", "mild", "Small bruise over gluteus medius"),),
        hour=9,
        side="right",
    ),
    ("Olivia", "Bennett"): Story(
        "therapist",
        week=-2,
        severity="mild",
        planned=3,
        intake=(2, 24),
        pains=((5, 3), (3, 1)),
        ending=COMPLETED,
        reason="Goals reached after two sessions; the third was not needed.",
        reassessments=((2, 10),),
        hour=15,
    ),
    ("Samuel", "Adeyemi"): Story(
        "therapist3",
        week=-2,
        severity="chronic",
        planned=4,
        intake=(5, 40),
        pains=((6, 5), (6, 5), (5, 4), (5, 5)),
        ending=COMPLETED,
        reassessments=((3, 36), (4, 34)),
        hour=11,
        checkin="acknowledged",
    ),
    ("Kwame", "Mensah"): Story(
        "therapist2",
        week=0,
        severity="moderate",
        planned=3,
        intake=(5, 46),
        pains=((8, 6), (6, 4), (4, 3)),
        ending=COMPLETED,
        reassessments=((3, 28),),
        events=((3, "bruising", "mild", ""),),
        hour=10,
    ),
    ("Robert", "Novak"): Story(
        "therapist",
        week=0,
        severity="moderate",
        planned=3,
        intake=(4, 34),
        pains=((6, 5), (6, 6)),
        ending=DISCONTINUED,
        reason="Nerve irritation after session 2 (tingling in the foot, settling); needling stopped, "
        "GP informed, the exercise programme continues.",
        events=(
            (
                2,
                "nerve_injury",
                "moderate",
                "Tingling and numbness along the lateral foot after needling piriformis; "
                "settling at 48 hours. GP informed.",
            ),
        ),
        hour=11,
        muscles=("Piriformis", "Gluteus minimus"),
    ),
    ("Ethan", "Kowalski"): Story(
        "therapist2",
        week=-3,
        severity="chronic",
        planned=6,
        intake=(6, 48),
        pains=((7, 6), (7, 7)),
        ending=DISCONTINUED,
        reason="Moving out of state; home exercise programme handed over.",
        hour=14,
    ),
    # Active plans, from their first visit in `week`; the sessions still to
    # come are booked ahead as one series.
    ("Maria", "Alvarez"): Story(
        "therapist",
        week=-3,
        severity="chronic",
        planned=6,
        intake=(4, 50),
        pains=((8, 6), (6, 5), (5, 3), (5, 4), (4, 3), (4, 2)),
        reassessments=((3, 38),),
        day="today",
        events=((4, "soreness", "mild", "Post-needling soreness, eased with heat"),),
        hour=9,
        muscles=("Piriformis", "Gluteus medius", "Quadratus lumborum"),
    ),
    ("James", "Brooks"): Story(
        "therapist",
        week=-1,
        screening=frozenset({"diabetes"}),
        severity="moderate",
        planned=3,
        intake=(5, 44),
        pains=((6, 5), (5, 4), (4, 3)),
        events=((1, "bruising", "mild", "Small bruise, gluteal"),),
        hour=13,
    ),
    # Past her re-assessment point and not improving, with an open check-in alert.
    ("Aisha", "Khan"): Story(
        "therapist2",
        week=-4,
        severity="chronic",
        planned=6,
        intake=(3, 58),
        pains=((7, 6), (6, 6), (7, 6), (6, 6), (7, 6), (6, 6)),
        reassessments=((3, 54),),
        events=((1, "soreness", "moderate", "Deep ache in the buttock for two days"),),
        day="recent",
        hour=8,
        checkin="alert",
    ),
    ("Mei", "Tanaka"): Story(
        "therapist2",
        week=-1,
        severity="moderate",
        planned=3,
        intake=(4, 36),
        pains=((6, 4), (4, 3), (3, 2)),
        day="today",
        hour=8,
    ),
    ("Laura", "Jensen"): Story(
        "therapist",
        week=-2,
        severity="chronic",
        planned=6,
        intake=(5, 46),
        pains=((7, 6), (6, 4), (5, 3), (4, 3), (4, 2), (3, 2)),
        day="today",
        events=((3, "bruising", "mild", "Small bruise over piriformis"),),
        hour=15,
        side="right",
    ),
    ("Diego", "Morales"): Story(
        "therapist3",
        week=-3,
        severity="complex",
        planned=6,
        intake=(6, 56),
        pains=((8, 7), (7, 5), (6, 4), (5, 4), (5, 3), (4, 3)),
        reassessments=((3, 42),),
        day="today",
        events=((4, "fatigue", "mild", "Tired in the evening"),),
        hour=10,
        muscles=("Gluteus maximus", "Piriformis", "Hamstrings"),
    ),
    ("Hannah", "Schwartz"): Story(
        "therapist",
        week=0,
        severity="mild",
        planned=3,
        intake=(2, 26),
        pains=((5, 3), (4, 2), (3, 1)),
        events=((1, "fatigue", "mild", ""),),
        hour=11,
    ),
    ("Arjun", "Patel"): Story(
        "therapist2",
        week=-4,
        severity="chronic",
        planned=6,
        intake=(5, 48),
        pains=((7, 5), (6, 5), (5, 4), (5, 3), (4, 3), (4, 2)),
        reassessments=((3, 36),),
        events=((5, "soreness", "mild", ""),),
        hour=9,
    ),
    ("Viktor", "Petrov"): Story(
        "therapist3",
        week=-2,
        severity="chronic",
        planned=6,
        intake=(5, 44),
        pains=((7, 6), (6, 5), (5, 4), (5, 4), (4, 3), (4, 3)),
        events=((3, "soreness", "mild", "Hamstring soreness for a day"),),
        hour=14,
        side="right",
    ),
    ("Naomi", "Cohen"): Story(
        "therapist2",
        week=0,
        screening=frozenset({"epilepsy"}),
        severity="mild",
        planned=3,
        intake=(3, 28),
        pains=((5, 3), (4, 3), (3, 2)),
        hour=11,
    ),
    ("Luis", "Ortega"): Story(
        "therapist",
        week=-4,
        severity="complex",
        planned=6,
        intake=(6, 54),
        pains=((8, 7), (7, 6), (6, 5), (6, 4), (5, 4), (5, 3)),
        reassessments=((3, 44),),
        events=((1, "lightheadedness", "mild", "Light-headed on sitting up; settled with rest and water"),),
        hour=8,
        muscles=("Piriformis", "Gluteus medius", "Multifidus"),
    ),
    ("Emily", "Walsh"): Story(
        "therapist",
        week=-3,
        severity="chronic",
        planned=5,
        intake=(4, 40),
        pains=((6, 5), (5, 4), (5, 3), (4, 3), (3, 2)),
        reassessments=((3, 30),),
        events=((4, "soreness", "mild", ""),),
        hour=16,
    ),
    ("Yusuf", "Demir"): Story(
        "therapist3",
        week=-1,
        severity="moderate",
        planned=3,
        intake=(4, 34),
        pains=((6, 5), (5, 3), (4, 2)),
        hour=9,
    ),
    ("Rachel", "Kim"): Story(
        "therapist2",
        week=-3,
        severity="chronic",
        planned=6,
        intake=(5, 42),
        pains=((7, 6), (6, 5), (6, 4), (5, 4), (4, 3), (4, 3)),
        reassessments=((3, 32),),
        events=((2, "fatigue", "mild", ""),),
        hour=13,
    ),
    ("Patrick", "Doyle"): Story(
        "therapist",
        week=0,
        severity="moderate",
        planned=3,
        intake=(4, 32),
        pains=((6, 4), (5, 3), (4, 2)),
        hour=10,
        side="right",
    ),
    ("Beatriz", "Santos"): Story(
        "therapist",
        week=-1,
        severity="chronic",
        planned=6,
        intake=(5, 46),
        pains=((7, 6), (6, 5), (6, 4), (5, 4), (5, 3), (4, 3)),
        day="today",
        events=((2, "lightheadedness", "mild", "Brief light-headedness sitting up; fine after water"),),
        hour=16,
    ),
    # Screened, not treated.
    ("Daniel", "Okafor"): Story("therapist", week=-4, screening=frozenset({"anticoagulants"})),
    ("Helen", "Fischer"): Story(
        "therapist2", week=0, screening=frozenset({"saddle_numbness", "bladder_bowel_dysfunction"})
    ),
    ("Jonah", "Friedman"): Story(
        "therapist3", week=-2, screening=frozenset({"history_of_cancer", "unexplained_weight_loss"})
    ),
    ("Chloe", "Dubois"): Story("therapist2", week=-1, screening=frozenset({"pregnancy"})),
    # Registered this week, first visit booked.
    ("Amara", "Nwosu"): Story("therapist2", new=True, hour=9),
    ("Lucas", "Moreau"): Story("therapist", new=True, hour=15),
}

PROGRAM = {
    "left": {"component": "ergonomics", "notes": "Desk chair and screen height checked"},
    "right": {"component": "flexibility", "notes": "Piriformis and hamstring stretches, twice daily"},
}
SCREENING_NOTES = {
    "diabetes": "Check skin and healing; asked about glucose control.",
    "epilepsy": "Treat lying down, short sessions; seizure plan discussed.",
}
REFERRAL_NOTES = {
    Screening.Result.REFER_URGENT: "Saddle numbness and new urinary retention: suspected cauda equina. "
    "Sent to the emergency department the same day; GP informed.",
    Screening.Result.REFER: "Unexplained weight loss with a history of cancer: referred back to the GP "
    "for investigation before any needling.",
    Screening.Result.NOT_CLEARED: "Not a dry-needling case for now; exercise programme offered instead.",
}

# No-shows and cancellations besides the plans' sessions: (week, what happened).
# "late": cancelled by the patient within 24 hours; "patient" and "clinic": in good time.
MISSED = [
    (-5, "no_show"),
    (-4, "late"),
    (-4, "no_show"),
    (-4, "clinic"),
    (-3, "no_show"),
    (-3, "late"),
    (-2, "no_show"),
    (-2, "patient"),
    (-2, "late"),
    (-1, "no_show"),
    (-1, "late"),
    (-1, "no_show"),
    (0, "no_show"),
    (0, "late"),
]

# The demo history spans these weeks around this one.
WEEKS_BACK, WEEKS_AHEAD = 7, 8
MINUTE = datetime.timedelta(minutes=1)
DAY = datetime.timedelta(days=1)


def odi_answers(percent):
    """Ten Oswestry answers adding up to `percent` (even, 0-100)."""
    total = percent // 2
    return [total // 10 + (1 if section < total % 10 else 0) for section in range(10)]


@dataclass
class Visit:
    number: int
    starts_at: datetime.datetime
    ends_at: datetime.datetime
    room: Room
    # Today's visit still open: checked in, its chart a draft.
    checked_in: bool = False
    appointment: Appointment | None = None

    @property
    def day(self):
        return timezone.localdate(self.starts_at)


@dataclass
class Missed:
    kind: str
    starts_at: datetime.datetime
    ends_at: datetime.datetime
    room: Room


@dataclass
class Case:
    """One new demo patient's story laid out on the timetable."""

    key: tuple
    story: Story
    therapist: object
    room: Room
    registered_at: datetime.datetime = None
    screened_at: datetime.datetime = None
    visits: list = field(default_factory=list)
    missed: list = field(default_factory=list)
    patient: Patient | None = None
    plan: TreatmentPlan | None = None

    @property
    def treated(self):
        return bool(self.story.severity)

    @property
    def active(self):
        return self.treated and not self.story.ending


class Diary:
    """Every therapist's working slots over the demo weeks, and who is busy
    when, in memory: the seed books a slot only when the therapist, the room
    and the patient are all free, and a patient at most once a day."""

    SLOT = datetime.timedelta(hours=1)

    def __init__(self, therapists, first_day, last_day, now):
        self.now = now
        ids = [t.pk for t in therapists]
        opening = {hours.weekday: hours for hours in ClinicHours.objects.all()}
        closed = set(
            ClinicClosure.objects.filter(date__range=(first_day, last_day)).values_list("date", flat=True)
        )
        blocks = defaultdict(list)
        for block in WorkingHours.objects.filter(therapist_id__in=ids):
            blocks[block.therapist_id, block.weekday].append((block.starts_at, block.ends_at))
        exceptions = {
            (e.therapist_id, e.date): e
            for e in WorkingHoursException.objects.filter(
                therapist_id__in=ids, date__range=(first_day, last_day)
            )
        }
        self.weekdays = {pk: {weekday for (t, weekday) in blocks if t == pk} for pk in ids}
        self.windows = {}
        day = first_day
        while day <= last_day:
            hours = opening.get(day.weekday())
            for pk in ids:
                exception = exceptions.get((pk, day))
                if exception is not None:
                    spans = [] if exception.is_day_off else [(exception.starts_at, exception.ends_at)]
                else:
                    spans = blocks.get((pk, day.weekday()), [])
                if hours is None or day in closed:
                    spans = []
                self.windows[pk, day] = sorted(
                    (max(start, hours.opens_at), min(end, hours.closes_at))
                    for start, end in spans
                    if max(start, hours.opens_at) < min(end, hours.closes_at)
                )
            day += DAY
        self.busy = defaultdict(list)
        self.patient_days = defaultdict(set)
        for appointment in Appointment.objects.occupying().filter(
            starts_at__lt=local(last_day + DAY, datetime.time.min),
            ends_at__gt=local(first_day, datetime.time.min),
        ):
            self.hold(
                appointment.therapist_id,
                appointment.room_id,
                ("patient", appointment.patient_id),
                appointment.starts_at,
                appointment.ends_at,
            )

    def hold(self, therapist_id, room_id, patient, starts_at, ends_at):
        day = timezone.localdate(starts_at)
        for key in (("therapist", therapist_id), ("room", room_id), patient):
            self.busy[key, day].append((starts_at, ends_at))
        self.patient_days[patient].add(day)

    def _free(self, key, day, starts_at, ends_at):
        return not any(start < ends_at and starts_at < end for start, end in self.busy[key, day])

    def fits(self, when, starts_at, ends_at):
        now = self.now
        return {
            "past": ends_at <= now,
            "future": starts_at > now,
            "any": True,
            # A no-show is marked a quarter of an hour after the start.
            "missed": ends_at <= now or starts_at <= now - 15 * MINUTE,
            # A late cancellation still to come: cancelled now, within 24 hours of the start.
            "soon": now < starts_at < now + datetime.timedelta(hours=23),
        }[when]

    def take(self, *, therapist, rooms, patient, days, minutes, hour, when):
        """The first of `days` with a slot nearest to `hour` when the therapist,
        one of `rooms` and the patient are free: (start, end, room), held; or None."""
        length = datetime.timedelta(minutes=minutes)
        for day in days:
            if day in self.patient_days[patient]:
                continue
            starts = []
            for start, end in self.windows.get((therapist.pk, day), []):
                slot = local(day, start)
                while slot + length <= local(day, end):
                    starts.append(slot)
                    slot += self.SLOT
            starts.sort(key=lambda s: (abs(timezone.localtime(s).hour - hour), s))
            for starts_at in starts:
                ends_at = starts_at + length
                if not self.fits(when, starts_at, ends_at) or not self._free(
                    ("therapist", therapist.pk), day, starts_at, ends_at
                ):
                    continue
                for room in rooms:
                    if self._free(("room", room.pk), day, starts_at, ends_at):
                        self.hold(therapist.pk, room.pk, patient, starts_at, ends_at)
                        return starts_at, ends_at, room
        return None


class Command(BaseCommand):
    help = "Create demo users, rooms, working hours, patients and six weeks of their care (idempotent)."

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
        self.now = timezone.now()
        self.today = timezone.localdate(self.now)
        self.week_start = self.today - datetime.timedelta(days=self.today.weekday())
        with transaction.atomic():
            self.create_users()
            self.create_rooms_and_hours()
            self.plan_timetable()
            self.create_patients()
            self.create_clinical_records()
            self.create_plans()
            self.create_visits()
            self.create_reassessments()
            self.end_plans()
            self.create_missed_appointments()
            self.create_bookings()
            self.create_reminders()
            self.create_checkins()
            # The history above is back-dated with update(), which sends no signals.
            outcomes.refresh_all()
            totals.refresh_all()
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

    # Helpers.

    def user(self, username):
        return get_user_model().objects.get(username=username)

    def treated_cases(self):
        return [case for case in self.cases.values() if case.treated]

    def stamp(self, appointment, action, moment):
        """Date an appointment's logged change when it would have happened."""
        AppointmentChange.objects.filter(appointment=appointment, action=action).update(changed_at=moment)

    def stamp_plan_history(self, plan, *moments):
        """Date the plan's latest versions (oldest first) when they were saved."""
        versions = list(plan.history.order_by("-history_id")[: len(moments)])
        for version, moment in zip(reversed(versions), moments, strict=True):
            type(version).objects.filter(pk=version.pk).update(history_date=moment)

    # Records.

    def create_users(self):
        User = get_user_model()
        password = None
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
                # One hash for the one public password: hashing is slow on purpose.
                password = password or make_password(DEMO_PASSWORD)
                user.password = password
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

    def plan_timetable(self):
        """Lay out, in memory, when each demo patient not yet in the clinic
        registered, was screened and is seen, and their missed appointments."""
        existing = set(
            Patient.objects.filter(last_name__in=[last for _, last, *_ in PATIENTS]).values_list(
                "first_name", "last_name"
            )
        )
        therapists = get_user_model().objects.in_bulk(list(HOURS), field_name="username")
        self.rooms = rooms = list(Room.objects.filter(name__in=ROOMS).order_by("name"))
        self.diary = Diary(
            therapists.values(),
            self.week_start - datetime.timedelta(weeks=WEEKS_BACK),
            self.week_start + datetime.timedelta(weeks=WEEKS_AHEAD),
            self.now,
        )
        self.cases = {}
        turns = defaultdict(int)
        for index, (key, story) in enumerate(STORIES.items()):
            if key in existing:
                continue
            therapist = therapists[story.therapist]
            room = rooms[(HOME_ROOM[story.therapist] + (index % 4 == 3)) % len(rooms)]
            case = Case(key=key, story=story, therapist=therapist, room=room)
            self.cases[key] = case
            weekday = self.weekday_for(story, therapist, turns)
            if story.new:
                self.lay_out_first_visit(case)
            elif not story.severity:
                self.lay_out_screening(case, weekday)
            elif story.ending:
                self.lay_out_ended_plan(case, weekday)
            else:
                self.lay_out_active_plan(case, weekday)
            if not story.new:
                first = case.visits[0].starts_at if case.visits else case.screened_at
                registered = timezone.localdate(first) - datetime.timedelta(days=2 + (index * 5) % 11)
                case.registered_at = local(registered, datetime.time(10, 30 + index % 30))
        for week, kind in MISSED:
            self.lay_out_missed(week, kind)
        self.lay_out_today()

    def weekday_for(self, story, therapist, turns):
        worked = sorted(self.diary.weekdays[therapist.pk])
        if not worked:
            raise CommandError(f"{therapist} has no working hours; the demo history needs them.")
        if story.day == "today" and self.today.weekday() in worked:
            return self.today.weekday()
        if story.day == "recent":
            day, seen = self.today, 0
            while seen < 2:
                day -= DAY
                seen += day.weekday() in worked
            return day.weekday()
        # The others in turn, from tomorrow on, so that they spread over the week.
        order = sorted(worked, key=lambda weekday: (weekday - self.today.weekday() - 1) % 7)
        turns[therapist.pk] += 1
        return order[(turns[therapist.pk] - 1) % len(order)]

    def _take(self, case, days, minutes, when, *, any_room=False):
        """A slot for the case: in its plan's room (a series keeps one room),
        or, for a single appointment, in any room free then."""
        slot = self.diary.take(
            therapist=case.therapist,
            rooms=self.rooms_for(case, any_room),
            patient=("patient", case.key),
            days=days,
            minutes=minutes,
            hour=case.story.hour,
            when=when,
        )
        if slot is None:
            raise CommandError(f"No room in the demo timetable for {case.key}.")
        return slot

    def rooms_for(self, case, any_room):
        return [case.room] + [room for room in self.rooms if room != case.room] * any_room

    def _near(self, day, *, after=None, before=None):
        """`day` first, then the days around it, within the bounds."""
        days = [day + DAY * offset for offset in (0, 1, -1, 2, -2, 3, -3, 4, -4)]
        return [d for d in days if (after is None or d >= after) and (before is None or d <= before)]

    def lay_out_first_visit(self, case):
        slot = self._take(case, [self.today + DAY * n for n in range(14)], 60, "future", any_room=True)
        case.visits.append(Visit(1, *slot))
        # Registered this week: one a day or so ago, one a few hours ago.
        hours_ago = 4 if sum(c.story.new for c in self.cases.values()) % 2 else 26
        midnight = local(self.week_start, datetime.time.min)
        case.registered_at = max(midnight, self.now - datetime.timedelta(hours=hours_ago))

    def lay_out_screening(self, case, weekday):
        """A screening without a visit (at the front desk, before any booking)."""
        if case.story.week == 0:
            days = [self.today - DAY * n for n in range(14)]
        else:
            target = self.week_start + datetime.timedelta(weeks=case.story.week, days=weekday)
            days = self._near(target)
        starts_at, _, _ = self._take(case, days, 30, "past", any_room=True)
        case.screened_at = starts_at + 20 * MINUTE

    def lay_out_ended_plan(self, case, weekday):
        """Every session in the past, the last one in the story's week."""
        story = case.story
        count = len(story.pains)
        if story.week == 0:
            # The first working day of this week that is over, else last week.
            days = [self.week_start + DAY * n for n in range(-7, 7)]
            days = days[7:] + days[6::-1]
        else:
            days = self._near(self.week_start + datetime.timedelta(weeks=story.week, days=weekday))
        visits = []
        for number in range(count, 0, -1):
            minutes = 60 if number == 1 else 45
            if visits:
                days = self._near(visits[0].day - 7 * DAY, before=visits[0].day - 2 * DAY)
            visits.insert(0, Visit(number, *self._take(case, days, minutes, "past")))
        case.visits = visits

    def lay_out_active_plan(self, case, weekday):
        """The first visit in the story's week (over by now); then one a week,
        past or to come, up to the planned sessions."""
        story = case.story
        target = self.week_start + datetime.timedelta(weeks=story.week, days=weekday)
        days = [target - DAY * n for n in range(14)]
        case.visits = [Visit(1, *self._take(case, days, 60, "past"))]
        for number in range(2, story.planned + 1):
            previous = case.visits[-1].day
            days = self._near(previous + 7 * DAY, after=previous + 2 * DAY)
            case.visits.append(Visit(number, *self._take(case, days, 45, "any")))

    def lay_out_missed(self, week, kind):
        """A no-show or a cancellation of a patient in treatment that week,
        on another day than their session."""
        monday = self.week_start + datetime.timedelta(weeks=week)
        week_days = [monday + DAY * n for n in range(7)]
        if week == 0:
            # This week's: today if it can be, else the latest day before.
            days = [day for day in reversed(week_days) if day <= self.today]
            when = "missed" if kind == "no_show" else "past"
            modes = [("soon", [self.today])] * (kind == "late") + [(when, [day]) for day in days]
        else:
            modes = [("missed" if kind == "no_show" else "past", week_days)]
        candidates = sorted(
            (
                case
                for case in self.treated_cases()
                if any(monday <= visit.day < monday + 7 * DAY for visit in case.visits)
            ),
            key=lambda case: len(case.missed),
        )
        for when, days in modes:
            for case in candidates:
                first, last = case.visits[0].day, case.visits[-1].day
                allowed = [day for day in days if first < day and (case.active or day < last)]
                slot = self.diary.take(
                    therapist=case.therapist,
                    rooms=self.rooms_for(case, any_room=True),
                    patient=("patient", case.key),
                    days=allowed,
                    minutes=45,
                    hour=case.story.hour,
                    when=when,
                )
                if slot:
                    case.missed.append(Missed(kind, *slot))
                    return

    def lay_out_today(self):
        """Today's visits in progress are checked in, their charts drafts. If
        none is, the last one over (its chart not yet signed), or the first to
        come if the patient is due within half an hour; before opening (or on
        a day off) the last visit of the last working day was left unsigned."""
        active = [case for case in self.treated_cases() if case.active]
        visits = sorted(
            (visit for case in active for visit in case.visits if visit.number > 1),
            key=lambda visit: visit.starts_at,
        )
        today = [visit for visit in visits if visit.day == self.today]
        started = [visit for visit in today if visit.starts_at <= self.now < visit.ends_at]
        over = [visit for visit in today if visit.ends_at <= self.now]
        due = [visit for visit in today if self.now < visit.starts_at <= self.now + 30 * MINUTE]
        earlier = [visit for visit in visits if visit.ends_at <= self.now]
        for visit in started or over[-1:] or due[:1] or earlier[-1:]:
            visit.checked_in = True

    def create_patients(self):
        for first, last, dob, sex, phone, consent in PATIENTS:
            case = self.cases.get((first, last))
            registered_at = case.registered_at if case else self.now
            patient, created = Patient.objects.get_or_create(
                first_name=first,
                last_name=last,
                date_of_birth=datetime.date.fromisoformat(dob),
                defaults={
                    "sex": sex,
                    "phone": phone,
                    "email": f"{first}.{last}@patient.example".lower(),
                    "city": "New York",
                    "email_consent": consent,
                    "email_consent_changed_at": registered_at if consent else None,
                    "created_at": registered_at,
                },
            )
            if case:
                case.patient = patient
            if created:
                self.note(f"patient {first} {last}")

    def create_clinical_records(self):
        """Screenings (one of each result), consents and intake assessments,
        written through the same services as the therapists' pages, dated at
        the first visit."""
        items = list(ScreeningItem.objects.filter(is_active=True))
        consent_text = patient_services.current_consent_text()
        for case in self.cases.values():
            story, patient, therapist = case.story, case.patient, case.therapist
            if story.new:
                continue
            first_visit = case.visits[0] if case.visits else None
            screened_at = first_visit.starts_at + 10 * MINUTE if first_visit else case.screened_at
            answers = [
                patient_services.ScreeningAnswerInput(
                    item=item,
                    answer=item.code in story.screening,
                    acknowledgement=SCREENING_NOTES.get(item.code, "") * (item.code in story.screening),
                )
                for item in items
            ]
            screening = patient_services.screening_save_draft(
                patient=patient, therapist=therapist, answers=answers
            )
            screening = patient_services.screening_sign(screening=screening, therapist=therapist)
            Screening.objects.filter(pk=screening.pk).update(
                notes=REFERRAL_NOTES.get(screening.result, ""),
                created_at=screened_at - 5 * MINUTE,
                signed_at=screened_at,
                valid_until=timezone.localdate(screened_at)
                + datetime.timedelta(days=settings.SCREENING_VALID_DAYS),
            )
            self.note(f"screening of {patient}: {screening.get_result_display()}")
            if not screening.clears_needling:
                continue
            patient_services.consent_record(
                patient=patient,
                consent_text=consent_text,
                method=Consent.Method.PAPER,
                witnessed_by=therapist,
                given_at=screened_at + 2 * MINUTE,
            )
            patient.refresh_from_db()
            back_pain, odi = story.intake
            patient_services.assessment_record(
                assessment=Assessment(
                    patient=patient,
                    kind=Assessment.Kind.INTAKE,
                    assessed_at=screened_at + 5 * MINUTE,
                    affected_side=story.side,
                    radiating_pain=True,
                    tingling=True,
                    numbness=False,
                    weakness=False,
                    worse_when_sitting=True,
                    back_pain=back_pain,
                    leg_pain=story.pains[0][0],
                    slr_done=True,
                    slr_angle=45,
                    slr_positive=True,
                    **dict(zip((name for name, _ in ODI_SECTIONS), odi_answers(odi), strict=True)),
                ),
                therapist=therapist,
            )
            self.note(f"consent and intake assessment of {patient}")

    def create_plans(self):
        """A plan for each cleared patient, written and started at the first
        visit, through the same services as the therapists' pages."""
        muscles = {m.name: m for m in Muscle.objects.all()}
        for case in self.treated_cases():
            story, therapist = case.story, case.therapist
            started = case.visits[0].starts_at + 20 * MINUTE
            plan = treatment_services.plan_save(
                plan=TreatmentPlan(
                    patient=case.patient,
                    severity=story.severity,
                    planned_sessions=story.planned,
                    target_muscles=[{"muscle": muscles[m].pk, "side": story.side} for m in story.muscles],
                    techniques=["trigger_point", "ims"] if story.severity == "complex" else ["trigger_point"],
                    program=[
                        {"component": "core", "notes": "Dead bug and bird dog, 3 x 10 daily"},
                        PROGRAM[story.side],
                    ],
                    goal_leg_pain=3,
                    goal_odi=20,
                    reassessment_after_session=min(3, story.planned),
                    created_at=started - 5 * MINUTE,
                ),
                therapist=therapist,
            )
            plan = treatment_services.plan_activate(plan=plan, therapist=therapist)
            TreatmentPlan.objects.filter(pk=plan.pk).update(activated_at=started)
            plan.activated_at = started
            self.stamp_plan_history(plan, started - 5 * MINUTE, started)
            case.plan = plan
            self.note(f"{plan} ({story.planned} sessions)")

    def create_visits(self):
        """The visits of the plans that have happened: booked, checked in,
        charted and signed through the treatment services (which complete
        the visit and schedule its aftercare emails); and today's visit in
        progress, checked in with its chart a draft."""
        self.reception = self.user("reception")
        self.types = {t.name: t for t in AppointmentType.objects.all()}
        self.muscles = {m.name: m for m in Muscle.objects.all()}
        self.aftercare = {a.code: a for a in AftercareItem.objects.all()}
        self.booked_at = {}
        self.cancelled_at = {}
        charted = 0
        for case in self.treated_cases():
            for visit in case.visits:
                if visit.ends_at > self.now and not visit.checked_in:
                    break
                self.record_visit(case, visit)
                charted += not visit.checked_in
        if charted:
            self.note(f"{charted} visits charted and signed")

    def book_past(self, case, room, starts_at, ends_at, appointment_type, booked_at):
        """An appointment booked before now, written as a row (the booking
        service refuses times already past), logged as the service would."""
        appointment = Appointment.objects.create(
            patient=case.patient,
            therapist=case.therapist,
            room=room,
            appointment_type=appointment_type,
            starts_at=starts_at,
            ends_at=ends_at,
            created_at=booked_at,
        )
        AppointmentChange.objects.create(
            appointment=appointment,
            changed_by=self.reception,
            changed_at=booked_at,
            action="booked",
            detail={
                "starts_at": timezone.localtime(starts_at).isoformat(),
                "room": room.name,
                "therapist": case.therapist.pk,
            },
        )
        self.booked_at[appointment.pk] = booked_at
        return appointment

    def record_visit(self, case, visit):
        story, therapist = case.story, case.therapist
        kind = self.types[FIRST_VISIT if visit.number == 1 else SESSION]
        previous = case.visits[visit.number - 2].ends_at if visit.number > 1 else case.registered_at
        booked_at = min(previous + 5 * MINUTE, visit.starts_at - DAY)
        if visit.starts_at > self.now:
            appointment = scheduling_services.appointment_book(
                patient=case.patient,
                therapist=therapist,
                room=visit.room,
                appointment_type=kind,
                starts_at=visit.starts_at,
                booked_by=self.reception,
            )
        else:
            appointment = self.book_past(case, visit.room, visit.starts_at, visit.ends_at, kind, booked_at)
        visit.appointment = appointment
        checked_in_at = min(visit.starts_at - 5 * MINUTE, self.now)
        scheduling_services.appointment_check_in(
            appointment=appointment, user=self.reception, now=checked_in_at
        )
        self.stamp(appointment, "checked_in", checked_in_at)
        chart = treatment_services.chart_start(
            plan=case.plan,
            appointment=appointment,
            therapist=therapist,
            screening_still_valid=True,
            new_problem=False,
            now=min(visit.starts_at + (25 if visit.number == 1 else 5) * MINUTE, self.now),
        )
        before, after = story.pains[visit.number - 1]
        back_before = max(0, min(story.intake[0], before - 1))
        if visit.checked_in:
            # In progress: the pain before needling is charted, nothing else yet.
            treatment_services.chart_save_draft(
                chart=chart,
                therapist=therapist,
                fields={"leg_pain_before": before, "back_pain_before": back_before},
                needlings=[],
                adverse_events=[],
                aftercare=[],
            )
            opened_at = min(visit.starts_at + 5 * MINUTE, self.now)
            SessionChart.objects.filter(pk=chart.pk).update(created_at=opened_at)
            return
        events = [
            treatment_services.AdverseEventInput(kind, severity, notes)
            for number, kind, severity, notes in story.events
            if number == visit.number
        ]
        advice = ["hydration", "stretching", "light_movement", "expected_soreness"]
        if any(e.kind in {"nerve_injury", "lightheadedness"} for e in events):
            advice.append("warning_signs")
        treatment_services.chart_save_draft(
            chart=chart,
            therapist=therapist,
            fields={
                "leg_pain_before": before,
                "leg_pain_after": after,
                "back_pain_before": back_before,
                "back_pain_after": max(0, back_before - 1),
                "notes": "Local twitch responses; familiar leg pain reproduced in piriformis."
                if "Piriformis" in story.muscles
                else "Local twitch responses in the treated muscles.",
            },
            needlings=[
                treatment_services.NeedlingInput(
                    muscle=self.muscles[name],
                    side=story.side,
                    needles=2 if index else 3,
                    needle_length_mm=60 if name.startswith(("Gluteus", "Piriformis")) else 50,
                    needle_gauge_mm=Decimal("0.30"),
                    technique="ims" if story.severity == "complex" and index == 0 else "trigger_point",
                    twitch_response=True,
                    familiar_pain=name == "Piriformis",
                )
                for index, name in enumerate(story.muscles)
            ],
            adverse_events=events,
            aftercare=[self.aftercare[code] for code in advice],
        )
        treatment_services.chart_sign(chart=chart, therapist=therapist, now=visit.ends_at)
        SessionChart.objects.filter(pk=chart.pk).update(
            created_at=visit.starts_at + 25 * MINUTE if visit.number == 1 else visit.starts_at + 5 * MINUTE,
            signed_at=visit.ends_at,
        )
        self.stamp(appointment, "completed", visit.ends_at)

    def create_reassessments(self):
        """The re-assessments (Oswestry index again) at the plans' re-assessment
        points and at discharge, for the sessions that have happened."""
        count = 0
        for case in self.treated_cases():
            story = case.story
            for number, odi in story.reassessments:
                visit = case.visits[number - 1]
                if visit.appointment is None or visit.checked_in:
                    continue
                before, _ = story.pains[number - 1]
                patient_services.assessment_record(
                    assessment=Assessment(
                        patient=case.patient,
                        kind=Assessment.Kind.REASSESSMENT,
                        assessed_at=visit.starts_at + 3 * MINUTE,
                        affected_side=story.side,
                        radiating_pain=before >= 4,
                        tingling=before >= 5,
                        numbness=False,
                        weakness=False,
                        worse_when_sitting=before >= 4,
                        back_pain=max(0, min(story.intake[0], before - 1)),
                        leg_pain=before,
                        slr_done=True,
                        slr_angle=min(90, 45 + 5 * (story.pains[0][0] - before)),
                        slr_positive=before >= 5,
                        **dict(zip((name for name, _ in ODI_SECTIONS), odi_answers(odi), strict=True)),
                    ),
                    therapist=case.therapist,
                )
                count += 1
        if count:
            self.note(f"{count} re-assessments")

    def end_plans(self):
        """Completed and discontinued plans, ended after their last visit."""
        for case in self.treated_cases():
            story = case.story
            if not story.ending:
                continue
            plan = treatment_services.plan_end(
                plan=case.plan, therapist=case.therapist, status=story.ending, reason=story.reason
            )
            ended_at = min(case.visits[-1].ends_at + 10 * MINUTE, self.now)
            TreatmentPlan.objects.filter(pk=plan.pk).update(ended_at=ended_at)
            self.stamp_plan_history(plan, ended_at)
            case.plan = plan
            self.note(f"{plan} {plan.get_status_display().lower()}")

    def create_missed_appointments(self):
        """No-shows, and cancellations late and in good time, through the
        scheduling services (marking a no-show, cancelling)."""
        follow_up = self.types[SESSION]
        count = 0
        for case in self.treated_cases():
            for missed in case.missed:
                booked_at = missed.starts_at - datetime.timedelta(days=6)
                appointment = self.book_past(
                    case, missed.room, missed.starts_at, missed.ends_at, follow_up, booked_at
                )
                if missed.kind == "no_show":
                    scheduling_services.appointment_mark_no_show(appointment=appointment, user=self.reception)
                    self.stamp(appointment, "no_show", min(missed.starts_at + 20 * MINUTE, self.now))
                else:
                    if missed.kind == "late":
                        # The evening before, or just now for one still to come.
                        cancelled_at = min(
                            local(timezone.localdate(missed.starts_at) - DAY, datetime.time(19, 30)),
                            self.now - 10 * MINUTE,
                        )
                        cancelled_at = max(cancelled_at, missed.starts_at - datetime.timedelta(hours=23))
                    else:
                        cancelled_at = missed.starts_at - datetime.timedelta(days=3)
                    scheduling_services.appointment_cancel(
                        appointment=appointment,
                        cancelled_by=Appointment.CancelledBy.CLINIC
                        if missed.kind == "clinic"
                        else Appointment.CancelledBy.PATIENT,
                        user=self.reception,
                        now=cancelled_at,
                    )
                    self.stamp(appointment, "cancelled", cancelled_at)
                    self.cancelled_at[appointment.pk] = cancelled_at
                count += 1
        if count:
            self.note(f"{count} no-shows and cancellations")

    def create_bookings(self):
        """What is booked ahead, through the booking services (which write the
        confirmation and reminder emails): the rest of each active plan as one
        series, and new patients' first visits. Some are confirmed by the patient."""
        follow_up, first_visit = self.types[SESSION], self.types[FIRST_VISIT]
        count = 0
        for index, case in enumerate(self.cases.values()):
            to_come = [visit for visit in case.visits if visit.appointment is None]
            if not to_come:
                continue
            if case.story.new:
                appointment = scheduling_services.appointment_book(
                    patient=case.patient,
                    therapist=case.therapist,
                    room=to_come[0].room,
                    appointment_type=first_visit,
                    starts_at=to_come[0].starts_at,
                    booked_by=self.reception,
                )
                to_come[0].appointment = appointment
                booked = [appointment]
            else:
                series = treatment_services.plan_series_book(
                    plan=case.plan,
                    room=case.room,
                    appointment_type=follow_up,
                    starts=[visit.starts_at for visit in to_come],
                    booked_by=self.reception,
                )
                booked = list(series.appointments.order_by("starts_at"))
                for visit, appointment in zip(to_come, booked, strict=True):
                    visit.appointment = appointment
            if index % 2 == 0:
                scheduling_services.appointment_confirm(appointment=booked[0])
            count += len(booked)
        if count:
            self.note(f"{count} appointments booked ahead")

    def create_reminders(self):
        """The emails of the past weeks: for each appointment written as a row,
        its booking confirmation and its reminder the day before. Then every
        email due by now is sent, at the time it fell due; one failed
        (the patient's mailbox refused it). What is due later waits."""
        if not self.cases:
            return
        lead = datetime.timedelta(hours=settings.REMINDER_LEAD_HOURS)
        patients = {case.patient.pk: case.patient for case in self.cases.values()}
        rows = []
        appointments = Appointment.objects.filter(pk__in=list(self.booked_at))
        for appointment in appointments:
            booked_at = self.booked_at[appointment.pk]
            cancelled_at = self.cancelled_at.get(appointment.pk)
            emailed = reminders.may_email(patients[appointment.patient_id])
            rows.append(
                Reminder(
                    appointment=appointment,
                    kind=Reminder.Kind.BOOKING_CONFIRMATION,
                    due_at=reminders.deliverable(booked_at),
                    status=Reminder.Status.PENDING if emailed else Reminder.Status.SKIPPED,
                    context={"appointments": [appointment.pk]},
                    created_at=booked_at,
                )
            )
            due = reminders.deliverable(appointment.starts_at - lead)
            if due <= booked_at:
                continue
            status = Reminder.Status.PENDING if emailed else Reminder.Status.SKIPPED
            if cancelled_at and cancelled_at <= due:
                status = Reminder.Status.CANCELLED
            rows.append(
                Reminder(
                    appointment=appointment,
                    kind=Reminder.Kind.APPOINTMENT_REMINDER,
                    due_at=due,
                    status=status,
                    created_at=booked_at,
                )
            )
        Reminder.objects.bulk_create(rows)
        # What the booking services just wrote is due now, a moment after the seed began.
        now = timezone.now()
        # The aftercare emails were scheduled when each chart was signed.
        delays = reminders.AFTERCARE_DELAYS
        outbox = list(
            Reminder.objects.filter(appointment__patient__in=list(patients)).select_related(
                "appointment__chart"
            )
        )
        for reminder in outbox:
            if reminder.kind in delays:
                signed_at = reminder.appointment.chart.signed_at
                reminder.created_at = signed_at
                reminder.due_at = reminders.deliverable(signed_at + delays[reminder.kind])
            if reminder.status == Reminder.Status.PENDING and reminder.due_at <= now:
                reminder.status = Reminder.Status.SENT
                reminder.sent_at = min(reminder.due_at + datetime.timedelta(seconds=40), now)
        Reminder.objects.bulk_update(outbox, ["created_at", "due_at", "status", "sent_at"], batch_size=200)
        sent = [r for r in outbox if r.status == Reminder.Status.SENT]
        failed = max(
            (r for r in sent if r.kind == Reminder.Kind.APPOINTMENT_REMINDER),
            key=lambda r: (r.due_at, r.pk),
            default=None,
        )
        if failed is not None:
            email = patients[failed.appointment.patient_id].email
            attempts = settings.REMINDER_MAX_ATTEMPTS
            Reminder.objects.filter(pk=failed.pk).update(
                status=Reminder.Status.FAILED,
                sent_at=None,
                attempts=attempts,
                last_error=f"SMTPRecipientsRefused: {{'{email}': (550, b'5.1.1 <{email}>: "
                "Recipient address rejected: mailbox unavailable')}",
            )
        self.note(f"{len(outbox)} patient emails, {len(sent) - (failed is not None)} of them sent")

    def create_checkins(self):
        """Patients' check-ins after their visits, through the link in the
        24-hour aftercare email: most fine, one alert acknowledged by the
        therapist, one still open (worse leg pain than before the visit)."""
        count = 0
        for index, case in enumerate(self.treated_cases()):
            if not reminders.may_email(case.patient):
                continue
            answered = []
            for visit in case.visits:
                appointment = visit.appointment
                if appointment is None or visit.checked_in or visit.ends_at > self.now:
                    continue
                email_at = reminders.deliverable(visit.ends_at + datetime.timedelta(hours=24))
                if email_at + datetime.timedelta(hours=1) <= self.now:
                    answered.append((visit, email_at))
            if not answered:
                continue
            story = case.story
            if story.checkin == "acknowledged":
                visit, email_at = answered[0]
            elif story.checkin == "alert" or index % 2 == 0:
                visit, email_at = answered[-1]
            else:
                continue
            before, after = story.pains[visit.number - 1]
            submitted_at = min(email_at + datetime.timedelta(hours=2), self.now - 10 * MINUTE)
            leg_pain = min(10, before + (2 if story.checkin == "alert" else 1)) if story.checkin else after
            # As treatments.services.checkin_record words it.
            worse = f"Leg pain {leg_pain}/10, worse than {before}/10 before the visit."
            reasons = [worse] if leg_pain > before else []
            checkin = AftercareCheckIn(
                appointment=visit.appointment,
                soreness=6 if story.checkin else 2 + index % 3,
                leg_pain=leg_pain,
                red_flags=[],
                notes="The pain down the back of my leg is worse since the session; sitting at work is hard."
                if story.checkin == "alert"
                else "",
                submitted_at=submitted_at,
                alert=bool(reasons),
                alert_reasons=reasons,
            )
            if story.checkin == "acknowledged":
                checkin.acknowledged_at = min(submitted_at + datetime.timedelta(hours=3), self.now)
                checkin.acknowledged_by = case.therapist
            checkin.full_clean()
            checkin.save()
            count += 1
        if count:
            self.note(f"{count} aftercare check-ins")

    def print_logins(self):
        self.stdout.write(f"\nDemo logins (password for all: {DEMO_PASSWORD}):")
        for username, first, last, role in USERS:
            self.stdout.write(f"  {username:<12} {role:<14} {first} {last}")
