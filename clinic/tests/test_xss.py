"""XSS: what people type comes back escaped on every page that shows it, and
in the emails.

A patient of therapist A is written with a script payload in every free-text
field a member of the staff (or the patient, in the check-in) can type: the
patient's details, the clinical records, the plan, the chart, the
appointment's room, type and series, the clinic admin's catalogues (muscles,
aftercare advice, screening questions, consent text, closures) and the
therapist's own name. Each field gets its own payload, tagged, so that a page
can be checked for the field it should show.

Every page is checked two ways: no payload comes back as markup (its
<script> or <img onerror> would run), and the fields the page shows come back
as text, escaped. The same for the HTML part of every patient email; the
plain-text part shows what was typed, unescaped, as a patient reads it."""

import datetime
import re
from urllib.parse import urlencode

import pytest
from django.core import mail
from django.urls import reverse
from django.utils import timezone
from django.utils.html import escape

from clinic.tests.test_access import url_patterns
from clinic.tests.test_security_matrix import (
    MATRIX,
    MONDAY,
    WEDNESDAY,
    allowed_persona,
    build_world,
    built_once,
    is_admin,
)
from core import links
from patients import services as patient_services
from patients.models import Consent, ScreeningCategory, ScreeningItem
from patients.tests.factories import AssessmentFactory, PatientFactory, ScreeningItemFactory
from scheduling import reminders
from scheduling import services as scheduling_services
from scheduling.availability import local
from scheduling.models import Appointment, EmailWording, Reminder
from scheduling.tests.factories import (
    AppointmentFactory,
    AppointmentTypeFactory,
    ClinicClosureFactory,
    EmailWordingFactory,
    RoomFactory,
    WorkingHoursExceptionFactory,
    WorkingHoursFactory,
)
from treatments import services as treatment_services
from treatments.models import AdverseEvent, Side, TreatmentPlan
from treatments.tests.factories import (
    AftercareItemFactory,
    MuscleFactory,
    PlanFactory,
    chart_fields,
    needling,
    open_chart,
)

pytestmark = pytest.mark.django_db

TUESDAY = datetime.date(2026, 11, 17)


def payload(tag):
    """A script element, and a quote that leaves an attribute to start an
    <img> whose onerror runs: each tagged with the field it was typed in."""
    return f'<script>alert("{tag}")</script>"><img src=x onerror=alert(\'{tag}\')>'


# Fields too short for the payload above (a postal code: 20 characters).
SHORT_PAYLOAD = "<svg/onload=alert()>"
# What would run if a payload came back unescaped.
MARKUP = re.compile(r"<script>alert\(|<img src=x onerror|<svg/onload", re.IGNORECASE)


def unescaped(html):
    return sorted(set(MARKUP.findall(html)))


def shown(html, tag):
    return escape(SHORT_PAYLOAD if tag == "postal" else payload(tag)) in html


class Typed:
    """The payload patient and the rows around them."""


