"""What the apps' permission-matrix tests share: the personas, in the order
of the tables' columns, and how a cell's expected answer is checked."""

from django.urls import reverse

LOGIN = "302 to login"
PERSONAS = ["anonymous", "receptionist", "therapist", "other_therapist", "clinic_admin", "no_role_user"]


def log_in(client, persona, world):
    if persona != "anonymous":
        client.force_login(world["users"][persona])


def assert_status(response, expected):
    if expected == LOGIN:
        assert response.status_code == 302
        assert response.url.startswith(reverse("login") + "?next=")
    else:
        assert response.status_code == expected
