"""The clinic's figures for a period: each panel of the dashboard, its CSV
export and the monthly report read them from here.

Every figure is counted, summed or averaged by the database, grouped by
therapist, room, severity or time bucket; Python only lays the grouped rows
out as tables. A panel costs a fixed number of queries whatever the size of
the clinic's history, and reads what the services keep rather than the
history itself: booked hours and attendance from the day totals
(scheduling.totals), outcomes from the stored outcomes (treatments.outcomes),
adverse events by their visit's time, counts from indexes alone.
"""

import datetime
from dataclasses import dataclass, field
from decimal import ROUND_HALF_UP, Decimal

from django.db.models import (
    Avg,
    Case,
    CharField,
    Count,
    DateField,
    F,
    Min,
    OuterRef,
    Q,
    Sum,
    Value,
    When,
)
from django.db.models.functions import TruncDate, TruncMonth, TruncWeek
from django.utils import timezone

from clinic import roles
from clinic.aggregates import count_of
from clinic.charts import bar_chart, line_chart
from patients.models import Patient, Screening
from scheduling.availability import capacity, local
from scheduling.models import Appointment, DayTotal, Reminder, Room
from scheduling.totals import LATE_BY_PATIENT
from treatments.models import AdverseEvent, AftercareCheckIn, SessionChart, TreatmentPlan
from treatments.outcomes import outcome_aggregates, with_stored_outcomes

# The longest period the dashboard reports on at once, and the years it knows.
MAX_PERIOD_DAYS = 2 * 366
FIRST_YEAR, LAST_YEAR = 2000, 2099
# A pending reminder this late means the dispatcher (every minute) is not running.
OVERDUE_AFTER = datetime.timedelta(minutes=5)
NOT_IMPROVING_SHOWN = 50
# Serious adverse events stay at the top of the dashboard this long, whatever the period.
SERIOUS_EVENTS_ALERT_FOR = datetime.timedelta(days=90)
ONE_DAY = datetime.timedelta(days=1)


@dataclass(frozen=True)
class Period:
    """A range of clinic-local days, both ends included."""

    first: datetime.date
    last: datetime.date

    @classmethod
    def this_week(cls, today=None):
        today = today or timezone.localdate()
        monday = today - datetime.timedelta(days=today.weekday())
        return cls(monday, monday + datetime.timedelta(days=6))

    @classmethod
    def month(cls, year, month):
        first = datetime.date(year, month, 1)
        following = (first + datetime.timedelta(days=32)).replace(day=1)
        return cls(first, following - datetime.timedelta(days=1))

    @property
    def days(self):
        return (self.last - self.first).days + 1

    @property
    def starts_at(self):
        return local(self.first, datetime.time.min)

    @property
    def ends_at(self):
        """The midnight after the last day (exclusive)."""
        return local(self.last + datetime.timedelta(days=1), datetime.time.min)

    @property
    def bucket(self):
        """Time series are drawn by day up to a month, then by week, then by month."""
        if self.days <= 31:
            return "day"
        if self.days <= 26 * 7:
            return "week"
        return "month"

    def bucket_of(self, day):
        if self.bucket == "week":
            return day - datetime.timedelta(days=day.weekday())
        if self.bucket == "month":
            return day.replace(day=1)
        return day

    def buckets(self):
        found, day = [], self.first
        while day <= self.last:
            start = self.bucket_of(day)
            if not found or found[-1] != start:
                found.append(start)
            day += datetime.timedelta(days=1)
        return found

    def truncate(self, field_name):
        """The database expression that puts a timestamp in its local bucket."""
        trunc = {"day": TruncDate, "week": TruncWeek, "month": TruncMonth}[self.bucket]
        if trunc is TruncDate:
            return TruncDate(field_name, tzinfo=timezone.get_current_timezone())
        return trunc(field_name, output_field=DateField(), tzinfo=timezone.get_current_timezone())

    def truncate_day(self, field_name):
        """The database expression that puts a clinic day (a date) in its bucket."""
        if self.bucket == "day":
            return F(field_name)
        trunc = {"week": TruncWeek, "month": TruncMonth}[self.bucket]
        return trunc(field_name, output_field=DateField())

    def label(self, bucket):
        if self.bucket == "day":
            return f"{bucket:%a} {bucket.day} {bucket:%b}"
        if self.bucket == "week":
            return f"Week of {bucket.day} {bucket:%b}"
        return f"{bucket:%b %Y}"


