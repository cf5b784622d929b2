"""The story the journey tests tell (clinic/tests/test_journeys.py): Maria
Lopez, who has sciatica, through the clinic.

Every step of the story is here as the services take it, so that each
journey can begin where the one before it ended without a browser, and do its
own steps in the browser. Also here: the clinic the story happens in, the
clock (days passing), and the patient's mailbox (a real SMTP server on
loopback).
"""

import datetime
import email
import re
import socket
import threading
import time
from dataclasses import dataclass
from email import policy

from django.utils import timezone
from icalendar import Calendar

from clinic.tests import factories as people
from core import links
from patients import services as patient_services
from patients.models import ODI_SECTIONS, Assessment, Consent, Patient, ScreeningItem
from patients.tests.factories import PatientFactory
from scheduling import availability, reminders
from scheduling import services as scheduling_services
from scheduling.availability import local
from scheduling.models import Appointment, AppointmentType, ClinicHours, Reminder, Room, WorkingHours
from scheduling.tests.factories import AppointmentFactory
from treatments import services as treatment_services
from treatments.models import AdverseEvent, AftercareItem, Muscle, Side, Technique, TreatmentPlan

# Open every day from midnight: wherever the hour the tests run at, a free
# time less than 24 hours ahead exists (the late cancellation needs one), and
# so does a session time that has begun today (see session_time).
OPENS, CLOSES = datetime.time(0), datetime.time(21)
USUAL_SESSION_TIME = datetime.time(10)
SESSIONS = 6
CONFLICTING_WEEK = 3

MARIA = {
    "first_name": "Maria",
    "last_name": "Lopez",
    "date_of_birth": datetime.date(1984, 3, 12),
    "sex": Patient.Sex.FEMALE,
    "email": "maria.lopez@patient.example",
    "phone": "+12125550147",
    "email_consent": True,
}
# Registered years ago: the same name and date of birth, another person.
NAMESAKE = {**MARIA, "email": "m.lopez@elsewhere.example", "phone": "+17185550199"}
DIABETES_NOTE = "Type 2, well controlled: checks her glucose before each session; strict asepsis."
TARGETS = [("Gluteus medius", Side.LEFT), ("Piriformis", Side.LEFT)]
LEG_PAIN = (7, 4)
BACK_PAIN = (5, 3)
SORENESS_NOTE = "Post-needling soreness in the gluteus medius."
AFTERCARE = ["hydration", "stretching", "expected_soreness"]


@dataclass
class Clinic:
    receptionist: object
    therapist: object
    clinic_admin: object
    room: Room
    follow_up: AppointmentType
    first_session_day: datetime.date
    session_time: datetime.time

    def series_times(self):
        """The series as the receptionist asks for it: weekly at the session time from the first day."""
        return [
            local(self.first_session_day + datetime.timedelta(weeks=week), self.session_time)
            for week in range(SESSIONS)
        ]


def session_time(now=None):
    """10:00, or, before 10:00 in the clinic, the quarter hour that has begun.
    The diary moves by whole days, so on the day of the first session it is
    under way: it can be checked in and charted (no visit is charted before
    it begins), whatever the hour the tests run at."""
    wall = timezone.localtime(now)
    if wall.time() >= USUAL_SESSION_TIME:
        return USUAL_SESSION_TIME
    return datetime.time(wall.hour, wall.minute - wall.minute % 15)


def first_session_day(today=None):
    """The first Monday to Saturday (the days a series can be booked on) at
    least two days ahead, so that the first session's reminder, 24 hours
    before it, is still to come when the series is booked."""
    day = (today or timezone.localdate()) + datetime.timedelta(days=2)
    while day.weekday() == 6:
        day += datetime.timedelta(days=1)
    return day


def open_clinic():
    """The clinic of the story: its people, open 07:00-21:00 every day with
    Theo working all those hours, and another patient of Theo's already in
    the diary at the session time on the day of Maria's third session (the conflict
    her series is booked around)."""
    for weekday in range(7):
        ClinicHours.objects.update_or_create(
            weekday=weekday, defaults={"opens_at": OPENS, "closes_at": CLOSES}
        )
    clinic = Clinic(
        receptionist=people.receptionist(username="rosa", first_name="Rosa", last_name="Diaz"),
        therapist=people.therapist(username="theo", first_name="Theo", last_name="Park"),
        clinic_admin=people.clinic_admin(username="alex", first_name="Alex", last_name="Moreau"),
        room=Room.objects.create(name="Room 1"),
        follow_up=AppointmentType.objects.get(name="Dry-needling session"),
        first_session_day=first_session_day(),
        session_time=session_time(),
    )
    for weekday in range(7):
        WorkingHours.objects.create(
            therapist=clinic.therapist, weekday=weekday, starts_at=OPENS, ends_at=CLOSES
        )
    AppointmentFactory(
        patient=PatientFactory(first_name="Sam", last_name="Okafor"),
        therapist=clinic.therapist,
        room=Room.objects.create(name="Room 2"),
        appointment_type=clinic.follow_up,
        starts_at=clinic.series_times()[CONFLICTING_WEEK - 1],
    )
    return clinic


