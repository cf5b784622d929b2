"""Every view that accepts a POST refuses one without a CSRF token (403) and
changes nothing.

The views are found from the URL configuration, not listed by hand: each URL
is posted to by a persona allowed to use it (from the security matrix),
first from a browser that enforces CSRF checks and sends no token, then from
one that does not check (Django's test client), with the same form. A view
that answers the second with 405 takes no POST. For every other view, the
first answer must be 403 and no row of any model may have changed; for the
views that write, the second shows that the same form would have been acted
on, so the 403 is what kept the change from happening.

A view may skip the check only if it is in CSRF_EXEMPT, with the reason."""

import hashlib

import pytest
from django.apps import apps
from django.test import Client
from django.urls import reverse

from clinic.tests.factories import PASSWORD, UserFactory
from clinic.tests.test_access import concrete_path, url_patterns
from clinic.tests.test_security_matrix import (
    CHAINS,
    MATRIX,
    admin_path,
    admin_takes_patient,
    allowed_persona,
    build_world,
    built_once,
    is_admin,
    log_in,
)
from patients.models import ODI_SECTIONS, Assessment, Consent, Patient, ScreeningItem
from scheduling.models import Room
from treatments.models import AftercareCheckIn, TreatmentPlan
from treatments.tests.factories import chart_form_data, plan_form_data

pytestmark = pytest.mark.django_db

# Views that take a POST without a CSRF token, and why that is safe.
CSRF_EXEMPT = {
    "scheduling:unsubscribe": (
        "RFC 8058 one-click unsubscribe: a mail client POSTs List-Unsubscribe=One-Click to the "
        "address in the email's List-Unsubscribe header, with no page and so no CSRF token. The "
        "signed token in the address is the key, and all the POST can do is stop emails to the "
        "patient it names."
    ),
}

# Models whose rows a request may change whatever the view does: the session
# (saved on every request, to keep it alive).
NOT_COMPARED = {"sessions.session"}


NEXT_MONDAY = "2026-11-23"


def form_for(name, world, records):
    """What the page would post: a form that the view acts on."""
    patient = records.patient
    now = "2026-11-16T11:30"
    all_no = {
        f"item_{pk}": "no" for pk in ScreeningItem.objects.filter(is_active=True).values_list("pk", flat=True)
    }
    details = {
        "first_name": patient.first_name,
        "last_name": patient.last_name,
        "date_of_birth": patient.date_of_birth.isoformat(),
        "sex": patient.sex,
        "email": patient.email,
        "phone": str(patient.phone),
        "email_consent": "on",
    }
    room = Room.objects.filter(is_active=True).order_by("pk").first()
    return {
        "login": {"username": world.users["receptionist"].username, "password": PASSWORD},
        "password_change": {
            "old_password": PASSWORD,
            "new_password1": "quiet-needle-lumbar-42",
            "new_password2": "quiet-needle-lumbar-42",
        },
        "patients:register": {
            "first_name": "Nadia",
            "last_name": "Okafor",
            "date_of_birth": "1980-05-01",
            "sex": Patient.Sex.FEMALE,
        },
        "patients:edit": {**details, "front_desk_notes": "Prefers mornings."},
        "patients:screening-new": {**all_no, "notes": "Screened again."},
        "patients:screening-edit": {**all_no, "notes": "Draft changed."},
        "patients:consent-new": {"method": Consent.Method.PAPER, "given_at": now, "confirmed": "on"},
        "patients:assessment-new": {
            "kind": Assessment.Kind.INTAKE,
            "assessed_at": now,
            "affected_side": Assessment.Side.RIGHT,
            "back_pain": "2",
            "leg_pain": "5",
            **{section: "1" for section, _ in ODI_SECTIONS},
        },
        "scheduling:cancel": {"cancelled_by": "patient"},
        "scheduling:book": {
            "patient": patient.pk,
            "therapist": records.therapist.pk,
            "appointment_type": records.visit.appointment_type_id,
            "day": NEXT_MONDAY,
            "time": "10:00",
            "room": room.pk,
        },
        "scheduling:reschedule": {"day": NEXT_MONDAY, "time": "10:00", "room": room.pk},
        "scheduling:series-cancel": {"cancelled_by": "clinic"},
        "scheduling:patient-link": {"action": "cancel"},
        "treatments:plan-new": plan_form_data(),
        "treatments:plan-edit": plan_form_data(
            severity=TreatmentPlan.Severity.CHRONIC, goal_notes="Walk the dog for an hour."
        ),
        "treatments:plan-end": {"status": TreatmentPlan.Status.COMPLETED},
        "treatments:chart-start": {"screening_still_valid": "yes", "new_problem": "no"},
        "treatments:chart-edit": chart_form_data(notes="Draft changed."),
        "treatments:chart-amend": chart_form_data(leg=(7, 2), reason="Leg pain after was 2, not 4."),
        "treatments:check-in": {"soreness": "3", "leg_pain": "3", "notes": "Better today."}
        | {f"flag_{code}": "no" for code in red_flag_codes()},
        "admin:scheduling_room_add": {"name": "Room Z", "is_active": "on"},
        "admin:scheduling_clinicclosure_delete": {"post": "yes"},
        "admin:patients_patient_change": {**details, "front_desk_notes": "Changed in the admin."},
    }.get(name, {})