@dataclass
class Table:
    """A panel's figures as rows: what the page shows under its chart, what
    screen readers read instead of the chart, and what the CSV export holds."""

    slug: str
    caption: str
    headers: list[str]
    rows: list[list] = field(default_factory=list)


@dataclass
class Panel:
    slug: str
    title: str
    tables: list[Table] = field(default_factory=list)
    charts: list[dict] = field(default_factory=list)
    figures: dict = field(default_factory=dict)
    lists: dict = field(default_factory=dict)


def percent(part, whole):
    """A share as a percentage with one decimal, or None when there is nothing to divide."""
    if not whole:
        return None
    return (Decimal(part) * 100 / Decimal(whole)).quantize(Decimal("0.1"), rounding=ROUND_HALF_UP)


def one_decimal(value):
    if value is None:
        return None
    return Decimal(value).quantize(Decimal("0.1"), rounding=ROUND_HALF_UP)


def hours(minutes):
    return (Decimal(minutes) / 60).quantize(Decimal("0.1"), rounding=ROUND_HALF_UP)


person = roles.display_name


def therapists(therapist=None):
    """The active therapists, or the one a report is filtered to."""
    users = roles.therapists()
    return users.filter(pk=therapist.pk) if therapist is not None else users


def today_panel(*, today=None, therapist=None, clinical=True):
    """Appointments today per therapist by status, and each one's unsigned charts."""
    today = today or timezone.localdate()
    todays = Appointment.objects.filter(
        therapist=OuterRef("pk"),
        starts_at__gte=local(today, datetime.time.min),
        starts_at__lt=local(today + datetime.timedelta(days=1), datetime.time.min),
    )
    status = Appointment.Status
    rows = therapists(therapist).annotate(
        booked=count_of(todays.filter(status__in=[status.BOOKED, status.CONFIRMED])),
        checked_in=count_of(todays.filter(status=status.CHECKED_IN)),
        completed=count_of(todays.filter(status=status.COMPLETED)),
        no_shows=count_of(todays.filter(status=status.NO_SHOW)),
        cancelled=count_of(todays.filter(status=status.CANCELLED)),
        unsigned=count_of(SessionChart.objects.filter(therapist=OuterRef("pk"), signed_at__isnull=True)),
    )
    headers = [
        "Therapist",
        "Appointments",
        "Still to come",
        "Checked in",
        "Completed",
        "No-shows",
        "Cancelled",
    ]
    if clinical:
        headers.append("Unsigned charts")
    table = Table("today", f"Today, {today:%A} {today.day} {today:%B}, per therapist", headers)
    for row in rows:
        figures = [row.booked, row.checked_in, row.completed, row.no_shows, row.cancelled]
        table.rows.append(
            [person(row), sum(figures) - row.cancelled, *figures, *([row.unsigned] if clinical else [])]
        )
    totals = [sum(row[i] for row in table.rows) for i in range(1, len(headers))]
    return Panel(
        "today",
        "Today",
        tables=[table],
        figures=dict(zip(TODAY_FIGURES[: len(totals)], totals, strict=True)),
    )


TODAY_FIGURES = ["appointments", "to_come", "checked_in", "completed", "no_shows", "cancelled", "unsigned"]


