"""The security matrix: every URL of the project, opened by every persona,
for a patient of therapist A and a patient of therapist B.

The cases are generated from the URL configuration (test_access.url_patterns),
so a URL that is not in the table below fails with "add <name> to the
matrix". One table, MATRIX, declares for each URL name how to build its
address for a patient and what each persona gets:

    anonymous, receptionist, the patient's own therapist, the other
    therapist, the clinic admin

For a patient of A, "own" is therapist A and "other" therapist B; for a
patient of B the other way round. A URL that takes no patient is opened once,
with therapist A as "own". Pages answer GET; a POST-only view also gets an
empty POST (what a stray or forged click sends). Signed links are also opened
with a tampered token and with a token made for another kind of link.

The Django admin is covered by one rule (ADMIN_RIGHTS): outsiders are sent to
a login page, and the clinic admin may do in it what that table says.

The table says what a secure clinic needs. The app refuses other therapists
with 403 (not 404); every member of the staff can list every patient, so a
403 on an id reveals nothing they could not already see."""

import base64
import datetime
from collections.abc import Callable
from contextlib import contextmanager
from dataclasses import dataclass, field
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo

import pytest
import time_machine
from axes.models import AccessAttempt, AccessFailureLog
from django.conf import settings
from django.contrib import admin
from django.db import transaction
from django.test import Client, override_settings
from django.urls import reverse
from django_otp import DEVICE_ID_SESSION_KEY
from django_otp.plugins.otp_static.models import StaticDevice, StaticToken
from django_otp.plugins.otp_totp.models import TOTPDevice

from clinic.tests import factories
from clinic.tests.factories import WorkerHeartbeatFactory
from clinic.tests.matrix import LOGIN
from clinic.tests.test_access import concrete_path, url_patterns
from core import links
from patients import audit
from patients.models import AuditEvent, Consent, Screening
from patients.tests.factories import AssessmentFactory, screening_with_answers
from scheduling import services as scheduling_services
from scheduling.availability import local
from scheduling.models import Appointment
from scheduling.tests.factories import (
    AppointmentFactory,
    AppointmentSeriesFactory,
    ClinicClosureFactory,
    EmailWordingFactory,
    WorkingHoursExceptionFactory,
    WorkingHoursFactory,
)
from treatments.models import AftercareCheckIn, TreatmentPlan
from treatments.tests.factories import (
    AdverseEventFactory,
    ChartAmendmentFactory,
    active_plan,
    charted_session,
    cleared_patient,
    draft_plan,
    visit,
)

# "Now" is Monday 16 November 2026, noon at the clinic: visits at 09:00 and
# 11:00 have begun, the one at 14:00 is still to come.
MONDAY = datetime.date(2026, 11, 16)
WEDNESDAY = datetime.date(2026, 11, 18)

PERSONAS = ("anonymous", "receptionist", "therapist A", "therapist B", "clinic admin")
ADMIN_LOGIN = "302 to the admin's login"
ANY_LOGIN = "302 to a login page"
REDIRECT = "302, not to a login page"


# The data set.


@dataclass
class Records:
    """A patient and everything the clinic has written about them."""

    key: str
    therapist: object
    patient: object
    screening: object
    draft_screening: object
    consent: object
    assessment: object
    plan: object
    draft_plan: object
    signed_chart: object
    unsigned_chart: object
    visit: object
    begun: object
    arrived: object
    checkin: object
    series: object
    feed: object
    authenticator: object


@dataclass
class World:
    users: dict
    patients: dict = field(default_factory=dict)
    sessions: dict = field(default_factory=dict)

    def client(self, persona, **kwargs):
        """A browser of the persona, logged in (with the second factor) once
        for the whole module."""
        client = Client(**kwargs)
        if self.sessions.get(persona):
            client.cookies[settings.SESSION_COOKIE_NAME] = self.sessions[persona]
        return client