def red_flag_codes():
    from treatments.services import red_flag_items

    return list(red_flag_items().values_list("code", flat=True))


def snapshot():
    """Every row of every model, as a count and a digest per model."""
    state = {}
    for model in apps.get_models():
        label = model._meta.label_lower
        if label in NOT_COMPARED:
            continue
        rows = list(model._base_manager.order_by("pk").values_list())
        state[label] = (len(rows), hashlib.sha256(repr(rows).encode()).hexdigest())
    return state


def changed(before, after):
    return sorted(label for label in before if before[label] != after.get(label))


# The URLs to post to.


def targets():
    found = []
    for name, chain in url_patterns():
        if name is None or concrete_path(name, chain) is None:
            continue  # the admin's unnamed patterns only redirect to a named page
        if is_admin(chain):
            persona = "anonymous" if name == "admin:login" else "superuser"
            found.append(pytest.param(name, persona, id=f"POST {name} as {persona}"))
        elif name in MATRIX:
            persona = allowed_persona(name, MATRIX[name])
            found.append(pytest.param(name, persona, id=f"POST {name} as {persona}"))
    return found


TARGETS = targets()


# Where a POST to the matrix's address would be refused for what it is about
# (a no-show before the visit has begun), one that the view acts on.
ADDRESS_FOR_A_POST = {
    "scheduling:no-show": lambda w, r: {"pk": r.begun.pk},
    "scheduling:check-in": lambda w, r: {"pk": r.begun.pk},
    "treatments:chart-start": lambda w, r: {"appointment_pk": r.arrived.pk},
}


def path_for(world, name, persona):
    records = world.patients["A"]
    chain = CHAINS[name]
    if is_admin(chain):
        return admin_path(world, name, chain, records if admin_takes_patient(name, chain) else None)
    args = ADDRESS_FOR_A_POST.get(name) or MATRIX[name].args
    return reverse(name, kwargs=args(world, records) if args else None)


@pytest.fixture(scope="module")
def world(django_db_setup, django_db_blocker):
    """The security matrix's data set, and a superuser to post in the admin."""

    def build():
        world = build_world()
        superuser = UserFactory(username="sec-root", is_staff=True, is_superuser=True)
        world.users["superuser"] = superuser
        world.sessions["superuser"] = log_in(Client(), world, "superuser").cookies["sessionid"].value
        return world

    with django_db_blocker.unblock(), built_once(build) as world:
        yield world


def test_it_finds_the_post_views_of_every_app():
    names = {param.values[0] for param in TARGETS}
    assert {
        "login",
        "logout",
        "patients:register",
        "patients:screening-sign",
        "scheduling:check-in",
        "scheduling:patient-link",
        "treatments:chart-sign",
        "treatments:check-in",
        "admin:patients_patient_change",
    } <= names
    assert names >= CHANGES_WHEN_POSTED


# The views whose form above changes rows once the token is there: for these
# the 403 demonstrably kept a change from happening.
CHANGES_WHEN_POSTED = {
    "clinic:recovery-codes",
    "login",
    "logout",
    "password_change",
    "patients:register",
    "patients:edit",
    "patients:archive",
    "patients:screening-new",
    "patients:screening-edit",
    "patients:screening-sign",
    "patients:consent-new",
    "patients:consent-withdraw",
    "patients:assessment-new",
    "scheduling:check-in",
    "scheduling:no-show",
    "scheduling:cancel",
    "scheduling:book",
    "scheduling:reschedule",
    "scheduling:series-cancel",
    "scheduling:my-calendar",
    "scheduling:patient-link",
    "treatments:plan-new",
    "treatments:plan-edit",
    "treatments:plan-activate",
    "treatments:plan-end",
    "treatments:chart-start",
    "treatments:chart-edit",
    "treatments:chart-sign",
    "treatments:chart-amend",
    "treatments:check-in",
    "treatments:check-in-handled",
    "admin:scheduling_room_add",
    "admin:scheduling_clinicclosure_delete",
    "admin:patients_patient_change",
}


