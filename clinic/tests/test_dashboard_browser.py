"""The clinic admin opens the dashboard of the demo clinic in a real browser
and every panel has something to show."""

import pytest
from django.core.management import call_command

from clinic.management.commands.seed_demo import DEMO_PASSWORD
from clinic.tests.browser import screenshot

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True, serialized_rollback=True)]

PANELS = [
    "Today",
    "Patient emails",
    "Utilisation",
    "Attendance",
    "Patients",
    "Treatment plans",
    "Outcomes",
    "Safety",
]
EMPTY_STATES = ["nothing to chart in this period", "None in this period.", "No therapists yet", "None."]


def test_every_panel_of_the_demo_clinics_dashboard_has_data(page, live_server):
    call_command("seed_demo", verbosity=0)

    page.goto(f"{live_server.url}/")
    page.get_by_label("Username").fill("admin")
    page.get_by_label("Password").fill(DEMO_PASSWORD)
    page.get_by_role("button", name="Log in").click()
    page.get_by_role("heading", level=1, name="Dashboard").wait_for()
    page.get_by_role("link", name="Last 30 days").click()
    page.wait_for_url("**/dashboard/?first=*")

    for panel in PANELS:
        assert page.get_by_role("heading", level=2, name=panel).first.is_visible(), panel
    text = page.locator("main").inner_text()
    for empty in EMPTY_STATES:
        assert empty not in text
    assert page.get_by_role("link", name="see the outbox").is_visible()  # a failed reminder
    assert page.get_by_role("img", name="Utilisation per therapist over the period").is_visible()
    assert page.get_by_role("img", name="No-show and late-cancellation rates").is_visible()
    screenshot(page, "dashboard-demo-clinic")

    page.get_by_role("link", name="Monthly report").click()
    page.get_by_role("button", name="Print or save as PDF").wait_for()
    screenshot(page, "monthly-report-demo-clinic")