# The clock. The live server, the Celery worker and the browser all run on
# the real clock, which a test cannot move; it moves the clinic's diary instead.


def _earlier(moment, days):
    """The same clinic-local wall-clock time, `days` days earlier."""
    wall = timezone.localtime(moment)
    return local(wall.date() - datetime.timedelta(days=days), wall.time())


def days_pass(days):
    """`days` days go by: every appointment, and every email still waiting
    in the outbox, comes `days` days nearer (at the same local time)."""
    # Earliest first, so that no appointment ever overlaps another on its way
    # (PostgreSQL's exclusion constraints check each row as it moves).
    for appointment in Appointment.objects.order_by("starts_at"):
        starts_at = _earlier(appointment.starts_at, days)
        Appointment.objects.filter(pk=appointment.pk).update(
            starts_at=starts_at, ends_at=starts_at + (appointment.ends_at - appointment.starts_at)
        )
    for reminder in Reminder.objects.filter(status=Reminder.Status.PENDING):
        Reminder.objects.filter(pk=reminder.pk).update(due_at=_earlier(reminder.due_at, days))


def the_day_of_the_first_session_comes(clinic):
    days_pass((clinic.first_session_day - timezone.localdate()).days)


def a_day_passes_for(appointment, kind):
    """A day goes by for one email: the `kind` email of `appointment`, due a
    day or more from now, is due now."""
    updated = Reminder.objects.filter(
        appointment=appointment, kind=kind, status=Reminder.Status.PENDING
    ).update(due_at=timezone.now())
    assert updated == 1, f"no pending {kind} email for appointment {appointment.pk}"


# The story's steps, as the services take them.


def register_namesake():
    return PatientFactory(**NAMESAKE)


def register():
    """The receptionist registers Maria."""
    return patient_services.patient_save(patient=Patient(**MARIA))


def clear_and_plan(clinic, patient):
    """The therapist's part before any booking: the screening (diabetes, a
    precaution, acknowledged) signed, consent, the intake assessment, and a
    chronic plan of six weekly sessions, started."""
    therapist = clinic.therapist
    answers = [
        patient_services.ScreeningAnswerInput(
            item=item,
            answer=item.code == "diabetes",
            acknowledgement=DIABETES_NOTE if item.code == "diabetes" else "",
        )
        for item in ScreeningItem.objects.filter(is_active=True)
    ]
    screening = patient_services.screening_save_draft(patient=patient, therapist=therapist, answers=answers)
    patient_services.screening_sign(screening=screening, therapist=therapist)
    patient_services.consent_record(
        patient=patient,
        consent_text=patient_services.current_consent_text(),
        method=Consent.Method.PAPER,
        witnessed_by=therapist,
    )
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
            back_pain=BACK_PAIN[0],
            leg_pain=LEG_PAIN[0],
            **{name: 2 for name, _ in ODI_SECTIONS if name != "odi_sex_life"},
            slr_done=True,
            slr_angle=45,
            slr_positive=True,
        ),
        therapist=therapist,
    )
    plan = treatment_services.plan_save(
        plan=TreatmentPlan(
            patient=patient,
            severity=TreatmentPlan.Severity.CHRONIC,
            planned_sessions=SESSIONS,
            frequency=TreatmentPlan.Frequency.WEEKLY,
            target_muscles=[
                {"muscle": Muscle.objects.get(name=name).pk, "side": side} for name, side in TARGETS
            ],
            techniques=[Technique.TRIGGER_POINT],
            program=[{"component": "core", "notes": "Bird-dog, dead bug."}],
            goal_leg_pain=2,
            goal_odi=20,
            reassessment_after_session=SESSIONS,
        ),
        therapist=therapist,
    )
    return treatment_services.plan_activate(plan=plan, therapist=therapist)


def book_series(clinic, plan):
    """The receptionist books the plan's six weekly sessions, moving the
    conflicting one to the first free time offered instead."""
    starts = [
        session.alternatives[0] if session.problems else session.starts_at
        for session in scheduling_services.series_preview(
            patient=plan.patient,
            therapist=plan.therapist,
            room=clinic.room,
            appointment_type=clinic.follow_up,
            starts=clinic.series_times(),
        )
    ]
    series = scheduling_services.series_book(
        patient=plan.patient,
        therapist=plan.therapist,
        room=clinic.room,
        appointment_type=clinic.follow_up,
        starts=starts,
        booked_by=clinic.receptionist,
        description=f"Chronic plan: {SESSIONS} sessions",
    )
    plan.appointment_series.add(series)
    return list(series.appointments.order_by("starts_at"))


def check_in(clinic, appointment):
    return scheduling_services.appointment_check_in(appointment=appointment, user=clinic.receptionist)