def type_everywhere(world):
    """Write the payload into every free-text field, the way each is written
    in the clinic: through the services where there are any."""
    t = Typed()
    therapist = world.users["therapist A"]
    therapist.first_name, therapist.last_name = payload("tfirst"), payload("tlast")
    therapist.save()
    for weekday in (1, 2, 3):
        WorkingHoursFactory(therapist=therapist, weekday=weekday, starts_at=datetime.time(8))
    t.therapist = therapist
    t.room = RoomFactory(name=payload("room"))
    t.kind = AppointmentTypeFactory(name=payload("type"), default_minutes=45)
    t.muscle = MuscleFactory(name=payload("muscle"), region=payload("region"))
    t.advice = AftercareItemFactory(code="xss", title=payload("advtitle"), patient_text=payload("advtext"))
    t.precaution = ScreeningItemFactory(
        code="xss_precaution", question=payload("question"), guidance=payload("guidance")
    )
    t.flag = ScreeningItemFactory(
        code="xss_flag", category=ScreeningCategory.REFER, question=payload("flag"), guidance="Refer."
    )
    t.consent_text = patient_services.consent_text_publish(
        title=payload("ctitle"), body=payload("cbody"), published_by=world.users["clinic admin"]
    )
    WorkingHoursExceptionFactory(therapist=therapist, date=datetime.date(2026, 12, 7), reason=payload("off"))
    ClinicClosureFactory(date=datetime.date(2026, 12, 24), reason=payload("closure"))

    t.patient = patient = PatientFactory(
        first_name=payload("first"),
        last_name=payload("last"),
        address_line=payload("address"),
        city=payload("city"),
        postal_code=SHORT_PAYLOAD,
        emergency_contact_name=payload("emergency"),
        physician=payload("gp"),
        front_desk_notes=payload("desk"),
        treating_therapist=therapist,
        email="xss@patient.example",
        date_of_birth=datetime.date(1980, 5, 1),
    )
    answers = [
        patient_services.ScreeningAnswerInput(
            item=item,
            answer=item == t.precaution,
            acknowledgement=payload("ack") if item == t.precaution else "",
        )
        for item in ScreeningItem.objects.filter(is_active=True)
    ]
    t.screening = patient_services.screening_sign(
        screening=patient_services.screening_save_draft(
            patient=patient, therapist=therapist, answers=answers, notes=payload("snotes")
        ),
        therapist=therapist,
    )
    t.draft_screening = patient_services.screening_save_draft(
        patient=patient, therapist=therapist, answers=answers, notes=payload("sdraft")
    )
    patient_services.consent_record(
        patient=patient, consent_text=t.consent_text, method=Consent.Method.PAPER, witnessed_by=therapist
    )
    t.assessment = AssessmentFactory(patient=patient, therapist=therapist, notes=payload("anotes"))

    def plan(**fields):
        built = PlanFactory.build(
            patient=patient,
            therapist=therapist,
            target_muscles=[{"muscle": t.muscle.pk, "side": Side.LEFT}],
            program=[{"component": "core", "notes": payload("program")}],
            goal_notes=payload("goal"),
            planned_sessions=6,
            sessions_reason=payload("sessions"),
            **fields,
        )
        return treatment_services.plan_save(plan=built, therapist=therapist)

    t.ended_plan = treatment_services.plan_end(
        plan=plan(), therapist=therapist, status=TreatmentPlan.Status.DISCONTINUED, reason=payload("ended")
    )
    t.plan = treatment_services.plan_activate(plan=plan(), therapist=therapist)
    t.draft_plan = plan(severity=TreatmentPlan.Severity.CHRONIC)

    def visit(hour):
        return AppointmentFactory(
            patient=patient,
            therapist=therapist,
            room=t.room,
            appointment_type=t.kind,
            starts_at=local(world.today, datetime.time(hour)),
            status=Appointment.Status.CHECKED_IN,
        )

    content = {
        "needlings": [needling(t.muscle.name)],
        "adverse_events": [
            treatment_services.AdverseEventInput(
                kind=AdverseEvent.Kind.SORENESS,
                severity=AdverseEvent.Severity.MILD,
                notes=payload("event"),
            )
        ],
        "aftercare": [t.advice],
    }
    chart = open_chart(t.plan, appointment=visit(8))
    chart = treatment_services.chart_save_draft(
        chart=chart,
        therapist=therapist,
        fields=chart_fields(notes=payload("cnotes"), aftercare_notes=payload("acnotes")),
        **content,
    )
    t.chart = treatment_services.chart_sign(chart=chart, therapist=therapist)
    treatment_services.chart_amend(
        chart=t.chart,
        therapist=therapist,
        reason=payload("amend"),
        fields=chart_fields(leg=(6, 3), notes=payload("cnotes"), aftercare_notes=payload("acnotes")),
        **content,
    )
    t.draft_chart = treatment_services.chart_save_draft(
        chart=open_chart(t.plan, appointment=visit(10)),
        therapist=therapist,
        fields=chart_fields(notes=payload("draft")),
        **content,
    )
    t.checkin = treatment_services.checkin_record(
        appointment=t.chart.appointment,
        soreness=6,
        leg_pain=9,
        red_flags=["xss_flag"],
        notes=payload("checkin"),
    )
    # Booked through the front desk's services, so that the emails are in the outbox.
    t.upcoming = scheduling_services.appointment_book(
        patient=patient,
        therapist=therapist,
        room=t.room,
        appointment_type=t.kind,
        starts_at=local(TUESDAY, datetime.time(10)),
        booked_by=world.users["receptionist"],
    )
    t.series = scheduling_services.series_book(
        patient=patient,
        therapist=therapist,
        room=t.room,
        appointment_type=t.kind,
        starts=[local(WEDNESDAY, datetime.time(hour)) for hour in (10, 11)],
        booked_by=world.users["receptionist"],
        description=payload("series"),
    )
    return t


