"""The clinic's journeys, end to end: one patient's story, Maria Lopez with
sciatica, told four times, once by each person in it.

1. The receptionist registers Maria (warned of a namesake), books her plan's
   six weekly sessions around a conflict, and checks her in on the day.
2. The therapist screens her, takes her consent, assesses her, writes and
   starts the plan, charts the first session, signs it and amends it.
3. Maria, through her emails only: the series confirmation with its .ics
   files, the aftercare the same day and at 24 hours, the check-in that
   alerts her therapist, and a late cancellation through an appointment's link.
4. The clinic admin sees the visit, its adverse event, the check-in alert and
   the emails sent on the dashboard.

Each journey runs on its own: it reaches its starting point through the
services (clinic/tests/journey.py, the same story step by step), then does its
own part in Chromium against the live server. Journey 3 sends its emails
through a real Celery worker to a real SMTP server on loopback.

The live server, the worker and the browser run on the real clock. Where the
story needs time to pass (the day of the first session, the next day's
email), the test moves the diary and the outbox instead (journey.days_pass,
journey.a_day_passes_for); nothing sleeps. SCREENSHOTS=1 saves the last page
of each journey under VAR_DIR/screenshots/.
"""

import logging
import re

import pytest
from django.utils import timezone
from django.utils.dateparse import parse_datetime
from playwright.sync_api import expect

from clinic.celery import app as celery_app
from clinic.tests import journey
from clinic.tests.browser import log_in, screenshot
from patients.models import ODI_SECTIONS, Patient, ScreeningItem
from scheduling.models import Appointment, Reminder
from scheduling.tasks import dispatch_reminders
from treatments.models import AdverseEvent, AftercareCheckIn, SessionChart

pytestmark = [
    pytest.mark.browser,
    pytest.mark.journey,
    pytest.mark.django_db(transaction=True, serialized_rollback=True),
]

Kind = Reminder.Kind
CLINIC_NAME = "Riverside Physiotherapy"


@pytest.fixture(autouse=True)
def clinic_on_the_live_server(settings, live_server):
    """Links the clinic writes into emails lead to the live server; no quiet
    hours, so that a run at night sends its emails at once."""
    settings.SITE_URL = live_server.url
    settings.REMINDER_QUIET_HOURS = (24, 0)
    settings.CLINIC_NAME = CLINIC_NAME


@pytest.fixture
def open_page(browser):
    """Another person's browser: a page in a context of its own (its own login)."""
    contexts = []

    def open_page():
        context = browser.new_context(viewport={"width": 1024, "height": 768})
        contexts.append(context)
        page = context.new_page()
        page.set_default_timeout(10_000)
        return page

    yield open_page
    for context in contexts:
        context.close()


@pytest.fixture
def mailbox():
    """A real SMTP server on loopback, keeping what it is sent."""
    from aiosmtpd.controller import Controller

    mailbox = journey.Mailbox()
    controller = Controller(mailbox, hostname="127.0.0.1", port=mailbox.port)
    log = logging.getLogger("mail.log")  # aiosmtpd logs every SMTP command at INFO
    level = log.level
    log.setLevel(logging.WARNING)
    controller.start()
    yield mailbox
    controller.stop()
    log.setLevel(level)


@pytest.fixture
def clinic_celery_app():
    """The clinic's Celery app as this thread's current app, which shared
    tasks send through (another test may have made its own client current)."""
    from celery import current_app

    previous = current_app._get_current_object()
    celery_app.set_current()
    yield celery_app
    previous.set_current()


@pytest.fixture
def eager_celery(clinic_celery_app):
    """Tasks run at once, in this process, instead of going to a worker."""
    clinic_celery_app.conf.task_always_eager = True
    yield
    clinic_celery_app.conf.task_always_eager = False