def records_of(key, therapist, receptionist, first_name, last_name):
    """A cleared patient of `therapist`: a signed and a draft screening,
    consent, an assessment, an active plan with a signed (and amended) chart
    at 09:00 and a draft chart at 11:00, a visit begun at 12:00 (the clock's
    time) not yet checked in, a visit at 14:00 still to come, one at 16:00
    checked in early with no chart yet, the
    patient's check-in after the 09:00 visit (an alert), a series booked by
    the front desk, and the therapist's calendar feed and authenticator."""
    patient = cleared_patient(therapist, first_name=first_name, last_name=last_name)
    plan = active_plan(therapist, patient)
    signed = charted_session(plan, hour=9)
    ChartAmendmentFactory(chart=signed)
    AdverseEventFactory(chart=signed)
    WorkingHoursFactory(therapist=therapist)
    WorkingHoursExceptionFactory(therapist=therapist)
    series = AppointmentSeriesFactory(patient=patient, booked_by=receptionist)
    for week in (0, 1):
        AppointmentFactory(
            patient=patient,
            therapist=therapist,
            series=series,
            starts_at=local(WEDNESDAY + datetime.timedelta(weeks=week), datetime.time(9)),
        )
    return Records(
        key=key,
        therapist=therapist,
        patient=patient,
        screening=Screening.objects.get(patient=patient, signed_at__isnull=False),
        draft_screening=screening_with_answers(patient=patient, therapist=therapist, sign=False),
        consent=Consent.objects.get(patient=patient),
        assessment=AssessmentFactory(patient=patient, therapist=therapist),
        plan=plan,
        draft_plan=draft_plan(therapist, patient, severity=TreatmentPlan.Severity.CHRONIC),
        signed_chart=signed,
        unsigned_chart=charted_session(plan, sign=False, hour=11),
        visit=visit(plan, hour=14, status=Appointment.Status.BOOKED),
        begun=visit(plan, hour=12, status=Appointment.Status.BOOKED),
        arrived=visit(plan, hour=16),
        checkin=AftercareCheckIn.objects.create(
            appointment=signed.appointment,
            soreness=8,
            leg_pain=9,
            alert=True,
            alert_reasons=["Leg pain 9/10, worse than 6/10 before the visit."],
        ),
        series=series,
        feed=scheduling_services.calendar_feed_for(therapist=therapist),
        authenticator=TOTPDevice.objects.get(user=therapist),
    )


def build_world():
    users = {
        "anonymous": None,
        "receptionist": factories.receptionist(username="sec-rosa"),
        "therapist A": factories.therapist(username="sec-theo"),
        "therapist B": factories.therapist(username="sec-priya"),
        "clinic admin": factories.clinic_admin(username="sec-alex"),
    }
    for user in users.values():
        if user is not None:
            second_factor(user)
    world = World(users=users)
    receptionist = users["receptionist"]
    world.patients["A"] = records_of("A", users["therapist A"], receptionist, "Maria", "Alvarez")
    world.patients["B"] = records_of("B", users["therapist B"], receptionist, "Bao", "Nguyen")
    EmailWordingFactory()
    ClinicClosureFactory()
    WorkerHeartbeatFactory()
    audit.seal_pending()  # the access log so far, sealed, and its checkpoint
    attempt = {
        "username": "sec-theo",
        "ip_address": "192.0.2.1",
        "user_agent": "Firefox",
        "http_accept": "text/html",
        "path_info": "/accounts/login/",
    }
    AccessAttempt.objects.create(**attempt, get_data="", post_data="", failures_since_start=2)
    AccessFailureLog.objects.create(**attempt)
    for model in admin.site._registry:
        # A catalogue row written by a migration has no past version yet: give it one.
        if hasattr(model, "history") and not model.history.exists() and model._default_manager.exists():
            model._default_manager.order_by("pk").first().save()
    for persona in PERSONAS:
        client = log_in(Client(), world, persona)
        session = client.cookies.get(settings.SESSION_COOKIE_NAME)
        world.sessions[persona] = session.value if session else None
    return world


def second_factor(user):
    """The authenticator and recovery codes every member of the staff sets up."""
    TOTPDevice.objects.create(user=user, name="Authenticator app", confirmed=True)
    recovery = StaticDevice.objects.create(user=user, name="Recovery codes", confirmed=True)
    StaticToken.objects.create(device=recovery, token=StaticToken.random_token())


def clinic_now():
    return datetime.datetime.combine(MONDAY, datetime.time(12), tzinfo=ZoneInfo(settings.TIME_ZONE))


@contextmanager
def built_once(build):
    """The data set `build` makes, for a whole module: built inside a
    transaction that is rolled back at the module's end, while the clinic's
    clock stands still. Each test runs in a savepoint of its own, so what one
    request changes, the next test does not see."""
    with (
        time_machine.travel(clinic_now(), tick=False),
        override_settings(PASSWORD_HASHERS=["django.contrib.auth.hashers.MD5PasswordHasher"]),
        transaction.atomic(),
    ):
        yield build()
        transaction.set_rollback(True)


