"""Who may do what: the role groups and their permissions, the login wall
around every page, each role's home page, and the pages a role may not open."""

import itertools
import re
import uuid
from urllib.parse import urlsplit

import pytest
from django.apps import apps
from django.contrib.auth.models import Group
from django.urls import NoReverseMatch, URLResolver, converters, get_resolver, resolve, reverse
from django.urls.resolvers import RoutePattern

from clinic import roles
from clinic.tests.factories import PASSWORD

# Declared for the whole module: some tests only reach the database through
# request.getfixturevalue(), which pytest-django cannot see when it orders tests.
pytestmark = pytest.mark.django_db

# URL names an anonymous visitor may open. The admin's own login page is the
# admin's entrance, as the project's login page is everyone else's.
# The patient's signed links (appointment, unsubscribe) and a therapist's
# calendar feed carry their own secret token instead of a login.
ALLOWED_ANONYMOUS = {
    "login",
    "admin:login",
    "scheduling:patient-link",
    "scheduling:calendar-feed",
    "scheduling:unsubscribe",
    "treatments:check-in",
}

SAMPLE_UUID = uuid.UUID("12345678-1234-5678-1234-567812345678")
SAMPLE_VALUES = {
    converters.IntConverter: 1,
    converters.StringConverter: "x",
    converters.SlugConverter: "x",
    converters.UUIDConverter: SAMPLE_UUID,
    converters.PathConverter: "x",
}
# A regex group has no converter to say what it takes, so a few candidates are
# tried in turn; the admin's app_list, for one, only accepts an app label.
REGEX_CANDIDATES = ["x", "1", str(SAMPLE_UUID)] + [config.label for config in apps.get_app_configs()]


def url_patterns(resolver=None, namespace=None, chain=()):
    """Every URL pattern of the project, with its namespaced name and the
    chain of patterns (the includes' and its own) that leads to it."""
    resolver = resolver or get_resolver()
    for pattern in resolver.url_patterns:
        if isinstance(pattern, URLResolver):
            inner_namespace = namespace
            if pattern.namespace:
                inner_namespace = f"{namespace}:{pattern.namespace}" if namespace else pattern.namespace
            yield from url_patterns(pattern, inner_namespace, (*chain, pattern))
        else:
            name = f"{namespace}:{pattern.name}" if namespace and pattern.name else pattern.name
            yield name, (*chain, pattern)


def sample_value(converter):
    return SAMPLE_VALUES[type(converter)]


def reversed_path(name, chain):
    """Reverse a named pattern, trying sample values for each parameter."""
    parameters = {}
    for part in chain:
        part_converters = getattr(part.pattern, "converters", {})
        for group in part.pattern.regex.groupindex:
            if group in part_converters:
                parameters[group] = [sample_value(part_converters[group])]
            else:
                parameters[group] = REGEX_CANDIDATES
    # Unnamed regex groups (django-simple-history's admin pages) take positional args.
    positional = sum(part.pattern.regex.groups - len(part.pattern.regex.groupindex) for part in chain)
    if positional and not parameters:
        for values in itertools.product(REGEX_CANDIDATES, repeat=positional):
            try:
                yield reverse(name, args=values)
            except NoReverseMatch:
                continue
        return
    for values in itertools.product(*parameters.values()):
        try:
            yield reverse(name, kwargs=dict(zip(parameters, values, strict=True)) or None)
        except NoReverseMatch:
            continue


def route_path(chain):
    """Fill in an unnamed pattern's route; only routes (not regexes) can be."""
    if not all(isinstance(part.pattern, RoutePattern) for part in chain):
        return
    path = "/"
    for part in chain:
        path += re.sub(
            r"<(?:[^>:]+:)?([^>]+)>",
            lambda match, part=part: str(sample_value(part.pattern.converters[match[1]])),
            str(part.pattern),
        )
    yield path


def concrete_path(name, chain):
    """A path that reaches the pattern, or None if none can be built."""
    candidates = reversed_path(name, chain) if name else route_path(chain)
    for path in candidates:
        if resolve(path).func is chain[-1].callback:
            return path
    return None


def every_page():
    pages, unreachable = [], []
    for name, chain in url_patterns():
        path = concrete_path(name, chain)
        if path is None:
            unreachable.append("".join(str(part.pattern) for part in chain))
        elif name not in ALLOWED_ANONYMOUS:
            pages.append(pytest.param(name, path, id=path))
    return pages, unreachable


PAGES, UNREACHABLE = every_page()


# The role groups.


def test_it_creates_the_three_role_groups():
    assert set(Group.objects.filter(name__in=roles.ROLES).values_list("name", flat=True)) == {
        "Receptionist",
        "Therapist",
        "Clinic admin",
    }