@pytest.fixture
def worker(request, settings, live_server, mailbox, start_celery_worker, clinic_celery_app):
    """A real Celery worker on the clinic's broker (Redis, or the file-system
    broker of the embedded run), sending through the loopback SMTP server.

    The dispatcher (what beat runs every minute) is run by the test when the
    story needs it; what it and the live server hand to Celery goes to this
    worker's queue."""
    broker = settings.CELERY_BROKER_URL
    if broker.startswith("redis"):
        request.getfixturevalue("redis_url")  # on CI a missing Redis fails the test
    started = start_celery_worker(
        broker_url=broker,
        result_backend=settings.CELERY_RESULT_BACKEND,
        extra_env={
            "EMAIL_HOST": "127.0.0.1",
            "EMAIL_PORT": str(mailbox.port),
            "REMINDER_QUIET_HOURS": "none",
            "SITE_URL": live_server.url,
            "CLINIC_NAME": CLINIC_NAME,
            # The file-system broker's folders are under VAR_DIR: the same as this process's.
            "VAR_DIR": str(settings.VAR_DIR),
        },
    )
    conf = clinic_celery_app.conf
    default_queue, conf.task_default_queue = conf.task_default_queue, started.queue
    yield started
    conf.task_default_queue = default_queue


# Journey 1: the receptionist.


def field(page, label):
    """The required form control labelled `label` (crispy ends a required
    field's label with an asterisk)."""
    return page.get_by_label(f"{label}*", exact=True)


def register_maria(page):
    page.get_by_role("link", name="Patients", exact=True).click()
    page.get_by_role("link", name="Register a patient").click()
    expect(page.get_by_role("heading", level=1, name="Register a patient")).to_be_visible()
    field(page, "First name").fill("Maria")
    field(page, "Last name").fill("Lopez")
    field(page, "Date of birth").fill("1984-03-12")
    field(page, "Sex").select_option(label="Female")
    page.get_by_label("Email", exact=True).fill(journey.MARIA["email"])
    page.get_by_label("Phone", exact=True).fill("(212) 555-0147")
    page.get_by_label("Consents to email reminders").check()
    page.get_by_role("button", name="Save").click()


def test_the_receptionist_registers_maria_books_her_series_and_checks_her_in(page, live_server):
    clinic = journey.open_clinic()
    namesake = journey.register_namesake()
    log_in(page, live_server, clinic.receptionist)

    # Registers Maria. Another Maria Lopez born the same day is on record:
    # another phone, another person, so she registers Maria anyway.
    register_maria(page)
    warning = page.get_by_role("alert").filter(has_text="Already registered?")
    expect(warning).to_contain_text("Maria Lopez, born 1984-03-12, (718) 555-0199")
    page.get_by_label(
        "This is a different person with the same name and date of birth: register anyway"
    ).check()
    page.get_by_role("button", name="Save").click()
    expect(page.get_by_role("alert").filter(has_text="Maria Lopez is registered.")).to_be_visible()
    expect(page.get_by_role("heading", level=1, name="Maria Lopez")).to_be_visible()
    maria = Patient.objects.exclude(pk=namesake.pk).get(last_name="Lopez")
    assert (maria.email, str(maria.phone), maria.email_consent) == (
        journey.MARIA["email"],
        journey.MARIA["phone"],
        True,
    )

    # The therapist clears Maria for dry needling and starts a plan (journey 2).
    plan = journey.clear_and_plan(clinic, maria)

    # Books the plan's six weekly sessions. Theo is busy in the third week:
    # that session moves to the first time offered instead.
    page.reload()
    page.get_by_role("region", name="Treatment plans").get_by_role("link", name="Book sessions").click()
    expect(page.get_by_role("heading", level=1, name="Book the plan's sessions: Maria Lopez")).to_be_visible()
    first_day = clinic.first_session_day
    field(page, "First day").fill(first_day.isoformat())
    at = f"{clinic.session_time:%H:%M}"
    field(page, "Time").fill(at)
    page.get_by_label(f"{first_day:%a}", exact=True).check()
    field(page, "Appointment type").select_option(label="Dry-needling session (45 min)")
    field(page, "Room").select_option(label="Room 1")
    page.get_by_role("button", name="Preview the sessions").click()

    preview = page.get_by_role("region", name="Proposed sessions")
    sessions = [preview.get_by_role("group", name=re.compile(rf"^Session {n}:")) for n in range(1, 7)]
    for number, session in enumerate(sessions, start=1):
        if number != journey.CONFLICTING_WEEK:
            expect(
                session.get_by_role("radio", name=re.compile(rf"^Keep \w{{3}} \d+ \w{{3}}, {at}$"))
            ).to_be_checked()
    conflict = sessions[journey.CONFLICTING_WEEK - 1]
    expect(conflict).to_contain_text("Theo Park is busy then.")
    expect(conflict.get_by_role("radio", name=re.compile("^Keep "))).to_have_count(0)
    offered = conflict.get_by_role("radio", name=re.compile(r"^\w{3} \d{1,2} \w{3}, \d\d:\d\d$")).first
    expect(offered).to_be_checked()  # the nearest free time comes preselected
    offered.check()
    moved_to = parse_datetime(offered.get_attribute("value"))
    page.get_by_role("button", name="Book all 6 sessions").click()
    expect(page.get_by_role("alert").filter(has_text="Booked 6 sessions for Maria Lopez.")).to_be_visible()
    expect(page.get_by_role("region", name="Upcoming appointments").get_by_role("listitem")).to_have_count(6)

    booked = list(Appointment.objects.filter(patient=maria).order_by("starts_at"))
    wanted = clinic.series_times()
    wanted[journey.CONFLICTING_WEEK - 1] = moved_to
    assert [a.starts_at for a in booked] == wanted
    assert timezone.localdate(moved_to) == timezone.localdate(
        clinic.series_times()[journey.CONFLICTING_WEEK - 1]
    )
    assert [s.appointments.count() for s in plan.appointment_series.all()] == [6]

    # The day of the first session: Maria arrives and is checked in at the front desk.
    journey.the_day_of_the_first_session_comes(clinic)
    page.get_by_role("link", name="Front desk").click()
    expect(page.get_by_role("heading", level=1, name=re.compile("^Front desk"))).to_be_visible()
    theo = page.get_by_role("region", name=re.compile("^Theo Park"))
    visit = theo.get_by_role("article", name=f"{at} Maria Lopez")
    expect(visit).to_contain_text("Booked")
    visit.get_by_role("button", name="Check in Maria Lopez").click()
    expect(visit).to_contain_text("Checked in")
    expect(visit.get_by_role("button", name="Check in Maria Lopez")).to_have_count(0)
    screenshot(page, "journey-1-receptionist")
    booked[0].refresh_from_db()
    assert booked[0].status == Appointment.Status.CHECKED_IN
    assert timezone.localdate(booked[0].starts_at) == timezone.localdate()


