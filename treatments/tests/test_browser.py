"""A course of dry needling in a real browser: the therapist writes a chronic
plan for a cleared, consented patient with sciatica, starts it, charts two
sessions after the pre-needling check, amends the first one, and reads the
trend of the patient's pain against the minimal important change.

The locators are accessible ones (labels, roles, group names), so this test
also proves that the plan and chart forms are labelled. SCREENSHOTS=1 saves
each step's page under VAR_DIR/screenshots/ (var/screenshots/ by default).
"""

import re

import pytest
from django.utils import timezone
from playwright.sync_api import expect

from clinic.tests.browser import log_in, screenshot
from patients.tests.factories import AssessmentFactory
from scheduling.models import Appointment
from treatments.models import SessionChart, TreatmentPlan
from treatments.tests import factories

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True, serialized_rollback=True)]

AMENDMENT_REASON = "Leg pain after needling re-checked at the end of the visit: it was 5."


def question_group(page, text):
    """A fieldset named by its legend, which starts with `text`."""
    return page.get_by_role("group", name=re.compile(rf"^{re.escape(text)}"))


def selected(page, label):
    """The chosen option of the select labelled `label`."""
    return page.get_by_label(label, exact=True).locator("option:checked")


def write_chronic_plan(page, live_server, patient):
    page.goto(f"{live_server.url}{patient.get_absolute_url()}")
    page.get_by_role("link", name="New treatment plan").click()
    expect(page.get_by_role("heading", level=1, name=re.compile("^New treatment plan"))).to_be_visible()
    page.get_by_label("Chronic", exact=True).check()
    expect(page.get_by_label("Planned sessions")).to_have_value("")  # left empty: the severity proposes
    page.get_by_label("Piriformis", exact=True).select_option(label="Left")
    page.get_by_label("Gluteus medius", exact=True).select_option(label="Left")
    page.get_by_label("Trigger-point dry needling", exact=True).check()
    page.get_by_label("Core strengthening", exact=True).check()
    page.get_by_label("Core strengthening: notes").fill("Bird-dog, dead bug.")
    screenshot(page, "plan-form")
    page.get_by_role("button", name="Save plan").click()


def chart_session(page, *, leg, back, needles):
    """On the pre-needling check of a visit: answer it, open the chart, fill
    it in, save it and sign it. `leg` and `back` are (before, after)."""
    expect(page.get_by_role("heading", level=1, name=re.compile("^Before needling"))).to_be_visible()
    question_group(page, "Is the patient's screening still valid").get_by_label("Yes", exact=True).check()
    question_group(page, "Does the patient report any new contraindication").get_by_label(
        "No", exact=True
    ).check()
    page.get_by_role("button", name="Open the chart").click()

    expect(page.get_by_role("heading", level=1, name=re.compile("^Chart: session"))).to_be_visible()
    page.get_by_label("Leg pain before (0-10)").fill(str(leg[0]))
    page.get_by_label("Back pain before (0-10)").fill(str(back[0]))
    page.get_by_label("Leg pain after (0-10)").fill(str(leg[1]))
    page.get_by_label("Back pain after (0-10)").fill(str(back[1]))
    # Rows 1 and 2 come filled with the plan's target muscles (in catalogue
    # order), their side and the plan's technique.
    for row, muscle in ((1, "Gluteus medius"), (2, "Piriformis")):
        expect(selected(page, f"Row {row}: Muscle")).to_have_text(muscle)
        expect(selected(page, f"Row {row}: Side")).to_have_text("Left")
        expect(selected(page, f"Row {row}: Technique")).to_have_text("Trigger-point dry needling")
        page.get_by_label(f"Row {row}: Needles", exact=True).fill(str(needles))
        page.get_by_label(f"Row {row}: Length (mm)", exact=True).fill("60")
        page.get_by_label(f"Row {row}: Gauge (mm)", exact=True).fill("0.30")
    page.get_by_label("Hydration", exact=True).check()
    page.get_by_role("button", name="Save chart").click()

    expect(page.get_by_text("Draft: not signed")).to_be_visible()
    page.get_by_role("button", name="Sign chart").click()
    expect(page.get_by_role("alert").filter(has_text="Chart signed")).to_be_visible()
    current = page.get_by_role("region", name="Chart", exact=True)
    expect(current).to_contain_text(f"{leg[0]} before → {leg[1]} after")
    expect(current).to_contain_text("20560 (2 muscles)")


