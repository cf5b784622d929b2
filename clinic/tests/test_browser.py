"""Each role logs in through a real browser and lands on its own home page,
styled by the packaged Bootstrap (no CDN)."""

import pytest

from clinic.tests.browser import log_in

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True, serialized_rollback=True)]


@pytest.mark.parametrize(
    ("persona", "heading"),
    [("receptionist", "Front desk"), ("therapist", "My day"), ("clinic_admin", "Dashboard")],
)
def test_it_lands_each_role_on_its_home_page(request, page, live_server, persona, heading):
    user = request.getfixturevalue(persona)
    log_in(page, live_server, user)
    page.get_by_role("heading", level=1, name=heading).wait_for()
    navbar_colour = page.locator("nav.navbar").evaluate("n => getComputedStyle(n).backgroundColor")
    assert navbar_colour == "rgb(13, 110, 253)"  # Bootstrap's primary blue: the CSS was served


def test_it_tells_a_user_without_a_role_to_ask_the_clinic_admin(page, live_server, no_role_user):
    log_in(page, live_server, no_role_user)
    page.get_by_role("heading", name="Your account has no role yet").wait_for()
    assert "Ask your clinic admin" in page.content()


def test_it_logs_out_from_the_menu(page, live_server, receptionist):
    log_in(page, live_server, receptionist)
    page.locator("nav .dropdown-toggle").click()
    page.get_by_role("button", name="Log out").click()
    page.get_by_role("heading", name="Log in").wait_for()
    page.goto(f"{live_server.url}/front-desk/")
    assert "/accounts/login/" in page.url
