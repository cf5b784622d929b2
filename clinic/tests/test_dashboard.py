"""The figures pages: the clinic admin's dashboard and monthly report, a
therapist's own figures and the front desk's. Who may open them, what each
role sees (the front desk nothing clinical, a therapist only their own),
bad input in the address, the CSV exports, and a dashboard that costs as
many queries with 10,000 appointments as with 10. "Now" is Wednesday
13 May 2026, noon in the clinic; this week is Monday 11 to Sunday 17 May."""

import csv
import datetime
import html
import io
import re
from zoneinfo import ZoneInfo

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from clinic.reports import Period
from clinic.tests import factories
from clinic.tests.matrix import LOGIN, PERSONAS, assert_status, log_in
from core import links
from patients.models import Assessment, Patient, Screening
from patients.tests.factories import AssessmentFactory, PatientFactory
from scheduling.availability import local
from scheduling.models import Appointment, AppointmentType, Reminder
from scheduling.tests.factories import AppointmentFactory, RoomFactory
from treatments import outcomes
from treatments import services as treatment_services
from treatments.models import AdverseEvent, AftercareCheckIn, SessionChart, TreatmentPlan
from treatments.tests.factories import (
    AdverseEventFactory,
    AftercareCheckInFactory,
    SessionChartFactory,
    TreatmentPlanFactory,
    active_plan,
    charted_session,
    cleared_patient,
)

pytestmark = pytest.mark.django_db

CLINIC_TIME = ZoneInfo("America/New_York")
NOW = datetime.datetime(2026, 5, 13, 12, 0, tzinfo=CLINIC_TIME)
THIS_WEEK = Period(datetime.date(2026, 5, 11), datetime.date(2026, 5, 17))
THIS_WEEK_SHOWN = "11 May 2026 \u2013 17 May 2026"
Status = Appointment.Status
PlanStatus = TreatmentPlan.Status


@pytest.fixture(autouse=True)
def frozen_now(time_machine):
    time_machine.move_to(NOW, tick=False)


def day(month, number):
    return datetime.date(2026, month, number)


def at(date, hour, minute=0):
    return local(date, datetime.time(hour, minute))


def url(name, query=""):
    return reverse(f"clinic:{name}") + (f"?{query}" if query else "")


