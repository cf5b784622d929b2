"""What the browser tests share: logging in through the real form, and
screenshots for a person to look at (only with SCREENSHOTS=1)."""

import os

from django.conf import settings

from clinic.tests.factories import PASSWORD


def log_in(page, live_server, user):
    page.goto(f"{live_server.url}/")
    page.get_by_label("Username").fill(user.username)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    # The login went through once the browser has left the login page.
    page.wait_for_url(lambda url: "/accounts/login/" not in url)


def screenshot(page, name):
    if os.environ.get("SCREENSHOTS") == "1":
        folder = settings.VAR_DIR / "screenshots"
        folder.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=folder / f"{name}.png", full_page=True)