# Journey 2: the therapist.


def question_group(page, text):
    """A fieldset named by its legend, which may number it and ends with `text`."""
    return page.get_by_role("group", name=re.compile(rf"{re.escape(text)}$"))


def screen_maria(page):
    page.get_by_role("link", name="New screening").click()
    for item in ScreeningItem.objects.filter(is_active=True):
        answer = "Yes" if item.code == "diabetes" else "No"
        question_group(page, item.question).get_by_label(answer, exact=True).check()
    diabetes = page.get_by_role("listitem").filter(has=question_group(page, "Diabetes?"))
    diabetes.get_by_label(re.compile(r"^If yes: how will you manage this precaution\?")).fill(
        journey.DIABETES_NOTE
    )
    page.get_by_role("button", name="Save draft and see the result").click()
    result = page.get_by_role("alert").filter(
        has=page.get_by_role("heading", name="Cleared with precautions")
    )
    expect(result).to_contain_text(journey.DIABETES_NOTE)
    page.get_by_role("button", name="Sign screening").click()
    expect(page.get_by_role("alert").filter(has_text="Screening signed")).to_be_visible()


def record_consent(page):
    page.get_by_role("link", name="Maria Lopez").click()
    page.get_by_role("link", name="Record consent").click()
    page.get_by_label("Signed on paper").check()
    page.get_by_label("The patient has read this consent text").check()
    page.get_by_role("button", name="Record consent").click()
    expect(page.get_by_role("region", name="Dry needling")).to_contain_text("Cleared and consented")


def assess_maria(page):
    page.get_by_role("link", name="New assessment").click()
    page.get_by_label("Intake", exact=True).check()
    page.get_by_label("Left", exact=True).check()
    for symptom in ("Pain radiating into the leg", "Tingling", "Worse when sitting"):
        page.get_by_label(symptom, exact=True).check()
    page.get_by_label("Back pain (0-10)").fill(str(journey.BACK_PAIN[0]))
    page.get_by_label("Leg pain (0-10)").fill(str(journey.LEG_PAIN[0]))
    for name, label in ODI_SECTIONS:
        if name != "odi_sex_life":  # left unanswered, as patients may
            page.get_by_label(f"ODI: {label}", exact=True).select_option("2")
    page.get_by_label("Straight-leg raise done").check()
    page.get_by_label("Straight-leg raise angle (degrees)").fill("45")
    page.get_by_label("Positive", exact=True).check()
    page.get_by_role("button", name="Save assessment").click()
    expect(page.get_by_role("alert").filter(has_text="Assessment saved: ODI 40.0%.")).to_be_visible()
    expect(page.get_by_role("heading", level=1, name="Intake assessment of Maria Lopez")).to_be_visible()


