"""Writes to the schedule. Each runs in one transaction; errors a person can
cause are SchedulingError (or a subclass) with a message fit to show them.

No double booking: every booking checks availability inside its transaction
(on SQLite, an IMMEDIATE transaction, so two bookings never interleave); on
PostgreSQL exclusion constraints on therapist, room and patient are the last
word, and a clash they catch becomes SlotTaken, never a server error.
"""

import datetime
from dataclasses import dataclass, field

from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.utils import timezone

from clinic.validation import error_messages
from core import links
from patients import gate
from scheduling import availability, reminders, totals
from scheduling.availability import Problem
from scheduling.models import Appointment, AppointmentChange, AppointmentSeries

LATE_CANCELLATION = datetime.timedelta(hours=24)
UPCOMING = (Appointment.Status.BOOKED, Appointment.Status.CONFIRMED)


class SchedulingError(Exception):
    """A change to the schedule that cannot be made, with the reason."""


BUSY = {"therapist_busy", "room_busy", "patient_busy"}


class SlotUnavailable(SchedulingError):
    """The wanted time has problems; `alternatives` are free times nearby."""

    def __init__(self, problems, alternatives=()):
        self.problems = list(problems)
        self.alternatives = list(alternatives)
        message = " ".join(problem.message for problem in self.problems)
        if any(problem.code in BUSY for problem in self.problems):
            # The slot was free when the form showed it; someone else got there first.
            message = f"That slot was just taken: {message}"
        super().__init__(message)


class SlotTaken(SlotUnavailable):
    """Someone booked the same time a moment earlier."""

    def __init__(self, alternatives=()):
        super().__init__([Problem("just_taken", "That slot was just taken.")], alternatives)


class SeriesConflict(SchedulingError):
    def __init__(self, session_number, starts_at, problems):
        self.session_number, self.starts_at, self.problems = session_number, starts_at, problems
        when = timezone.localtime(starts_at)
        super().__init__(
            f"Session {session_number} on {when:%a %d %b %Y at %H:%M}: "
            + " ".join(p.message for p in problems)
            + " Nothing was booked."
        )


def _log(appointment, user, action, **detail):
    AppointmentChange.objects.create(appointment=appointment, changed_by=user, action=action, detail=detail)


def _iso(moment):
    return timezone.localtime(moment).isoformat()


