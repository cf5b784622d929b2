"""No browser or proxy keeps a page of the clinic (Cache-Control: no-store,
private): every URL of the security matrix, for each kind of answer it gives
(the page, a refusal, a redirect to log in), and the error pages. Static
files keep the long cache whitenoise gives them."""

import re

import pytest
from django.core.management import call_command
from django.test import Client, override_settings

from clinic.tests.test_security_matrix import CASES, build_world, built_once, case_id, path_of


@pytest.fixture(scope="module")
def world(django_db_setup, django_db_blocker):
    with django_db_blocker.unblock(), built_once(build_world) as world:
        yield world


def directives(response):
    return {
        part.strip().split("=")[0] for part in response.get("Cache-Control", "").split(",") if part.strip()
    }


def one_case_per_answer():
    """For each URL name, one GET per different answer the matrix expects
    (a 200 for the persona who may open it, a 403, a redirect to log in)."""
    seen, cases = set(), []
    for case in CASES:
        key = (case.name, case.method, str(case.expected))
        if case.method == "GET" and case.token == "valid" and key not in seen:
            seen.add(key)
            cases.append(case)
    return cases


@pytest.mark.parametrize("case", [pytest.param(case, id=case_id(case)) for case in one_case_per_answer()])
def test_no_page_of_the_clinic_is_kept_by_a_browser(world, db, case):
    response = world.client(case.persona).get(path_of(world, case))

    # The calendar feed is kept by the therapist's calendar app, and asked again each time.
    kept = {"private", "no-cache"} if case.name == "scheduling:calendar-feed" else {"no-store", "private"}
    assert kept <= directives(response), response.get("Cache-Control")
    assert "public" not in directives(response)


def test_every_url_name_is_checked():
    assert {case.name for case in one_case_per_answer()} == {case.name for case in CASES}


@pytest.mark.parametrize("path", ["/no-such-page/", "/patients/999999999/"])
def test_error_pages_are_not_kept_either(world, db, path):
    response = world.client("receptionist").get(path)

    assert response.status_code == 404
    assert {"no-store", "private"} <= directives(response)


def test_a_static_file_found_by_whitenoise_keeps_its_cache_header():
    """As in development (whitenoise serves from the finders)."""
    with override_settings(WHITENOISE_USE_FINDERS=True, WHITENOISE_AUTOREFRESH=True):
        response = Client().get("/static/clinic/clinic.css")

    assert response.status_code == 200
    assert "no-store" not in directives(response)
    assert re.search(r"max-age=[1-9]", response["Cache-Control"]), response["Cache-Control"]


def test_a_collected_static_file_is_cached_for_good(tmp_path):
    """As in production: collectstatic with the manifest storage names each
    file by its hash, and whitenoise serves it as immutable for ten years."""
    storages = {
        "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
        "staticfiles": {"BACKEND": "whitenoise.storage.CompressedManifestStaticFilesStorage"},
    }
    with override_settings(STATIC_ROOT=tmp_path, STORAGES=storages):
        call_command("collectstatic", "--noinput", verbosity=0)
        from django.templatetags.static import static

        url = static("clinic/clinic.css")
        response = Client().get(url)

    assert re.search(r"clinic\.[0-9a-f]{12}\.css$", url), url
    assert response.status_code == 200
    assert "no-store" not in directives(response)
    assert "immutable" in directives(response)
    assert "max-age=315360000" in response["Cache-Control"]