@pytest.fixture(scope="module")
def world(django_db_setup, django_db_blocker):
    def build():
        world = build_world()
        world.today = MONDAY
        world.typed = type_everywhere(world)
        return world

    with django_db_blocker.unblock(), built_once(build) as world:
        yield world


# The pages that show what was typed, and the fields each should show.

PATIENT = ["first", "last"]
APPOINTMENT = ["room", "type", "tfirst", "tlast"]


def page(persona, path, *tags, method="get", data=None, **headers):
    return pytest.param(persona, path, tags, method, data or {}, headers, id=f"{path.__name__} as {persona}")


def patient_page(w):
    return reverse("patients:detail", args=[w.typed.patient.pk])


def patient_edit(w):
    return reverse("patients:edit", args=[w.typed.patient.pk])


def patient_list(w):
    return reverse("patients:list")


def patient_search(w):
    return reverse("patients:list") + "?" + urlencode({"q": payload("query")})


def front_desk(w):
    return reverse("scheduling:front-desk") + f"?day={TUESDAY}"


def day_sheet(w):
    return reverse("scheduling:day-sheet") + f"?day={TUESDAY}"


def week(w):
    return reverse("scheduling:week") + f"?day={TUESDAY}&therapist={w.typed.therapist.pk}"


def book(w):
    t = w.typed
    query = {"therapist": t.therapist.pk, "appointment_type": t.kind.pk, "day": TUESDAY, "time": "11:00"}
    return reverse("scheduling:book", args=[t.patient.pk]) + "?" + urlencode(query)


def book_on_a_closed_day(w):
    """Booking on the day the clinic is closed: the refusal gives the reason."""
    return reverse("scheduling:book", args=[w.typed.patient.pk])


def reschedule(w):
    return reverse("scheduling:reschedule", args=[w.typed.upcoming.pk]) + f"?day={TUESDAY}"


def my_day(w):
    return reverse("treatments:my-day")


def plan_page(w):
    return reverse("treatments:plan", args=[w.typed.plan.pk])


def ended_plan_page(w):
    return reverse("treatments:plan", args=[w.typed.ended_plan.pk])


def plan_edit(w):
    return reverse("treatments:plan-edit", args=[w.typed.draft_plan.pk])


def plan_new(w):
    return reverse("treatments:plan-new", args=[w.typed.patient.pk])


def plan_book(w):
    return reverse("treatments:plan-book", args=[w.typed.plan.pk])


def chart_page(w):
    return reverse("treatments:chart", args=[w.typed.chart.pk])


def chart_edit(w):
    return reverse("treatments:chart-edit", args=[w.typed.draft_chart.pk])


def chart_amend(w):
    return reverse("treatments:chart-amend", args=[w.typed.chart.pk])


def chart_start(w):
    return reverse("treatments:chart-start", args=[w.typed.upcoming.pk])


def screening_page(w):
    return reverse("patients:screening", args=[w.typed.patient.pk, w.typed.screening.pk])