def _insert(appointment):
    """Save a new or moved appointment; a clash caught by the database
    (PostgreSQL's exclusion constraints) becomes SlotTaken."""
    try:
        with transaction.atomic():
            appointment.save()
    except IntegrityError as error:
        if "no_double_booking" in str(error):
            raise SlotTaken(
                availability.alternatives(
                    therapist=appointment.therapist,
                    room=appointment.room,
                    patient=appointment.patient,
                    starts_at=appointment.starts_at,
                    minutes=int((appointment.ends_at - appointment.starts_at).total_seconds() // 60),
                    exclude_pk=appointment.pk,
                )
            ) from None
        raise


def _visit(appointment_type, starts_at) -> gate.Visit:
    return gate.Visit(
        starts_at=starts_at,
        involves_needling=appointment_type.involves_needling,
        is_reassessment=appointment_type.purpose == appointment_type.Purpose.REASSESSMENT,
    )


def _gate_problems(patient, appointment_type, starts_at, *, clearance=None, lock=False) -> list[Problem]:
    """What the clinical gate says against booking this visit then, as problems."""
    decision = gate.clinical_gate(
        patient, gate.Action.BOOK, visit=_visit(appointment_type, starts_at), clearance=clearance, lock=lock
    )
    return [Problem("not_cleared", reason) for reason in decision.reasons]


def _offerable(slots, patient, appointment_type, clearance):
    """Alternatives the gate would also allow: a needling visit only on a day
    the patient is cleared."""
    return [
        slot for slot in slots if not _gate_problems(patient, appointment_type, slot, clearance=clearance)
    ]


@transaction.atomic
def appointment_book(
    *, patient, therapist, room, appointment_type, starts_at, booked_by, ends_at=None, series=None
) -> Appointment:
    """Book one appointment, or raise SlotUnavailable with what stops it (the
    clinical gate's answer among it) and free times nearby."""
    ends_at = ends_at or starts_at + datetime.timedelta(minutes=appointment_type.default_minutes)
    refused = _gate_problems(patient, appointment_type, starts_at, lock=True)
    problems = refused + availability.problems_for(
        therapist=therapist, room=room, patient=patient, starts_at=starts_at, ends_at=ends_at
    )
    if problems:
        clearance = gate.needling_clearance(patient)
        raise SlotUnavailable(
            problems,
            _offerable(
                availability.alternatives(
                    therapist=therapist,
                    room=room,
                    patient=patient,
                    starts_at=starts_at,
                    minutes=int((ends_at - starts_at).total_seconds() // 60),
                ),
                patient,
                appointment_type,
                clearance,
            ),
        )
    appointment = Appointment(
        patient=patient,
        therapist=therapist,
        room=room,
        appointment_type=appointment_type,
        starts_at=starts_at,
        ends_at=ends_at,
        series=series,
    )
    try:
        appointment.full_clean(exclude=["series"])
    except ValidationError as error:
        raise SchedulingError(" ".join(error_messages(appointment, error))) from None
    _insert(appointment)
    _log(appointment, booked_by, "booked", starts_at=_iso(starts_at), room=room.name, therapist=therapist.pk)
    totals.refresh_for(appointment)
    reminders.on_booked([appointment])
    return appointment


@dataclass
class ProposedSession:
    number: int
    starts_at: datetime.datetime
    ends_at: datetime.datetime
    problems: list = field(default_factory=list)
    alternatives: list = field(default_factory=list)


def series_dates(*, first_day, time, weekdays, interval_weeks, count) -> list[datetime.datetime]:
    """`count` clinic-local times at `time` on the given weekdays, every
    `interval_weeks` weeks, from `first_day` on. 09:00 stays 09:00 across a
    daylight-saving change."""
    if count < 1:
        raise SchedulingError("A series needs at least one session.")
    if not weekdays:
        raise SchedulingError("Choose at least one weekday.")
    if interval_weeks < 1:
        raise SchedulingError("The interval is at least one week.")
    week_start = first_day - datetime.timedelta(days=first_day.weekday())
    times = []
    week = 0
    while len(times) < count:
        for weekday in sorted(weekdays):
            day = week_start + datetime.timedelta(weeks=week * interval_weeks, days=weekday)
            if day >= first_day and len(times) < count:
                times.append(availability.local(day, time))
        week += 1
    return times


def series_preview(*, patient, therapist, room, appointment_type, starts):
    """Every proposed session with its problems (the clinical gate's among
    them) and, for each one with a problem, the nearest free alternatives
    that the gate also allows."""
    minutes = appointment_type.default_minutes
    clearance = gate.needling_clearance(patient)
    sessions = []
    for number, starts_at in enumerate(starts, start=1):
        ends_at = starts_at + datetime.timedelta(minutes=minutes)
        problems = _gate_problems(patient, appointment_type, starts_at, clearance=clearance)
        problems += availability.problems_for(
            therapist=therapist, room=room, patient=patient, starts_at=starts_at, ends_at=ends_at
        )
        # Two proposed sessions of this series may not overlap each other either.
        if any(s.starts_at < ends_at and starts_at < s.ends_at for s in sessions):
            problems.append(Problem("series_overlap", "Another session of this series is booked then."))
        session = ProposedSession(number, starts_at, ends_at, problems)
        if problems:
            session.alternatives = _offerable(
                availability.alternatives(
                    therapist=therapist, room=room, patient=patient, starts_at=starts_at, minutes=minutes
                ),
                patient,
                appointment_type,
                clearance,
            )
        sessions.append(session)
    return sessions


@transaction.atomic
def series_book(
    *, patient, therapist, room, appointment_type, starts, booked_by, description
) -> AppointmentSeries:
    """Book every session, or none: the first session with a problem (the
    clinical gate's among them) stops the whole series and is named."""
    if not starts:
        raise SchedulingError("A series needs at least one session.")
    # The patient's row stays locked to the end, so the clearance read here holds for every session.
    clearance = gate.clinical_gate(
        patient, gate.Action.BOOK, visit=_visit(appointment_type, starts[0]), lock=True
    ).clearance
    series = AppointmentSeries.objects.create(patient=patient, description=description, booked_by=booked_by)
    minutes = appointment_type.default_minutes
    booked = []
    for number, starts_at in enumerate(starts, start=1):
        ends_at = starts_at + datetime.timedelta(minutes=minutes)
        problems = _gate_problems(patient, appointment_type, starts_at, clearance=clearance)
        problems += availability.problems_for(
            therapist=therapist, room=room, patient=patient, starts_at=starts_at, ends_at=ends_at
        )
        if problems:
            raise SeriesConflict(number, starts_at, problems)
        appointment = Appointment(
            patient=patient,
            therapist=therapist,
            room=room,
            appointment_type=appointment_type,
            starts_at=starts_at,
            ends_at=ends_at,
            series=series,
        )
        try:
            _insert(appointment)
        except SlotTaken as taken:
            raise SeriesConflict(number, starts_at, taken.problems) from None
        _log(appointment, booked_by, "booked", starts_at=_iso(starts_at), series=series.pk)
        booked.append(appointment)
    totals.refresh_for(*booked)
    reminders.on_booked(booked)
    return series


def _transition(appointment, *, allowed, to, user, action, done):
    """Move an appointment between statuses; `done` says what, for the refusal."""
    changed = Appointment.objects.filter(pk=appointment.pk, status__in=allowed).update(
        status=to, updated_at=timezone.now()
    )
    if not changed:
        current = Appointment.objects.get(pk=appointment.pk)
        raise SchedulingError(
            f"This appointment is {current.get_status_display().lower()}; it cannot be {done}."
        )
    appointment.status = to
    _log(appointment, user, action)
    return appointment


@transaction.atomic
def appointment_confirm(*, appointment, user=None):
    return _transition(
        appointment,
        allowed=[Appointment.Status.BOOKED],
        to=Appointment.Status.CONFIRMED,
        user=user,
        action="confirmed",
        done="confirmed",
    )


@transaction.atomic
def appointment_check_in(*, appointment, user, now=None):
    """Check a patient in: on the visit's day, from CHECK_IN_OPENS_MINUTES
    before it starts (the clinical gate's rule)."""
    appointment = (
        Appointment.objects.select_for_update().select_related("appointment_type").get(pk=appointment.pk)
    )
    if appointment.status in UPCOMING:
        decision = gate.clinical_gate(
            appointment.patient, gate.Action.CHECK_IN, visit=appointment.as_visit(), now=now, lock=True
        )
        if not decision.allowed:
            raise SchedulingError(decision.message)
    return _transition(
        appointment,
        allowed=UPCOMING,
        to=Appointment.Status.CHECKED_IN,
        user=user,
        action="checked_in",
        done="checked in",
    )


@transaction.atomic
def appointment_mark_no_show(*, appointment, user):
    # The row as it stands now: it may have been moved since the caller read it.
    appointment = Appointment.objects.select_for_update().get(pk=appointment.pk)
    if appointment.starts_at > timezone.now():
        raise SchedulingError("A patient can only be marked a no-show once the appointment has begun.")
    _transition(
        appointment,
        allowed=UPCOMING,
        to=Appointment.Status.NO_SHOW,
        user=user,
        action="no_show",
        done="marked a no-show",
    )
    totals.refresh_for(appointment)
    return appointment


@transaction.atomic
def appointment_cancel(*, appointment, cancelled_by, user=None, now=None):
    """Cancel; a cancellation within 24 hours of the start is a late one."""
    now = now or timezone.now()
    appointment = Appointment.objects.select_for_update().get(pk=appointment.pk)
    late = appointment.starts_at - now < LATE_CANCELLATION
    changed = Appointment.objects.filter(pk=appointment.pk, status__in=UPCOMING).update(
        status=Appointment.Status.CANCELLED,
        cancelled_by=cancelled_by,
        late_cancellation=late,
        updated_at=timezone.now(),
    )
    if not changed:
        raise SchedulingError("Only a booked or confirmed appointment can be cancelled.")
    appointment.status, appointment.cancelled_by, appointment.late_cancellation = (
        Appointment.Status.CANCELLED,
        cancelled_by,
        late,
    )
    _log(appointment, user, "cancelled", by=cancelled_by, late=late)
    totals.refresh_for(appointment)
    reminders.on_cancelled(appointment)
    return appointment


@transaction.atomic
def appointment_reschedule(*, appointment, starts_at, user, room=None) -> Appointment:
    """Move an upcoming appointment; its history keeps where it was."""
    appointment = Appointment.objects.select_for_update().get(pk=appointment.pk)
    if appointment.status not in UPCOMING:
        raise SchedulingError("Only a booked or confirmed appointment can be moved.")
    if appointment.starts_at <= timezone.now():
        raise SchedulingError("This appointment has already begun; it cannot be moved.")
    room = room or appointment.room
    ends_at = starts_at + (appointment.ends_at - appointment.starts_at)
    problems = _gate_problems(appointment.patient, appointment.appointment_type, starts_at, lock=True)
    problems += availability.problems_for(
        therapist=appointment.therapist,
        room=room,
        patient=appointment.patient,
        starts_at=starts_at,
        ends_at=ends_at,
        exclude_pk=appointment.pk,
    )
    if problems:
        raise SlotUnavailable(
            problems,
            _offerable(
                availability.alternatives(
                    therapist=appointment.therapist,
                    room=room,
                    patient=appointment.patient,
                    starts_at=starts_at,
                    minutes=int((ends_at - starts_at).total_seconds() // 60),
                    exclude_pk=appointment.pk,
                ),
                appointment.patient,
                appointment.appointment_type,
                gate.needling_clearance(appointment.patient),
            ),
        )
    before = {"starts_at": _iso(appointment.starts_at), "room": appointment.room.name}
    moved_from = totals.day_key(appointment)
    appointment.starts_at, appointment.ends_at, appointment.room = starts_at, ends_at, room
    _insert(appointment)
    totals.refresh_for(appointment, before=[moved_from])
    _log(
        appointment,
        user,
        "rescheduled",
        before=before,
        after={"starts_at": _iso(starts_at), "room": room.name},
    )
    reminders.on_rescheduled(appointment)
    return appointment


@transaction.atomic
def series_cancel_rest(*, series, cancelled_by, user=None, now=None) -> int:
    """Cancel every upcoming appointment of a series; returns how many."""
    now = now or timezone.now()
    cancelled = 0
    # Every one locked first, before any cancel locks the therapist's row
    # (totals.refresh): appointment rows are always locked before therapists'.
    upcoming = list(
        series.appointments.select_for_update()
        .filter(status__in=UPCOMING, starts_at__gte=now)
        .order_by("starts_at")
    )
    for appointment in upcoming:
        appointment_cancel(appointment=appointment, cancelled_by=cancelled_by, user=user, now=now)
        cancelled += 1
    return cancelled


@transaction.atomic
def appointment_complete(*, appointment: Appointment, aftercare: dict, completed_by=None, now=None) -> None:
    """Mark a visit completed when its chart is signed.

    The one entry point through which the clinical side tells scheduling a
    visit happened. `aftercare` is what the patient's aftercare emails will
    say (the muscles treated and the advice ticked, and whether the visit
    was needled), handed over as plain data so that scheduling never imports
    treatments; the reminders outbox stores it with the aftercare emails it
    schedules, due from `now`. Only a checked-in visit that has begun is
    completed, and only once, so its aftercare is scheduled exactly once and
    never before the visit.
    """
    now = now or timezone.now()
    current = Appointment.objects.select_for_update().get(pk=appointment.pk)
    if current.starts_at > now:
        raise SchedulingError("This visit has not begun yet; it cannot be completed.")
    completed = Appointment.objects.filter(pk=appointment.pk, status=Appointment.Status.CHECKED_IN).update(
        status=Appointment.Status.COMPLETED, updated_at=timezone.now()
    )
    if not completed:
        raise SchedulingError(
            f"This visit is {current.get_status_display().lower()}; only a checked-in visit can be completed."
        )
    appointment.status = Appointment.Status.COMPLETED
    _log(appointment, completed_by, "completed")
    reminders.on_completed(appointment, aftercare, now=now)


# Therapists' calendar feeds.


@transaction.atomic
def calendar_feed_for(*, therapist):
    """The therapist's active calendar feed, created on first use; after a
    revoke, the same feed with a new token (the old one never works again)."""
    from scheduling.models import CalendarFeed, calendar_feed_token

    feed, _ = CalendarFeed.objects.select_for_update().get_or_create(therapist=therapist)
    if feed.revoked_at is not None:
        feed.token, feed.created_at, feed.revoked_at = calendar_feed_token(), timezone.now(), None
        feed.full_clean()
        feed.save()
    return feed


@transaction.atomic
def calendar_feed_revoke(*, feed):
    """Stop a feed's address from working; revoking twice changes nothing."""
    from scheduling.models import CalendarFeed

    now = timezone.now()
    if CalendarFeed.objects.filter(pk=feed.pk, revoked_at__isnull=True).update(revoked_at=now):
        feed.revoked_at = now
    return feed


def calendar_feed_url(feed) -> str:
    """The feed's absolute address, for the therapist's calendar app."""
    from django.conf import settings
    from django.urls import reverse

    return settings.SITE_URL + reverse("scheduling:calendar-feed", args=[feed.token])


# Patient links: a signed, expiring address from which the patient confirms
# or cancels one appointment without logging in.

# A link still opens for a day after the appointment starts, then expires.
PATIENT_LINK_AFTER_START = datetime.timedelta(days=1)


class PatientLinkInvalid(SchedulingError):
    """A patient link that was altered, has expired, or names no appointment."""

    def __init__(self):
        super().__init__("This link is not valid or has expired.")


def patient_link_appointment(token, *, now=None) -> Appointment:
    """The appointment a patient link is for, or PatientLinkInvalid. A link
    lasts at most 30 days (links.APPOINTMENT), and no longer than a day after
    the appointment starts (its start now, if it was moved)."""
    now = now or timezone.now()
    pk = links.APPOINTMENT.pk_of(token)
    if pk is None:
        raise PatientLinkInvalid
    appointment = Appointment.objects.select_related("patient", "appointment_type").filter(pk=pk).first()
    if appointment is None or now > appointment.starts_at + PATIENT_LINK_AFTER_START:
        raise PatientLinkInvalid
    return appointment