def write_and_start_the_plan(page):
    page.get_by_role("link", name="Maria Lopez").click()
    page.get_by_role("link", name="New treatment plan").click()
    page.get_by_label("Chronic", exact=True).check()
    for muscle, side in journey.TARGETS:
        page.get_by_label(muscle, exact=True).select_option(label=side.label)
    page.get_by_label("Trigger-point dry needling", exact=True).check()
    page.get_by_label("Core strengthening", exact=True).check()
    page.get_by_label("Core strengthening: notes").fill("Bird-dog, dead bug.")
    page.get_by_role("button", name="Save plan").click()
    expect(page.get_by_role("alert").filter(has_text="Plan saved as a draft")).to_be_visible()
    expect(page.get_by_text(re.compile(r"· 6 sessions, once a week ·"))).to_be_visible()
    page.get_by_role("button", name="Start plan").click()
    expect(page.get_by_role("alert").filter(has_text="Plan started")).to_be_visible()


def selected(page, label):
    """The chosen option of the select labelled `label`."""
    return page.get_by_label(label, exact=True).locator("option:checked")


def chart_the_first_session(page):
    page.get_by_role("link", name="My day").click()
    visits = page.get_by_role("table", name="Your visits today")
    visits.get_by_role("row").filter(has_text="Maria Lopez").get_by_role(
        "link", name="Chart", exact=True
    ).click()

    expect(page.get_by_role("heading", level=1, name="Before needling: Maria Lopez")).to_be_visible()
    question_group(
        page, "Is the patient's screening still valid, and nothing in it has changed?"
    ).get_by_label("Yes", exact=True).check()
    page.get_by_role(
        "group", name=re.compile("^Does the patient report any new contraindication")
    ).get_by_label("No", exact=True).check()
    page.get_by_role("button", name="Open the chart").click()

    expect(page.get_by_role("heading", level=1, name="Chart: session 1 of 6, Maria Lopez")).to_be_visible()
    page.get_by_label("Leg pain before (0-10)").fill(str(journey.LEG_PAIN[0]))
    page.get_by_label("Back pain before (0-10)").fill(str(journey.BACK_PAIN[0]))
    page.get_by_label("Leg pain after (0-10)").fill(str(journey.LEG_PAIN[1]))
    page.get_by_label("Back pain after (0-10)").fill(str(journey.BACK_PAIN[1]))
    # Rows 1 and 2 come filled with the plan's muscles: both needled, both twitched.
    for row, (muscle, side) in enumerate(journey.TARGETS, start=1):
        expect(selected(page, f"Row {row}: Muscle")).to_have_text(muscle)
        expect(selected(page, f"Row {row}: Side")).to_have_text(side.label)
        page.get_by_label(f"Row {row}: Needles", exact=True).fill("2")
        page.get_by_label(f"Row {row}: Length (mm)", exact=True).fill("60")
        page.get_by_label(f"Row {row}: Gauge (mm)", exact=True).fill("0.30")
        page.get_by_label(f"Row {row}: Twitch", exact=True).check()
    page.get_by_label("Event 1: Kind").select_option(label="Soreness")
    page.get_by_label("Event 1: Severity").select_option(label="Mild")
    page.get_by_label("Event 1: Notes").fill(journey.SORENESS_NOTE)
    for advice in ("Hydration", "Gentle stretching", "What soreness to expect"):
        page.get_by_label(advice, exact=True).check()
    page.get_by_role("button", name="Save chart").click()

    expect(page.get_by_text("Draft: not signed")).to_be_visible()
    page.get_by_role("button", name="Sign chart").click()
    expect(page.get_by_role("alert").filter(has_text="Chart signed")).to_be_visible()
    chart = page.get_by_role("region", name="Chart", exact=True)
    expect(chart).to_contain_text("7 before → 4 after")
    expect(chart).to_contain_text("20560 (2 muscles)")
    expect(chart).to_contain_text(f"Soreness (mild): {journey.SORENESS_NOTE}")
    for muscle, _ in journey.TARGETS:
        needled = chart.get_by_role("row").filter(has_text=muscle)
        expect(needled.get_by_role("cell").nth(5)).to_have_text("Yes")  # twitch