def utilisation_panel(period, *, therapist=None, therapist_rows=None):
    """Booked hours over working hours per therapist, and over opening hours
    per room, by day (or week, or month on long periods)."""
    therapist_rows = list(therapist_rows if therapist_rows is not None else therapists(therapist))
    rooms = list(Room.objects.filter(is_active=True).order_by("name"))
    booked = (
        DayTotal.objects.filter(day__gte=period.first, day__lte=period.last)
        .annotate(bucket=period.truncate_day("day"))
        .values("therapist_id", "room_id", "bucket")
        .annotate(minutes=Sum("booked_minutes"))
        .order_by()
    )
    # Rooms count every booking; the therapist rows only their own.
    booked_minutes = {}
    for row in booked:
        for key in (("therapist", row["therapist_id"]), ("room", row["room_id"])):
            booked_minutes[key, row["bucket"]] = booked_minutes.get((key, row["bucket"]), 0) + row["minutes"]

    available = capacity([t.pk for t in therapist_rows], period.first, period.last)
    open_minutes = {}
    for day, minutes in available.opening_minutes.items():
        bucket = period.bucket_of(day)
        open_minutes[bucket] = open_minutes.get(bucket, 0) + minutes
    working = {}
    for (therapist_id, day), minutes in available.therapist_minutes.items():
        key = (("therapist", therapist_id), period.bucket_of(day))
        working[key] = working.get(key, 0) + minutes

    buckets = period.buckets()
    tables, charts = [], []
    for kind, subjects, capacity_of in (
        (
            "therapist",
            [(t.pk, person(t)) for t in therapist_rows],
            lambda pk, b: working.get((("therapist", pk), b), 0),
        ),
        ("room", [(r.pk, r.name) for r in rooms], lambda pk, b: open_minutes.get(b, 0)),
    ):
        basis = "working hours" if kind == "therapist" else "opening hours"
        table = Table(
            f"utilisation-{kind}s",
            f"Booked hours over {basis} per {kind}, by {period.bucket}",
            [
                kind.capitalize(),
                period.bucket.capitalize(),
                "Booked hours",
                basis.capitalize(),
                "Utilisation (%)",
            ],
        )
        overall = []
        for pk, name in subjects:
            total_booked = total_capacity = 0
            for bucket in buckets:
                used = booked_minutes.get(((kind, pk), bucket), 0)
                cap = capacity_of(pk, bucket)
                total_booked, total_capacity = total_booked + used, total_capacity + cap
                if used or cap:
                    table.rows.append(
                        [name, period.label(bucket), hours(used), hours(cap), percent(used, cap)]
                    )
            overall.append((name, percent(total_booked, total_capacity)))
        tables.append(table)
        charts.append(
            bar_chart(
                f"utilisation-{kind}s-chart",
                f"Utilisation per {kind} over the period",
                overall,
                maximum=100,
                unit="%",
                described_by=table.slug,
            )
        )
    return Panel("utilisation", "Utilisation", tables=tables, charts=charts, figures={"rooms": len(rooms)})


def attendance_panel(period, *, therapist=None, now=None):
    """No-show and late-cancellation rates of the appointments that were due,
    over time. Due: every appointment that has started, except those the
    clinic cancelled or the patient cancelled in good time."""
    now = now or timezone.now()
    today = timezone.localdate(now)
    # Past days from their totals; today's visits that have begun, live.
    past_days = DayTotal.objects.filter(day__gte=period.first, day__lte=min(period.last, today - ONE_DAY))
    due_today = Appointment.objects.filter(
        ~Q(status=Appointment.Status.CANCELLED) | LATE_BY_PATIENT,
        starts_at__gte=max(period.starts_at, local(today, datetime.time.min)),
        starts_at__lt=min(period.ends_at, now),
    )
    if therapist is not None:
        past_days = past_days.filter(therapist=therapist)
        due_today = due_today.filter(therapist=therapist)
    rows = {}
    for row in [
        *past_days.annotate(bucket=period.truncate_day("day"))
        .values("bucket")
        .annotate(
            due=Sum(F("occupying") + F("late_cancellations")),
            no_shows=Sum("no_shows"),
            late=Sum("late_cancellations"),
        )
        .order_by(),
        *due_today.annotate(bucket=period.truncate("starts_at"))
        .values("bucket")
        .annotate(
            due=Count("id"),
            no_shows=Count("id", filter=Q(status=Appointment.Status.NO_SHOW)),
            late=Count("id", filter=LATE_BY_PATIENT),
        )
        .order_by(),
    ]:
        bucket = rows.setdefault(row.pop("bucket"), {"due": 0, "no_shows": 0, "late": 0})
        for key, value in row.items():
            bucket[key] += value
    table = Table(
        "attendance",
        f"No-shows and late cancellations by {period.bucket}",
        [
            period.bucket.capitalize(),
            "Appointments due",
            "No-shows",
            "Late cancellations",
            "No-show rate (%)",
            "Late-cancellation rate (%)",
        ],
    )
    totals = {"due": 0, "no_shows": 0, "late": 0}
    for bucket in period.buckets():
        row = rows.get(bucket, {"due": 0, "no_shows": 0, "late": 0})
        for key in totals:
            totals[key] += row[key]
        table.rows.append(
            [
                period.label(bucket),
                row["due"],
                row["no_shows"],
                row["late"],
                percent(row["no_shows"], row["due"]),
                percent(row["late"], row["due"]),
            ]
        )
    chart = line_chart(
        "attendance-chart",
        "No-show and late-cancellation rates",
        [row[0] for row in table.rows],
        [
            ("No-show rate", "series-a", [row[4] for row in table.rows]),
            ("Late-cancellation rate", "series-b", [row[5] for row in table.rows]),
        ],
        unit="%",
        described_by=table.slug,
    )
    totals["no_show_rate"] = percent(totals["no_shows"], totals["due"])
    totals["late_rate"] = percent(totals["late"], totals["due"])
    return Panel("attendance", "Attendance", tables=[table], charts=[chart], figures=totals)


