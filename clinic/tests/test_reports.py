"""The dashboard's figures (clinic/reports.py), panel by panel, against small
clinics built by hand. Every expected figure is worked out by hand in the
comments and written as a literal. "Now" is Wednesday 13 May 2026, noon in
the clinic (America/New_York); the clinic opens 07:00-20:00 on weekdays and
08:00-14:00 on Saturdays (the migrations' defaults)."""

import datetime
from decimal import Decimal as D
from zoneinfo import ZoneInfo

import pytest
import time_machine

from clinic import reports
from clinic.reports import Period
from patients.models import ODI_SECTIONS, Assessment, Screening
from patients.tests.factories import AssessmentFactory, PatientFactory, ScreeningFactory
from scheduling.availability import local
from scheduling.models import Appointment, Reminder
from scheduling.tests.factories import (
    AppointmentFactory,
    ClinicClosureFactory,
    ClinicHoursFactory,
    ReminderFactory,
    RoomFactory,
    WorkingHoursExceptionFactory,
    WorkingHoursFactory,
    working_week,
)
from treatments.models import AdverseEvent, TreatmentPlan
from treatments.outcomes import (
    outcome_aggregates,
    plan_outcomes,
    reaches_pain_mic,
    with_outcomes,
    with_stored_outcomes,
)
from treatments.tests.factories import (
    AdverseEventFactory,
    AftercareCheckInFactory,
    SessionChartFactory,
    TreatmentPlanFactory,
)

pytestmark = pytest.mark.django_db

CLINIC_TIME = ZoneInfo("America/New_York")
NOW = datetime.datetime(2026, 5, 13, 12, 0, tzinfo=CLINIC_TIME)  # a Wednesday
TODAY = NOW.date()
THIS_WEEK = Period(datetime.date(2026, 5, 11), datetime.date(2026, 5, 17))
APRIL = Period.month(2026, 4)
WEEK = datetime.timedelta(weeks=1)

Status = Appointment.Status
PlanStatus = TreatmentPlan.Status
Severity = TreatmentPlan.Severity
Kind = AdverseEvent.Kind
Grade = AdverseEvent.Severity


@pytest.fixture(autouse=True)
def frozen_now():
    with time_machine.travel(NOW, tick=False):
        yield


def day(month, number):
    return datetime.date(2026, month, number)


def at(date, hour, minute=0):
    return local(date, datetime.time(hour, minute))


def book(therapist, date, hour, minute=0, *, minutes=60, status=Status.COMPLETED, late=False, **fields):
    starts_at = at(date, hour, minute)
    return AppointmentFactory(
        therapist=therapist,
        starts_at=starts_at,
        ends_at=starts_at + datetime.timedelta(minutes=minutes),
        status=status,
        late_cancellation=late,
        **({"cancelled_by": "patient" if status == Status.CANCELLED else ""} | fields),
    )


def plan(
    therapist,
    severity=Severity.MODERATE,
    status=PlanStatus.ACTIVE,
    *,
    activated=None,
    ended=None,
    planned=6,
    reassess=2,
    patient=None,
):
    activated = activated or at(day(3, 2), 9)
    return TreatmentPlanFactory(
        therapist=therapist,
        patient=patient or PatientFactory(treating_therapist=therapist),
        severity=severity,
        status=status,
        status_reason="Moved away." if status == PlanStatus.DISCONTINUED else "",
        planned_sessions=planned,
        reassessment_after_session=reassess,
        created_at=activated,
        activated_at=activated,
        ended_at=ended,
    )


def session(plan, number, date, leg=(6, 4), *, hour=10, signed=True):
    """A chart of the plan at a visit on `date`, leg pain (before, after)."""
    return SessionChartFactory(
        plan=plan,
        session_number=number,
        leg_pain_before=leg[0],
        leg_pain_after=leg[1],
        appointment__starts_at=at(date, hour),
        signed_at=at(date, hour + 1) if signed else None,
    )