AMENDMENT_REASON = "The piriformis reproduced her leg pain; familiar pain was not ticked at the time."


def amend_the_chart(page):
    page.get_by_role("link", name="Amend").click()
    expect(page.get_by_role("heading", level=1, name="Amend: session 1 of 6, Maria Lopez")).to_be_visible()
    page.get_by_label("Reason for the amendment").fill(AMENDMENT_REASON)
    expect(selected(page, "Row 2: Muscle")).to_have_text("Piriformis")
    page.get_by_label("Row 2: Familiar pain", exact=True).check()
    page.get_by_role("button", name="Save amendment").click()
    expect(page.get_by_role("alert").filter(has_text="Chart amended")).to_be_visible()
    current = page.get_by_role("region", name="Current version (amended)")
    before = page.get_by_role("region", name=re.compile("^Before the amendment of .* by Theo Park$"))
    expect(before).to_contain_text(AMENDMENT_REASON)
    familiar_pain = 6  # the column of the muscles' table
    expect(
        current.get_by_role("row").filter(has_text="Piriformis").get_by_role("cell").nth(familiar_pain)
    ).to_have_text("Yes")
    expect(
        before.get_by_role("row").filter(has_text="Piriformis").get_by_role("cell").nth(familiar_pain)
    ).to_have_text("No")


def test_the_therapist_screens_plans_charts_signs_and_amends_the_first_session(page, live_server):
    clinic = journey.open_clinic()
    maria = journey.register()
    log_in(page, live_server, clinic.therapist)

    # Finds Maria, screens her (one precaution, acknowledged), records her
    # consent and the intake assessment, then writes and starts the plan.
    page.get_by_role("link", name="Patients", exact=True).click()
    page.get_by_label("Search patients").fill("Lopez")
    page.get_by_role("button", name="Search").click()
    page.get_by_role("link", name="Lopez, Maria").click()
    screen_maria(page)
    record_consent(page)
    assess_maria(page)
    write_and_start_the_plan(page)
    plan = maria.treatment_plans.get()
    assert (plan.status, plan.planned_sessions) == ("active", 6)

    # The front desk books the series; on the day of the first session Maria is checked in (journey 1).
    first_visit = journey.book_series(clinic, plan)[0]
    journey.the_day_of_the_first_session_comes(clinic)
    first_visit.refresh_from_db()
    journey.check_in(clinic, first_visit)

    # Charts the first session, signs it, then amends it with a reason.
    chart_the_first_session(page)
    amend_the_chart(page)
    screenshot(page, "journey-2-therapist")

    chart = SessionChart.objects.get(appointment=first_visit)
    assert chart.is_signed
    assert (chart.leg_pain_before, chart.leg_pain_after) == journey.LEG_PAIN
    assert sorted(chart.needlings.values_list("muscle__name", "twitch_response")) == [
        ("Gluteus medius", True),
        ("Piriformis", True),
    ]
    assert list(chart.adverse_events.values_list("kind", "severity")) == [("soreness", "mild")]
    assert list(chart.amendments.values_list("reason", flat=True)) == [AMENDMENT_REASON]
    first_visit.refresh_from_db()
    assert first_visit.status == Appointment.Status.COMPLETED
    # Signing scheduled the visit's aftercare emails.
    aftercare = Reminder.objects.filter(appointment=first_visit, kind__startswith="aftercare")
    assert sorted(aftercare.values_list("kind", "status")) == [
        (Kind.AFTERCARE_24H, "pending"),
        (Kind.AFTERCARE_48H, "pending"),
        (Kind.AFTERCARE_SAME_DAY, "pending"),
    ]


# Journey 3: the patient, through her emails.


def read_in_mail_client(page, message):
    """Show an email's HTML part as Maria's mail client would."""
    page.set_content(journey.html_part(message))