def patients_panel(period, *, therapist=None):
    """New patients, signed screenings by result and the urgent referrals."""
    patients = Patient.objects.active()
    screenings = Screening.objects.signed().filter(
        signed_at__gte=period.starts_at, signed_at__lt=period.ends_at
    )
    if therapist is not None:
        patients = patients.filter(treating_therapist=therapist)
        screenings = screenings.filter(therapist=therapist)
    # Only columns of the active patients' index: no patient row is read.
    figures = patients.aggregate(
        active=Count("*"),
        new=Count("created_at", filter=Q(created_at__gte=period.starts_at, created_at__lt=period.ends_at)),
    )
    by_result = dict(screenings.values_list("result").annotate(count=Count("id")).order_by())
    table = Table("screenings", "Signed screenings by result", ["Result", "Screenings"])
    for value, label in Screening.Result.choices:
        table.rows.append([label, by_result.get(value, 0)])
    urgent = list(
        screenings.filter(result=Screening.Result.REFER_URGENT)
        .select_related("patient", "therapist")
        .order_by("-signed_at")
    )
    chart = bar_chart(
        "screenings-chart",
        "Screenings by result",
        [(row[0], row[1]) for row in table.rows],
        described_by="screenings",
    )
    figures["screenings"] = sum(by_result.values())
    return Panel(
        "patients", "Patients", tables=[table], charts=[chart], figures=figures, lists={"urgent": urgent}
    )


def plans_panel(period, *, therapist=None):
    """Plans active in the period and plans that ended in it, by severity,
    with the sessions used (signed charts) against the sessions planned."""
    status = TreatmentPlan.Status
    # Running at the end of the period (even if it has ended since), or ended within it.
    running = Q(activated_at__lt=period.ends_at) & (
        Q(ended_at__isnull=True) | Q(ended_at__gte=period.ends_at)
    )
    ended = Q(ended_at__gte=period.starts_at, ended_at__lt=period.ends_at)
    plans = with_stored_outcomes(
        TreatmentPlan.objects.exclude(status=status.DRAFT)
        .filter(running | ended)
        .annotate(
            period_status=Case(
                When(ended, then=F("status")), default=Value(status.ACTIVE), output_field=CharField()
            )
        )
    )
    if therapist is not None:
        plans = plans.filter(therapist=therapist)
    grouped = {
        (row["severity"], row["period_status"]): row
        for row in plans.values("severity", "period_status")
        .annotate(plans=Count("id"), planned=Sum("planned_sessions"), used=Sum("sessions_done"))
        .order_by()
    }
    table = Table(
        "plans",
        "Treatment plans by severity: active at the end of the period, completed and discontinued in it",
        ["Severity", "Active", "Completed", "Discontinued", "Sessions planned", "Sessions used", "Used (%)"],
    )
    totals = {"active": 0, "completed": 0, "discontinued": 0, "planned": 0, "used": 0}
    for severity, label in TreatmentPlan.Severity.choices:
        counts = [
            grouped.get((severity, s), {}).get("plans", 0)
            for s in (status.ACTIVE, status.COMPLETED, status.DISCONTINUED)
        ]
        planned = sum((grouped.get((severity, s), {}).get("planned") or 0) for s in status.values)
        used = sum((grouped.get((severity, s), {}).get("used") or 0) for s in status.values)
        for key, value in zip(totals, [*counts, planned, used], strict=True):
            totals[key] += value
        table.rows.append([label, *counts, planned, used, percent(used, planned)])
    table.rows.append(["All", *totals.values(), percent(totals["used"], totals["planned"])])
    chart = bar_chart(
        "plans-chart",
        "Sessions used of those planned, by severity",
        [(row[0], row[6]) for row in table.rows],
        maximum=100,
        unit="%",
        described_by="plans",
    )
    return Panel("plans", "Treatment plans", tables=[table], charts=[chart], figures=totals)