@pytest.mark.parametrize(("name", "persona"), TARGETS)
def test_a_post_without_a_csrf_token_is_refused_and_changes_nothing(world, name, persona):
    path = path_for(world, name, persona)
    form = form_for(name, world, world.patients["A"])
    if name == "treatments:check-in":
        # The data set's visit has its check-in already; this one is the patient's first.
        AftercareCheckIn.objects.filter(appointment=world.patients["A"].signed_chart.appointment).delete()
    before = snapshot()

    refused = world.client(persona, enforce_csrf_checks=True).post(path, form)
    after_refused = snapshot()
    accepted = world.client(persona).post(path, form)
    after_accepted = snapshot()

    if accepted.status_code == 405 or (is_admin(CHAINS[name]) and accepted.status_code == 403):
        # Not a POST view (in the admin: a page no one may change anything on,
        # not even a superuser); nothing may change either way.
        assert refused.status_code in (403, 405)
        assert changed(before, after_refused) == []
        return
    assert accepted.status_code not in (400, 403), (
        f"{persona} may not use {name} ({accepted.status_code}), so the check proves nothing"
    )
    if name in CSRF_EXEMPT:
        assert refused.status_code == accepted.status_code
        return
    assert refused.status_code == 403, f"{name} took a POST without a CSRF token ({refused.status_code})"
    assert "CSRF verification failed" in refused.content.decode()
    assert changed(before, after_refused) == [], f"{name} changed rows without a CSRF token"
    if name in CHANGES_WHEN_POSTED:
        assert changed(after_refused, after_accepted), f"the form posted to {name} changed nothing"


def test_only_the_declared_views_skip_the_csrf_check():
    exempt = {
        name
        for name, chain in url_patterns()
        if getattr(chain[-1].callback, "csrf_exempt", False) and name is not None
    }
    assert exempt == set(CSRF_EXEMPT)


def test_the_one_click_unsubscribe_works_without_a_token_as_rfc_8058_asks(world):
    patient = world.patients["A"].patient
    path = path_for(world, "scheduling:unsubscribe", "anonymous")
    before = snapshot()

    response = world.client("anonymous", enforce_csrf_checks=True).post(
        path, {"List-Unsubscribe": "One-Click"}
    )

    assert response.status_code == 302
    patient.refresh_from_db()
    assert patient.email_consent is False
    # The patient's consent to email is all that changed.
    assert changed(before, snapshot()) in (["patients.patient"], ["patients.auditevent", "patients.patient"])


def test_a_forged_unsubscribe_without_the_signed_token_changes_nothing(world):
    patient = world.patients["A"].patient
    path = reverse("scheduling:unsubscribe", args=[f"{patient.pk}:forged"])
    before = snapshot()

    response = world.client("anonymous", enforce_csrf_checks=True).post(path)

    assert response.status_code == 400
    assert snapshot() == before


# The token protects POSTs only, so a page opened with a GET (a link or an
# image on another site can make the browser open one) must change nothing
# but the access log, which records every read of a clinical record.
LOGGED_ON_EVERY_READ = {"patients.auditevent"}
GET_WRITES = {
    # Shows the new authenticator's QR code, so it creates the unconfirmed
    # device (once; opening the page again shows the same one). It works
    # nowhere until a code from it is typed back.
    "clinic:two-factor-setup": {"otp_totp.totpdevice"},
}


@pytest.mark.parametrize(
    ("name", "persona"),
    [pytest.param(name, allowed_persona(name, row), id=name) for name, row in MATRIX.items()],
)
def test_opening_a_page_changes_nothing_but_the_access_log(world, name, persona):
    path = path_for(world, name, persona)
    before = snapshot()

    world.client(persona).get(path)

    unexpected = set(changed(before, snapshot())) - LOGGED_ON_EVERY_READ - GET_WRITES.get(name, set())
    assert unexpected == set(), f"a GET of {name} changed {sorted(unexpected)}"
