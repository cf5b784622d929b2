"""Seed a large clinic's history for `make bench`, on PostgreSQL only.

    manage.py seed_bench --scale 1.0    # 25 therapists, 62,000 patients, 978,000 appointments

Scale 1.0 is the clinic of the issue "Fast at a large clinic's history": ten
years of appointments on a grid of 45-minute slots per therapist and working
day (so no two appointments of a therapist, room or patient overlap, as the
exclusion constraints of scheduling 0004 demand), 235,000 signed charts and
1.9 million outbox rows carrying rendered email bodies (about 1.7 KB each).
Every patient who has charts has a signed screening valid on each charted
day and a consent to the current consent text, so the clinical gate clears
them. The big tables are filled with INSERT ... SELECT FROM generate_series,
never the ORM row by row, then ANALYZE runs.

The database must be empty of patients, or already seeded at the same scale
(a marker table, bench_seed, records the scale): then nothing is done, so the
command is safe to run again.
"""

import datetime
import json
import math
import time

from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.hashers import make_password
from django.contrib.auth.models import Group
from django.core.management.base import BaseCommand, CommandError
from django.db import connection, transaction
from django.utils import timezone

from clinic import roles
from patients.models import ConsentText, Patient
from scheduling import totals
from scheduling.models import CalendarFeed, Room, WorkingHours
from treatments import outcomes

THERAPISTS = 25
PATIENTS = 62_000
APPOINTMENTS = 978_000
YEARS = 10
DAYS_AHEAD = 28
# 45-minute slots from 07:30 to 19:30: 16 a day.
FIRST_SLOT = datetime.time(7, 30)
SLOT_MINUTES = 45
SLOTS = 16
VISITS_PER_PATIENT = 16
PASSWORD = "bench-clinic-2026"  # noqa: S105 a throwaway database's logins
MARKER = "bench_seed"

FIRST_NAMES = [
    "James",
    "Mary",
    "Robert",
    "Patricia",
    "John",
    "Jennifer",
    "Michael",
    "Linda",
    "David",
    "Elizabeth",
    "William",
    "Barbara",
    "Richard",
    "Susan",
    "Joseph",
    "Jessica",
    "Thomas",
    "Sarah",
    "Charles",
    "Karen",
    "Christopher",
    "Lisa",
    "Daniel",
    "Nancy",
    "Matthew",
    "Betty",
    "Anthony",
    "Sandra",
    "Mark",
    "Margaret",
    "Donald",
    "Ashley",
    "Steven",
    "Kimberly",
    "Andrew",
    "Emily",
    "Paul",
    "Donna",
    "Joshua",
    "Michelle",
    "Kenneth",
    "Carol",
    "Kevin",
    "Amanda",
    "Brian",
    "Melissa",
    "George",
    "Deborah",
    "Timothy",
    "Stephanie",
    "Ronald",
    "Rebecca",
    "Jason",
    "Sharon",
    "Edward",
    "Laura",
    "Jeffrey",
    "Cynthia",
    "Ryan",
    "Dorothy",
    "Jacob",
    "Amy",
    "Gary",
    "Kathleen",
    "Nicholas",
    "Angela",
    "Eric",
    "Shirley",
    "Jonathan",
    "Emma",
]
LAST_NAMES = [
    "Smith",
    "Johnson",
    "Williams",
    "Brown",
    "Jones",
    "Garcia",
    "Miller",
    "Davis",
    "Rodriguez",
    "Martinez",
    "Hernandez",
    "Lopez",
    "Gonzalez",
    "Wilson",
    "Anderson",
    "Thomas",
    "Taylor",
    "Moore",
    "Jackson",
    "Martin",
    "Lee",
    "Perez",
    "Thompson",
    "White",
    "Harris",
    "Sanchez",
    "Clark",
    "Ramirez",
    "Lewis",
    "Robinson",
    "Walker",
    "Young",
    "Allen",
    "King",
    "Wright",
    "Scott",
    "Torres",
    "Nguyen",
    "Hill",
    "Flores",
    "Green",
    "Adams",
    "Nelson",
    "Baker",
    "Hall",
    "Rivera",
    "Campbell",
    "Mitchell",
    "Carter",
    "Roberts",
    "Gomez",
    "Phillips",
    "Evans",
    "Turner",
    "Diaz",
    "Parker",
    "Cruz",
    "Edwards",
    "Collins",
    "Reyes",
    "Stewart",
    "Morris",
    "Morales",
    "Murphy",
    "Cook",
    "Rogers",
    "Gutierrez",
    "Ortiz",
    "Morgan",
    "Cooper",
    "Peterson",
    "Bailey",
    "Reed",
    "Kelly",
    "Howard",
    "Ramos",
    "Kim",
    "Cox",
    "Ward",
    "Richardson",
    "Watson",
    "Brooks",
    "Chavez",
    "Wood",
    "James",
]
CITIES = ["New York", "Brooklyn", "Queens", "Bronx", "Staten Island", "Hoboken", "Jersey City", "Yonkers"]