@pytest.fixture(scope="module")
def world(django_db_setup, django_db_blocker):
    with django_db_blocker.unblock(), built_once(build_world) as world:
        yield world


# How each persona's answer is checked.


def log_in(client, world, persona):
    """Log in as the persona, with the second factor given where the persona
    has an authenticator (as django_otp.login records it)."""
    user = world.users[persona]
    if user is not None:
        client.force_login(user)
        device = TOTPDevice.objects.filter(user=user, confirmed=True).first()
        if device is not None:
            session = client.session
            session[DEVICE_ID_SESSION_KEY] = device.persistent_id
            session.save()
    return client


def check(response, expected):
    status, logins = response.status_code, {reverse("login"), reverse("admin:login")}
    if expected not in (LOGIN, ADMIN_LOGIN, ANY_LOGIN, REDIRECT):
        assert status == expected, f"expected {expected}, got {status}"
        return
    assert status == 302, f"expected {expected}, got {status}"
    to = urlsplit(response["Location"]).path
    if expected == REDIRECT:
        assert to not in logins, f"expected {expected}, sent to log in ({to})"
    elif expected == LOGIN:
        assert to == reverse("login"), f"expected {expected}, sent to {to}"
    elif expected == ADMIN_LOGIN:
        assert to == reverse("admin:login"), f"expected {expected}, sent to {to}"
    else:
        assert to in logins, f"expected {expected}, sent to {to}"


# The table.

#              anonymous  receptionist  own therapist  other therapist  clinic admin
EVERYONE_IN = (LOGIN, 200, 200, 200, 200)
FRONT_DESK = (LOGIN, 200, 403, 403, 200)
THERAPISTS = (LOGIN, 403, 200, 200, 403)
ADMIN_ONLY = (LOGIN, 403, 403, 403, 200)
OWN_THERAPIST = (LOGIN, 403, 200, 403, 403)
OWN_THERAPIST_AND_ADMIN = (LOGIN, 403, 200, 403, 200)
POST_ONLY = (LOGIN, 405, 405, 405, 405)
FRONT_DESK_POST = (LOGIN, REDIRECT, 403, 403, REDIRECT)
OWN_THERAPIST_POST = (LOGIN, 403, REDIRECT, 403, 403)
TOKEN = (200, 200, 200, 200, 200)


@dataclass(frozen=True)
class Row:
    """One URL name: what each persona gets for a GET (and for an empty POST
    to a POST-only view), and how to build its arguments for a patient
    (None: the URL takes no patient). A signed link also declares what a bad
    token gets, and how to make a token meant for another kind of link."""

    get: tuple
    args: Callable | None = None
    post: tuple | None = None
    bad_token: int | None = None
    other_token: Callable | None = None


def patient_pk(w, r):
    return {"pk": r.patient.pk}


def visit_pk(w, r):
    return {"pk": r.visit.pk}


def link_token(w, r):
    return links.APPOINTMENT.token(r.visit.pk)


def checkin_token(w, r):
    return links.CHECKIN.token(r.signed_chart.appointment.pk)