def test_a_chronic_plan_is_charted_amended_and_its_trend_shown(page, live_server, therapist):
    patient = factories.cleared_patient(therapist, first_name="Sam", last_name="Sciatica")
    # The intake assessment in the morning, before the day's visits: leg pain 8.
    AssessmentFactory(
        patient=patient,
        therapist=therapist,
        leg_pain=8,
        assessed_at=timezone.now().replace(hour=9, minute=0, second=0, microsecond=0),
    )
    log_in(page, live_server, therapist)

    # 1. A chronic plan, its number of sessions proposed by the severity; then started.
    write_chronic_plan(page, live_server, patient)
    expect(page.get_by_role("alert").filter(has_text="Plan saved as a draft")).to_be_visible()
    heading = page.get_by_role("heading", level=1)
    expect(heading).to_contain_text("Chronic plan for Sam Sciatica")
    expect(heading).to_contain_text("Draft")
    expect(page.get_by_text(re.compile(r"· 6 sessions, once a week ·"))).to_be_visible()
    plan_section = page.get_by_role("region", name="The plan", exact=True)
    expect(plan_section).to_contain_text("Gluteus medius (Left), Piriformis (Left)")  # catalogue order
    expect(plan_section).to_contain_text("Trigger-point dry needling")
    expect(plan_section).to_contain_text("Core strengthening: Bird-dog, dead bug.")
    plan_url = page.url
    page.get_by_role("button", name="Start plan").click()
    expect(page.get_by_role("alert").filter(has_text="Plan started")).to_be_visible()
    expect(heading).to_contain_text("Active")
    expect(page.get_by_role("button", name="Start plan")).to_have_count(0)
    screenshot(page, "plan-active")

    plan = TreatmentPlan.objects.get(patient=patient)
    assert plan.status == TreatmentPlan.Status.ACTIVE
    assert plan.planned_sessions == 6
    assert plan.reassessment_after_session == 6

    # 2. Two visits today (the clock stands at 18:00): the morning's charted
    # from "My day", the afternoon's from its own address.
    today = timezone.localdate()
    first_visit = factories.visit(plan, day=today, hour=10)
    second_visit = factories.visit(plan, day=today, hour=14)

    page.get_by_role("link", name="My day").click()
    today_visits = page.get_by_role("table", name="Your visits today")
    today_visits.get_by_role("row").filter(has_text="Sam Sciatica").filter(has_text="10:00").get_by_role(
        "link", name="Chart", exact=True
    ).click()
    chart_session(page, leg=(8, 6), back=(4, 3), needles=2)
    screenshot(page, "chart-session-1-signed")
    first_chart_url = page.url

    page.goto(f"{live_server.url}/visits/{second_visit.pk}/chart/")
    chart_session(page, leg=(6, 4), back=(3, 2), needles=3)
    screenshot(page, "chart-session-2-signed")

    charts = {c.session_number: c for c in SessionChart.objects.filter(plan=plan)}
    assert sorted(charts) == [1, 2]
    assert charts[1].appointment == first_visit
    assert charts[2].appointment == second_visit
    assert all(c.is_signed for c in charts.values())
    assert set(Appointment.objects.filter(patient=patient).values_list("status", flat=True)) == {
        Appointment.Status.COMPLETED
    }

    # 3. Session 1 amended: the version before is kept, with the reason.
    page.goto(first_chart_url)
    page.get_by_role("link", name="Amend").click()
    expect(page.get_by_role("heading", level=1, name=re.compile("^Amend: session 1"))).to_be_visible()
    page.get_by_label("Reason for the amendment").fill(AMENDMENT_REASON)
    leg_after = page.get_by_label("Leg pain after (0-10)")
    expect(leg_after).to_have_value("6")
    leg_after.fill("5")
    page.get_by_role("button", name="Save amendment").click()
    expect(page.get_by_role("alert").filter(has_text="Chart amended")).to_be_visible()
    expect(page.get_by_role("region", name="Current version (amended)")).to_contain_text("8 before → 5 after")
    before = page.get_by_role("region", name=re.compile("^Before the amendment"))
    expect(before).to_have_count(1)
    expect(before).to_contain_text("8 before → 6 after")
    expect(before).to_contain_text(AMENDMENT_REASON)
    screenshot(page, "chart-session-1-amended")

    # 4. The plan: the trend, the sessions, the change against the minimal important change.
    page.goto(plan_url)
    expect(page.get_by_text("2 done, 4 remaining", exact=False)).to_be_visible()
    trend = page.get_by_role("img", name=re.compile("^Pain before and after needling at each session"))
    expect(trend).to_be_visible()
    polylines = trend.locator("polyline")
    expect(polylines).to_have_count(4)  # leg and back pain, before and after (no check-in yet)
    for index in range(4):
        assert len(polylines.nth(index).get_attribute("points").split()) == 2  # one point per session
    # Leg pain after: 5 (amended) then 4 on the 0-10 scale, 36 px margins on a 640 x 240 chart.
    assert trend.locator("polyline.leg-after").get_attribute("points") == "36.0,120.0 604.0,136.8"
    assert trend.locator("polyline.leg-before").get_attribute("points") == "36.0,69.6 604.0,103.2"

    outcomes = page.get_by_role("region", name="Outcomes", exact=True)
    leg_pain = outcomes.get_by_role("listitem").filter(has_text=re.compile("^Leg pain"))
    # From the intake to before needling at session 2; the 6 -> 4 just after it is not counted.
    expect(leg_pain).to_have_text(
        re.compile(
            r"^Leg pain: 8 \(assessment, [^)]+\) → 6 \(before needling at session 2, [^)]+\): "
            "minimal important change reached$"
        )
    )
    within = outcomes.get_by_role("listitem").filter(has_text="Within session")
    expect(within).to_have_text(
        "Within session, immediately after needling (not counted as improvement): leg pain 6 → 4 at session 2"
    )

    sessions = page.get_by_role("table", name="Sessions with pain before and after")
    rows = sessions.get_by_role("row")
    expect(rows).to_have_count(3)  # the header and two sessions
    expect(rows.nth(1).get_by_role("cell").nth(0)).to_have_text("1")
    expect(rows.nth(1).get_by_role("cell").nth(2)).to_have_text("8 → 5")
    expect(rows.nth(1).get_by_role("cell").nth(4)).to_have_text("—")  # no check-in yet
    expect(rows.nth(1).get_by_role("cell").nth(6)).to_have_text("Signed (amended)")
    expect(rows.nth(2).get_by_role("cell").nth(0)).to_have_text("2")
    expect(rows.nth(2).get_by_role("cell").nth(2)).to_have_text("6 → 4")
    expect(rows.nth(2).get_by_role("cell").nth(6)).to_have_text("Signed")
    screenshot(page, "plan-trend")
