import csv
import datetime
from urllib.parse import urlencode

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpResponse
from django.shortcuts import redirect, render
from django.utils import timezone

from clinic import reports, roles
from clinic.forms import PeriodForm
from clinic.models import WorkerHeartbeat


@login_required
def home(request):
    """Everyone: sends each role to its own home page."""
    page = roles.home_page_for(request.user)
    return redirect(page or "clinic:no-role")


@login_required
def no_role(request):
    """A signed-in user whose account has no clinic role yet."""
    if roles.home_page_for(request.user):
        return redirect("home")
    return render(request, "clinic/no_role.html")


def period_from(request, *, with_therapist=True):
    """The period (and therapist) asked for in the query string; bad input
    gets a message and the default, this week."""
    form = PeriodForm(request.GET, with_therapist=with_therapist)
    period = form.period()
    therapist = form.chosen_therapist() if with_therapist else None
    for problem in form.problems():
        messages.warning(request, problem)
    shown = PeriodForm(
        initial={"first": period.first, "last": period.last, "therapist": therapist},
        with_therapist=with_therapist,
    )
    return period, therapist, shown


def presets(today):
    """Quick picks beside the date range."""
    this_week = reports.Period.this_week(today)
    last_week_day = this_week.first - datetime.timedelta(days=1)
    last_month_day = today.replace(day=1) - datetime.timedelta(days=1)
    picks = [
        ("This week", this_week),
        ("Last week", reports.Period.this_week(last_week_day)),
        ("This month", reports.Period.month(today.year, today.month)),
        ("Last month", reports.Period.month(last_month_day.year, last_month_day.month)),
        ("Last 30 days", reports.Period(today - datetime.timedelta(days=29), today)),
        ("Last 12 months", reports.Period(today.replace(day=1) - datetime.timedelta(days=335), today)),
    ]
    return [(label, urlencode({"first": p.first, "last": p.last})) for label, p in picks]


def csv_cell(value):
    """A CSV cell; text that a spreadsheet would run as a formula is quoted."""
    if value is None:
        return ""
    if isinstance(value, str) and value.startswith(("=", "+", "-", "@")):
        return "'" + value
    return value


def page_or_csv(request, template, context):
    """The page, or one of its tables as CSV when ?csv=<table> is asked for."""
    wanted = request.GET.get("csv")
    if wanted is None:
        return render(request, template, context)
    for panel in context["panels"].values():
        for table in panel.tables:
            if table.slug == wanted:
                period = context["period"]
                response = HttpResponse(content_type="text/csv; charset=utf-8")
                response["Content-Disposition"] = (
                    f'attachment; filename="{table.slug}-{period.first:%Y%m%d}-{period.last:%Y%m%d}.csv"'
                )
                writer = csv.writer(response)
                writer.writerow(table.headers)
                writer.writerows([csv_cell(value) for value in row] for row in table.rows)
                return response
    raise Http404("No such table on this page.")


def query_of(period, therapist=None):
    query = {"first": period.first, "last": period.last}
    if therapist is not None:
        query["therapist"] = therapist.pk
    return urlencode(query)


@roles.role_required(roles.CLINIC_ADMIN)
def dashboard(request):
    """Clinic admin: the whole clinic over a period, panel by panel."""
    period, therapist, form = period_from(request)
    today = timezone.localdate()
    therapist_rows = list(reports.therapists(therapist))
    heartbeat = WorkerHeartbeat.objects.first()
    panels = {
        "today": reports.today_panel(today=today, therapist=therapist),
        "reminders": reports.reminders_panel(),
        "utilisation": reports.utilisation_panel(period, therapist_rows=therapist_rows),
        "attendance": reports.attendance_panel(period, therapist=therapist),
        "patients": reports.patients_panel(period, therapist=therapist),
        "plans": reports.plans_panel(period, therapist=therapist),
        "outcomes": reports.outcomes_panel(period, therapist=therapist, therapist_rows=therapist_rows),
        "safety": reports.safety_panel(period, therapist=therapist),
    }
    return page_or_csv(
        request,
        "clinic/dashboard.html",
        {
            "today": today,
            "period": period,
            "therapist": therapist,
            "form": form,
            "presets": presets(today),
            "query": query_of(period, therapist),
            "panels": panels,
            "serious_events": reports.recent_serious_events(),
            "heartbeat": heartbeat,
            "worker_is_up": heartbeat is not None and heartbeat.is_recent(),
        },
    )


@roles.role_required(roles.CLINIC_ADMIN)
def monthly_report(request):
    """Clinic admin: a month's figures on one print-styled page."""
    today = timezone.localdate()
    try:
        month = datetime.date.fromisoformat(request.GET.get("month", "") + "-01")
        if not reports.FIRST_YEAR <= month.year <= reports.LAST_YEAR:
            raise ValueError
    except ValueError:
        if "month" in request.GET:
            messages.warning(request, "Pick a month as year and month, e.g. 2026-11; showing this month.")
        month = today
    period = reports.Period.month(month.year, month.month)
    therapist_rows = list(reports.therapists())
    panels = {
        "attendance": reports.attendance_panel(period),
        "utilisation": reports.utilisation_panel(period, therapist_rows=therapist_rows),
        "patients": reports.patients_panel(period),
        "plans": reports.plans_panel(period),
        "outcomes": reports.outcomes_panel(period, therapist_rows=therapist_rows),
        "safety": reports.safety_panel(period),
    }
    previous = period.first - datetime.timedelta(days=1)
    following = period.last + datetime.timedelta(days=1)
    return page_or_csv(
        request,
        "clinic/monthly_report.html",
        {
            "period": period,
            "panels": panels,
            "query": urlencode({"month": f"{period.first:%Y-%m}"}),
            "generated_at": timezone.now(),
            "report": True,
            "previous_month": f"{previous:%Y-%m}",
            "next_month": f"{following:%Y-%m}" if following <= today else None,
        },
    )


@roles.role_required(roles.THERAPIST)
def my_figures(request):
    """Therapist: their own caseload, outcomes and unsigned charts."""
    period, _, form = period_from(request, with_therapist=False)
    me = request.user
    panels = {
        "caseload": reports.caseload_panel(me),
        "outcomes": reports.outcomes_panel(period, therapist=me),
        "attendance": reports.attendance_panel(period, therapist=me),
    }
    return page_or_csv(
        request,
        "clinic/my_figures.html",
        {
            "period": period,
            "form": form,
            "presets": presets(timezone.localdate()),
            "query": query_of(period),
            "panels": panels,
            "unsigned_charts": reports.unsigned_charts(me),
        },
    )


@roles.role_required(*roles.FRONT_DESK)
def front_desk_figures(request):
    """Front desk: today's appointments and the no-shows, nothing clinical."""
    period, _, form = period_from(request, with_therapist=False)
    panels = {
        "today": reports.today_panel(clinical=False),
        "attendance": reports.attendance_panel(period),
    }
    return page_or_csv(
        request,
        "clinic/front_desk_figures.html",
        {
            "period": period,
            "form": form,
            "presets": presets(timezone.localdate()),
            "query": query_of(period),
            "panels": panels,
        },
    )