MATRIX = {
    # The clinic: home, dashboards, accounts.
    "home": Row((LOGIN, REDIRECT, REDIRECT, REDIRECT, REDIRECT)),
    "clinic:dashboard": Row(ADMIN_ONLY),
    "clinic:monthly-report": Row(ADMIN_ONLY),
    "clinic:my-figures": Row(THERAPISTS),
    "clinic:front-desk-figures": Row(FRONT_DESK),
    "clinic:no-role": Row((LOGIN, REDIRECT, REDIRECT, REDIRECT, REDIRECT)),
    "clinic:two-factor": Row(EVERYONE_IN),
    "clinic:two-factor-setup": Row(EVERYONE_IN),
    "clinic:two-factor-verify": Row(EVERYONE_IN),
    "clinic:recovery-codes": Row(POST_ONLY, post=EVERYONE_IN),
    "login": Row(TOKEN),
    # Logging out is a POST; it ends on the login page.
    "logout": Row((LOGIN, 405, 405, 405, 405), post=(LOGIN, LOGIN, LOGIN, LOGIN, LOGIN)),
    "password_change": Row(EVERYONE_IN),
    "password_change_done": Row(EVERYONE_IN),
    # The patient registry and the clinical records of patients.
    "patients:list": Row(EVERYONE_IN),
    "patients:register": Row(FRONT_DESK),
    "patients:detail": Row(EVERYONE_IN, patient_pk),
    "patients:edit": Row(FRONT_DESK, patient_pk),
    "patients:archive": Row(POST_ONLY, patient_pk, post=FRONT_DESK_POST),
    "patients:restore": Row(POST_ONLY, patient_pk, post=FRONT_DESK_POST),
    "patients:screening-new": Row(OWN_THERAPIST, patient_pk),
    "patients:screening": Row(
        OWN_THERAPIST_AND_ADMIN, lambda w, r: {"pk": r.patient.pk, "screening_pk": r.screening.pk}
    ),
    "patients:screening-edit": Row(
        OWN_THERAPIST, lambda w, r: {"pk": r.patient.pk, "screening_pk": r.draft_screening.pk}
    ),
    "patients:screening-sign": Row(
        POST_ONLY,
        lambda w, r: {"pk": r.patient.pk, "screening_pk": r.draft_screening.pk},
        post=OWN_THERAPIST_POST,
    ),
    "patients:consent-new": Row(OWN_THERAPIST_AND_ADMIN, patient_pk),
    "patients:consent-withdraw": Row(
        POST_ONLY,
        lambda w, r: {"pk": r.patient.pk, "consent_pk": r.consent.pk},
        post=(LOGIN, 403, REDIRECT, 403, REDIRECT),
    ),
    "patients:assessment-new": Row(OWN_THERAPIST, patient_pk),
    "patients:assessment": Row(
        OWN_THERAPIST_AND_ADMIN, lambda w, r: {"pk": r.patient.pk, "assessment_pk": r.assessment.pk}
    ),
    # The schedule.
    "scheduling:front-desk": Row(FRONT_DESK),
    "scheduling:day-sheet": Row(FRONT_DESK),
    "scheduling:week": Row(EVERYONE_IN),
    "scheduling:check-in": Row(POST_ONLY, visit_pk, post=FRONT_DESK_POST),
    "scheduling:no-show": Row(POST_ONLY, visit_pk, post=FRONT_DESK_POST),
    "scheduling:cancel": Row(POST_ONLY, visit_pk, post=FRONT_DESK_POST),
    "scheduling:book": Row(FRONT_DESK, lambda w, r: {"patient_pk": r.patient.pk}),
    "scheduling:reschedule": Row(FRONT_DESK, visit_pk),
    "scheduling:series-cancel": Row(POST_ONLY, lambda w, r: {"pk": r.series.pk}, post=FRONT_DESK_POST),
    # The patient's own calendar file: when and where, no names, nothing clinical.
    "scheduling:appointment-ics": Row(EVERYONE_IN, visit_pk),
    "scheduling:calendar-feed": Row(
        TOKEN, lambda w, r: {"token": r.feed.token}, bad_token=404, other_token=link_token
    ),
    "scheduling:my-calendar": Row(THERAPISTS),
    "scheduling:patient-link": Row(
        TOKEN, lambda w, r: {"token": link_token(w, r)}, bad_token=400, other_token=checkin_token
    ),
    "scheduling:unsubscribe": Row(
        TOKEN,
        lambda w, r: {"token": links.UNSUBSCRIBE.token(r.patient.pk)},
        bad_token=400,
        other_token=link_token,
    ),
    # Plans and charts.
    "treatments:my-day": Row(THERAPISTS),
    "treatments:plan-new": Row(OWN_THERAPIST, lambda w, r: {"patient_pk": r.patient.pk}),
    "treatments:plan": Row(OWN_THERAPIST_AND_ADMIN, lambda w, r: {"pk": r.plan.pk}),
    "treatments:plan-edit": Row(OWN_THERAPIST, lambda w, r: {"pk": r.draft_plan.pk}),
    "treatments:plan-activate": Row(POST_ONLY, lambda w, r: {"pk": r.draft_plan.pk}, post=OWN_THERAPIST_POST),
    "treatments:plan-end": Row(POST_ONLY, lambda w, r: {"pk": r.plan.pk}, post=OWN_THERAPIST_POST),
    "treatments:plan-book": Row(FRONT_DESK, lambda w, r: {"pk": r.plan.pk}),
    "treatments:chart-start": Row(OWN_THERAPIST, lambda w, r: {"appointment_pk": r.visit.pk}),
    "treatments:chart": Row(OWN_THERAPIST_AND_ADMIN, lambda w, r: {"pk": r.signed_chart.pk}),
    "treatments:chart-edit": Row(OWN_THERAPIST, lambda w, r: {"pk": r.unsigned_chart.pk}),
    "treatments:chart-sign": Row(
        POST_ONLY, lambda w, r: {"pk": r.unsigned_chart.pk}, post=OWN_THERAPIST_POST
    ),
    "treatments:chart-amend": Row(OWN_THERAPIST, lambda w, r: {"pk": r.signed_chart.pk}),
    "treatments:check-in": Row(
        TOKEN, lambda w, r: {"token": checkin_token(w, r)}, bad_token=400, other_token=link_token
    ),
    "treatments:check-in-handled": Row(POST_ONLY, lambda w, r: {"pk": r.checkin.pk}, post=OWN_THERAPIST_POST),
}