OUTCOME_HEADERS = [
    "Completed plans",
    "Mean leg pain change (points)",
    "Reached MIC on leg pain (%)",
    "Mean ODI change (points)",
    "Reached MIC on ODI (%)",
    "Reached MIC on either (%)",
]


def outcome_row(label, row):
    # Changes are improvements: a fall in pain or disability counts as positive.
    return [
        label,
        row["plans"],
        one_decimal(row["leg_change"]),
        percent(row["leg_mic"], row["leg_measured"]),
        one_decimal(row["odi_change"]),
        percent(row["odi_mic"], row["odi_measured"]),
        percent(row["either_mic"], row["plans"]),
    ]


def outcomes_panel(period, *, therapist=None, therapist_rows=None):
    """Completed plans that ended in the period: change in leg pain (baseline
    to latest measure) and ODI (intake to re-assessment) as treatments.outcomes
    defines them, and the share reaching the minimal important change, by
    severity and by therapist; and the active plans past their re-assessment
    point without it."""
    completed = with_stored_outcomes(
        TreatmentPlan.objects.filter(
            status=TreatmentPlan.Status.COMPLETED, ended_at__gte=period.starts_at, ended_at__lt=period.ends_at
        )
    )
    active = with_stored_outcomes(TreatmentPlan.objects.filter(status=TreatmentPlan.Status.ACTIVE))
    if therapist is not None:
        completed = completed.filter(therapist=therapist)
        active = active.filter(therapist=therapist)
    therapist_rows = list(therapist_rows if therapist_rows is not None else therapists(therapist))
    # Two grouped queries over the stored outcomes: by severity, by therapist.
    nothing = {name: None if isinstance(figure, Avg) else 0 for name, figure in outcome_aggregates().items()}
    figures_of = {}
    for kind in ("severity", "therapist"):
        for row in completed.values(kind).annotate(**outcome_aggregates()).order_by():
            figures_of[kind, row.pop(kind)] = row
    for group in [("severity", value) for value in TreatmentPlan.Severity.values] + [
        ("therapist", user.pk) for user in therapist_rows
    ]:
        figures_of.setdefault(group, nothing)

    severity_table = Table(
        "outcomes-severity", "Outcomes of completed plans by severity", ["Severity", *OUTCOME_HEADERS]
    )
    for severity, label in TreatmentPlan.Severity.choices:
        severity_table.rows.append(outcome_row(label, figures_of["severity", severity]))
    therapist_table = Table(
        "outcomes-therapist", "Outcomes of completed plans by therapist", ["Therapist", *OUTCOME_HEADERS]
    )
    for user in therapist_rows:
        therapist_table.rows.append(outcome_row(person(user), figures_of["therapist", user.pk]))
    not_improving = list(
        active.filter(not_improving=True)
        .select_related("patient", "therapist")
        .order_by("activated_at", "pk")[: NOT_IMPROVING_SHOWN + 1]
    )
    chart = bar_chart(
        "outcomes-chart",
        "Completed plans reaching the minimal important change (leg pain or ODI), by severity",
        [(row[0], row[6]) for row in severity_table.rows],
        maximum=100,
        unit="%",
        described_by=severity_table.slug,
    )
    by_severity = [figures_of["severity", value] for value in TreatmentPlan.Severity.values]
    completed_count = sum(row["plans"] for row in by_severity)
    either = sum(row["either_mic"] for row in by_severity)
    return Panel(
        "outcomes",
        "Outcomes",
        tables=[severity_table, therapist_table],
        charts=[chart],
        figures={"completed": completed_count, "reached_mic": percent(either, completed_count)},
        lists={
            "not_improving": not_improving[:NOT_IMPROVING_SHOWN],
            "more_not_improving": len(not_improving) > NOT_IMPROVING_SHOWN,
        },
    )