def screening_edit(w):
    return reverse("patients:screening-edit", args=[w.typed.patient.pk, w.typed.draft_screening.pk])


def screening_new(w):
    return reverse("patients:screening-new", args=[w.typed.patient.pk])


def assessment_page(w):
    return reverse("patients:assessment", args=[w.typed.patient.pk, w.typed.assessment.pk])


def consent_new(w):
    return reverse("patients:consent-new", args=[w.typed.patient.pk])


def dashboard(w):
    return reverse("clinic:dashboard") + "?first=2026-11-01&last=2026-11-30"


def monthly_report(w):
    return reverse("clinic:monthly-report") + "?month=2026-11"


def my_figures(w):
    return reverse("clinic:my-figures") + "?first=2026-11-01&last=2026-11-30"


def front_desk_figures(w):
    return reverse("clinic:front-desk-figures")


def patient_link(w):
    return reverse("scheduling:patient-link", args=[links.APPOINTMENT.token(w.typed.upcoming.pk)])


def unsubscribe(w):
    return reverse("scheduling:unsubscribe", args=[links.UNSUBSCRIBE.token(w.typed.patient.pk)])


def checkin_after_visit(w):
    return reverse("treatments:check-in", args=[links.CHECKIN.token(w.typed.chart.appointment.pk)])


def front_desk_card(w):
    """The appointment's card, as htmx swaps it in after a check-in."""
    return reverse("scheduling:check-in", args=[w.typed.upcoming.pk])


def archived_message(w):
    """The page after archiving the patient, with its message naming them."""
    return reverse("patients:archive", args=[w.typed.patient.pk])


def register_duplicate(w):
    """Registering the patient again: the form names the likely duplicate."""
    return reverse("patients:register")


DESK_DETAILS = [*PATIENT, "address", "city", "postal", "emergency", "gp", "desk"]

PAGES = [
    page("receptionist", patient_page, *DESK_DETAILS, *APPOINTMENT, "series", "ctitle"),
    page("therapist A", patient_page, *PATIENT, "checkin", "ctitle", "tfirst"),
    page("clinic admin", patient_page, *PATIENT, "checkin", "ctitle"),
    page("receptionist", patient_edit, *DESK_DETAILS),
    page("receptionist", patient_list, *PATIENT),
    page("therapist B", patient_search, "query"),
    page("receptionist", front_desk, *PATIENT, *APPOINTMENT),
    page("receptionist", day_sheet, *PATIENT, *APPOINTMENT),
    page("receptionist", week, *PATIENT, *APPOINTMENT),
    page("therapist A", week, *PATIENT, "room", "type"),
    page("receptionist", book, *PATIENT, "room", "type", "tfirst"),
    page("receptionist", reschedule, *PATIENT, "type", "room"),
    page(
        "receptionist",
        book_on_a_closed_day,
        "closure",
        method="post",
        data=lambda w: {
            "patient": w.typed.patient.pk,
            "therapist": w.typed.therapist.pk,
            "appointment_type": w.typed.kind.pk,
            "day": "2026-12-24",
            "time": "10:00",
            "room": w.typed.room.pk,
        },
    ),
    page("receptionist", plan_book, *PATIENT, "tfirst", "room", "type"),
    page("therapist A", my_day, *PATIENT, "room", "type", "flag"),
    page("therapist A", plan_page, *PATIENT, "muscle", "program", "goal", "sessions", "tfirst"),
    page("clinic admin", plan_page, *PATIENT, "muscle", "goal"),
    page("therapist A", ended_plan_page, "ended"),
    page("therapist A", plan_edit, *PATIENT, "muscle", "program", "goal", "sessions"),
    page("therapist A", plan_new, *PATIENT, "muscle"),
    page("therapist A", chart_page, *PATIENT, "muscle", "cnotes", "acnotes", "event", "advtitle", "amend"),
    page("clinic admin", chart_page, *PATIENT, "cnotes", "amend"),
    page("therapist A", chart_edit, *PATIENT, "muscle", "draft", "event", "advtitle"),
    page("therapist A", chart_amend, *PATIENT, "muscle", "cnotes", "acnotes", "event", "advtitle"),
    page("therapist A", chart_start, *PATIENT),
    page("therapist A", screening_page, *PATIENT, "snotes", "ack", "question"),
    page("therapist A", screening_edit, *PATIENT, "sdraft", "ack", "question", "flag"),
    page("therapist A", screening_new, *PATIENT, "question", "guidance", "flag"),
    page("therapist A", assessment_page, *PATIENT, "anotes"),
    page("therapist A", consent_new, *PATIENT, "ctitle", "cbody"),
    page("clinic admin", dashboard, "tfirst"),
    page("clinic admin", monthly_report, "tfirst"),
    page("therapist A", my_figures),
    page("receptionist", front_desk_figures),
    page("anonymous", patient_link, "first"),
    page("anonymous", unsubscribe, "first"),
    page("anonymous", checkin_after_visit, "first", "flag"),
    page("receptionist", front_desk_card, *PATIENT, "room", "type", method="post", HTTP_HX_REQUEST="true"),
    page("receptionist", archived_message, *PATIENT, method="post", follow=True),
    page(
        "receptionist",
        register_duplicate,
        *PATIENT,
        method="post",
        data={
            "first_name": payload("first"),
            "last_name": payload("last"),
            "date_of_birth": "1980-05-01",
            "sex": "female",
        },
    ),
]


