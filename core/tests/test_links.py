"""Signed links: what a patient's link opens, and what it never does."""

import ast
import datetime
from pathlib import Path

import pytest
import time_machine
from django.urls import resolve

from core import links

NOW = datetime.datetime(2026, 11, 16, 9, 0, tzinfo=datetime.UTC)


KINDS = [links.APPOINTMENT, links.CHECKIN, links.UNSUBSCRIBE]


@pytest.mark.parametrize("link", KINDS, ids=lambda link: link.salt)
def test_a_token_names_its_row_and_its_address_opens_the_view(link, settings):
    settings.SITE_URL = "https://clinic.example"
    token = link.token(42)

    assert link.pk_of(token) == 42
    url = link.url(42)
    assert url.startswith("https://clinic.example/")
    assert resolve(url.removeprefix("https://clinic.example")).kwargs == {"token": token}


def test_an_altered_token_or_one_of_another_kind_opens_nothing():
    token = links.APPOINTMENT.token(42)

    assert links.APPOINTMENT.pk_of(token[:-1] + ("A" if token[-1] != "A" else "B")) is None
    assert links.APPOINTMENT.pk_of(token.replace("42", "43", 1)) is None
    assert links.CHECKIN.pk_of(token) is None
    assert links.UNSUBSCRIBE.pk_of(links.CHECKIN.token(42)) is None
    assert links.APPOINTMENT.pk_of("") is None


def test_appointment_and_check_in_links_expire_and_unsubscribe_never_does():
    with time_machine.travel(NOW, tick=False):
        appointment, checkin, unsubscribe = (link.token(7) for link in KINDS)
    with time_machine.travel(NOW + datetime.timedelta(days=7, minutes=1), tick=False):
        assert links.APPOINTMENT.pk_of(appointment) == 7
        assert links.CHECKIN.pk_of(checkin) is None
    with time_machine.travel(NOW + datetime.timedelta(days=30, minutes=1), tick=False):
        assert links.APPOINTMENT.pk_of(appointment) is None
    with time_machine.travel(NOW + datetime.timedelta(days=3650), tick=False):
        assert links.UNSUBSCRIBE.pk_of(unsubscribe) == 7


def test_the_ground_package_imports_no_app():
    apps = {"clinic", "patients", "scheduling", "treatments", "bench"}
    for module in Path(links.__file__).parent.rglob("*.py"):
        if "tests" in module.parts:
            continue
        for node in ast.walk(ast.parse(module.read_text())):
            names = [alias.name for alias in node.names] if isinstance(node, ast.Import) else []
            if isinstance(node, ast.ImportFrom):
                names = [node.module or ""]
            assert not {name.split(".")[0] for name in names} & apps, (module, names)