def chart_first_session(clinic, plan, appointment):
    """The therapist charts the first session (two muscles with a twitch
    response, leg pain 7 before and 4 after, soreness) and signs it."""
    therapist = clinic.therapist
    chart = treatment_services.chart_start(
        plan=plan, appointment=appointment, therapist=therapist, screening_still_valid=True, new_problem=False
    )
    chart = treatment_services.chart_save_draft(
        chart=chart,
        therapist=therapist,
        fields={
            "leg_pain_before": LEG_PAIN[0],
            "leg_pain_after": LEG_PAIN[1],
            "back_pain_before": BACK_PAIN[0],
            "back_pain_after": BACK_PAIN[1],
            "slr_done": False,
            "slr_angle": None,
            "slr_positive": None,
            "aftercare_notes": "",
            "notes": "",
        },
        needlings=[
            treatment_services.NeedlingInput(
                muscle=Muscle.objects.get(name=name),
                side=side,
                needles=2,
                needle_length_mm=60,
                needle_gauge_mm="0.30",
                technique=Technique.TRIGGER_POINT,
                twitch_response=True,
                familiar_pain=False,
            )
            for name, side in TARGETS
        ],
        adverse_events=[
            treatment_services.AdverseEventInput(
                kind=AdverseEvent.Kind.SORENESS, severity=AdverseEvent.Severity.MILD, notes=SORENESS_NOTE
            )
        ],
        aftercare=list(AftercareItem.objects.filter(code__in=AFTERCARE)),
    )
    return treatment_services.chart_sign(chart=chart, therapist=therapist)


def report_worse_leg_pain(appointment):
    """The patient's check-in a day after the visit, from the link in her
    email: leg pain 8, worse than the 7 before it."""
    visit = treatment_services.checkin_appointment(links.CHECKIN.token(appointment.pk))
    return treatment_services.checkin_record(
        appointment=visit, soreness=5, leg_pain=LEG_PAIN[0] + 1, red_flags=[], notes=""
    )


def book_visit_soon(clinic, patient):
    """The receptionist books an extra visit at the first free time at least
    an hour from now: less than 24 hours ahead."""
    earliest = timezone.now() + datetime.timedelta(hours=1)
    today = timezone.localdate()
    slots = [
        slot
        for day in (today, today + datetime.timedelta(days=1))
        for slot in availability.free_slots(
            therapist=clinic.therapist,
            day=day,
            minutes=clinic.follow_up.default_minutes,
            patient=patient,
            room=clinic.room,
        )
        if slot >= earliest
    ]
    assert slots, "no free time today or tomorrow"
    assert slots[0] - timezone.now() < datetime.timedelta(hours=24), slots[0]
    return scheduling_services.appointment_book(
        patient=patient,
        therapist=clinic.therapist,
        room=clinic.room,
        appointment_type=clinic.follow_up,
        starts_at=slots[0],
        booked_by=clinic.receptionist,
    )


def send_due_emails():
    """The dispatcher and the sending in this process, through Django's
    email backend (the test's outbox), for journeys that need no worker."""
    for reminder_id in reminders.claim_due():
        assert reminders.send(reminder_id) == "sent"


# The patient's mailbox.


def free_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class Mailbox:
    """The DATA handler of a real SMTP server (aiosmtpd): it keeps every
    message delivered, parsed, with its recipients."""

    def __init__(self):
        self.port = free_port()
        self.delivered = []
        self.lock = threading.Lock()

    async def handle_DATA(self, server, session, envelope):
        message = email.message_from_bytes(envelope.content, policy=policy.default)
        with self.lock:
            self.delivered.append((list(envelope.rcpt_tos), message))
        return "250 Message accepted for delivery"

    def messages(self, to=None):
        with self.lock:
            return [message for recipients, message in self.delivered if to is None or to in recipients]

    def wait_for(self, *, to, subject, timeout=30, explain=None, still_waiting=None):
        """The message to `to` with this subject (a string, or a compiled
        regular expression), as soon as it arrives; fails after `timeout`
        seconds, or as soon as `still_waiting()` says the sender is gone.
        `explain()` adds to the failure."""

        def matches(message):
            text = str(message["Subject"])
            return subject.fullmatch(text) if isinstance(subject, re.Pattern) else text == subject

        deadline = time.monotonic() + timeout
        while True:
            found = [m for m in self.messages(to) if matches(m)]
            if found:
                assert len(found) == 1, f"{len(found)} messages to {to} match {subject!r}"
                return found[0]
            gone = still_waiting is not None and not still_waiting()
            if gone or time.monotonic() > deadline:
                subjects = [str(m["Subject"]) for m in self.messages(to)]
                detail = f"\n{explain()}" if explain else ""
                why = "the sender stopped" if gone else f"within {timeout} s"
                raise AssertionError(
                    f"No email to {to} with subject {subject!r} ({why}); it has {subjects}.{detail}"
                )
            time.sleep(0.2)


def text_part(message):
    """The plain-text part, with the line ends SMTP gave it back as Python's."""
    return message.get_body(preferencelist=("plain",)).get_content().replace("\r\n", "\n")


def html_part(message):
    return message.get_body(preferencelist=("html",)).get_content()


def calendar_files(message):
    """The .ics files attached to a message: {filename: the event's start}."""
    files = {}
    for part in message.iter_attachments():
        assert part.get_content_type() == "text/calendar", part.get_content_type()
        (event,) = Calendar.from_ical(part.get_content()).walk("VEVENT")
        files[part.get_filename()] = event.decoded("dtstart")
    return files