@pytest.mark.parametrize(("persona", "path", "tags", "method", "data", "options"), PAGES)
def test_a_page_shows_what_was_typed_as_text(world, persona, path, tags, method, data, options):
    headers = dict(options)
    follow = headers.pop("follow", False)
    client = world.client(persona)

    form = data(world) if callable(data) else data
    response = getattr(client, method)(path(world), form, follow=follow, **headers)

    html = response.content.decode()
    assert response.status_code == 200
    assert unescaped(html) == [], f"markup that would run: {unescaped(html)}"
    missing = [tag for tag in tags if not shown(html, tag)]
    assert missing == [], f"not shown, escaped, on the page: {missing}"


# The admin: every list, and the page of each row typed in.


def admin_lists():
    return [
        pytest.param(name, id=name)
        for name, chain in url_patterns()
        if is_admin(chain) and name and name.endswith("_changelist")
    ]


# What each list shows of the rows typed in.
LIST_SHOWS = {
    "admin:patients_patient_changelist": PATIENT,
    "admin:patients_screeningitem_changelist": ["question"],
    "admin:patients_consenttext_changelist": ["ctitle"],
    "admin:treatments_muscle_changelist": ["muscle", "region"],
    "admin:treatments_aftercareitem_changelist": ["advtitle"],
    "admin:scheduling_room_changelist": ["room"],
    "admin:scheduling_appointmenttype_changelist": ["type"],
    "admin:scheduling_workinghoursexception_changelist": ["off"],
    "admin:scheduling_clinicclosure_changelist": ["closure"],
    "admin:scheduling_appointmentseries_changelist": ["series", *PATIENT],
    "admin:auth_user_changelist": ["tfirst", "tlast"],
}


@pytest.mark.parametrize("name", admin_lists())
def test_an_admin_list_shows_what_was_typed_as_text(world, name):
    response = world.client("clinic admin").get(reverse(name))

    html = response.content.decode()
    assert response.status_code == 200
    assert unescaped(html) == [], f"markup that would run: {unescaped(html)}"
    missing = [tag for tag in LIST_SHOWS.get(name, []) if not shown(html, tag)]
    assert missing == [], f"not shown, escaped, on the page: {missing}"