def allowed_persona(name, row):
    """A persona the matrix lets use the URL, for tests that need one: the
    visitor for a signed link or the login page, else the patient's
    therapist, the front desk or the clinic admin, whichever may."""
    if row.get == TOKEN or name == "login":
        return "anonymous"
    expected = row.post or row.get
    for persona, column in (("therapist A", 2), ("receptionist", 1), ("clinic admin", 4)):
        answer = expected[column]
        if answer not in (400, 403, 404, 405, LOGIN) or name == "logout":
            return persona
    raise AssertionError(f"no persona may use {name}")


# Cells where the app does not do what the table says: (URL name, persona) -> the bug.
SECRET_BUG = (
    "BUG: the clinic admin opens another user's authenticator setup (its secret key and QR code) "
    "in the admin, and can then make that user's codes (set OTP_ADMIN_HIDE_SENSITIVE_DATA = True)"
)
# Matrix cells that fail until a known bug is fixed: {(url name, persona): reason}.
KNOWN_BUGS = {}


# The admin, by one rule: what the clinic admin may do with each model there.
# Anyone else is sent to a login page (anonymous visitors to the project's or
# the admin's, signed-in staff who are not admin staff to the admin's).
ADMIN_RIGHTS = {
    "clinic.workerheartbeat": {"view"},
    "patients.patient": {"view", "add", "change"},
    "patients.screeningitem": {"view", "add", "change"},
    "patients.screening": {"view"},
    "patients.consenttext": {"view", "add"},
    "patients.consent": {"view"},
    "patients.assessment": {"view"},
    "patients.auditevent": {"view"},
    "patients.auditcheckpoint": {"view"},
    "treatments.muscle": {"view", "add", "change"},
    "treatments.aftercareitem": {"view", "add", "change"},
    "treatments.treatmentplan": {"view"},
    "treatments.sessionchart": {"view"},
    "treatments.adverseevent": {"view"},
    "treatments.chartamendment": {"view"},
    "treatments.aftercarecheckin": {"view"},
    "scheduling.room": {"view", "add", "change", "delete"},
    "scheduling.appointmenttype": {"view", "add", "change"},
    "scheduling.workinghours": {"view", "add", "change", "delete"},
    "scheduling.workinghoursexception": {"view", "add", "change", "delete"},
    "scheduling.clinichours": {"view", "add", "change"},
    "scheduling.clinicclosure": {"view", "add", "change", "delete"},
    "scheduling.appointment": {"view"},
    "scheduling.daytotal": {"view"},
    "scheduling.appointmentseries": {"view"},
    "scheduling.calendarfeed": {"view"},
    "scheduling.reminder": {"view"},
    # Deleting the clinic's wording brings back the default one.
    "scheduling.emailwording": {"view", "add", "change", "delete"},
    "auth.group": {"view"},
    "auth.user": {"view", "add", "change"},
    # Unlocking a locked-out login and resetting a lost authenticator.
    "axes.accessattempt": {"view", "delete"},
    "axes.accesslog": {"view"},
    "axes.accessfailurelog": {"view"},
    "otp_totp.totpdevice": {"view", "delete"},
    "otp_static.staticdevice": {"view", "delete"},
}
# The admin's own pages, for the clinic admin.
ADMIN_SITE_PAGES = {
    "admin:index": 200,
    "admin:app_list": 200,
    "admin:login": REDIRECT,
    "admin:logout": 405,
    "admin:password_change": 200,
    "admin:password_change_done": 200,
    "admin:jsi18n": 200,
    # Asked without the model and field to complete.
    "admin:autocomplete": 403,
    # A content type and object that do not exist.
    "admin:view_on_site": 404,
}
# Admin pages that no one may open, whatever their rights on the model:
# another user's authenticator secret (its QR code and its setup page) lets
# whoever sees it make that user's codes.
ADMIN_SECRETS = {"admin:otp_totp_totpdevice_config", "admin:otp_totp_totpdevice_qrcode"}