def safety_panel(period, *, therapist=None):
    """Adverse events charted at visits in the period, by type and severity;
    the serious ones listed with their chart."""
    events = AdverseEvent.objects.filter(visit_at__gte=period.starts_at, visit_at__lt=period.ends_at)
    if therapist is not None:
        events = events.filter(chart__therapist=therapist)
    counts = {
        (row["kind"], row["severity"]): row["count"]
        for row in events.values("kind", "severity").annotate(count=Count("id")).order_by()
    }
    severities = AdverseEvent.Severity.choices
    table = Table(
        "adverse-events",
        "Adverse events by type and severity",
        ["Type", *(label for _, label in severities), "All"],
    )
    for kind, label in AdverseEvent.Kind.choices:
        figures = [counts.get((kind, severity), 0) for severity, _ in severities]
        if sum(figures) or kind not in AdverseEvent.SERIOUS:
            table.rows.append([label, *figures, sum(figures)])
    serious = serious_events(events)
    chart = bar_chart(
        "adverse-events-chart",
        "Adverse events by type",
        [(row[0], row[-1]) for row in table.rows],
        described_by=table.slug,
    )
    return Panel(
        "safety",
        "Safety",
        tables=[table],
        charts=[chart],
        figures={"events": sum(counts.values()), "serious": len(serious)},
        lists={"serious": serious},
    )


def serious_events(events):
    return list(
        events.filter(kind__in=AdverseEvent.SERIOUS)
        .select_related("chart__plan__patient", "chart__therapist", "chart__appointment")
        .order_by("-visit_at", "-pk")
    )


def recent_serious_events(now=None):
    since = (now or timezone.now()) - SERIOUS_EVENTS_ALERT_FOR
    return serious_events(AdverseEvent.objects.filter(visit_at__gte=since))


def reminders_panel(*, now=None):
    """The health of the patient emails: waiting, sent today, failed, the
    oldest overdue (a stuck worker shows here) and open check-in alerts."""
    now = now or timezone.now()
    midnight = local(timezone.localdate(now), datetime.time.min)
    overdue = Q(due_at__lt=now - OVERDUE_AFTER)
    # Each count reads only the (status, ...) index (an index-only scan once
    # vacuumed), never the heap of the years of sent emails and their bodies.
    figures = Reminder.objects.filter(status=Reminder.Status.PENDING).aggregate(
        pending=Count("*"),
        overdue=Count("due_at", filter=overdue),
        oldest_overdue=Min("due_at", filter=overdue),
    )
    figures["sent_today"] = Reminder.objects.filter(
        status=Reminder.Status.SENT, sent_at__gte=midnight
    ).count()
    figures["failed"] = Reminder.objects.filter(status=Reminder.Status.FAILED).count()
    oldest = figures["oldest_overdue"]
    figures["overdue_minutes"] = int((now - oldest).total_seconds() // 60) if oldest else None
    figures["checkin_alerts"] = AftercareCheckIn.objects.filter(
        alert=True, acknowledged_at__isnull=True
    ).count()
    table = Table(
        "reminders",
        "Patient emails",
        [
            "Waiting to be sent",
            "Overdue",
            "Oldest overdue (minutes)",
            "Sent today",
            "Failed",
            "Open check-in alerts",
        ],
        [
            [
                figures["pending"],
                figures["overdue"],
                figures["overdue_minutes"],
                figures["sent_today"],
                figures["failed"],
                figures["checkin_alerts"],
            ]
        ],
    )
    return Panel("reminders", "Patient emails", tables=[table], figures=figures)


def unsigned_charts(therapist):
    return (
        SessionChart.objects.filter(therapist=therapist, signed_at__isnull=True)
        .select_related("plan__patient", "appointment")
        .order_by("appointment__starts_at")
    )


def caseload_panel(therapist):
    """A therapist's own patients, and their open plans with how far each has come."""
    figures = Patient.objects.active().filter(treating_therapist=therapist).aggregate(patients=Count("id"))
    plans = list(
        with_stored_outcomes(
            TreatmentPlan.objects.filter(
                therapist=therapist, status__in=[TreatmentPlan.Status.ACTIVE, TreatmentPlan.Status.DRAFT]
            )
        )
        .select_related("patient")
        .order_by("status", "patient__last_name", "patient__first_name", "pk")
    )
    figures["active"] = sum(plan.status == TreatmentPlan.Status.ACTIVE for plan in plans)
    figures["drafts"] = len(plans) - figures["active"]
    return Panel("caseload", "My caseload", figures=figures, lists={"plans": plans})