# The outbox keeps each email as sent: a text and an HTML part of about the
# size the clinic's templates render (1.7 KB a row with the subject).
EMAIL_TEXT = (
    "Dear %s,\n\nThis is a reminder of your appointment at Riverside Physiotherapy on %s with %s. "
    "Please arrive ten minutes early so that we can start on time, and bring comfortable clothing that "
    "lets us reach your lower back, hips and legs. If you take any new medication, in particular blood "
    "thinners, or if anything about your health has changed since your last visit, tell your therapist "
    "before the session.\n\nTo confirm or cancel, use the link in this email or call us on +1 212 555 "
    "0100. Please give us 24 hours notice if you cannot come, so that another patient can take the slot."
    "\n\nRiverside Physiotherapy\n120 Riverside Drive, New York, NY 10024\n\nYou receive this email "
    "because you agreed to appointment reminders. Unsubscribe: http://127.0.0.1:8000/unsubscribe/%s/\n"
)
EMAIL_HTML = (
    '<!doctype html><html><body style="font-family: sans-serif; line-height: 1.5">'
    "<p>Dear %s,</p><p>This is a reminder of your appointment at <strong>Riverside Physiotherapy</strong> "
    "on <strong>%s</strong> with %s.</p><p>Please arrive ten minutes early so that we can start on time, "
    "and bring comfortable clothing that lets us reach your lower back, hips and legs. If you take any new "
    "medication, in particular blood thinners, or if anything about your health has changed since your "
    "last visit, tell your therapist before the session.</p><p>To confirm or cancel, use "
    '<a href="http://127.0.0.1:8000/a/%s/">this link</a> or call us on +1 212 555 0100.</p>'
    '<p style="color: #666; font-size: small">Riverside Physiotherapy, 120 Riverside Drive, New York, '
    'NY 10024. <a href="http://127.0.0.1:8000/unsubscribe/%s/">Unsubscribe</a></p></body></html>'
)


def counts_for(scale):
    """What a clinic of this scale holds."""
    appointments = max(100, round(APPOINTMENTS * scale))
    # Enough therapists for the appointments to fit their slots (about 2,610 working days in ten years).
    therapists = max(2, round(THERAPISTS * scale), math.ceil(appointments / (261 * YEARS * SLOTS * 0.95)))
    # One patient per VISITS_PER_PATIENT appointments, one regular per therapist, and
    # the registered patients who never came.
    patients = max(round(PATIENTS * scale), math.ceil(appointments / VISITS_PER_PATIENT) + 2 * therapists)
    return {"therapists": therapists, "patients": patients, "appointments": appointments}