def is_admin(chain):
    return str(chain[0].pattern) == "admin/"


def admin_model_admin(chain, name=None):
    """The ModelAdmin a page of the admin belongs to, if any: the admin marks
    its own model pages; extra pages (a model's history versions, an
    authenticator's QR code) are found by their name."""
    model_admin = getattr(chain[-1].callback, "model_admin", None)
    if model_admin is None and name:
        for model, candidate in admin.site._registry.items():
            if name.startswith(f"admin:{model._meta.app_label}_{model._meta.model_name}_"):
                return candidate
    return model_admin


def admin_row(model, records):
    """The row an admin page about `model` opens: the patient's own where the
    model belongs to a patient, else the first."""
    rows = model._default_manager.order_by("pk")
    if records is not None:
        for relation in (
            "patient",
            "appointment__patient",
            "chart__plan__patient",
            "plan__patient",
            "user",
        ):
            try:
                target = records.therapist if relation == "user" else records.patient
                return rows.filter(**{relation: target}).first()
            except Exception:  # noqa: S112 (the model has no such relation: try the next)
                continue
    return rows.first()


OBJECT_KEYS = ("object_id", "pk", "id")


def admin_object_page(chain):
    """Whether an admin page is about one row: it names the row's id, or (a
    row's past versions, from django-simple-history) takes it positionally."""
    last = chain[-1].pattern.regex
    return bool(set(last.groupindex) & set(OBJECT_KEYS)) or last.groups > len(last.groupindex)


def admin_takes_patient(name, chain):
    model_admin = admin_model_admin(chain, name)
    if model_admin is None or not admin_object_page(chain):
        return False
    model = model_admin.model
    names = {f.name for f in model._meta.get_fields()}
    return bool(names & {"patient", "appointment", "chart", "plan"}) or model._meta.label_lower in {
        "otp_totp.totpdevice",
        "otp_static.staticdevice",
    }


def admin_path(world, name, chain, records):
    """The admin page for a real row where it takes one (the patient's, for
    rows about a patient), else the walker's sample path."""
    model_admin = admin_model_admin(chain, name)
    if model_admin is None or not admin_object_page(chain):
        return concrete_path(name, chain)
    row = admin_row(model_admin.model, records)
    if row is None:
        return concrete_path(name, chain)
    if name is None:
        return "/" + "".join(str(part.pattern) for part in chain).replace("<path:object_id>", str(row.pk))
    last = chain[-1].pattern.regex
    if last.groups > len(last.groupindex):
        # A past version of the row: /<id>/history/<version>/.
        version = row.history.order_by("history_id").first().history_id
        return reverse(name, args=[row.pk, version])
    key = next(group for group in OBJECT_KEYS if group in last.groupindex)
    return reverse(name, kwargs={key: row.pk})


def admin_expected(name, chain, persona):
    if name == "admin:login":
        return REDIRECT if persona == "clinic admin" else 200
    if persona == "anonymous":
        return ANY_LOGIN
    if persona != "clinic admin":
        return REDIRECT if name == "admin:logout" else ADMIN_LOGIN
    if name in ADMIN_SITE_PAGES:
        return ADMIN_SITE_PAGES[name]
    if name in ADMIN_SECRETS:
        return 403
    model_admin = admin_model_admin(chain, name)
    rights = ADMIN_RIGHTS[model_admin.model._meta.label_lower]
    if name is None:
        # /admin/<app>/<model>/<id>/ only sends on to the change page.
        return REDIRECT
    action = name.rsplit("_", 1)[-1]
    if action in ("changelist", "change", "history"):
        return 200 if rights & {"view", "change"} else 403
    return 200 if action in rights else 403


# The cases.


@dataclass(frozen=True)
class Case:
    method: str
    name: str
    patient: str | None
    persona: str
    expected: object
    token: str = "valid"
    admin: bool = False


def column(persona, patient):
    """The table's column for a persona: therapist A is the own therapist of
    a patient of A (and of no patient), therapist B of a patient of B."""
    own = "therapist B" if patient == "B" else "therapist A"
    if persona in ("therapist A", "therapist B"):
        return 2 if persona == own else 3
    return {"anonymous": 0, "receptionist": 1, "clinic admin": 4}[persona]


def case_id(case):
    patient = f" patient of {case.patient}" if case.patient else ""
    token = f" ({case.token} token)" if case.token != "valid" else ""
    return f"{case.method} {case.name}{patient}{token} as {case.persona}"