ROW_PAGES = [
    ("admin:patients_patient_change", lambda t: t.patient, [*DESK_DETAILS]),
    ("admin:patients_screening_change", lambda t: t.screening, ["snotes", "ack", "question"]),
    ("admin:patients_assessment_change", lambda t: t.assessment, ["anotes"]),
    ("admin:patients_consenttext_change", lambda t: t.consent_text, ["ctitle", "cbody"]),
    ("admin:patients_screeningitem_change", lambda t: t.precaution, ["question", "guidance"]),
    ("admin:treatments_treatmentplan_change", lambda t: t.plan, ["goal", "sessions"]),
    ("admin:treatments_treatmentplan_history", lambda t: t.plan, []),
    ("admin:treatments_sessionchart_change", lambda t: t.chart, ["cnotes", "acnotes"]),
    ("admin:treatments_chartamendment_change", lambda t: t.chart.amendments.get(), ["amend"]),
    ("admin:treatments_adverseevent_change", lambda t: t.chart.adverse_events.get(), ["event"]),
    ("admin:treatments_aftercarecheckin_change", lambda t: t.checkin, ["checkin"]),
    ("admin:treatments_muscle_change", lambda t: t.muscle, ["muscle", "region"]),
    ("admin:treatments_aftercareitem_change", lambda t: t.advice, ["advtitle", "advtext"]),
    ("admin:scheduling_appointment_change", lambda t: t.upcoming, []),
    ("admin:scheduling_appointmentseries_change", lambda t: t.series, ["series"]),
    ("admin:scheduling_room_change", lambda t: t.room, ["room"]),
    ("admin:scheduling_reminder_change", lambda t: t.upcoming.reminders.order_by("pk").first(), []),
    ("admin:auth_user_change", lambda t: t.therapist, ["tfirst", "tlast"]),
]


@pytest.mark.parametrize(("name", "row", "tags"), ROW_PAGES, ids=[name for name, _, _ in ROW_PAGES])
def test_an_admin_page_of_a_row_shows_what_was_typed_as_text(world, name, row, tags):
    response = world.client("clinic admin").get(reverse(name, args=[row(world.typed).pk]))

    html = response.content.decode()
    assert response.status_code == 200
    assert unescaped(html) == [], f"markup that would run: {unescaped(html)}"
    missing = [tag for tag in tags if not shown(html, tag)]
    assert missing == [], f"not shown, escaped, on the page: {missing}"


# What the address itself carries: every page, with a payload in every
# parameter the pages read from the query string.

QUERY = {
    name: payload(name)
    for name in (
        "q",
        "day",
        "first",
        "last",
        "month",
        "therapist",
        "time",
        "room",
        "appointment_type",
        "page",
        "archived",
        "next",
        "csv",
    )
}


def reflected_pages():
    params = []
    for name, row in MATRIX.items():
        persona = allowed_persona(name, row)
        params.append(pytest.param(name, persona, id=f"{name} as {persona}"))
    return params


@pytest.mark.parametrize(("name", "persona"), reflected_pages())
def test_a_payload_in_the_address_never_comes_back_as_markup(world, name, persona):
    row = MATRIX[name]
    kwargs = row.args(world, world.patients["A"]) if row.args else None
    client = world.client(persona)

    response = client.get(reverse(name, kwargs=kwargs), QUERY, follow=True)

    assert response.status_code < 500
    if not response["Content-Type"].startswith("text/html"):
        # A calendar file carries names as they are; no browser may read it as a page.
        assert response["X-Content-Type-Options"] == "nosniff"
        return
    html = response.content.decode()
    assert unescaped(html) == [], f"markup that would run: {unescaped(html)}"


# The emails.


def outbox_of(world):
    """Every email of the payload patient in the outbox, sent the way the
    dispatcher sends them, by kind."""
    patient = world.typed.patient
    mail.outbox = []
    reminders.claim_due(now=timezone.now() + datetime.timedelta(days=60))
    sent = {}
    for reminder in Reminder.objects.filter(
        appointment__patient=patient, status=Reminder.Status.SENDING
    ).order_by("pk"):
        assert reminders.send(reminder.pk) == "sent"
        sent.setdefault(reminder.kind, mail.outbox[-1])
    return sent


