"""No input gives a server error, and a refused request changes nothing.

Every URL of the project (from the URL configuration, through the security
matrix, which names them all) is opened as each persona; every form found on
the page (GET forms become query strings, POST forms are posted to their
action) and every query parameter a view reads (found in the views' source)
is then sent hostile values drawn by hypothesis: empty, a megabyte, NUL
bytes, right-to-left and astral unicode, negative and huge numbers, the
first and last dates, the daylight-saving gap, malformed offsets and ids,
mixed into the page's own valid values so that they reach past the first
check. A token in the address is replaced by hostile ones too.

Any 5xx fails. A request that was not acted on (any answer but a redirect)
must change no row but the access log, which records reads. The Django admin
is Django's own code and is left out.
"""

import re
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from django.conf import settings
from django.test import Client
from django.urls import NoReverseMatch, reverse
from hypothesis import HealthCheck, given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st

from clinic.tests.factories import UserFactory
from clinic.tests.test_csrf import changed, form_for, snapshot
from clinic.tests.test_security_matrix import (
    MATRIX,
    PERSONAS,
    build_world,
    built_once,
)

pytestmark = pytest.mark.django_db

BASE = Path(__file__).resolve().parents[2]
# Rows a request may change whatever it is: the access log records reads
# and refusals; the authenticators count failed codes (django-otp's
# throttling), and a page may create the unconfirmed one it shows; failed
# logins are counted for the lockout.
MAY_CHANGE = {
    "patients.auditevent",
    "otp_totp.totpdevice",
    "otp_static.staticdevice",
    "axes.accessattempt",
    "axes.accessfailurelog",
}
MEGABYTE = "x" * 1_000_000
# Views that act on a POST and answer with a page rather than a redirect.
ANSWERS_WITH_A_PAGE = {
    "clinic:recovery-codes": "makes new recovery codes and shows them once, on the page that made them",
    "treatments:check-in": "records the patient's check-in and thanks them on the same page",
}

HOSTILE = [
    "",
    " ",
    "\x00",
    "a\x00b",
    "\u202eevil",
    "😀🦴" * 20,
    "ÅÉÎØÜ",
    "-1",
    "0",
    "-99999999999999999999",
    "99999999999999999999",
    "1e309",
    "NaN",
    "0001-01-01",
    "9999-12-31",
    "2026-02-30",
    "2026-03-08",
    "02:30",
    "24:00",
    "2026-03-08T02:30",
    "9999-12-31T23:59",
    "0001-01-01T00:00",
    "2026-11-17T10:00:00+99:00",
    "2026-11-17T10:00:00-25:00",
    "2026-11-17T10:00:00Z",
    "abc",
    "1; DROP TABLE patients_patient",
    "<script>alert(1)</script>",
    "{{ 7*7 }}",
    "../../etc/passwd",
    "%00",
    "[]",
    "on",
    "other",
    "confirm",
]
hostile_values = st.one_of(
    st.sampled_from(HOSTILE),
    st.text(max_size=40),
    st.integers(min_value=-(2**70), max_value=2**70).map(str),
    st.just(MEGABYTE),
)


def query_keys_in_views():
    """The query and form keys the views read by hand, found in their source."""
    keys = set()
    for path in BASE.glob("*/views*.py"):
        keys |= set(re.findall(r'request\.(?:GET|POST)(?:\.get(?:list)?\(|\[)"(\w+)"', path.read_text()))
    for path in BASE.glob("*/views/*.py"):
        keys |= set(re.findall(r'request\.(?:GET|POST)(?:\.get(?:list)?\(|\[)"(\w+)"', path.read_text()))
    return sorted(keys)


QUERY_KEYS = query_keys_in_views()


class Forms(HTMLParser):
    """The forms of a page: method, action and the names of their fields."""

    def __init__(self):
        super().__init__()
        self.forms, self.current = [], None

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag == "form":
            self.current = {
                "method": (attrs.get("method") or "get").lower(),
                "action": attrs.get("action") or "",
            }
            self.current["fields"] = set()
            self.forms.append(self.current)
        elif (
            tag in ("input", "select", "textarea")
            and self.current is not None
            and attrs.get("name") not in (None, "csrfmiddlewaretoken")
        ):
            self.current["fields"].add(attrs["name"])

    def handle_endtag(self, tag):
        if tag == "form":
            self.current = None


@pytest.fixture(scope="module")
def world(django_db_setup, django_db_blocker):
    def build():
        world = build_world()
        world.users["superuser"] = UserFactory(username="hostile-root", is_staff=True, is_superuser=True)
        return world

    with django_db_blocker.unblock(), built_once(build) as world:
        yield world


SENT = {"requests": 0, "server errors": 0}