def param(case):
    marks = []
    bug = KNOWN_BUGS.get((case.name, case.persona))
    if bug is not None and case.method == "GET" and case.token == "valid":
        marks.append(pytest.mark.xfail(strict=True, reason=bug))
    return pytest.param(case, id=case_id(case), marks=marks)


def row_cases(name, row):
    for patient in ("A", "B") if row.args else (None,):
        for persona in PERSONAS:
            expected = row.get[column(persona, patient)]
            yield Case("GET", name, patient, persona, expected)
            if row.post:
                yield Case("POST", name, patient, persona, row.post[column(persona, patient)])
            if row.bad_token:
                for token in ("tampered", "another link's"):
                    yield Case("GET", name, patient, persona, row.bad_token, token=token)


def admin_cases(name, chain):
    patients = ("A", "B") if admin_takes_patient(name, chain) else (None,)
    for patient in patients:
        for persona in PERSONAS:
            yield Case("GET", name, patient, persona, admin_expected(name, chain, persona), admin=True)


def all_cases():
    """The cases of every named URL, and the URLs the table lacks. (The
    admin's unnamed patterns, which only send on to a named page, have a test
    of their own.)"""
    cases, missing = [], []
    for name, chain in url_patterns():
        if is_admin(chain):
            if name is not None:
                cases.extend(admin_cases(name, chain))
        elif name in MATRIX:
            cases.extend(row_cases(name, MATRIX[name]))
        else:
            missing.append(name or "".join(str(part.pattern) for part in chain))
    return cases, missing


CASES, MISSING = all_cases()
CHAINS = dict(url_patterns())


def path_of(world, case):
    records = world.patients[case.patient] if case.patient else None
    if case.admin:
        return admin_path(world, case.name, CHAINS[case.name], records)
    row = MATRIX[case.name]
    kwargs = row.args(world, records) if row.args else {}
    if case.token == "tampered":
        token = kwargs["token"]
        kwargs["token"] = token[:-1] + ("A" if token[-1] != "A" else "B")
    elif case.token == "another link's":
        kwargs["token"] = row.other_token(world, records)
    return reverse(case.name, kwargs=kwargs or None)


# The tests.


def test_every_url_of_the_project_is_in_the_matrix():
    assert not MISSING, "".join(f"\nadd {name} to the matrix" for name in MISSING)


def test_every_row_of_the_matrix_is_a_url_of_the_project():
    names = {name for name, chain in url_patterns() if not is_admin(chain)}
    assert not set(MATRIX) - names, f"no such URL any more: {sorted(set(MATRIX) - names)}"


def test_every_model_in_the_admin_has_its_rights_declared():
    models = {
        admin_model_admin(chain).model._meta.label_lower
        for name, chain in url_patterns()
        if is_admin(chain) and admin_model_admin(chain) is not None
    }
    assert models == set(ADMIN_RIGHTS), (
        f"declare the clinic admin's rights on {sorted(models - set(ADMIN_RIGHTS))}; "
        f"no longer in the admin: {sorted(set(ADMIN_RIGHTS) - models)}"
    )


@pytest.mark.parametrize("case", [param(case) for case in CASES])
def test_the_matrix(world, db, case):
    client = world.client(case.persona)
    path = path_of(world, case)

    response = client.post(path) if case.method == "POST" else client.get(path)

    check(response, case.expected)


@pytest.mark.parametrize("persona", PERSONAS)
def test_the_admin_rule_for_the_address_that_sends_on_to_a_rows_change_page(world, db, persona):
    """The admin's unnamed /admin/<app>/<model>/<id>/ patterns, one per model."""
    client = world.client(persona)
    for name, chain in url_patterns():
        if name is None and is_admin(chain) and admin_model_admin(chain) is not None:
            records = world.patients["A"] if admin_takes_patient(None, chain) else None
            response = client.get(admin_path(world, None, chain, records))

            check(response, admin_expected(None, chain, persona))


def test_every_named_url_is_opened_by_every_persona():
    named = {name for name, chain in url_patterns() if name and (is_admin(chain) or name in MATRIX)}
    assert {(case.name, case.persona) for case in CASES} == {(n, p) for n in named for p in PERSONAS}


# What a therapist's own pages show: their own patients, never the other
# therapist's (whose names the matrix's 200s alone would not catch).