@pytest.mark.parametrize(
    ("persona", "permission", "granted"),
    [
        ("receptionist", "patients.add_patient", True),
        ("receptionist", "patients.change_patient", True),
        ("receptionist", "patients.view_patient", True),
        ("receptionist", "scheduling.add_appointment", True),
        ("receptionist", "scheduling.change_appointment", True),
        ("receptionist", "scheduling.view_appointment", True),
        ("receptionist", "patients.delete_patient", False),
        ("receptionist", "scheduling.change_room", False),
        ("receptionist", "scheduling.change_workinghours", False),
        ("receptionist", "auth.add_user", False),
        ("therapist", "patients.view_patient", True),
        ("therapist", "scheduling.view_appointment", True),
        ("therapist", "patients.change_patient", False),
        ("therapist", "scheduling.add_appointment", False),
        ("therapist", "scheduling.change_room", False),
        ("clinic_admin", "scheduling.add_room", True),
        ("clinic_admin", "scheduling.change_room", True),
        ("clinic_admin", "scheduling.add_workinghours", True),
        ("clinic_admin", "scheduling.change_workinghours", True),
        ("clinic_admin", "scheduling.add_appointmenttype", True),
        ("clinic_admin", "scheduling.change_appointmenttype", True),
        ("clinic_admin", "auth.add_user", True),
        ("clinic_admin", "auth.change_user", True),
        ("clinic_admin", "patients.add_patient", True),
        ("clinic_admin", "patients.delete_patient", False),
        ("no_role_user", "patients.view_patient", False),
    ],
)
def test_it_grants_each_role_its_permissions(request, persona, permission, granted):
    user = request.getfixturevalue(persona)
    assert user.has_perm(permission) is granted


def test_it_lets_no_role_delete_a_patient():
    # Patients are archived, never deleted.
    assert not Group.objects.filter(
        permissions__content_type__app_label="patients", permissions__codename="delete_patient"
    ).exists()


# The login wall.


def test_it_finds_every_page_of_the_project():
    # If the walker broke, the login wall test below would pass with nothing to check.
    names = {param.values[0] for param in PAGES}
    assert {
        "home",
        "clinic:dashboard",
        "clinic:no-role",
        "scheduling:front-desk",
        "treatments:my-day",
        "logout",
        "password_change",
        "admin:index",
        "admin:app_list",
        "admin:patients_patient_change",
    } <= names
    # The admin's catch-all has no name, so reverse() cannot build a path for
    # it; it sits behind the same login wall as the rest of the admin.
    assert UNREACHABLE == ["admin/(?P<url>.*)$"]


@pytest.mark.parametrize(("name", "path"), PAGES)
def test_it_sends_an_anonymous_visitor_to_log_in(client, name, path):
    response = client.get(path)
    assert response.status_code == 302, f"{name} answered an anonymous visitor with {response.status_code}"
    assert urlsplit(response["Location"]).path in (reverse("login"), reverse("admin:login"))


def test_it_shows_the_login_page_to_an_anonymous_visitor(client):
    response = client.get(reverse("login"))
    assert response.status_code == 200
    assert b"Log in" in response.content


# Logging in.


def log_in(client, username, password=PASSWORD):
    return client.post(reverse("login"), {"username": username, "password": password}, follow=True)


@pytest.mark.parametrize(
    ("persona", "home_page"),
    [
        ("receptionist", "scheduling:front-desk"),
        ("therapist", "treatments:my-day"),
        ("clinic_admin", "clinic:dashboard"),
    ],
)
def test_it_lands_each_role_on_its_home_page(client, request, persona, home_page):
    user = request.getfixturevalue(persona)
    response = log_in(client, user.username)
    assert response.status_code == 200
    assert response.resolver_match.view_name == home_page


def test_it_tells_a_user_without_a_role_to_ask_the_clinic_admin(client, no_role_user):
    response = log_in(client, no_role_user.username)
    assert response.status_code == 200
    assert response.resolver_match.view_name == "clinic:no-role"
    assert "Ask your clinic admin" in response.content.decode()


def test_it_refuses_a_wrong_password(client, receptionist):
    response = log_in(client, receptionist.username, "not-the-password")
    assert response.resolver_match.view_name == "login"
    assert "_auth_user_id" not in client.session


# Role pages.


@pytest.mark.parametrize(
    ("persona", "page"),
    [
        ("therapist", "scheduling:front-desk"),
        ("therapist", "clinic:dashboard"),
        ("receptionist", "treatments:my-day"),
        ("receptionist", "clinic:dashboard"),
        ("clinic_admin", "treatments:my-day"),
        ("no_role_user", "clinic:dashboard"),
        ("no_role_user", "scheduling:front-desk"),
        ("no_role_user", "treatments:my-day"),
    ],
)
def test_it_refuses_a_role_page_to_other_roles(client, request, persona, page):
    client.force_login(request.getfixturevalue(persona))
    assert client.get(reverse(page)).status_code == 403


def test_it_opens_the_front_desk_to_the_clinic_admin(client, clinic_admin):
    client.force_login(clinic_admin)
    assert client.get(reverse("scheduling:front-desk")).status_code == 200


# Logging out and changing the password.


def test_it_logs_out_only_on_post(client, receptionist):
    client.force_login(receptionist)
    assert client.get(reverse("logout")).status_code == 405
    assert client.get(reverse("home")).url == reverse("scheduling:front-desk")

    response = client.post(reverse("logout"))
    assert response.url == reverse("login")
    home = client.get(reverse("home"))
    assert urlsplit(home.url).path == reverse("login")


def test_it_changes_the_password_through_the_form(client, therapist):
    new_password = "quiet-needle-lumbar-42"
    log_in(client, therapist.username)
    assert client.get(reverse("password_change")).status_code == 200

    response = client.post(
        reverse("password_change"),
        {"old_password": PASSWORD, "new_password1": new_password, "new_password2": new_password},
        follow=True,
    )
    assert response.resolver_match.view_name == "password_change_done"
    assert "Your new password is in use." in response.content.decode()

    client.post(reverse("logout"))
    assert log_in(client, therapist.username, PASSWORD).resolver_match.view_name == "login"
    assert log_in(client, therapist.username, new_password).resolver_match.view_name == "treatments:my-day"