@pytest.fixture(scope="module", autouse=True)
def report():
    yield
    line = f"hostile input: {SENT['requests']} requests sent, {SENT['server errors']} server errors"
    folder = Path(settings.VAR_DIR) / "test-figures"
    folder.mkdir(parents=True, exist_ok=True)
    (folder / f"hostile-input-{settings.DATABASES['default']['ENGINE'].rsplit('.', 1)[-1]}.txt").write_text(
        line
    )
    print(f"\n{line}")


def path_of(world, name, records):
    row = MATRIX[name]
    return reverse(name, kwargs=row.args(world, records) if row.args else None)


def send(client, method, path, data):
    SENT["requests"] += 1
    response = getattr(client, method)(path, data)
    if response.status_code >= 500:
        SENT["server errors"] += 1
    return response


def targets():
    for name in MATRIX:
        for persona in PERSONAS:
            yield pytest.param(name, persona, id=f"{name} as {persona}")


@pytest.mark.parametrize(("name", "persona"), list(targets()))
def test_no_hostile_form_or_query_gives_a_server_error_or_a_change_when_refused(world, name, persona):
    records = world.patients["A"]
    client = world.client(persona)
    path = path_of(world, name, records)
    page = client.get(path)
    assert page.status_code < 500, f"GET {path} as {persona}: {page.status_code}"
    parser = Forms()
    if page.get("Content-Type", "").startswith("text/html"):
        parser.feed(page.content.decode())
    valid = {
        key: value for key, value in form_for(name, world, records).items() if not isinstance(value, list)
    }
    forms = [f for f in parser.forms if not f["action"] or urlsplit(f["action"]).path == path]
    get_fields = sorted(set(QUERY_KEYS).union(*(f["fields"] for f in forms if f["method"] == "get")))
    post_fields = sorted(set(valid).union(*(f["fields"] for f in forms if f["method"] == "post")))

    accepted = []

    @hypothesis_settings(
        max_examples=4,
        deadline=None,
        derandomize=True,
        database=None,
        suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
    )
    @given(
        query=st.dictionaries(st.sampled_from(get_fields), hostile_values, min_size=1, max_size=4),
        form=st.dictionaries(st.sampled_from(post_fields or ["x"]), hostile_values, min_size=1, max_size=4),
    )
    def attack(query, form):
        response = send(client, "get", path, query)
        assert response.status_code < 500, f"GET {path} {query!r:.300} as {persona}: {response.status_code}"
        response = send(client, "post", path, {**valid, **form})
        assert response.status_code < 500, f"POST {path} {form!r:.300} as {persona}: {response.status_code}"
        if response.status_code == 302 or name in ANSWERS_WITH_A_PAGE:
            accepted.append(form)

    before = snapshot()
    attack()
    # Hashing every table is the slow part, so rows are compared once for all
    # the requests to this page; when none was acted on, none may have changed a row.
    if not accepted:
        assert set(changed(before, snapshot())) <= MAY_CHANGE, f"refused requests to {path} changed rows"


@pytest.mark.parametrize(
    "name",
    ["scheduling:patient-link", "scheduling:unsubscribe", "scheduling:calendar-feed", "treatments:check-in"],
)
@hypothesis_settings(
    max_examples=25,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(token=st.one_of(st.sampled_from(HOSTILE), st.text(min_size=1, max_size=80)))
def test_no_hostile_token_gives_a_server_error(world, name, token):
    try:
        path = reverse(name, kwargs={"token": token})
    except NoReverseMatch:
        return
    client = Client()
    before = snapshot()
    for method in ("get", "post"):
        response = send(client, method, path, {})
        assert response.status_code < 500, f"{method.upper()} {path!r}: {response.status_code}"
    assert set(changed(before, snapshot())) <= MAY_CHANGE


@pytest.mark.parametrize(
    "path", ["/calendar/%00.ics", "/a/%00/", "/patients/?q=%00", "/front-desk/?day=%00", "/patients/%00/"]
)
def test_an_address_with_a_nul_byte_is_a_bad_request(world, path):
    response = send(world.client("receptionist"), "get", path, {})

    assert response.status_code == 400


def test_the_dst_gap_is_refused_with_a_message(world):
    client = world.client("receptionist")
    records = world.patients["A"]
    path = reverse("scheduling:book", kwargs={"patient_pk": records.patient.pk})
    form = {**form_for("scheduling:book", world, records), "day": "2027-03-14", "time": "02:30"}
    before = snapshot()

    response = send(client, "post", path, form)

    # The second Sunday of March 2027: the clocks go from 02:00 to 03:00.
    assert response.status_code == 200
    assert response.context["form"].non_field_errors() == [
        "02:30 does not exist on Sun 14 Mar 2027: the clocks go forward."
    ]
    assert set(changed(before, snapshot())) <= MAY_CHANGE