def seeded_scale():
    """The scale this database was seeded at, or None."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT to_regclass(%s)", [MARKER])
        if cursor.fetchone()[0] is None:
            return None
        cursor.execute(f"SELECT scale FROM {MARKER}")  # noqa: S608 a constant
        row = cursor.fetchone()
    return float(row[0]) if row else None


class Command(BaseCommand):
    help = "Seed a large clinic's history (PostgreSQL only) for make bench."

    def add_arguments(self, parser):
        parser.add_argument("--scale", type=float, default=1.0, help="1.0: 978,000 appointments; 0.01 for CI")

    def handle(self, *args, scale, verbosity=1, **options):
        self.verbosity = verbosity
        if connection.vendor != "postgresql":
            raise CommandError(
                "seed_bench needs PostgreSQL (it uses generate_series and the exclusion constraints); "
                "set DATABASE_URL=postgres://..."
            )
        if not 0 < scale <= 2:
            raise CommandError("--scale must be above 0 and at most 2.")
        already = seeded_scale()
        if already is not None:
            if already != scale:
                raise CommandError(
                    f"This database was seeded at scale {already:g}; use another database for {scale:g}."
                )
            self.say(f"Already seeded at scale {scale:g}; nothing to do.")
            return
        if Patient.objects.exists():
            raise CommandError("This database already has patients; seed_bench fills an empty one.")
        self.counts = counts_for(scale)
        self.now = timezone.now()
        started = time.perf_counter()
        with transaction.atomic():
            self.create_staff()
            with connection.cursor() as cursor:
                self.cursor = cursor
                self.step("patients", self.insert_patients)
                self.step("appointments", self.insert_appointments)
                self.step("screenings and consents", self.insert_clearance)
                self.step("plans and charts", self.insert_plans_and_charts)
                self.step("outbox", self.insert_outbox)
                cursor.execute(
                    f"CREATE TABLE {MARKER} (scale numeric NOT NULL, seeded_at timestamptz NOT NULL)"
                )
                cursor.execute(f"INSERT INTO {MARKER} VALUES (%s, %s)", [scale, self.now])  # noqa: S608
        with connection.cursor() as cursor:
            self.cursor = cursor
            self.step("ANALYZE", lambda: cursor.execute("ANALYZE"))
            # Each plan's stored outcomes, computed from the rows inserted above.
            self.step("plan outcomes", outcomes.refresh_all)
            self.step("day totals", totals.refresh_all)
            # What autovacuum does to a live clinic's tables: the visibility
            # map lets the dashboard's counts read their indexes alone.
            vacuum = "ANALYZE" if connection.in_atomic_block else "VACUUM ANALYZE"
            self.step(vacuum, lambda: cursor.execute(vacuum))
            self.say(f"Seeded scale {scale:g} in {time.perf_counter() - started:.0f} s: {self.summary()}")

    def say(self, text):
        if self.verbosity > 0:
            self.stdout.write(text)

    def step(self, what, action):
        started = time.perf_counter()
        action()
        self.say(f"  {what}: {time.perf_counter() - started:.1f} s")

    def sql(self, statement, params=None):
        self.cursor.execute(statement, params or {})
        return self.cursor.rowcount

    def summary(self):
        tables = [
            ("patients", "patients_patient"),
            ("appointments", "scheduling_appointment"),
            ("signed charts", "treatments_sessionchart"),
            ("outbox rows", "scheduling_reminder"),
        ]
        parts = []
        for label, table in tables:
            self.cursor.execute(f"SELECT count(*) FROM {table}")  # noqa: S608 constants
            parts.append(f"{self.cursor.fetchone()[0]:,} {label}")
        return ", ".join(parts)

    # Staff, rooms and hours: a few dozen rows, through the ORM.

    def create_staff(self):
        User = get_user_model()
        password = make_password(PASSWORD)
        groups = {name: Group.objects.get(name=name) for name in roles.ROLES}
        for username, role in [("bench-admin", roles.CLINIC_ADMIN), ("bench-reception", roles.RECEPTIONIST)]:
            user = User.objects.create(username=username, password=password, first_name=username[6:].title())
            user.groups.add(groups[role])
        self.therapists = []
        for number in range(1, self.counts["therapists"] + 1):
            user = User.objects.create(
                username=f"bench-therapist-{number:02d}",
                password=password,
                first_name=FIRST_NAMES[number % len(FIRST_NAMES)],
                last_name=f"Therapist {number:02d}",
            )
            user.groups.add(groups[roles.THERAPIST])
            room = Room.objects.create(name=f"Treatment room {number:02d}")
            WorkingHours.objects.bulk_create(
                WorkingHours(
                    therapist=user, weekday=weekday, starts_at=FIRST_SLOT, ends_at=datetime.time(19, 30)
                )
                for weekday in range(5)
            )
            CalendarFeed.objects.create(therapist=user)
            self.therapists.append((user.pk, room.pk))
        self.admin_id = User.objects.get(username="bench-admin").pk
        text = ConsentText.objects.order_by("-version").first()
        if text is None:
            text = ConsentText.objects.create(version=1, title="Consent to dry needling", body="Consent.")
        self.consent_text_id = text.pk
        with connection.cursor() as cursor:
            cursor.execute("SELECT name, id FROM scheduling_appointmenttype")
            self.types = dict(cursor.fetchall())
            cursor.execute("SELECT id FROM treatments_muscle ORDER BY id")
            self.muscles = [row[0] for row in cursor.fetchall()]

    # The big tables, in SQL.

    def insert_patients(self):
        self.sql(
            """
            INSERT INTO patients_patient (
                first_name, last_name, date_of_birth, sex, email, phone, address_line, city, postal_code,
                emergency_contact_name, emergency_contact_phone, physician, front_desk_notes,
                email_consent, created_at)
            SELECT f.name, l.name,
                DATE '1935-01-01' + (g * 7919) %% 26000,
                CASE WHEN g %% 2 = 0 THEN 'female' ELSE 'male' END,
                CASE WHEN g %% 9 = 0 THEN ''
                    ELSE lower(f.name) || '.' || lower(l.name) || g || '@example.com' END,
                CASE WHEN g %% 20 = 0 THEN '' ELSE '+1212' || lpad((2000000 + g)::text, 7, '0') END,
                g || ' Broadway', (%(cities)s::text[])[1 + g %% %(ncities)s],
                '100' || lpad((g %% 100)::text, 2, '0'),
                '', '', '', '',
                g %% 10 <> 0 AND g %% 9 <> 0,
                %(now)s - make_interval(days => (g * 31) %% 3650)
            FROM generate_series(1, %(patients)s) g
            JOIN unnest(%(first)s::text[]) WITH ORDINALITY f(name, n) ON f.n = 1 + g %% %(nfirst)s
            JOIN unnest(%(last)s::text[]) WITH ORDINALITY l(name, n)
                ON l.n = 1 + (g / %(nfirst)s) %% %(nlast)s
            ORDER BY g
            """,
            {
                "patients": self.counts["patients"],
                "first": FIRST_NAMES,
                "nfirst": len(FIRST_NAMES),
                "last": LAST_NAMES,
                "nlast": len(LAST_NAMES),
                "cities": CITIES,
                "ncities": len(CITIES),
                "now": self.now,
            },
        )
        # Patient number (1..N, in insertion order) to id, for the tables below.
        self.sql(
            "CREATE TEMP TABLE bench_patient ON COMMIT DROP AS "
            "SELECT id, row_number() OVER (ORDER BY id) AS no FROM patients_patient"
        )
        self.sql("CREATE UNIQUE INDEX ON bench_patient (no)")

    def insert_appointments(self):
        """Every working day of the period, each therapist's slots, of which a
        random share is booked; each therapist's patients come weekly, sixteen
        times, a few dozen at a time, and one regular every Monday at 07:30."""
        therapists = len(self.therapists)
        today = timezone.localdate(self.now)
        first_day = today - datetime.timedelta(days=365 * YEARS)
        last_day = today + datetime.timedelta(days=DAYS_AHEAD)
        self.sql(
            "CREATE TEMP TABLE bench_therapist ON COMMIT DROP AS "
            "SELECT idx - 1 AS idx, user_id, room_id FROM unnest(%(users)s::int[], %(rooms)s::bigint[]) "
            "WITH ORDINALITY t(user_id, room_id, idx)",
            {"users": [t for t, _ in self.therapists], "rooms": [r for _, r in self.therapists]},
        )
        self.sql("SELECT setseed(0.5)")
        self.sql(
            """
            CREATE TEMP TABLE bench_slot ON COMMIT DROP AS
            SELECT t, day, slot,
                (day + %(first_slot)s::time + make_interval(mins => slot * %(minutes)s))
                    AT TIME ZONE %(zone)s AS starts_at
            FROM (
                SELECT t.idx AS t, d::date AS day, s AS slot
                FROM generate_series(%(first_day)s::date, %(last_day)s::date, interval '1 day') d
                CROSS JOIN generate_series(0, %(slots)s - 1) s
                CROSS JOIN bench_therapist t
                WHERE extract(isodow FROM d) <= 5
                ORDER BY random()
                LIMIT %(appointments)s
            ) picked
            """,
            {
                "first_slot": FIRST_SLOT,
                "minutes": SLOT_MINUTES,
                "zone": settings.CLINIC_TIME_ZONE,
                "first_day": first_day,
                "last_day": last_day,
                "slots": SLOTS,
                "appointments": self.counts["appointments"],
            },
        )
        working_days = sum(
            1
            for n in range((last_day - first_day).days + 1)
            if (first_day + datetime.timedelta(n)).weekday() < 5
        )
        per_day = self.counts["appointments"] / (therapists * working_days)
        # Patients seen at the same time by one therapist, each once a week.
        wave = max(1, round(per_day * 5))
        # Patient numbers: therapist t's local patient p is number p * therapists + t + 1;
        # local 0 is the regular, locals 1.. come in waves of `wave` patients.
        self.sql(
            """
            CREATE TEMP TABLE bench_visit ON COMMIT DROP AS
            SELECT s.t, s.starts_at, s.regular,
                CASE WHEN s.regular THEN 0
                    ELSE 1 + (s.i / (%(wave)s * %(visits)s)) * %(wave)s + s.i %% %(wave)s END
                    AS local_patient,
                CASE WHEN s.regular THEN -1 ELSE (s.i / %(wave)s) %% %(visits)s END AS visit
            FROM (
                SELECT t, starts_at, (extract(isodow FROM day) = 1 AND slot = 0) AS regular,
                    row_number() OVER (
                        PARTITION BY t, (extract(isodow FROM day) = 1 AND slot = 0) ORDER BY starts_at
                    ) - 1 AS i
                FROM bench_slot
            ) s
            """,
            {"wave": wave, "visits": VISITS_PER_PATIENT},
        )
        self.cursor.execute("SELECT max(local_patient) FROM bench_visit")
        locals_needed = (self.cursor.fetchone()[0] + 1) * therapists
        if locals_needed > self.counts["patients"]:
            raise CommandError(f"The layout needs {locals_needed} patients; scale counts are inconsistent.")
        # Each patient's plan: 4 to 6 sessions after the first assessment.
        inserted = self.sql(
            """
            INSERT INTO scheduling_appointment (
                patient_id, therapist_id, room_id, appointment_type_id, starts_at, ends_at, status,
                cancelled_by, late_cancellation, created_at, updated_at)
            SELECT p.id, t.user_id, t.room_id,
                CASE WHEN v.visit = 0 THEN %(first)s
                     WHEN v.visit BETWEEN 1 AND 4 + p.no %% 3 THEN %(needling)s
                     ELSE %(reassessment)s END,
                v.starts_at, v.starts_at + make_interval(mins => %(minutes)s),
                CASE WHEN h.x < 8 THEN 'cancelled'
                     WHEN v.starts_at >= %(now)s THEN CASE WHEN h.x < 50 THEN 'confirmed' ELSE 'booked' END
                     WHEN h.x < 12 THEN 'no_show'
                     ELSE 'completed' END,
                CASE WHEN h.x < 5 THEN 'patient' WHEN h.x < 8 THEN 'clinic' ELSE '' END,
                h.x < 2,
                v.starts_at - make_interval(days => 3 + h.x %% 20),
                -- last touched when the visit was checked off, or when it was booked
                CASE WHEN v.starts_at < %(now)s THEN v.starts_at + interval '1 hour'
                     ELSE v.starts_at - make_interval(days => 3 + h.x %% 20) END
            FROM bench_visit v
            JOIN bench_therapist t ON t.idx = v.t
            JOIN bench_patient p ON p.no = v.local_patient * %(therapists)s + v.t + 1
            CROSS JOIN LATERAL (SELECT ((p.no * 7919 + v.visit * 104729 + v.t) %% 100)::int AS x) h
            ORDER BY v.starts_at
            """,
            {
                "first": self.types["First assessment"],
                "needling": self.types["Dry-needling session"],
                "reassessment": self.types["Re-assessment"],
                "minutes": SLOT_MINUTES,
                "now": self.now,
                "therapists": therapists,
            },
        )
        if inserted != self.counts["appointments"]:
            raise CommandError(f"Only {inserted} appointments fit the therapists' slots.")
        # Each patient belongs to the therapist who sees them, registered before the first visit.
        self.sql(
            """
            UPDATE patients_patient p SET treating_therapist_id = a.therapist_id,
                created_at = a.first_at - interval '3 days'
            FROM (SELECT patient_id, min(therapist_id) AS therapist_id, min(starts_at) AS first_at
                  FROM scheduling_appointment GROUP BY patient_id) a
            WHERE a.patient_id = p.id
            """
        )

    def insert_clearance(self):
        """A screening signed at each first assessment (valid 90 days, which
        covers the plan's sessions), and the regulars screened a week ago;
        every patient seen consents to the current text at the first visit."""
        valid_days = settings.SCREENING_VALID_DAYS
        self.sql(
            """
            INSERT INTO patients_screening (patient_id, therapist_id, result, notes, created_at, signed_at,
                valid_until)
            SELECT a.patient_id, a.therapist_id,
                CASE WHEN a.patient_id %% 4 = 0 THEN 'precautions' ELSE 'cleared' END, '',
                a.starts_at + interval '10 minutes', a.starts_at + interval '30 minutes',
                (a.starts_at AT TIME ZONE %(zone)s)::date + %(valid)s
            FROM scheduling_appointment a WHERE a.appointment_type_id = %(first)s
            """,
            {"zone": settings.CLINIC_TIME_ZONE, "valid": valid_days, "first": self.types["First assessment"]},
        )
        self.sql(
            """
            INSERT INTO patients_screening (patient_id, therapist_id, result, notes, created_at, signed_at,
                valid_until)
            SELECT p.id, p.treating_therapist_id, 'cleared', '', %(signed)s, %(signed)s, %(until)s
            FROM patients_patient p
            WHERE p.treating_therapist_id IS NOT NULL
              AND NOT EXISTS (SELECT 1 FROM patients_screening s WHERE s.patient_id = p.id)
            """,
            {
                "signed": self.now - datetime.timedelta(days=7),
                "until": timezone.localdate(self.now) + datetime.timedelta(days=valid_days - 7),
            },
        )
        self.sql(
            """
            INSERT INTO patients_consent (patient_id, consent_text_id, method, witnessed_by_id, given_at)
            SELECT p.id, %(text)s, 'paper', p.treating_therapist_id, p.created_at + interval '3 days'
            FROM patients_patient p WHERE p.treating_therapist_id IS NOT NULL
            """,
            {"text": self.consent_text_id},
        )

    def insert_plans_and_charts(self):
        """A plan per first assessment; each completed needling session of it
        charted and signed 40 minutes after it began."""
        self.sql(
            """
            INSERT INTO treatments_treatmentplan (patient_id, therapist_id, severity, planned_sessions,
                sessions_reason, frequency, target_muscles, techniques, program, goal_leg_pain, goal_odi,
                goal_notes, reassessment_after_session, status, status_reason, created_at, activated_at,
                ended_at)
            SELECT a.patient_id, a.therapist_id,
                (ARRAY['mild', 'moderate', 'chronic', 'complex'])[1 + a.patient_id %% 4],
                4 + p.no %% 3, '', 'weekly',
                %(targets)s, '["trigger_point"]', '[{"component": "core"}, {"component": "flexibility"}]',
                3, 20, '', 3,
                CASE WHEN a.starts_at < %(ended)s THEN 'completed' ELSE 'active' END, '',
                a.starts_at + interval '40 minutes', a.starts_at + interval '45 minutes',
                CASE WHEN a.starts_at < %(ended)s THEN a.starts_at + interval '60 days' END
            FROM scheduling_appointment a JOIN bench_patient p ON p.id = a.patient_id
            WHERE a.appointment_type_id = %(first)s
            """,
            {
                "first": self.types["First assessment"],
                "ended": self.now - datetime.timedelta(days=60),
                "targets": json.dumps(
                    [
                        {"muscle": m, "side": side}
                        for m, side in zip(self.muscles[:2], ["left", "right"], strict=True)
                    ]
                ),
            },
        )
        # The session number is the visit's place among the patient's needling visits.
        self.sql(
            """
            INSERT INTO treatments_sessionchart (plan_id, appointment_id, therapist_id, session_number,
                screening_confirmed_valid, new_contraindication_reported, needled, not_needled_reason,
                back_pain_before, leg_pain_before, back_pain_after, leg_pain_after, slr_done,
                aftercare_notes, notes, muscle_count, procedure_code, created_at, signed_at)
            SELECT pl.id, a.id, a.therapist_id, a.n, true, false, true, '',
                6 - a.n / 2, 7 - a.n / 2, 4 - a.n / 2, 5 - a.n / 2, false,
                '', 'Needled as planned; tolerated well.', 2, '20560',
                a.starts_at + interval '5 minutes', a.starts_at + interval '40 minutes'
            FROM (
                SELECT a.*, row_number() OVER (PARTITION BY a.patient_id ORDER BY a.starts_at) AS n
                FROM scheduling_appointment a WHERE a.appointment_type_id = %(needling)s
            ) a
            JOIN treatments_treatmentplan pl ON pl.patient_id = a.patient_id
            WHERE a.status = 'completed' AND a.n <= pl.planned_sessions
            """,
            {"needling": self.types["Dry-needling session"]},
        )
        self.sql(
            """
            INSERT INTO treatments_chartneedling (chart_id, muscle_id, side, needles, needle_length_mm,
                needle_gauge_mm, technique, twitch_response, familiar_pain)
            SELECT c.id, (%(muscles)s::bigint[])[1 + (c.id + k) %% %(nmuscles)s],
                CASE WHEN c.id %% 2 = 0 THEN 'left' ELSE 'right' END,
                2 + (c.id + k) %% 4, 50, 0.30, 'trigger_point', k = 0, k = 1
            FROM treatments_sessionchart c CROSS JOIN generate_series(0, 1) k
            """,
            {"muscles": self.muscles, "nmuscles": len(self.muscles)},
        )
        self.sql(
            """
            INSERT INTO treatments_adverseevent (chart_id, kind, severity, notes, visit_at)
            SELECT c.id, CASE WHEN c.id %% 100 = 0 THEN 'lightheadedness' ELSE 'soreness' END, 'mild', '',
                a.starts_at
            FROM treatments_sessionchart c JOIN scheduling_appointment a ON a.id = c.appointment_id
            WHERE c.id %% 20 = 0
            """
        )

    def insert_outbox(self):
        """A booking confirmation and a reminder the day before per
        appointment: sent (with its body) when due before now, pending after,
        cancelled with the appointment, skipped for patients without consent."""
        for kind, due in [
            ("booking_confirmation", "a.created_at"),
            ("appointment_reminder", "a.starts_at - interval '24 hours'"),
        ]:
            self.sql(
                f"""
                INSERT INTO scheduling_reminder (appointment_id, kind, due_at, status, attempts, last_error,
                    sent_at, context, subject, body_text, body_html, created_at)
                SELECT a.id, %(kind)s, d.due,
                    d.status, CASE WHEN d.status = 'sent' THEN 1 ELSE 0 END, '',
                    CASE WHEN d.status = 'sent' THEN d.due + interval '40 seconds' END,
                    jsonb_build_object('appointments', jsonb_build_array(a.id)),
                    CASE WHEN d.status = 'sent' THEN 'Your appointment on ' || d.day ELSE '' END,
                    CASE WHEN d.status = 'sent' THEN format(%(text)s, p.first_name, d.day, t.first_name, a.id)
                        ELSE '' END,
                    CASE WHEN d.status = 'sent'
                        THEN format(%(html)s, p.first_name, d.day, t.first_name, a.id, a.id) ELSE '' END,
                    a.created_at
                FROM scheduling_appointment a
                JOIN patients_patient p ON p.id = a.patient_id
                JOIN auth_user t ON t.id = a.therapist_id
                CROSS JOIN LATERAL (SELECT {due} AS due) due
                CROSS JOIN LATERAL (
                    SELECT due.due,
                        to_char(a.starts_at AT TIME ZONE %(zone)s, 'Dy DD Mon YYYY at HH24:MI') AS day,
                        CASE WHEN NOT p.email_consent OR p.email = '' THEN 'skipped'
                             WHEN a.status = 'cancelled' AND %(kind)s = 'appointment_reminder'
                                THEN 'cancelled'
                             WHEN due.due <= %(now)s THEN 'sent'
                             ELSE 'pending' END AS status
                ) d
                """,  # noqa: S608 the due expression is one of two constants
                {
                    "kind": kind,
                    "text": EMAIL_TEXT,
                    "html": EMAIL_HTML,
                    "zone": settings.CLINIC_TIME_ZONE,
                    "now": self.now,
                },
            )