@pytest.mark.parametrize(
    ("persona", "other"), [("therapist A", "B"), ("therapist B", "A")], ids=["therapist A", "therapist B"]
)
def test_a_therapists_own_pages_show_none_of_the_other_therapists_patients(world, db, persona, other):
    own = "A" if other == "B" else "B"
    client = world.client(persona)
    pages = [
        reverse("treatments:my-day"),
        reverse("scheduling:week") + f"?therapist={world.patients[other].therapist.pk}",
        reverse("scheduling:week") + f"?day={WEDNESDAY}",
        reverse("clinic:my-figures") + "?first=2026-11-01&last=2026-11-30",
        reverse("scheduling:calendar-feed", args=[world.patients[own].feed.token]),
    ]

    for path in pages:
        content = client.get(path).content.decode()

        assert world.patients[own].patient.first_name in content, path
        assert world.patients[other].patient.first_name not in content, path
        assert world.patients[other].patient.last_name not in content, path


# What the admin shows the clinic admin of other people's accounts.


def test_the_clinic_admin_never_sees_another_users_authenticator_secret(world, db):
    device = world.patients["A"].authenticator
    client = world.client("clinic admin")
    secret = base64.b32encode(device.bin_key).decode()

    for path in (
        reverse("admin:otp_totp_totpdevice_change", args=[device.pk]),
        reverse("admin:otp_totp_totpdevice_config", kwargs={"pk": device.pk}),
    ):
        page = client.get(path).content.decode()

        assert device.key not in page, path
        assert secret not in page, path


SUPERUSER_BUG = (
    "BUG: the clinic admin (auth.change_user) ticks 'Superuser status' on their own account in "
    "/admin/auth/user/<id>/change/ and becomes a superuser: every permission, including deleting "
    "patients and clinical records; the user form should leave out is_superuser and user_permissions"
)


def test_the_clinic_admin_cannot_make_anyone_a_superuser(world, db):
    """The clinic admin manages users and roles; a superuser passes every
    permission check (deleting patients, rewriting signed records)."""
    clinic_admin = world.users["clinic admin"]
    client = world.client("clinic admin")
    path = reverse("admin:auth_user_change", args=[clinic_admin.pk])

    page = client.get(path).content.decode()
    client.post(
        path,
        {
            "username": clinic_admin.username,
            "first_name": clinic_admin.first_name,
            "last_name": clinic_admin.last_name,
            "email": clinic_admin.email,
            "is_active": "on",
            "is_staff": "on",
            "is_superuser": "on",
            "groups": [group.pk for group in clinic_admin.groups.all()],
            "date_joined_0": "2026-01-05",
            "date_joined_1": "09:00:00",
        },
    )

    clinic_admin.refresh_from_db()
    assert not clinic_admin.is_superuser
    assert 'name="is_superuser"' not in page
    assert 'name="user_permissions"' not in page


ADMIN_READS_BUG = (
    "BUG: the clinic admin reads a patient's chart, screening, assessment and plan in the Django "
    "admin (/admin/treatments/sessionchart/<id>/change/ and the like) and no read is written to the "
    "access log, while the same read on the clinic's own pages is logged"
)


@pytest.mark.parametrize(
    ("name", "record"),
    [
        ("admin:treatments_sessionchart_change", lambda r: r.signed_chart),
        ("admin:patients_screening_change", lambda r: r.screening),
        ("admin:patients_assessment_change", lambda r: r.assessment),
        ("admin:treatments_treatmentplan_change", lambda r: r.plan),
    ],
    ids=["chart", "screening", "assessment", "plan"],
)
def test_a_clinical_record_read_in_the_admin_is_in_the_access_log(world, db, name, record):
    records = world.patients["A"]
    before = AuditEvent.objects.filter(patient=records.patient, action=AuditEvent.Action.READ).count()

    response = world.client("clinic admin").get(reverse(name, args=[record(records).pk]))

    assert response.status_code == 200
    reads = AuditEvent.objects.filter(
        patient=records.patient, action=AuditEvent.Action.READ, user=world.users["clinic admin"]
    )
    assert reads.count() > before


@pytest.mark.parametrize(
    "path",
    [
        "/admin/treatments/treatmentplan/x/history/",
        "/admin/patients/screeningitem/1/history/x/",
        "/admin/otp_totp/totpdevice/99999/config/",
    ],
)
def test_the_admin_answers_a_row_that_does_not_exist_without_a_server_error(world, db, path):
    client = world.client("clinic admin", raise_request_exception=False)

    response = client.get(path)

    assert response.status_code in (302, 403, 404)
