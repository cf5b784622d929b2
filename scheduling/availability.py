"""When a therapist, a room and a patient are free, in clinic local time.

Reads only: the services decide and write. Each function loads what it needs
for a day or a week in a fixed number of queries.
"""

import datetime
from dataclasses import dataclass

from django.utils import timezone

from scheduling.models import Appointment, ClinicClosure, ClinicHours, WorkingHours, WorkingHoursException

SLOT_STEP = datetime.timedelta(minutes=15)


@dataclass(frozen=True)
class Problem:
    code: str
    message: str


def local(day: datetime.date, time: datetime.time) -> datetime.datetime:
    """A clinic-local wall-clock time as an aware datetime: 09:00 stays 09:00
    across a daylight-saving change."""
    return timezone.make_aware(datetime.datetime.combine(day, time))


def _intersect(windows, others):
    result = []
    for start, end in windows:
        for other_start, other_end in others:
            lo, hi = max(start, other_start), min(end, other_end)
            if lo < hi:
                result.append((lo, hi))
    return result


def _opening_window(day, opening, closed):
    if closed or opening is None:
        return []
    return [(local(day, opening.opens_at), local(day, opening.closes_at))]


def _therapist_windows(day, blocks, exception, opening_window):
    """A changed day or a day off replaces the regular hours; either way only
    while the clinic is open."""
    if exception is not None:
        windows = (
            [] if exception.is_day_off else [(local(day, exception.starts_at), local(day, exception.ends_at))]
        )
    else:
        windows = [(local(day, block.starts_at), local(day, block.ends_at)) for block in blocks]
    return _intersect(windows, opening_window)


def clinic_windows(day: datetime.date) -> list[tuple[datetime.datetime, datetime.datetime]]:
    """When the clinic is open on a day; none on a closure."""
    closed = ClinicClosure.objects.filter(date=day).exists()
    return _opening_window(day, ClinicHours.objects.filter(weekday=day.weekday()).first(), closed)


def working_windows(therapist, day: datetime.date) -> list[tuple[datetime.datetime, datetime.datetime]]:
    """When a therapist works on a day."""
    exception = WorkingHoursException.objects.filter(therapist=therapist, date=day).first()
    blocks = WorkingHours.objects.filter(therapist=therapist, weekday=day.weekday())
    return _therapist_windows(day, blocks, exception, clinic_windows(day))