@pytest.mark.integration
def test_the_patient_follows_her_emails_checks_in_and_cancels_late(
    page, open_page, live_server, mailbox, worker
):
    clinic = journey.open_clinic()
    maria = journey.register()
    plan = journey.clear_and_plan(clinic, maria)
    to = maria.email

    def email_to(address, subject):
        """The email, as soon as the worker has sent it."""
        return mailbox.wait_for(
            to=address,
            subject=subject,
            still_waiting=lambda: worker.process.poll() is None,
            explain=lambda: f"The worker's log ends:\n{worker.output()[-3000:]}",
        )

    # The series is booked: one confirmation, an .ics file for each session.
    series = journey.book_series(clinic, plan)
    dispatch_reminders()
    confirmation = email_to(to, f"Your 6 appointments at {CLINIC_NAME} are booked")
    text = journey.text_part(confirmation)
    assert "Your 6 appointments are booked:" in text
    for appointment in series:
        when = timezone.localtime(appointment.starts_at)
        assert (
            f"{when:%A} {when.day} {when:%B %Y} at {when:%H:%M}: Dry-needling session with Theo Park" in text
        )
    assert journey.calendar_files(confirmation) == {f"appointment-{a.pk}.ics": a.starts_at for a in series}
    assert "Your 6 appointments are booked:" in journey.html_part(confirmation)

    # Days pass until the day of the first session; its reminder, due the day before, has gone out.
    first_visit = series[0]
    journey.the_day_of_the_first_session_comes(clinic)
    first_visit.refresh_from_db()
    dispatch_reminders()
    when = timezone.localtime(first_visit.starts_at)
    email_to(to, f"Reminder: your appointment at {CLINIC_NAME} on {when:%a %-d %b} at {when:%H:%M}")

    # The day of the first session: checked in, needled, charted and signed.
    journey.check_in(clinic, first_visit)
    journey.chart_first_session(clinic, plan, first_visit)
    dispatch_reminders()
    same_day = email_to(to, f"After today's treatment at {CLINIC_NAME}")
    read_in_mail_client(page, same_day)
    treated = page.get_by_role("list").filter(has_text="Gluteus medius")
    expect(treated.get_by_role("listitem")).to_have_text(["Gluteus medius (left)", "Piriformis (left)"])
    expect(page.get_by_text("Hydration:")).to_be_visible()
    assert "- Gluteus medius (left)\n- Piriformis (left)" in journey.text_part(same_day)

    # A day later: the 24-hour email, with its check-in.
    journey.a_day_passes_for(first_visit, Kind.AFTERCARE_24H)
    dispatch_reminders()
    next_day = email_to(to, "How are you feeling after your treatment?")
    assert "Gluteus medius, Piriformis" in journey.text_part(next_day)
    read_in_mail_client(page, next_day)
    page.get_by_role("link", name="Tell us how you are (two minutes)").click()

    # Her leg hurts more than before the visit.
    expect(
        page.get_by_role("heading", level=1, name="How are you after your treatment, Maria?")
    ).to_be_visible()
    page.get_by_role(
        "group", name=re.compile(re.escape("How sore are the treated muscles now?"))
    ).get_by_label("5", exact=True).check()
    page.get_by_role(
        "group", name=re.compile(re.escape("How bad is the pain in your leg now?"))
    ).get_by_label("8", exact=True).check()
    for flag in page.get_by_role("group", name=re.compile("^Since your visit:")).all():
        flag.get_by_label("No", exact=True).check()
    page.get_by_label("Anything else you want us to know").fill("The leg is worse since this morning.")
    page.get_by_role("button", name="Send to my therapist").click()
    expect(page.get_by_role("alert")).to_contain_text("Your therapist has been told and will call you.")

    # ... which alerts Theo: by email, through the worker, and on his day.
    alert_email = email_to(clinic.therapist.email, "Check-in alert: Maria Lopez")
    assert "Leg pain 8/10, worse than 7/10 before the visit." in journey.text_part(alert_email)
    theo = open_page()
    log_in(theo, live_server, clinic.therapist)
    theo.get_by_role("link", name="My day").click()
    alerts = theo.get_by_role("alert", name="Check-in alerts")
    expect(alerts).to_contain_text("Maria Lopez")
    expect(alerts).to_contain_text("Leg pain 8/10, worse than 7/10 before the visit.")

    # Theo asks her to come in soon; she cannot, and cancels through the
    # appointment's link: less than 24 hours ahead, a late cancellation.
    soon = journey.book_visit_soon(clinic, maria)
    dispatch_reminders()
    when = timezone.localtime(soon.starts_at)
    booked = email_to(to, f"Your appointment at {CLINIC_NAME} on {when:%a} {when.day} {when:%b} is booked")
    assert journey.calendar_files(booked) == {f"appointment-{soon.pk}.ics": soon.starts_at}
    read_in_mail_client(page, booked)
    page.get_by_role("link", name="Confirm or cancel").click()
    expect(page.get_by_role("heading", level=1, name="Your appointment")).to_be_visible()
    expect(
        page.get_by_text("The appointment is less than 24 hours away: cancelling now is a late cancellation.")
    ).to_be_visible()
    page.get_by_role("button", name="Cancel").click()
    expect(page.get_by_role("alert")).to_contain_text(
        "Your appointment is cancelled. As it was less than 24 hours away, this is a late cancellation."
    )
    expect(page.get_by_role("status")).to_contain_text("a late cancellation")
    screenshot(page, "journey-3-patient")

    soon.refresh_from_db()
    assert (soon.status, soon.cancelled_by, soon.late_cancellation) == ("cancelled", "patient", True)
    checkin = AftercareCheckIn.objects.get(appointment=first_visit)
    assert checkin.alert
    assert checkin.alert_reasons == ["Leg pain 8/10, worse than 7/10 before the visit."]
    # Every email went out once.
    message_ids = [str(m["Message-ID"]) for m in mailbox.messages()]
    assert len(message_ids) == len(set(message_ids))


