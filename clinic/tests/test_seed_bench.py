"""`seed_bench` builds a large clinic's history on PostgreSQL in SQL: its
counts follow the scale, it meets the no-double-booking constraints, the
clinical gate clears every charted visit, the pages render on it, and a
second run changes nothing. `python -m bench.run` measures it end to end."""

import datetime
import json
import os
import subprocess
import sys
from io import StringIO
from pathlib import Path

import pytest
from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.management import CommandError, call_command
from django.db import connection
from django.db.models import Avg, Count
from django.db.models.functions import Length
from django.utils import timezone

from clinic.management.commands.seed_bench import counts_for
from patients import gate
from patients.models import Patient
from scheduling.models import Appointment, CalendarFeed, Reminder
from treatments import outcomes
from treatments.models import SessionChart, TreatmentPlan

User = get_user_model()


def seed(scale="0.01"):
    out = StringIO()
    call_command("seed_bench", "--scale", scale, stdout=out)
    return out.getvalue()


@pytest.mark.django_db
def test_it_refuses_anything_but_postgresql(monkeypatch):
    monkeypatch.setattr(connection, "vendor", "sqlite")
    with pytest.raises(CommandError, match="seed_bench needs PostgreSQL"):
        seed()
    assert not Patient.objects.exists()


@pytest.mark.postgresql
@pytest.mark.django_db
def test_it_seeds_a_clinic_that_scales_and_renders(client):
    seed()
    expected = counts_for(0.01)
    assert User.objects.filter(username__startswith="bench-therapist-").count() == expected["therapists"]
    assert Patient.objects.count() == expected["patients"] == 620
    assert Appointment.objects.count() == expected["appointments"] == 9_780
    # 235,000 signed charts and 1.9 million outbox rows at scale 1.0.
    assert 2_000 <= SessionChart.objects.filter(signed_at__isnull=False).count() <= 3_000
    assert 18_000 <= Reminder.objects.count() <= 20_000
    sent = Reminder.objects.filter(status=Reminder.Status.SENT)
    size = sent.aggregate(
        size=Avg(Length("subject") + Length("body_text") + Length("body_html")),
    )["size"]
    assert 1_500 <= size <= 2_000

    # Every plan's outcomes are stored, as computed from the rows.
    some = list(TreatmentPlan.objects.order_by("?").values_list("pk", flat=True)[:200])
    assert outcomes.stale_plans(some) == []

    # The clinical gate clears each charted visit on its day.
    for chart in SessionChart.objects.select_related("appointment__patient").order_by("?")[:25]:
        day = timezone.localdate(chart.appointment.starts_at)
        assert gate.Clearance.of(chart.appointment.patient, day).cleared_on(day), chart.pk

    heavy = Patient.objects.annotate(n=Count("appointments")).order_by("-n").first()
    therapist = User.objects.get(pk=heavy.treating_therapist_id)
    plan = TreatmentPlan.objects.filter(therapist=therapist, charts__isnull=False).first()
    chart = plan.charts.first()
    today = timezone.localdate()
    pages = [
        ("bench-admin", "/dashboard/"),
        ("bench-admin", f"/dashboard/?first={today - datetime.timedelta(days=730)}&last={today}"),
        ("bench-admin", f"/dashboard/monthly/?month={today:%Y-%m}"),
        ("bench-reception", "/front-desk/"),
        ("bench-reception", f"/patients/?q={heavy.last_name[:3]}"),
        (therapist.username, f"/patients/{heavy.pk}/"),
        (therapist.username, f"/plans/{plan.pk}/"),
        (therapist.username, f"/charts/{chart.pk}/"),
        (therapist.username, "/my-day/"),
    ]
    for username, path in pages:
        client.force_login(User.objects.get(username=username))
        assert client.get(path).status_code == 200, path
    feed = CalendarFeed.objects.get(therapist=therapist)
    assert client.get(f"/calendar/{feed.token}.ics").status_code == 200

    assert "nothing to do" in seed()
    assert Appointment.objects.count() == 9_780
    with pytest.raises(CommandError, match=r"seeded at scale 0\.01"):
        seed("0.02")


@pytest.mark.postgresql
@pytest.mark.integration
def test_make_bench_runs_end_to_end_in_a_tiny_mode(tmp_path):
    """The whole harness at scale 0.01, one second a page: a table and a JSON."""
    database = settings.DATABASES["default"]
    url = f"postgres://{database['USER']}@{database['HOST'] or '127.0.0.1'}:{database['PORT'] or 5432}/x"
    env = {
        **os.environ,
        "DATABASE_URL": url,
        "BENCH_SCALES": "0.01",
        "BENCH_SECONDS": "1",
        "BENCH_SERIES_RUNS": "2",
        "BENCH_DISPATCH": "200",
        "BENCH_VAR": str(tmp_path),
    }
    if not os.environ.get("REDIS_URL"):
        if os.environ.get("CI"):
            pytest.fail("The bench needs Redis: set REDIS_URL.")
        pytest.skip("The bench needs Redis: set REDIS_URL.")
    root = Path(__file__).resolve().parents[2]
    done = subprocess.run(
        [sys.executable, "-m", "bench.run"], cwd=root, env=env, capture_output=True, text=True, timeout=300
    )
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    assert "floor (50 rows, 1 query)" in done.stdout
    assert "Series booking" in done.stdout
    assert "Reminder dispatch: " in done.stdout
    (written,) = tmp_path.glob("bench-*.json")
    dispatch = json.loads(written.read_text())["scales"][0]["dispatch"]
    # The 200 made due again, and any reminder of a reused database that has come due since its seeding.
    assert dispatch["emails"] >= 200
    assert dispatch["noops"] == 200