def page_text(response):
    assert response.status_code == 200
    return html.unescape(re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", response.content.decode())))


def table_rows(response, table_id):
    """A table of the page as {row header: [cell text, ...]}, the header row included."""
    page = response.content.decode()
    table = re.search(rf'<table[^>]* id="{table_id}">(.*?)</table>', page, re.DOTALL).group(1)
    rows = {}
    for row in re.findall(r"<tr>(.*?)</tr>", table, flags=re.DOTALL):
        cells = [
            html.unescape(re.sub(r"<[^>]+>", "", c).strip())
            for c in re.findall(r"<t[hd][^>]*>(.*?)</t[hd]>", row, re.DOTALL)
        ]
        rows[cells[0]] = cells[1:]
    return rows


def csv_rows(response):
    assert response.status_code == 200
    assert response["Content-Type"] == "text/csv; charset=utf-8"
    return list(csv.reader(io.StringIO(response.content.decode())))


# Who may open what.

#                        anonymous  receptionist therapist other  admin  no role
EXPECTED = {
    "dashboard":          (LOGIN,    403,         403,      403,   200,   403),
    "monthly-report":     (LOGIN,    403,         403,      403,   200,   403),
    "my-figures":         (LOGIN,    403,         200,      200,   403,   403),
    "front-desk-figures": (LOGIN,    200,         403,      403,   200,   403),
}  # fmt: skip


@pytest.fixture
def world(receptionist, therapist, other_therapist, clinic_admin, no_role_user):
    return {
        "users": {
            "receptionist": receptionist,
            "therapist": therapist,
            "other_therapist": other_therapist,
            "clinic_admin": clinic_admin,
            "no_role_user": no_role_user,
        }
    }


@pytest.mark.parametrize(
    ("name", "persona", "expected"),
    [
        pytest.param(name, persona, expected[column], id=f"{name} as {persona}")
        for name, expected in EXPECTED.items()
        for column, persona in enumerate(PERSONAS)
    ],
)
def test_it_answers_as_the_matrix_says(client, world, name, persona, expected):
    log_in(client, persona, world)

    assert_status(client.get(url(name)), expected)


# A week at the clinic.


def patient(first_name, last_name, therapist):
    return PatientFactory(first_name=first_name, last_name=last_name, treating_therapist=therapist)


def plan(patient, status=PlanStatus.ACTIVE, ended=None):
    activated = at(day(4, 1), 9)
    return TreatmentPlanFactory(
        patient=patient,
        therapist=patient.treating_therapist,
        status=status,
        planned_sessions=6,
        reassessment_after_session=1,
        created_at=activated,
        activated_at=activated,
        ended_at=ended,
    )


def chart(plan, date, leg=(6, 4), *, signed=True):
    return SessionChartFactory(
        plan=plan,
        leg_pain_before=leg[0],
        leg_pain_after=leg[1],
        appointment__starts_at=at(date, 10),
        signed_at=at(date, 11) if signed else None,
    )


@pytest.fixture
def clinic_week(therapist, other_therapist):
    """This week's visits, and each therapist's clinical records: an
    unsigned chart, a plan not improving, a plan completed this week (Helen's:
    leg pain 6 before her only session, 2 at her check-in the next day)."""
    theo, priya = therapist, other_therapist
    for who, date, hour, status, late in [
        (theo, day(5, 11), 9, Status.COMPLETED, False),
        (theo, day(5, 11), 10, Status.NO_SHOW, False),
        (theo, day(5, 12), 9, Status.COMPLETED, False),
        (theo, day(5, 13), 9, Status.CANCELLED, True),
        (theo, day(5, 13), 14, Status.BOOKED, False),
        (priya, day(5, 11), 9, Status.NO_SHOW, False),
    ]:
        AppointmentFactory(
            therapist=who,
            starts_at=at(date, hour),
            status=status,
            late_cancellation=late,
            cancelled_by="patient",
        )
    chart(plan(patient("Maria", "Alvarez", theo)), day(5, 8), signed=False)
    aishas = chart(plan(patient("Aisha", "Khan", priya)), day(5, 8), signed=False)
    AdverseEventFactory(
        chart=aishas, kind=AdverseEvent.Kind.INFECTION, severity=AdverseEvent.Severity.MODERATE
    )
    chart(plan(patient("James", "Brooks", theo)), day(5, 7), (6, 6))
    chart(plan(patient("Grace", "Liu", priya)), day(5, 7), (6, 6))
    done = PlanStatus.COMPLETED
    helens = chart(plan(patient("Helen", "Fischer", theo), done, at(day(5, 11), 12)), day(4, 27), (6, 2))
    # Her leg pain the next day, at the check-in: still 2.
    AftercareCheckInFactory(appointment=helens.appointment, leg_pain=2, submitted_at=at(day(4, 28), 10))
    chart(plan(patient("Omar", "Haddad", priya), done, at(day(5, 12), 12)), day(4, 28), (6, 6))


CLINICAL = [
    *("outcome", "odi", "oswestry", "minimal important change", "leg pain", "treatment plan", "screening"),
    *("adverse", "serious", "infection", "safety", "unsigned", "chart"),
]


def test_the_front_desk_sees_today_and_the_no_shows_but_nothing_clinical(
    client, receptionist, clinic_week, therapist, other_therapist
):
    client.force_login(receptionist)

    response = client.get(url("front-desk-figures"))

    text = page_text(response)
    # Appointments, still to come, checked in, completed, no-shows, cancelled: no unsigned charts.
    assert table_rows(response, "today") == {
        "Therapist": ["Appointments", "Still to come", "Checked in", "Completed", "No-shows", "Cancelled"],
        therapist.get_full_name(): ["1", "1", "0", "0", "0", "1"],
        other_therapist.get_full_name(): ["0", "0", "0", "0", "0", "0"],
    }
    assert "Of 5 appointments due: 2 no-shows (40.0%), 1 late cancellation (20.0%)." in text
    found = [word for word in CLINICAL if re.search(rf"\b{word}s?\b", text, re.IGNORECASE)]
    assert found == []
    for name in ("Maria Alvarez", "Aisha Khan", "James Brooks", "Grace Liu", "Helen Fischer"):
        assert name not in text


@pytest.mark.parametrize("table", ["outcomes-severity", "outcomes-therapist", "adverse-events", "plans"])
def test_the_front_desk_cannot_export_a_clinical_table(client, receptionist, clinic_week, table):
    client.force_login(receptionist)

    assert client.get(url("front-desk-figures", f"csv={table}")).status_code == 404


def test_a_therapist_sees_only_their_own_charts_and_outcomes(client, therapist, other_therapist, clinic_week):
    client.force_login(therapist)

    response = client.get(url("my-figures"))

    text = page_text(response)
    assert "Maria Alvarez, session 1" in text  # unsigned
    assert "James Brooks" in text  # not improving
    for name in ("Aisha Khan", "Grace Liu", "Omar Haddad", other_therapist.get_full_name()):
        assert name not in text
    # Plans, mean leg pain change, MIC on leg pain %, mean ODI change, MIC on ODI %, on either %.
    helens = ["1", "4.0", "100.0", "—", "—", "100.0"]
    assert table_rows(response, "outcomes-therapist")[therapist.get_full_name()] == helens
    assert table_rows(response, "outcomes-severity")["Moderate"] == helens
    assert "Of 4 appointments due: 1 no-show (25.0%), 1 late cancellation (25.0%)." in text


def test_relief_just_after_needling_is_no_improvement_on_any_page(
    client, therapist, clinic_admin, time_machine
):
    """One session: leg pain 7 before needling and 4 just after it; the
    patient's check-in 24 hours later reports leg pain 8. The plan page, the
    therapist's figures, the dashboard and the monthly report all measure 7 -> 8,
    no minimal important change, and show the 7 -> 4 only as the change within
    the session."""
    patient = cleared_patient(therapist, first_name="Nora", last_name="Quinn")
    course = active_plan(therapist, patient, planned_sessions=1, reassessment_after_session=1)
    chart = charted_session(course, leg=(7, 4), day=day(5, 13), hour=10)
    time_machine.move_to(at(day(5, 14), 10), tick=False)
    link = reverse("treatments:check-in", args=[links.CHECKIN.token(chart.appointment.pk)])
    answers = {f"flag_{item.code}": "no" for item in treatment_services.red_flag_items()}
    assert client.post(link, {"soreness": "3", "leg_pain": "8", **answers}).status_code == 200

    client.force_login(therapist)
    plan_page = page_text(client.get(reverse("treatments:plan", args=[course.pk])))
    assert (
        "Leg pain: 7 (before needling at session 1, Wed 13 May) → 8 (check-in after session 1, Thu 14 May): "
        "below the minimal important change" in plan_page
    )
    assert (
        "Within session, immediately after needling (not counted as improvement): leg pain 7 → 4" in plan_page
    )
    assert "Not improving:" in plan_page
    assert "minimal important change reached" not in plan_page
    mine = client.get(url("my-figures"))
    # Sessions signed, leg pain baseline -> latest, progress, the last session within the session.
    assert table_rows(mine, "caseload-plans")["Nora Quinn"] == [
        "Moderate",
        "1 of 1",
        "7 → 8",
        "not improving at re-assessment",
        "7 → 4",
    ]
    client.force_login(clinic_admin)
    not_improving = "Nora Quinn : moderate, 1 of 1 sessions, leg pain 7 → 8 (baseline to latest)"
    assert not_improving in page_text(client.get(url("dashboard")))

    treatment_services.plan_end(plan=course, therapist=therapist, status=PlanStatus.COMPLETED)
    # Plans, mean leg pain change, reached MIC on leg pain %, mean ODI change, on ODI %, on either %.
    worse = ["1", "-1.0", "0.0", "—", "—", "0.0"]
    assert table_rows(client.get(url("dashboard")), "outcomes-severity")["Moderate"] == worse
    assert (
        table_rows(client.get(url("monthly-report", "month=2026-05")), "outcomes-severity")["Moderate"]
        == worse
    )
    client.force_login(therapist)
    assert table_rows(client.get(url("my-figures")), "outcomes-therapist")[therapist.get_full_name()] == worse


def test_the_dashboard_shows_the_whole_clinic_and_filters_by_therapist(
    client, clinic_admin, therapist, other_therapist, clinic_week
):
    client.force_login(clinic_admin)

    everyone = client.get(url("dashboard"))
    theos = client.get(url("dashboard", f"therapist={therapist.pk}"))

    assert set(table_rows(everyone, "outcomes-therapist")) == {
        "Therapist",
        therapist.get_full_name(),
        other_therapist.get_full_name(),
    }
    assert "Infection (serious), moderate" in page_text(everyone)
    assert "Aisha Khan, session 1 on 8 May 2026" in page_text(everyone)
    assert set(table_rows(theos, "today")) == {"Therapist", therapist.get_full_name()}
    assert table_rows(theos, "outcomes-severity")["Moderate"][0] == "1"
    assert table_rows(everyone, "outcomes-severity")["Moderate"][0] == "2"


# Bad input in the address: a message and this week, never a server error.

REVERSED = "The range ends before it starts; showing this week."
TOO_LONG = "Pick at most two years at a time; showing this week."
NOT_A_DATE = "Enter a valid date."
NO_SUCH_THERAPIST = "There is no such therapist; showing every therapist."
PAGES = [("dashboard", "clinic_admin"), ("my-figures", "therapist"), ("front-desk-figures", "receptionist")]


@pytest.mark.parametrize(("name", "persona"), PAGES)
@pytest.mark.parametrize(
    ("query", "message"),
    [
        ("first=2026-05-20&last=2026-05-01", REVERSED),
        ("first=2024-01-01&last=2026-05-13", TOO_LONG),
        ("first=not-a-date", NOT_A_DATE),
        ("first=2026-04-01&last=2026-02-30", NOT_A_DATE),
    ],
)
def test_a_bad_period_shows_a_message_and_this_week(client, request, name, persona, query, message):
    client.force_login(request.getfixturevalue(persona))

    response = client.get(url(name, query))

    assert message in page_text(response)
    assert response.context["period"] == THIS_WEEK
    assert THIS_WEEK_SHOWN in page_text(response)
    assert 'name="first" id="id_first" value="2026-05-11"' in response.content.decode()


@pytest.mark.parametrize(
    "query", ["therapist=999999", "therapist=abc", "first=2026-04-01&last=2026-04-30&therapist=999999"]
)
def test_an_unknown_therapist_shows_a_message_and_every_therapist_this_week(
    client, clinic_admin, therapist, other_therapist, query
):
    client.force_login(clinic_admin)

    response = client.get(url("dashboard", query))

    assert NO_SUCH_THERAPIST in page_text(response)
    assert response.context["period"] == THIS_WEEK
    assert response.context["therapist"] is None
    assert set(table_rows(response, "today")) == {
        "Therapist",
        therapist.get_full_name(),
        other_therapist.get_full_name(),
    }


def test_a_range_of_two_years_is_allowed(client, clinic_admin):
    client.force_login(clinic_admin)

    response = client.get(url("dashboard", "first=2024-05-12&last=2026-05-13"))  # 732 days

    assert response.context["period"] == Period(datetime.date(2024, 5, 12), day(5, 13))
    assert "alert-warning" not in response.content.decode()


@pytest.mark.parametrize(
    "query",
    ["first=9999-12-31", "last=0001-01-01", "first=9999-12-25&last=9999-12-31"],
)
def test_a_date_at_the_end_of_the_calendar_is_no_server_error(client, clinic_admin, query):
    """BUG: the period's end (or the day after it) overflows the calendar: OverflowError, a 500."""
    client.raise_request_exception = False
    client.force_login(clinic_admin)

    response = client.get(url("dashboard", query))

    assert response.status_code == 200
    assert response.context["period"] == THIS_WEEK
    assert "alert-warning" in response.content.decode()


@pytest.mark.parametrize(
    ("month", "expected"),
    [
        ("2026-13", "Pick a month as year and month, e.g. 2026-11; showing this month."),
        ("May", "Pick a month as year and month, e.g. 2026-11; showing this month."),
        pytest.param("9999-12", None, id="9999-12 (BUG: OverflowError, a 500)"),
        pytest.param("0001-01", None, id="0001-01 (BUG: OverflowError, a 500)"),
    ],
)
def test_a_bad_month_shows_a_message_and_this_month(client, clinic_admin, month, expected):
    client.raise_request_exception = False
    client.force_login(clinic_admin)

    response = client.get(url("monthly-report", f"month={month}"))

    assert response.status_code == 200
    assert response.context["period"] == Period.month(2026, 5)
    assert "monthly report, May 2026" in page_text(response)
    if expected:
        assert expected in page_text(response)
    else:
        assert "alert-warning" in response.content.decode()


# CSV exports.


def test_a_table_exports_as_csv_with_the_figures_of_the_page(client, clinic_admin, clinic_week):
    client.force_login(clinic_admin)

    page = client.get(url("dashboard"))
    export = client.get(url("dashboard", "csv=attendance"))

    assert export["Content-Disposition"] == 'attachment; filename="attendance-20260511-20260517.csv"'
    header, *rows = csv_rows(export)
    assert header == [
        "Day",
        "Appointments due",
        "No-shows",
        "Late cancellations",
        "No-show rate (%)",
        "Late-cancellation rate (%)",
    ]
    assert rows[:4] == [
        ["Mon 11 May", "3", "2", "0", "66.7", "0.0"],
        ["Tue 12 May", "1", "0", "0", "0.0", "0.0"],
        ["Wed 13 May", "1", "0", "1", "0.0", "100.0"],
        ["Thu 14 May", "0", "0", "0", "", ""],
    ]
    shown = table_rows(page, "attendance")
    assert [header[0], *shown.pop("Day")] == header
    assert [
        [label, *("" if cell == "—" else cell for cell in cells)] for label, cells in shown.items()
    ] == rows


def test_the_csv_follows_the_period_and_therapist_asked_for(client, clinic_admin, therapist, clinic_week):
    client.force_login(clinic_admin)

    export = client.get(
        url("dashboard", f"first=2026-05-11&last=2026-05-12&therapist={therapist.pk}&csv=attendance")
    )

    assert csv_rows(export)[1:] == [
        ["Mon 11 May", "2", "1", "0", "50.0", "0.0"],
        ["Tue 12 May", "1", "0", "0", "0.0", "0.0"],
    ]


@pytest.mark.parametrize(("name", "persona"), PAGES)
def test_an_unknown_table_is_not_found(client, request, name, persona):
    client.force_login(request.getfixturevalue(persona))

    assert client.get(url(name, "csv=nope")).status_code == 404


def test_the_front_desk_exports_todays_figures_without_charts(client, receptionist, therapist, clinic_week):
    client.force_login(receptionist)

    header, *rows = csv_rows(client.get(url("front-desk-figures", "csv=today")))

    assert header == [
        "Therapist",
        "Appointments",
        "Still to come",
        "Checked in",
        "Completed",
        "No-shows",
        "Cancelled",
    ]
    assert [therapist.get_full_name(), "1", "1", "0", "0", "0", "1"] in rows


# The monthly report.


@pytest.fixture
def april(therapist):
    for date, status in [
        (day(4, 14), Status.NO_SHOW),
        (day(4, 15), Status.COMPLETED),
        (day(3, 31), Status.NO_SHOW),
    ]:
        AppointmentFactory(therapist=therapist, starts_at=at(date, 9), status=status)


def test_the_monthly_report_shows_the_months_figures_ready_to_print(client, clinic_admin, april):
    client.force_login(clinic_admin)

    response = client.get(url("monthly-report", "month=2026-04"))

    text = page_text(response)
    assert "monthly report, April 2026" in text
    assert "1 April 2026 to 30 April 2026, all therapists." in text
    assert "Of 2 appointments due: 1 no-show (50.0%), 0 late cancellations (0.0%)." in text
    assert table_rows(response, "attendance")["Tue 14 Apr"] == ["1", "1", "0", "100.0", "0.0"]
    assert "Print or save as PDF" in text
    assert 'href="?month=2026-03"' in response.content.decode()
    assert 'href="?month=2026-05"' in response.content.decode()


def test_the_monthly_reports_csv_links_export_the_month(client, clinic_admin, april):
    """BUG: the report's tables link to ?first=...&last=...&csv=<table> on the
    report's own address, which ignores both and answers this month's page as
    HTML instead of the month's table as CSV."""
    client.force_login(clinic_admin)
    report = client.get(url("monthly-report", "month=2026-04")).content.decode()
    link = html.unescape(re.search(r'href="(\?[^"]*csv=attendance)"', report).group(1))

    export = client.get(reverse("clinic:monthly-report") + link)

    assert export["Content-Type"] == "text/csv; charset=utf-8"
    assert csv_rows(export)[14] == ["Tue 14 Apr", "1", "1", "0", "100.0", "0.0"]


# Pages of an empty clinic.


@pytest.mark.parametrize(("name", "persona"), [*PAGES, ("monthly-report", "clinic_admin")])
def test_an_empty_clinic_shows_its_pages(client, request, name, persona):
    client.force_login(request.getfixturevalue(persona))

    text = page_text(client.get(url(name)))

    assert "Of 0 appointments due: 0 no-shows , 0 late cancellations ." in text


# Query counts: 10 appointments or 10,000.

STATUSES = (
    [(Status.COMPLETED, False)] * 2
    + [(Status.NO_SHOW, False)]
    + [(Status.COMPLETED, False)] * 4
    + [
        (Status.CANCELLED, True),
        (Status.CANCELLED, False),
        (Status.COMPLETED, False),
    ]
)
SEVERITIES = TreatmentPlan.Severity.values
KINDS = [
    AdverseEvent.Kind.INFECTION,
    *(k for k in AdverseEvent.Kind.values if k != AdverseEvent.Kind.INFECTION),
]
RESULTS = Screening.Result.values


def grow(therapists, slots, *, patients):
    """Appointments at each of `slots` (UTC datetimes), one per therapist in
    their own room, 30 minutes long (never two at once for a therapist, a room
    or a patient); a plan per patient with intake and re-assessment; a chart
    for each completed visit (a few unsigned), adverse events, reminders,
    check-ins and screenings. All bulk-created."""
    now = NOW.astimezone(datetime.UTC)
    rooms = [RoomFactory(name=f"Room {n + 1}") for n in range(len(therapists))]
    visit_type = AppointmentType.objects.order_by("pk").first()
    first = Patient.objects.count()
    people = Patient.objects.bulk_create(
        Patient(
            first_name="Patient",
            last_name=f"Number {first + n}",
            date_of_birth=datetime.date(1970, 1, 1),
            sex=Patient.Sex.FEMALE,
            treating_therapist=therapists[n % len(therapists)],
            created_at=now - datetime.timedelta(days=n % 400, hours=1),
        )
        for n in range(patients)
    )
    started = now - datetime.timedelta(days=300)
    plans = TreatmentPlan.objects.bulk_create(
        TreatmentPlan(
            patient=person,
            therapist=person.treating_therapist,
            severity=SEVERITIES[n % 4],
            planned_sessions=12,
            reassessment_after_session=1,
            status=[PlanStatus.ACTIVE, PlanStatus.COMPLETED, PlanStatus.ACTIVE, PlanStatus.DISCONTINUED][
                n % 4
            ],
            status_reason="Moved away." if n % 4 == 3 else "",
            created_at=started,
            activated_at=started,
            ended_at=None if n % 2 == 0 else now - datetime.timedelta(days=n % 200, hours=1),
        )
        for n, person in enumerate(people)
    )
    Assessment.objects.bulk_create(
        AssessmentFactory.build(
            patient=person, therapist=person.treating_therapist, kind=kind, assessed_at=when
        )
        for n, person in enumerate(people)
        for kind, when in [(Assessment.Kind.INTAKE, started - datetime.timedelta(hours=1))]
        + ([(Assessment.Kind.REASSESSMENT, started + datetime.timedelta(days=30))] if n % 2 else [])
    )
    Screening.objects.bulk_create(
        Screening(
            patient=person,
            therapist=person.treating_therapist,
            result=RESULTS[n % len(RESULTS)],
            signed_at=now - datetime.timedelta(hours=7 * n),
            valid_until=datetime.date(2027, 1, 1),
        )
        for n, person in enumerate(people)
    )
    visits = Appointment.objects.bulk_create(
        Appointment(
            patient=people[i % patients],
            therapist=therapists[i % len(therapists)],
            room=rooms[i % len(therapists)],
            appointment_type=visit_type,
            starts_at=starts_at,
            ends_at=starts_at + datetime.timedelta(minutes=30),
            status=STATUSES[i % 10][0] if starts_at < now else Status.BOOKED,
            late_cancellation=STATUSES[i % 10][1] if starts_at < now else False,
            cancelled_by="patient" if STATUSES[i % 10][1] and starts_at < now else "",
        )
        for i, starts_at in enumerate(s for s in slots for _ in therapists)
    )
    plan_of_patient = {person.pk: p for person, p in zip(people, plans, strict=True)}
    completed = sorted(
        (v for v in visits if v.status == Status.COMPLETED), key=lambda v: v.starts_at, reverse=True
    )
    sessions = {}
    charts = []
    for j, visit in enumerate(completed):
        plan_of = plan_of_patient[visit.patient_id]
        sessions[plan_of.pk] = sessions.get(plan_of.pk, 0) + 1
        charts.append(
            SessionChart(
                plan=plan_of,
                appointment=visit,
                therapist=visit.therapist,
                session_number=sessions[plan_of.pk],
                leg_pain_before=6,
                leg_pain_after=[6, 4, 5][j % 3],
                signed_at=None if j % 4 == 1 else visit.starts_at + datetime.timedelta(hours=1),
            )
        )
    charts = SessionChart.objects.bulk_create(charts)
    AdverseEvent.objects.bulk_create(
        AdverseEvent(
            chart=c,
            kind=KINDS[(j // 5) % len(KINDS)],
            severity=AdverseEvent.Severity.values[j % 3],
            visit_at=c.appointment.starts_at,
        )
        for j, c in enumerate(charts)
        if j % 5 == 0
    )
    AftercareCheckIn.objects.bulk_create(
        AftercareCheckIn(appointment=c.appointment, soreness=5, leg_pain=7, alert=j % 2 == 0)
        for j, c in enumerate(charts)
        if j % 20 == 0
    )
    Reminder.objects.bulk_create(
        Reminder(
            appointment=visit,
            kind=Reminder.Kind.APPOINTMENT_REMINDER,
            due_at=visit.starts_at - datetime.timedelta(days=1),
            status=[Reminder.Status.PENDING, Reminder.Status.SENT, Reminder.Status.FAILED][(i // 3) % 3],
            sent_at=visit.starts_at - datetime.timedelta(days=1) if (i // 3) % 3 == 1 else None,
        )
        for i, visit in enumerate(visits)
        if i % 3 == 0
    )
    outcomes.refresh_all()  # as after any bulk load: bulk_create sends no signals


@pytest.mark.parametrize(
    "query",
    [
        "",
        "first=2025-05-14&last=2026-05-13",
        "therapist={theo}",
        "first=2025-05-14&last=2026-05-13&therapist={theo}",
    ],
    ids=["this week", "a year", "one therapist", "one therapist over a year"],
)
def test_the_dashboard_costs_the_same_queries_with_10_or_10000_appointments(
    client, clinic_admin, therapist, other_therapist, django_assert_num_queries, query
):
    now = NOW.astimezone(datetime.UTC)
    # Ten appointments: a year ago, in the spring, this Monday, this morning, tomorrow.
    small = [
        now - datetime.timedelta(days=d, hours=h) for d, h in [(300, 0), (60, 0), (2, 0), (0, 2), (-1, 0)]
    ]
    grow([therapist, other_therapist], small, patients=10)
    assert Appointment.objects.count() == 10
    client.force_login(clinic_admin)
    address = url("dashboard", query.format(theo=therapist.pk))
    client.get(address)
    with CaptureQueriesContext(connection) as quiet:
        response = client.get(address)
    panels = response.context["panels"]
    assert panels["outcomes"].lists["not_improving"]
    assert response.context["serious_events"]

    more = [factories.therapist() for _ in range(4)]
    # Every five hours for a year, at half past (the small clinic's are on the hour).
    start = now - datetime.timedelta(days=345, minutes=30)
    grow(
        [therapist, other_therapist, *more],
        [start + n * datetime.timedelta(hours=5) for n in range(1665)],
        patients=300,
    )
    assert Appointment.objects.count() == 10_000

    with django_assert_num_queries(len(quiet)):
        response = client.get(address)
    assert response.status_code == 200
    busy = response.context["panels"]
    assert busy["attendance"].figures["due"] > panels["attendance"].figures["due"]
    assert len(busy["outcomes"].lists["not_improving"]) > len(panels["outcomes"].lists["not_improving"])