# Journey 4: the clinic admin.


def test_the_clinic_admin_sees_the_visit_its_adverse_event_the_alert_and_the_emails(
    page, live_server, eager_celery, mailoutbox
):
    clinic = journey.open_clinic()
    maria = journey.register()
    plan = journey.clear_and_plan(clinic, maria)
    first_visit = journey.book_series(clinic, plan)[0]
    journey.send_due_emails()  # the series' confirmation
    journey.the_day_of_the_first_session_comes(clinic)
    first_visit.refresh_from_db()
    journey.send_due_emails()  # the first session's reminder, due yesterday
    journey.check_in(clinic, first_visit)
    journey.chart_first_session(clinic, plan, first_visit)
    journey.send_due_emails()  # the aftercare of the same day
    journey.a_day_passes_for(first_visit, Kind.AFTERCARE_24H)
    journey.send_due_emails()
    # The check-in's alert to the therapist is sent at once, here, not by a worker (eager_celery).
    journey.report_worse_leg_pain(first_visit)

    sent = Reminder.objects.filter(status=Reminder.Status.SENT)
    assert sorted(sent.values_list("kind", flat=True)) == sorted(
        [Kind.BOOKING_CONFIRMATION, Kind.APPOINTMENT_REMINDER, Kind.AFTERCARE_SAME_DAY, Kind.AFTERCARE_24H]
    )
    assert [m.subject for m in mailoutbox][-1] == "Check-in alert: Maria Lopez"

    log_in(page, live_server, clinic.clinic_admin)
    expect(page.get_by_role("heading", level=1, name=re.compile("^Dashboard"))).to_be_visible()

    # The visit: today, Theo's one appointment, completed.
    today = page.get_by_role("table", name=re.compile(r"^Today, .* per therapist"))
    theo = today.get_by_role("row").filter(has=page.get_by_role("rowheader", name="Theo Park"))
    # Appointments, still to come, checked in, completed, no-shows, cancelled, unsigned charts.
    expect(theo.get_by_role("cell")).to_have_text(["1", "0", "0", "1", "0", "0", "0"])

    # Its adverse event: one mild soreness, nothing serious.
    safety = page.get_by_role("region", name=re.compile("^Safety"))
    expect(safety).to_contain_text("1 adverse event, 0 serious.")
    soreness = (
        safety.get_by_role("table", name=re.compile("^Adverse events by type and severity"))
        .get_by_role("row")
        .filter(has=page.get_by_role("rowheader", name="Soreness"))
    )
    # Mild, moderate, severe, all.
    expect(soreness.get_by_role("cell")).to_have_text(["1", "0", "0", "1"])

    # The check-in alert, and the emails sent today.
    emails = page.get_by_role("region", name=re.compile("^Patient emails"))
    expect(emails).to_contain_text(re.compile(r"Sent today\s*4\s*Failed\s*0\b"))
    expect(emails).to_contain_text(re.compile(r"Check-in alerts open\s*1\b"))
    screenshot(page, "journey-4-clinic-admin")
    assert AdverseEvent.objects.get().chart.appointment == first_visit