def html_part(message):
    return next(content for content, mimetype in message.alternatives if mimetype == "text/html")


# What each email shows of the rows typed in.
EMAIL_SHOWS = {
    Reminder.Kind.BOOKING_CONFIRMATION: ["first", "type", "tfirst", "tlast"],
    Reminder.Kind.APPOINTMENT_REMINDER: ["first", "type", "tfirst", "tlast"],
    Reminder.Kind.AFTERCARE_SAME_DAY: ["first", "muscle", "advtitle", "advtext"],
    Reminder.Kind.AFTERCARE_24H: ["first", "muscle"],
    Reminder.Kind.AFTERCARE_48H: ["first", "tfirst", "tlast"],
}


@pytest.mark.parametrize("kind", list(Reminder.Kind), ids=[kind.value for kind in Reminder.Kind])
def test_an_email_shows_what_was_typed_as_text_in_its_html_and_as_typed_in_its_text(world, kind):
    EmailWording.objects.all().delete()  # the default wording, from templates/emails/

    message = outbox_of(world)[kind]

    html = html_part(message)
    assert unescaped(html) == [], f"markup that would run: {unescaped(html)}"
    missing = [tag for tag in EMAIL_SHOWS[kind] if not shown(html, tag)]
    assert missing == [], f"not shown, escaped, in the HTML part: {missing}"
    for tag in EMAIL_SHOWS[kind]:
        assert payload(tag) in message.body, f"{tag} not as typed in the text part"
    assert "&lt;" not in message.body
    assert "&lt;" not in message.subject


@pytest.mark.parametrize("kind", list(Reminder.Kind), ids=[kind.value for kind in Reminder.Kind])
def test_the_clinics_own_wording_escapes_what_patients_and_staff_typed(world, kind):
    """The clinic admin's wording is a template of the clinic's own HTML;
    the names and details it brings in are escaped like in the default."""
    wording = (
        "Dear {{ patient.first_name }}, {{ appointment.appointment_type.name }} in "
        "{{ appointment.room.name }} with {{ appointment.therapist.get_full_name }}."
        "{% for m in muscles %} {{ m.muscle }}{% endfor %}"
        "{% for item in advice %} {{ item.title }}: {{ item.patient_text }}{% endfor %}"
    )
    EmailWording.objects.all().delete()
    EmailWordingFactory(
        kind=kind,
        subject="For {{ patient.first_name }}",
        body_text=wording,
        body_html=f"<p><strong>{wording}</strong></p>",
    )

    message = outbox_of(world)[kind]

    html = html_part(message)
    assert html.startswith("<p><strong>")
    assert unescaped(html) == [], f"markup that would run: {unescaped(html)}"
    tags = ["first", "type", "room", "tfirst", "tlast"]
    if kind in (Reminder.Kind.AFTERCARE_SAME_DAY, Reminder.Kind.AFTERCARE_24H, Reminder.Kind.AFTERCARE_48H):
        tags += ["muscle", "advtitle", "advtext"]
    missing = [tag for tag in tags if not shown(html, tag)]
    assert missing == [], f"not shown, escaped, in the HTML part: {missing}"
    assert payload("first") in message.body
    assert message.subject == f"For {payload('first')}"


def test_the_check_in_alert_to_the_therapist_escapes_what_was_typed(world):
    """The alert names the patient and the red flag they ticked: as typed in
    its text, escaped in its HTML part if it has one."""
    mail.outbox = []

    treatment_services.checkin_alert_email(world.typed.checkin)

    (message,) = mail.outbox
    assert payload("first") in message.body
    assert payload("flag") in message.body
    for html, mimetype in getattr(message, "alternatives", []):
        if mimetype == "text/html":
            assert unescaped(html) == [], f"markup that would run: {unescaped(html)}"
            assert shown(html, "first")