def odi(plan, kind, when, percent, leg=6):
    """An assessment of the plan's patient whose ten Oswestry sections add up
    to percent / 2 (so that the index is `percent`), with leg pain `leg`."""
    base, extra = divmod(percent // 2, len(ODI_SECTIONS))
    scores = [base + 1] * extra + [base] * (len(ODI_SECTIONS) - extra)
    sections = {name: score for (name, _), score in zip(ODI_SECTIONS, scores, strict=True)}
    return AssessmentFactory(
        patient=plan.patient, therapist=plan.therapist, kind=kind, assessed_at=when, leg_pain=leg, **sections
    )


def check_in(chart, leg_pain, *, hours=24):
    """The patient's check-in `hours` after the visit of `chart`, reporting leg pain `leg_pain`."""
    return AftercareCheckInFactory(
        appointment=chart.appointment,
        leg_pain=leg_pain,
        submitted_at=chart.appointment.starts_at + datetime.timedelta(hours=hours),
    )


def rows_by(table, columns=1):
    """A table's rows keyed by their first column (or first few)."""
    return {row[0] if columns == 1 else tuple(row[:columns]): row[columns:] for row in table.rows}


def bars(chart):
    return {bar["label"]: bar["value"] for bar in chart["bars"]}


# Today.


def test_today_counts_each_therapists_appointments_by_status_and_their_unsigned_charts(
    therapist, other_therapist
):
    statuses = [Status.BOOKED, Status.CONFIRMED, Status.CHECKED_IN, Status.COMPLETED, Status.NO_SHOW]
    for hour, status in enumerate([*statuses, Status.CANCELLED], start=8):
        book(therapist, TODAY, hour, status=status)
    book(therapist, TODAY - datetime.timedelta(days=1), 9)  # yesterday
    book(therapist, TODAY + datetime.timedelta(days=1), 9, status=Status.BOOKED)  # tomorrow
    book(other_therapist, TODAY, 9)
    book(other_therapist, TODAY, 10, status=Status.CANCELLED, late=True)
    theos = plan(therapist)
    session(theos, 1, day(5, 4), signed=False)
    session(theos, 2, day(5, 5), signed=False)
    session(theos, 3, day(5, 6))  # signed
    session(plan(other_therapist), 1, day(5, 4))

    panel = reports.today_panel(today=TODAY)

    # Appointments (not cancelled), still to come (booked or confirmed), checked in,
    # completed, no-shows, cancelled, unsigned charts (of any day).
    assert rows_by(panel.tables[0]) == {
        therapist.get_full_name(): [5, 2, 1, 1, 1, 1, 2],
        other_therapist.get_full_name(): [1, 0, 0, 1, 0, 1, 0],
    }
    assert panel.figures == {
        "appointments": 6,
        "to_come": 2,
        "checked_in": 1,
        "completed": 2,
        "no_shows": 1,
        "cancelled": 2,
        "unsigned": 2,
    }
    filtered = reports.today_panel(today=TODAY, therapist=other_therapist)
    assert rows_by(filtered.tables[0]) == {other_therapist.get_full_name(): [1, 0, 0, 1, 0, 1, 0]}


def test_today_for_the_front_desk_leaves_the_unsigned_charts_out(therapist):
    book(therapist, TODAY, 9, status=Status.NO_SHOW)
    session(plan(therapist), 1, day(5, 4), signed=False)

    panel = reports.today_panel(today=TODAY, clinical=False)

    assert "Unsigned charts" not in panel.tables[0].headers
    assert rows_by(panel.tables[0]) == {therapist.get_full_name(): [1, 0, 0, 0, 1, 0]}
    assert "unsigned" not in panel.figures


def test_a_therapists_unsigned_charts_and_caseload_are_their_own(therapist, other_therapist):
    first = plan(therapist)
    later = session(first, 2, day(5, 6), signed=False)
    earlier = session(first, 1, day(5, 4), signed=False)
    session(plan(therapist, status=PlanStatus.DRAFT), 1, day(5, 5))  # signed
    plan(therapist, status=PlanStatus.DRAFT)
    plan(therapist, status=PlanStatus.COMPLETED, ended=at(day(5, 1), 12))
    PatientFactory(treating_therapist=therapist, archived_at=NOW)
    session(plan(other_therapist), 1, day(5, 4), signed=False)

    assert list(reports.unsigned_charts(therapist)) == [earlier, later]
    # Patients: the four plans' (the archived one is not counted); plans: 1 active, 2 drafts.
    caseload = reports.caseload_panel(therapist)
    assert caseload.figures == {"patients": 4, "active": 1, "drafts": 2}
    # The open plans, active first, each with the sessions signed so far (drafts' charts are not).
    active, *drafts = [(p.status, p.sessions_done) for p in caseload.lists["plans"]]
    assert active == ("active", 0)
    assert sorted(drafts) == [("draft", 0), ("draft", 1)]


# Utilisation.


@pytest.fixture
def rooms():
    return RoomFactory(name="Room A"), RoomFactory(name="Room B")


def test_utilisation_is_booked_over_working_hours_per_therapist_and_opening_hours_per_room(
    therapist, other_therapist, rooms
):
    room_a, room_b = rooms
    monday, tuesday, wednesday = day(5, 4), day(5, 5), day(5, 6)
    working_week(therapist, hours=((8, 12),))
    working_week(other_therapist, hours=((13, 17),))
    WorkingHoursExceptionFactory(therapist=therapist, date=tuesday)  # Theo's day off
    ClinicClosureFactory(date=wednesday)
    book(therapist, monday, 9, room=room_a)
    book(therapist, monday, 10, minutes=45, room=room_a, status=Status.NO_SHOW)  # still held the time
    book(therapist, monday, 11, room=room_b, status=Status.CANCELLED)  # did not
    book(other_therapist, monday, 13, minutes=90, room=room_b)
    book(therapist, tuesday, 9, minutes=30, room=room_a)  # on his day off
    book(other_therapist, tuesday, 14, room=room_a)
    book(therapist, day(5, 7), 9, room=room_a)  # Thursday: after the period

    panel = reports.utilisation_panel(Period(monday, wednesday))

    therapists, room_table = panel.tables
    theo, priya = therapist.get_full_name(), other_therapist.get_full_name()
    # Booked hours, working hours, %: Theo on Monday 105 min of 240; on Tuesday 30 min
    # of none. Wednesday (closed, nothing booked) has no row.
    assert rows_by(therapists, 2) == {
        (theo, "Mon 4 May"): [D("1.8"), D("4.0"), D("43.8")],
        (theo, "Tue 5 May"): [D("0.5"), D("0.0"), None],
        (priya, "Mon 4 May"): [D("1.5"), D("4.0"), D("37.5")],
        (priya, "Tue 5 May"): [D("1.0"), D("4.0"), D("25.0")],
    }
    # Rooms over 13 opening hours a weekday: A 105 then 90 minutes, B 90 then 0.
    assert rows_by(room_table, 2) == {
        ("Room A", "Mon 4 May"): [D("1.8"), D("13.0"), D("13.5")],
        ("Room A", "Tue 5 May"): [D("1.5"), D("13.0"), D("11.5")],
        ("Room B", "Mon 4 May"): [D("1.5"), D("13.0"), D("11.5")],
        ("Room B", "Tue 5 May"): [D("0.0"), D("13.0"), D("0.0")],
    }
    # Over the period: Theo 135 of 240 min, Priya 150 of 480; A 195 and B 90 of 1560.
    therapist_chart, room_chart = panel.charts
    assert bars(therapist_chart) == {theo: "56.3%", priya: "31.3%"}
    assert bars(room_chart) == {"Room A": "12.5%", "Room B": "5.8%"}


def test_room_utilisation_counts_the_bookings_of_a_therapist_who_has_since_left(therapist, rooms):
    """BUG: rooms count only the bookings of today's active therapists, so a
    past month's rooms look emptier once one of its therapists leaves."""
    room_a, _ = rooms
    book(therapist, day(5, 4), 9, room=room_a)
    therapist.is_active = False
    therapist.save()

    panel = reports.utilisation_panel(Period(day(5, 4), day(5, 4)))

    assert rows_by(panel.tables[1], 2)["Room A", "Mon 4 May"] == [D("1.0"), D("13.0"), D("7.7")]


def test_utilisation_goes_by_week_on_a_period_over_a_month(therapist, rooms):
    room_a, _ = rooms
    working_week(therapist, hours=((8, 12),))
    ClinicClosureFactory(date=day(4, 3))  # Good Friday
    book(therapist, day(3, 3), 9, room=room_a)  # Tuesday, before the period
    book(therapist, day(3, 8), 23, 30, minutes=30, room=room_a)  # Sunday night, the day the clocks go forward
    book(therapist, day(3, 9), 0, 30, minutes=30, room=room_a)  # the next week
    book(therapist, day(3, 9), 9, room=room_a)

    panel = reports.utilisation_panel(Period(day(3, 4), day(4, 26)))  # Wednesday to Sunday, 54 days

    theo = rows_by(panel.tables[0], 2)
    name = therapist.get_full_name()
    # The first week counts from Wednesday: 3 x 4 working hours.
    assert theo[name, "Week of 2 Mar"] == [D("0.5"), D("12.0"), D("4.2")]
    assert theo[name, "Week of 9 Mar"] == [D("1.5"), D("20.0"), D("7.5")]
    assert theo[name, "Week of 16 Mar"] == [D("0.0"), D("20.0"), D("0.0")]
    assert theo[name, "Week of 30 Mar"] == [D("0.0"), D("16.0"), D("0.0")]
    assert [label for _, label in theo] == [
        f"Week of {label}"
        for label in ("2 Mar", "9 Mar", "16 Mar", "23 Mar", "30 Mar", "6 Apr", "13 Apr", "20 Apr")
    ]
    # Room A: Wednesday to Saturday is 3 x 13 + 6 hours; a full week 5 x 13 + 6.
    room = rows_by(panel.tables[1], 2)
    assert room["Room A", "Week of 2 Mar"] == [D("0.5"), D("45.0"), D("1.1")]
    assert room["Room A", "Week of 9 Mar"] == [D("1.5"), D("71.0"), D("2.1")]
    assert room["Room A", "Week of 30 Mar"] == [D("0.0"), D("58.0"), D("0.0")]


def test_utilisation_goes_by_month_on_a_long_period(therapist, rooms):
    room_a, _ = rooms
    working_week(therapist, hours=((8, 12),))
    book(therapist, day(10, 31), 23, 30, minutes=30, room=room_a)  # Saturday night before the clocks go back
    book(therapist, day(11, 1), 0, 30, minutes=30, room=room_a)
    book(therapist, day(11, 2), 9, room=room_a)

    panel = reports.utilisation_panel(Period(day(1, 1), day(12, 31)))

    theo = rows_by(panel.tables[0], 2)
    name = therapist.get_full_name()
    assert [label for _, label in theo] == [
        f"{month} 2026"
        for month in ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"]
    ]
    # October 2026 has 22 weekdays (88 working hours), November 21 (84).
    assert theo[name, "Oct 2026"] == [D("0.5"), D("88.0"), D("0.6")]
    assert theo[name, "Nov 2026"] == [D("1.5"), D("84.0"), D("1.8")]


# Attendance.


@pytest.fixture
def attendance_week(therapist, other_therapist):
    """This week (Monday 11 to Sunday 17 May, now Wednesday noon)."""
    for hour, status, late in [
        (8, Status.COMPLETED, False),
        (9, Status.COMPLETED, False),
        (10, Status.NO_SHOW, False),
        (11, Status.CANCELLED, True),
        (12, Status.CANCELLED, False),  # cancelled in good time: not due
    ]:
        book(therapist, day(5, 11), hour, status=status, late=late)
    book(therapist, day(5, 12), 9, status=Status.NO_SHOW)
    book(therapist, day(5, 12), 10, status=Status.BOOKED)  # never marked: still due
    book(therapist, day(5, 13), 9)
    book(therapist, day(5, 13), 15, status=Status.BOOKED)  # this afternoon: not due yet
    book(therapist, day(5, 13), 16, status=Status.CANCELLED, late=True)  # not due yet either
    book(therapist, day(5, 14), 9, status=Status.BOOKED)
    book(therapist, day(5, 8), 9, status=Status.NO_SHOW)  # last week
    book(other_therapist, day(5, 11), 9, status=Status.NO_SHOW)
    book(other_therapist, day(5, 12), 9, status=Status.CANCELLED, late=True)
    # The clinic cancelled late (the therapist was ill): not the patient's attendance.
    book(other_therapist, day(5, 12), 11, status=Status.CANCELLED, late=True, cancelled_by="clinic")


def test_attendance_counts_no_shows_and_late_cancellations_of_the_appointments_due(attendance_week):
    panel = reports.attendance_panel(THIS_WEEK, now=NOW)

    # Day, due, no-shows, late cancellations, no-show rate, late-cancellation rate.
    assert panel.tables[0].rows == [
        ["Mon 11 May", 5, 2, 1, D("40.0"), D("20.0")],
        ["Tue 12 May", 3, 1, 1, D("33.3"), D("33.3")],
        ["Wed 13 May", 1, 0, 0, D("0.0"), D("0.0")],
        ["Thu 14 May", 0, 0, 0, None, None],
        ["Fri 15 May", 0, 0, 0, None, None],
        ["Sat 16 May", 0, 0, 0, None, None],
        ["Sun 17 May", 0, 0, 0, None, None],
    ]
    assert panel.figures == {
        "due": 9,
        "no_shows": 3,
        "late": 2,
        "no_show_rate": D("33.3"),
        "late_rate": D("22.2"),
    }


def test_attendance_of_one_therapist(attendance_week, therapist):
    panel = reports.attendance_panel(THIS_WEEK, therapist=therapist, now=NOW)

    assert panel.tables[0].rows[:3] == [
        ["Mon 11 May", 4, 1, 1, D("25.0"), D("25.0")],
        ["Tue 12 May", 2, 1, 0, D("50.0"), D("0.0")],
        ["Wed 13 May", 1, 0, 0, D("0.0"), D("0.0")],
    ]
    assert panel.figures == {
        "due": 7,
        "no_shows": 2,
        "late": 1,
        "no_show_rate": D("28.6"),
        "late_rate": D("14.3"),
    }


# The day the clocks change.


@pytest.mark.parametrize(
    ("clocks_change", "labels"),
    [
        pytest.param(day(3, 8), ("Sat 7 Mar", "Sun 8 Mar", "Mon 9 Mar"), id="spring forward"),
        pytest.param(day(11, 1), ("Sat 31 Oct", "Sun 1 Nov", "Mon 2 Nov"), id="fall back"),
    ],
)
def test_the_day_the_clocks_change_keeps_its_own_appointments_and_hours(
    therapist, other_therapist, rooms, clocks_change, labels
):
    room_a, _ = rooms
    before, after = clocks_change - datetime.timedelta(days=1), clocks_change + datetime.timedelta(days=1)
    ClinicHoursFactory(weekday=6, opens_at=datetime.time(7), closes_at=datetime.time(20))  # open on Sundays
    WorkingHoursFactory(therapist=therapist, weekday=6, starts_at=datetime.time(8), ends_at=datetime.time(12))
    book(therapist, clocks_change, 9, room=room_a)
    for date, hour, minute in [
        (before, 23, 30),
        (clocks_change, 0, 30),
        (clocks_change, 23, 30),
        (after, 0, 30),
    ]:
        book(other_therapist, date, hour, minute, minutes=30, room=room_a)
    period = Period(before, after)

    today = reports.today_panel(today=clocks_change)
    attendance = reports.attendance_panel(period, now=at(after, 12) + datetime.timedelta(days=2))
    utilisation = reports.utilisation_panel(period)

    assert rows_by(today.tables[0]) == {
        therapist.get_full_name(): [1, 0, 0, 1, 0, 0, 0],
        other_therapist.get_full_name(): [2, 0, 0, 2, 0, 0, 0],
    }
    assert [row[:2] for row in attendance.tables[0].rows] == [[labels[0], 1], [labels[1], 3], [labels[2], 1]]
    saturday, sunday, monday = labels
    assert rows_by(utilisation.tables[0], 2) == {
        (therapist.get_full_name(), sunday): [D("1.0"), D("4.0"), D("25.0")],
        (other_therapist.get_full_name(), saturday): [D("0.5"), D("0.0"), None],
        (other_therapist.get_full_name(), sunday): [D("1.0"), D("0.0"), None],
        (other_therapist.get_full_name(), monday): [D("0.5"), D("0.0"), None],
    }
    # Room A: open 6 hours on Saturday, 13 on the Sunday and on Monday.
    assert rows_by(utilisation.tables[1], 2) == {
        ("Room A", saturday): [D("0.5"), D("6.0"), D("8.3")],
        ("Room A", sunday): [D("2.0"), D("13.0"), D("15.4")],
        ("Room A", monday): [D("0.5"), D("13.0"), D("3.8")],
        ("Room B", saturday): [D("0.0"), D("6.0"), D("0.0")],
        ("Room B", sunday): [D("0.0"), D("13.0"), D("0.0")],
        ("Room B", monday): [D("0.0"), D("13.0"), D("0.0")],
    }


# Patients.


@pytest.fixture
def patients_week(therapist, other_therapist):
    monday, tuesday, wednesday = day(5, 11), day(5, 12), day(5, 13)
    a = PatientFactory(treating_therapist=therapist, created_at=at(monday, 9))
    b = PatientFactory(treating_therapist=therapist, created_at=at(wednesday, 9))
    c = PatientFactory(treating_therapist=therapist, created_at=at(day(5, 8), 9))  # last week
    PatientFactory(treating_therapist=therapist, created_at=at(monday, 10), archived_at=NOW)
    e = PatientFactory(treating_therapist=other_therapist, created_at=at(tuesday, 9))
    f = PatientFactory(treating_therapist=None, created_at=at(tuesday, 10))
    result = Screening.Result

    def screen(patient, by, outcome, date, hour=11):
        return ScreeningFactory(patient=patient, therapist=by, result=outcome, signed_at=at(date, hour))

    screen(a, therapist, result.CLEARED, monday)
    urgent_b = screen(b, therapist, result.REFER_URGENT, tuesday)
    screen(c, therapist, result.PRECAUTIONS, wednesday)
    screen(c, therapist, result.REFER_URGENT, day(5, 8))  # last week
    ScreeningFactory(patient=a, therapist=therapist, result=result.NOT_CLEARED, draft=True)
    urgent_e = screen(e, other_therapist, result.REFER_URGENT, monday)
    screen(f, other_therapist, result.REFER, tuesday)
    return urgent_b, urgent_e


def test_patients_counts_new_patients_and_signed_screenings_by_result(patients_week):
    urgent_b, urgent_e = patients_week

    panel = reports.patients_panel(THIS_WEEK)

    # Active: a, b, c, e, f; new this week: a, b, e, f (the archived one is neither).
    assert panel.figures == {"active": 5, "new": 4, "screenings": 5}
    assert panel.tables[0].rows == [
        ["Cleared", 1],
        ["Cleared with precautions", 1],
        ["Not cleared: do not needle", 0],
        ["Refer out", 1],
        ["Refer out urgently", 2],
    ]
    assert panel.lists["urgent"] == [urgent_b, urgent_e]  # the latest first


def test_patients_of_one_therapist(patients_week, therapist):
    urgent_b, _ = patients_week

    panel = reports.patients_panel(THIS_WEEK, therapist=therapist)

    assert panel.figures == {"active": 3, "new": 2, "screenings": 3}
    assert [row[1] for row in panel.tables[0].rows] == [1, 1, 0, 0, 1]
    assert panel.lists["urgent"] == [urgent_b]


# Treatment plans.


def test_plans_by_severity_with_sessions_used_of_those_planned(therapist, other_therapist):
    mild = plan(therapist, Severity.MILD, activated=at(day(3, 15), 9), planned=4)
    session(mild, 1, day(3, 16))
    session(mild, 2, day(3, 23))
    session(mild, 3, day(3, 30), signed=False)  # not used until signed
    moderate = plan(other_therapist, activated=at(day(4, 10), 9), planned=6)
    session(moderate, 1, day(4, 13))
    plan(therapist, activated=at(day(5, 5), 9))  # started after April
    done = plan(therapist, status=PlanStatus.COMPLETED, ended=at(day(4, 20), 12), planned=3)
    for number in (1, 2, 3):
        session(done, number, day(3, 2 + 7 * number), hour=14)
    stopped = plan(
        other_therapist, Severity.CHRONIC, PlanStatus.DISCONTINUED, ended=at(day(4, 25), 12), planned=8
    )
    session(stopped, 1, day(3, 9), hour=15)
    session(stopped, 2, day(3, 16), hour=15)
    plan(therapist, Severity.CHRONIC, PlanStatus.COMPLETED, ended=at(day(3, 30), 12))  # ended in March
    plan(therapist, Severity.COMPLEX, PlanStatus.DRAFT)

    panel = reports.plans_panel(APRIL)

    # Severity, active, completed, discontinued, sessions planned, used, used %.
    assert panel.tables[0].rows == [
        ["Mild", 1, 0, 0, 4, 2, D("50.0")],
        ["Moderate", 1, 1, 0, 9, 4, D("44.4")],
        ["Chronic", 0, 0, 1, 8, 2, D("25.0")],
        ["Complex", 0, 0, 0, 0, 0, None],
        ["All", 2, 1, 1, 21, 8, D("38.1")],
    ]
    assert panel.figures == {"active": 2, "completed": 1, "discontinued": 1, "planned": 21, "used": 8}
    theos = reports.plans_panel(APRIL, therapist=therapist)
    assert theos.tables[0].rows[-1] == ["All", 1, 1, 0, 7, 5, D("71.4")]


def test_plans_count_a_plan_that_was_active_in_the_period_and_ended_after_it(therapist):
    """BUG: a plan active all April and completed on 2 May is missing from
    April's figures (neither active nor completed in April), so a past
    month's report loses its plans as they end."""
    plan(
        therapist, Severity.COMPLEX, PlanStatus.COMPLETED, activated=at(day(3, 2), 9), ended=at(day(5, 2), 12)
    )
    plan(
        therapist,
        Severity.COMPLEX,
        PlanStatus.DISCONTINUED,
        activated=at(day(3, 2), 9),
        ended=at(day(5, 4), 12),
    )

    panel = reports.plans_panel(APRIL)

    assert panel.tables[0].rows[3][:4] == ["Complex", 2, 0, 0]


# Outcomes.


@pytest.fixture
def courses(therapist, other_therapist):
    """Plans started on Monday 2 March 09:00 (unless told) after an intake
    assessment at 08:00 (leg pain as at the first session, unless told), with
    weekly signed sessions from 9 March and a re-assessment on 13 April; the
    completed ones ended on 20 April. Leg pain goes from the intake (else the
    first session before needling) to the latest measure: a later session
    before needling, a check-in or the re-assessment."""
    hours = iter(range(7, 20))

    def course(
        by,
        severity=Severity.MODERATE,
        status=PlanStatus.COMPLETED,
        *,
        legs=(),
        scores=None,
        reassessed_leg=6,
        checkin=None,
        reassess=2,
        activated=None,
        ended=None,
    ):
        activated = activated or at(day(3, 2), 9)
        if status != PlanStatus.ACTIVE:
            ended = ended or at(day(4, 20), 12)
        course = plan(by, severity, status, activated=activated, ended=ended, reassess=reassess)
        hour = next(hours)
        charts = [
            session(course, number, activated.date() + number * WEEK, leg, hour=hour)
            for number, leg in enumerate(legs, start=1)
        ]
        if checkin is not None:
            check_in(charts[-1], checkin)
        if scores:
            intake, reassessment = scores
            leg = legs[0][0] if legs else 6
            odi(course, Assessment.Kind.INTAKE, activated - datetime.timedelta(hours=1), intake, leg)
            if reassessment is not None:
                odi(course, Assessment.Kind.REASSESSMENT, activated + 6 * WEEK, reassessment, reassessed_leg)
        return course

    theo, priya = therapist, other_therapist
    plans = {
        # Leg pain 3 -> 2 at the re-assessment: 1 point but 33%. ODI 40 -> 36.
        "by_30_percent": course(theo, legs=[(3, 1), (3, 1)], scores=(40, 36), reassessed_leg=2),
        # Leg pain 10 -> 8: 2 points, 20% (the unsigned third session does not count). ODI 50 -> 44.
        "by_2_points": course(theo, legs=[(10, 5), (9, 4)], scores=(50, 44), reassessed_leg=8),
        # Leg pain 6 -> 5: 1 point, 17%, whatever the needling did (6 -> 2). ODI 44 -> 34: 10 points.
        "by_odi_only": course(priya, legs=[(6, 2)], scores=(44, 34), reassessed_leg=5),
        # Leg pain 7 -> 6: 1 point, 14%. ODI 40 -> 32: 8 points.
        "not_at_all": course(priya, Severity.CHRONIC, legs=[(7, 3)], scores=(40, 32)),
        # No sessions, no assessments: counted, but measured on nothing.
        "unmeasured": course(theo, Severity.MILD),
        # 7 -> 4 within the session, and leg pain 8 at the check-in the next day: worse.
        "relief_only": course(theo, legs=[(7, 4)], checkin=8, reassess=1),
        # 7 -> 6 within the session, and leg pain 4 at the check-in: 3 points.
        "better_at_check_in": course(priya, legs=[(7, 6)], checkin=4, reassess=1),
        # Not completed in April. Ended in March: measured once, at its first session.
        "ended_in_march": course(theo, legs=[(8, 2)], ended=at(day(3, 31), 12)),
        "discontinued": course(
            priya, status=PlanStatus.DISCONTINUED, legs=[(8, 2)], scores=(60, 20), reassessed_leg=3
        ),
        # Active: at the re-assessment point without a minimal important change
        # (relieved within every session, never for longer), or not.
        "stuck": course(
            theo,
            status=PlanStatus.ACTIVE,
            legs=[(6, 2), (6, 2)],
            scores=(40, None),
            activated=at(day(3, 16), 9),
        ),
        "improving": course(theo, status=PlanStatus.ACTIVE, legs=[(6, 5), (4, 3)]),
        "too_early": course(priya, status=PlanStatus.ACTIVE, legs=[(6, 6)]),
        "stuck_chronic": course(
            priya,
            Severity.CHRONIC,
            status=PlanStatus.ACTIVE,
            legs=[(5, 5)],
            scores=(40, 38),
            reassessed_leg=5,
            reassess=1,
            activated=at(day(3, 9), 9),
        ),
    }
    session(plans["by_2_points"], 3, day(3, 23), (8, 1), hour=19, signed=False)
    return plans


def test_outcomes_of_completed_plans_by_severity_and_by_therapist(courses, therapist, other_therapist):
    panel = reports.outcomes_panel(APRIL)

    severity, by_therapist = panel.tables
    # Plans, mean leg pain change, reached MIC on leg pain %, mean ODI change, on ODI %, on either %.
    # Moderate: leg 1, 2, 1, -1, 3 (mean 1.2), MIC 3 of 5; ODI 4, 6, 10 (mean 6.7), MIC 1 of 3;
    # either 4 of 5 (not the plan relieved only within the session).
    assert severity.rows == [
        ["Mild", 1, None, None, None, None, D("0.0")],
        ["Moderate", 5, D("1.2"), D("60.0"), D("6.7"), D("33.3"), D("80.0")],
        ["Chronic", 1, D("1.0"), D("0.0"), D("8.0"), D("0.0"), D("0.0")],
        ["Complex", 0, None, None, None, None, None],
    ]
    # Theo: by 30%, by 2 points, unmeasured, relief only. Priya: by ODI only, not at all, better at check-in.
    assert rows_by(by_therapist) == {
        therapist.get_full_name(): [4, D("0.7"), D("66.7"), D("5.0"), D("0.0"), D("50.0")],
        other_therapist.get_full_name(): [3, D("1.7"), D("33.3"), D("9.0"), D("50.0"), D("66.7")],
    }
    assert panel.figures == {"completed": 7, "reached_mic": D("57.1")}
    assert panel.lists["not_improving"] == [courses["stuck_chronic"], courses["stuck"]]
    assert panel.lists["more_not_improving"] is False
    assert bars(panel.charts[0]) == {
        "Mild": "0.0%",
        "Moderate": "80.0%",
        "Chronic": "0.0%",
        "Complex": "no data",
    }


def test_outcomes_of_one_therapist(courses, therapist):
    panel = reports.outcomes_panel(APRIL, therapist=therapist)

    severity, by_therapist = panel.tables
    assert [row[:2] for row in severity.rows] == [
        ["Mild", 1],
        ["Moderate", 3],
        ["Chronic", 0],
        ["Complex", 0],
    ]
    assert severity.rows[1] == ["Moderate", 3, D("0.7"), D("66.7"), D("5.0"), D("0.0"), D("66.7")]
    assert rows_by(by_therapist) == {
        therapist.get_full_name(): [4, D("0.7"), D("66.7"), D("5.0"), D("0.0"), D("50.0")]
    }
    assert panel.lists["not_improving"] == [courses["stuck"]]


def test_the_reports_judge_each_plan_as_its_page_does(courses, therapist):
    """The plan page reads a plan's annotations; the reports count over the
    measures in one aggregate query. Plan by plan, the two agree, and agree
    with the rule written out by hand."""
    edge = {
        "no_pain": plan(therapist, reassess=1),  # 0 -> 0: no 30% of nothing
        "worse": plan(therapist, reassess=1),  # 3 -> 5 at the check-in
        "no_leg_score": plan(therapist, reassess=1),
    }
    check_in(session(edge["no_pain"], 1, day(3, 9), (0, 0), hour=19), 0)
    check_in(session(edge["worse"], 1, day(3, 10), (3, 1), hour=19), 5)
    SessionChartFactory(
        plan=edge["no_leg_score"], leg_pain_before=None, appointment__starts_at=at(day(3, 11), 19)
    )
    plans = courses | edge

    annotated = {
        p.pk: (p.leg_meets_mic, p.odi_meets_mic, p.not_improving)
        for p in with_outcomes(TreatmentPlan.objects.filter(pk__in=[p.pk for p in plans.values()]))
    }
    on_the_page, counted = {}, {}
    for name, p in plans.items():
        result = plan_outcomes(p)
        on_the_page[name] = (
            bool(result.leg_pain and result.leg_pain.meets_mic),
            bool(result.odi and result.odi.meets_mic),
            result.not_improving,
        )
        figures = with_stored_outcomes(TreatmentPlan.objects.filter(pk=p.pk)).aggregate(
            **outcome_aggregates()
        )
        counted[name] = (figures["leg_mic"] == 1, figures["odi_mic"] == 1)
        if result.leg_pain:
            assert reaches_pain_mic(result.leg_pain.start, result.leg_pain.end) is result.leg_pain.meets_mic
            assert figures["leg_change"] == result.leg_pain.improvement

    expected = {
        "by_30_percent": (True, False, False),
        "by_2_points": (True, False, False),
        "by_odi_only": (False, True, False),  # one session of two: not yet at re-assessment
        "not_at_all": (False, False, False),
        "unmeasured": (False, False, False),
        "relief_only": (False, False, True),
        "better_at_check_in": (True, False, False),
        "ended_in_march": (False, False, False),
        "discontinued": (True, True, False),
        "stuck": (False, False, True),
        "improving": (True, False, False),
        "too_early": (False, False, False),
        "stuck_chronic": (False, False, True),
        "no_pain": (False, False, True),
        "worse": (False, False, True),
        "no_leg_score": (False, False, True),
    }
    assert {name: annotated[p.pk] for name, p in plans.items()} == expected
    assert on_the_page == expected
    assert counted == {name: judged[:2] for name, judged in expected.items()}


def test_outcomes_measure_at_the_plans_own_reassessment_not_a_later_plans(therapist):
    """The change of a plan ends at its own re-assessment, not one made for a
    later plan after this one ended: April's outcomes stay as they were when
    the patient comes back."""
    first = plan(therapist, status=PlanStatus.COMPLETED, ended=at(day(4, 20), 12), reassess=1)
    session(first, 1, day(3, 9), (6, 5))
    odi(first, Assessment.Kind.INTAKE, at(day(3, 2), 8), 40, leg=6)
    odi(first, Assessment.Kind.REASSESSMENT, at(day(4, 13), 9), 36, leg=5)  # 4 points: no MIC
    later = plan(therapist, activated=at(day(5, 4), 9), patient=first.patient)
    odi(later, Assessment.Kind.REASSESSMENT, at(day(5, 11), 9), 20, leg=1)  # the next plan's re-assessment

    panel = reports.outcomes_panel(APRIL)

    assert panel.tables[0].rows[1] == ["Moderate", 1, D("1.0"), D("0.0"), D("4.0"), D("0.0"), D("0.0")]


# Safety.


def test_safety_counts_adverse_events_by_kind_and_severity_and_lists_the_serious(therapist, other_therapist):
    def chart(by, date):
        return session(plan(by), 1, date)

    first, second, third = (
        chart(therapist, day(4, 6)),
        chart(other_therapist, day(4, 14)),
        chart(therapist, day(4, 20)),
    )
    for event_chart, kind, grade in [
        (first, Kind.SORENESS, Grade.MILD),
        (first, Kind.SORENESS, Grade.MILD),
        (first, Kind.BRUISING, Grade.MODERATE),
        (second, Kind.FAINTING, Grade.SEVERE),
        (second, Kind.INFECTION, Grade.MODERATE),
        (third, Kind.NERVE_INJURY, Grade.SEVERE),
    ]:
        AdverseEventFactory(chart=event_chart, kind=kind, severity=grade)
    march, may = chart(therapist, day(3, 31)), chart(other_therapist, day(5, 4))
    AdverseEventFactory(chart=march, kind=Kind.PNEUMOTHORAX, severity=Grade.SEVERE)
    AdverseEventFactory(chart=march, kind=Kind.SORENESS, severity=Grade.MILD)
    AdverseEventFactory(chart=may, kind=Kind.BLEEDING, severity=Grade.MILD)

    panel = reports.safety_panel(APRIL)

    # Mild, moderate, severe, all. Serious kinds only when they happened.
    assert panel.tables[0].rows == [
        ["Soreness", 2, 0, 0, 2],
        ["Bruising", 0, 1, 0, 1],
        ["Bleeding", 0, 0, 0, 0],
        ["Fatigue", 0, 0, 0, 0],
        ["Lightheadedness", 0, 0, 0, 0],
        ["Fainting", 0, 0, 1, 1],
        ["Increased symptoms", 0, 0, 0, 0],
        ["Infection (serious)", 0, 1, 0, 1],
        ["Nerve injury (serious)", 0, 0, 1, 1],
    ]
    assert panel.figures == {"events": 6, "serious": 2}
    assert [(e.kind, e.chart) for e in panel.lists["serious"]] == [
        (Kind.NERVE_INJURY, third),
        (Kind.INFECTION, second),
    ]
    theos = reports.safety_panel(APRIL, therapist=therapist)
    assert theos.figures == {"events": 4, "serious": 1}
    assert [row[-1] for row in theos.tables[0].rows] == [2, 1, 0, 0, 0, 0, 0, 1]


# Patient emails.


def test_reminders_show_the_outbox_and_open_check_in_alerts():
    minutes_ago = lambda minutes: NOW - datetime.timedelta(minutes=minutes)  # noqa: E731
    for due in (minutes_ago(42), minutes_ago(10), minutes_ago(3), NOW + datetime.timedelta(days=1)):
        ReminderFactory(due_at=due)  # pending; overdue after 5 minutes
    ReminderFactory(status=Reminder.Status.SENT, due_at=minutes_ago(300), sent_at=at(TODAY, 8))
    ReminderFactory(
        status=Reminder.Status.SENT,
        due_at=minutes_ago(900),
        sent_at=at(TODAY, 0) - datetime.timedelta(minutes=1),
    )
    ReminderFactory(status=Reminder.Status.FAILED, due_at=minutes_ago(60 * 24 * 30))
    for status in (Reminder.Status.SENDING, Reminder.Status.CANCELLED, Reminder.Status.SKIPPED):
        ReminderFactory(status=status, due_at=minutes_ago(60))
    AftercareCheckInFactory(alert=True)
    AftercareCheckInFactory(alert=True, acknowledged_at=NOW)
    AftercareCheckInFactory(alert=False)

    panel = reports.reminders_panel(now=NOW)

    # Waiting, overdue, oldest overdue (minutes), sent today, failed, open check-in alerts.
    assert panel.tables[0].rows == [[4, 2, 42, 1, 1, 1]]


# An empty clinic.


@pytest.mark.parametrize("period", [THIS_WEEK, Period(day(1, 1), day(12, 31))], ids=["a week", "a year"])
def test_an_empty_clinic_gives_zeros_and_no_rates(period, therapist):
    today = reports.today_panel(today=TODAY)
    assert today.tables[0].rows == [[therapist.get_full_name(), 0, 0, 0, 0, 0, 0, 0]]
    assert set(today.figures.values()) == {0}

    utilisation = reports.utilisation_panel(period)
    assert [table.rows for table in utilisation.tables] == [[], []]
    assert bars(utilisation.charts[0]) == {therapist.get_full_name(): "no data"}

    attendance = reports.attendance_panel(period, now=NOW)
    assert attendance.figures == {"due": 0, "no_shows": 0, "late": 0, "no_show_rate": None, "late_rate": None}
    assert {tuple(row[1:]) for row in attendance.tables[0].rows} == {(0, 0, 0, None, None)}

    patients = reports.patients_panel(period)
    assert patients.figures == {"active": 0, "new": 0, "screenings": 0}
    assert patients.lists["urgent"] == []

    plans = reports.plans_panel(period)
    assert plans.tables[0].rows[-1] == ["All", 0, 0, 0, 0, 0, None]

    outcomes = reports.outcomes_panel(period)
    assert outcomes.figures == {"completed": 0, "reached_mic": None}
    assert {tuple(row[1:]) for row in outcomes.tables[0].rows} == {(0, None, None, None, None, None)}
    assert outcomes.tables[1].rows == [[therapist.get_full_name(), 0, None, None, None, None, None]]
    assert outcomes.lists["not_improving"] == []

    safety = reports.safety_panel(period)
    assert safety.figures == {"events": 0, "serious": 0}
    assert {row[-1] for row in safety.tables[0].rows} == {0}

    assert reports.reminders_panel(now=NOW).tables[0].rows == [[0, 0, None, 0, 0, 0]]
    assert reports.caseload_panel(therapist).figures == {"patients": 0, "active": 0, "drafts": 0}
    assert list(reports.unsigned_charts(therapist)) == []


def test_a_clinic_with_no_therapists_has_an_empty_today():
    panel = reports.today_panel(today=TODAY)

    assert panel.tables[0].rows == []
    assert set(panel.figures.values()) == {0}