def _minutes(windows):
    return sum(int((end - start).total_seconds() // 60) for start, end in windows)


@dataclass(frozen=True)
class Capacity:
    """Minutes each therapist works and the clinic is open, per local day."""

    therapist_minutes: dict[tuple[int, datetime.date], int]
    opening_minutes: dict[datetime.date, int]


def capacity(therapist_ids, first_day: datetime.date, last_day: datetime.date) -> Capacity:
    """Working and opening minutes for every day of a range, in four queries
    whatever its length: the weekly pattern is read once and laid over the days."""
    openings = {hours.weekday: hours for hours in ClinicHours.objects.all()}
    closures = set(
        ClinicClosure.objects.filter(date__range=(first_day, last_day)).values_list("date", flat=True)
    )
    blocks = {}
    for block in WorkingHours.objects.filter(therapist_id__in=therapist_ids):
        blocks.setdefault((block.therapist_id, block.weekday), []).append(block)
    exceptions = {
        (exception.therapist_id, exception.date): exception
        for exception in WorkingHoursException.objects.filter(
            therapist_id__in=therapist_ids, date__range=(first_day, last_day)
        )
    }
    therapist_minutes, opening_minutes = {}, {}
    # Minutes are wall-clock minutes, so they depend on the weekday's pattern
    # (and the day's closure or exception) only: each pattern is worked out once.
    by_pattern = {}
    day = first_day
    while day <= last_day:
        closed = day in closures
        opening = None
        for therapist_id in (None, *therapist_ids):
            exception = exceptions.get((therapist_id, day))
            pattern = (therapist_id, day.weekday(), closed, exception.pk if exception else None)
            minutes = by_pattern.get(pattern)
            if minutes is None:
                if opening is None:
                    opening = _opening_window(day, openings.get(day.weekday()), closed)
                if therapist_id is None:
                    minutes = _minutes(opening)
                else:
                    blocks_of_day = blocks.get((therapist_id, day.weekday()), [])
                    minutes = _minutes(_therapist_windows(day, blocks_of_day, exception, opening))
                by_pattern[pattern] = minutes
            if therapist_id is None:
                opening_minutes[day] = minutes
            else:
                therapist_minutes[therapist_id, day] = minutes
        day += datetime.timedelta(days=1)
    return Capacity(therapist_minutes=therapist_minutes, opening_minutes=opening_minutes)


def _busy(queryset, starts_at, ends_at, exclude_pk):
    queryset = queryset.occupying().overlapping(starts_at, ends_at)
    if exclude_pk:
        queryset = queryset.exclude(pk=exclude_pk)
    return queryset.exists()


def problems_for(*, therapist, room, patient, starts_at, ends_at, exclude_pk=None, now=None) -> list[Problem]:
    """Everything that stops this appointment, in the words the front desk reads."""
    now = now or timezone.now()
    problems = []
    day = timezone.localdate(starts_at)
    if ends_at <= starts_at:
        problems.append(Problem("end_before_start", "The appointment must end after it starts."))
        return problems
    if starts_at < now:
        problems.append(Problem("in_the_past", "That time has already passed."))
    if not clinic_windows(day):
        closure = ClinicClosure.objects.filter(date=day).first()
        reason = f" ({closure.reason})" if closure else ""
        problems.append(Problem("clinic_closed", f"The clinic is closed on {day:%a %d %b}{reason}."))
    elif not any(start <= starts_at and ends_at <= end for start, end in working_windows(therapist, day)):
        problems.append(
            Problem("outside_working_hours", f"{therapist.get_full_name() or therapist} does not work then.")
        )
    if _busy(Appointment.objects.filter(therapist=therapist), starts_at, ends_at, exclude_pk):
        problems.append(Problem("therapist_busy", f"{therapist.get_full_name() or therapist} is busy then."))
    if room is not None and _busy(Appointment.objects.filter(room=room), starts_at, ends_at, exclude_pk):
        problems.append(Problem("room_busy", f"{room} is taken then."))
    if _busy(Appointment.objects.filter(patient=patient), starts_at, ends_at, exclude_pk):
        problems.append(Problem("patient_busy", "The patient already has an appointment then."))
    return problems


def free_slots(*, therapist, day, minutes, patient=None, room=None, exclude_pk=None, now=None):
    """Start times on a day when the therapist (and the room and patient, if
    given) are free for `minutes`, every 15 minutes. Four queries."""
    now = now or timezone.now()
    length = datetime.timedelta(minutes=minutes)
    windows = working_windows(therapist, day)
    if not windows:
        return []
    day_start, day_end = windows[0][0], windows[-1][1]
    taken = Appointment.objects.occupying().overlapping(day_start, day_end).filter(therapist=therapist)
    extra = []
    if room is not None:
        extra.append(Appointment.objects.occupying().overlapping(day_start, day_end).filter(room=room))
    if patient is not None:
        extra.append(Appointment.objects.occupying().overlapping(day_start, day_end).filter(patient=patient))
    busy = []
    for queryset in [taken, *extra]:
        if exclude_pk:
            queryset = queryset.exclude(pk=exclude_pk)
        busy.extend(queryset.values_list("starts_at", "ends_at"))
    slots = []
    for start, end in windows:
        slot = start
        while slot + length <= end:
            if slot >= now and not any(b_start < slot + length and slot < b_end for b_start, b_end in busy):
                slots.append(slot)
            slot += SLOT_STEP
    return slots


def alternatives(*, therapist, room, patient, starts_at, minutes, exclude_pk=None, limit=3, now=None):
    """The nearest free times to a wanted one: the same day first (nearest in
    time), then the rest of the same week (Monday to Sunday), nearest day first
    and, on a day, the time of day nearest the wanted one."""
    day = timezone.localdate(starts_at)
    week_start = day - datetime.timedelta(days=day.weekday())
    same_day = free_slots(
        therapist=therapist,
        day=day,
        minutes=minutes,
        patient=patient,
        room=room,
        exclude_pk=exclude_pk,
        now=now,
    )
    found = sorted(same_day, key=lambda slot: abs(slot - starts_at))[:limit]
    if len(found) < limit:
        rest = []
        for offset in range(7):
            other = week_start + datetime.timedelta(days=offset)
            if other != day:
                rest.extend(
                    free_slots(
                        therapist=therapist,
                        day=other,
                        minutes=minutes,
                        patient=patient,
                        room=room,
                        exclude_pk=exclude_pk,
                        now=now,
                    )
                )
        wanted_minute = timezone.localtime(starts_at).hour * 60 + timezone.localtime(starts_at).minute

        def closeness(slot):
            local_slot = timezone.localtime(slot)
            days_apart = abs((local_slot.date() - day).days)
            return days_apart, abs(local_slot.hour * 60 + local_slot.minute - wanted_minute)

        found += sorted(rest, key=closeness)[: limit - len(found)]
    return found
