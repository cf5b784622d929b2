"""The patient's check-in from the 24-hour aftercare email: it asks only
what a patient can report since the visit, raises an alert for the treating
therapist, and a link already used shows what was sent."""

import datetime
import re

import pytest
import time_machine
from django.conf import settings
from django.core import mail
from django.template.defaultfilters import date as date_filter
from django.template.defaultfilters import time as time_filter
from django.urls import reverse
from django.utils import timezone

from clinic.celery import app
from core import links
from patients.models import ScreeningItem
from scheduling.models import Reminder
from treatments import services
from treatments.models import AftercareCheckIn
from treatments.tests.factories import active_plan, charted_session

pytestmark = pytest.mark.django_db


@pytest.fixture
def eager_celery():
    app.conf.task_always_eager = True
    yield
    app.conf.task_always_eager = False


@pytest.fixture
def visit(therapist):
    """A visit charted with leg pain 6 before and 4 after, and signed."""
    plan = active_plan(therapist)
    return charted_session(plan, leg=(6, 4)).appointment


def answers(**changes):
    data = {"soreness": "3", "leg_pain": "3", "notes": ""}
    for item in services.red_flag_items():
        data[f"flag_{item.code}"] = "no"
    data.update(changes)
    return data


def checkin_page(visit):
    return reverse("treatments:check-in", args=[links.CHECKIN.token(visit.pk)])


def test_it_puts_the_check_in_link_in_the_24_hour_aftercare(visit):
    reminder = Reminder.objects.get(appointment=visit, kind=Reminder.Kind.AFTERCARE_24H)

    # The token carries a timestamp, so compare where the link leads, not its text.
    url = reminder.context["checkin_url"]
    token = url.rstrip("/").rsplit("/", 1)[-1]
    assert url.startswith(settings.SITE_URL + "/check-in/")
    assert services.checkin_appointment(token) == visit


def test_it_asks_the_red_flag_questions_without_a_login(client, visit):
    page = client.get(checkin_page(visit)).content.decode()

    assert "Since your visit: Numbness or altered sensation in the saddle area" in page
    assert "How bad is the pain in your leg now?" in page


# The symptoms a patient can report since the visit, as the rules table marks them.
AFTER_VISIT = [
    "bladder_bowel_dysfunction",
    "saddle_numbness",
    "progressive_leg_weakness",
    "bilateral_leg_symptoms",
    "fever",
]


def questions_asked(response):
    return re.findall(r'name="([a-z_]+)" value="no"', response.content.decode())


def test_it_asks_only_what_a_patient_can_report_since_the_visit(client, visit):
    response = client.get(checkin_page(visit))

    page = response.content.decode()
    assert "How sore are the treated muscles now?" in page
    assert "How bad is the pain in your leg now?" in page
    assert questions_asked(response) == [f"flag_{code}" for code in AFTER_VISIT]
    assert (
        list(
            ScreeningItem.objects.filter(asked_after_visit=True)
            .order_by("position")
            .values_list("code", flat=True)
        )
        == AFTER_VISIT
    )
    for history in ("A history of cancer", "Significant trauma", "Unexplained weight loss", "Pregnant"):
        assert history not in page


def test_an_honest_patient_with_a_past_cancer_raises_no_red_flag_alert(client, visit, mailoutbox):
    """The earlier check-in asked "Since your visit: A history of cancer?", so
    a patient with a past cancer answered yes, and alerted their therapist."""
    response = client.post(checkin_page(visit), answers(flag_history_of_cancer="yes", leg_pain="4"))

    assert "Your answers are with your therapist." in response.content.decode()
    checkin = AftercareCheckIn.objects.get(appointment=visit)
    assert (checkin.alert, checkin.red_flags, checkin.alert_reasons) == (False, [], [])
    assert mailoutbox == []


def test_the_clinic_admin_chooses_in_the_admin_what_the_check_in_asks(client, visit, clinic_admin):
    fever = ScreeningItem.objects.get(code="fever")
    client.force_login(clinic_admin)
    change = reverse("admin:patients_screeningitem_change", args=[fever.pk])
    form = client.get(change).context["adminform"].form
    data = {name: form[name].value() for name in form.fields if form[name].value() not in (None, False)}
    del data["asked_after_visit"]  # unticked

    assert client.post(change, data).status_code == 302

    client.logout()
    asked = questions_asked(client.get(checkin_page(visit)))
    assert asked == [f"flag_{code}" for code in AFTER_VISIT if code != "fever"]
    assert fever.history.first().asked_after_visit is False


def test_it_records_a_check_in_that_needs_no_alert(client, visit, therapist):
    response = client.post(checkin_page(visit), answers(leg_pain="4"))

    assert "Your answers are with your therapist." in response.content.decode()
    checkin = AftercareCheckIn.objects.get(appointment=visit)
    assert (checkin.soreness, checkin.leg_pain, checkin.alert) == (3, 4, False)
    client.force_login(therapist)
    assert "Check-in alerts" not in client.get(reverse("treatments:my-day")).content.decode()


def test_it_alerts_the_therapist_when_leg_pain_is_worse_than_before_the_visit(
    client, visit, therapist, eager_celery, django_capture_on_commit_callbacks
):
    therapist.email = "theo@clinic.example"
    therapist.save()

    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(checkin_page(visit), answers(leg_pain="8"))

    assert "Your therapist has been told and will call you." in response.content.decode()
    assert len(mail.outbox) == 1
    assert mail.outbox[0].to == ["theo@clinic.example"]
    assert "Leg pain 8/10, worse than 6/10 before the visit." in mail.outbox[0].body
    html, mimetype = mail.outbox[0].alternatives[0]
    assert mimetype == "text/html"
    assert "<li>Leg pain 8/10, worse than 6/10 before the visit.</li>" in html
    client.force_login(therapist)
    assert (
        "Leg pain 8/10, worse than 6/10 before the visit."
        in client.get(reverse("treatments:my-day")).content.decode()
    )


def test_it_alerts_on_any_red_flag(client, visit):
    client.post(checkin_page(visit), answers(flag_saddle_numbness="yes", leg_pain="2"))

    checkin = AftercareCheckIn.objects.get(appointment=visit)
    assert checkin.alert
    assert checkin.red_flags == ["saddle_numbness"]
    assert any("saddle area" in reason for reason in checkin.alert_reasons)


def test_it_takes_one_check_in_per_visit(client, visit):
    client.post(checkin_page(visit), answers())

    response = client.post(checkin_page(visit), answers(leg_pain="9"))

    assert response.status_code == 400
    assert "already sent your check-in" in response.content.decode()
    assert AftercareCheckIn.objects.get(appointment=visit).leg_pain == 3


def sent_on(checkin):
    """The page's words for when the check-in was sent, in clinic time."""
    sent = timezone.localtime(checkin.submitted_at)
    return f"You sent this check-in on {date_filter(sent, 'l j F')} at {time_filter(sent, 'H:i')}"


def test_a_used_link_says_at_once_when_it_was_sent_and_shows_the_answers_with_no_form(client, visit):
    client.post(checkin_page(visit), answers(leg_pain="4", soreness="5", notes="Much better walking"))
    checkin = AftercareCheckIn.objects.get(appointment=visit)

    response = client.get(checkin_page(visit))

    assert response.status_code == 200
    page = response.content.decode()
    assert sent_on(checkin) in page
    assert "<form" not in page
    assert questions_asked(response) == []
    text = re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", page))
    assert "Soreness of the treated muscles 5/10" in text
    assert "Pain in your leg 4/10" in text
    assert "New or worse since your visit None of the warning signs we asked about" in text
    assert "Much better walking" in text


def test_a_used_link_shows_the_warning_signs_reported(client, visit):
    client.post(checkin_page(visit), answers(flag_saddle_numbness="yes", flag_fever="yes"))

    page = client.get(checkin_page(visit)).content.decode()

    assert "Numbness or altered sensation in the saddle area (buttocks, genitals, inner thighs)?" in page
    assert "Fever, or feeling generally unwell, with the back pain?" in page
    assert "Your therapist has been told and will call you." in page


def test_a_second_check_in_posted_on_a_used_link_changes_nothing_and_shows_the_first(client, visit):
    client.post(checkin_page(visit), answers(leg_pain="4"))
    checkin = AftercareCheckIn.objects.get(appointment=visit)

    response = client.post(checkin_page(visit), answers(leg_pain="9", flag_fever="yes"))

    assert response.status_code == 400
    page = response.content.decode()
    assert sent_on(checkin) in page
    assert "nothing more was sent" in page
    assert 'Pain in your leg</dt><dd class="col-sm-7">4/10' in page
    assert list(AftercareCheckIn.objects.values_list("leg_pain", "red_flags")) == [(4, [])]


def test_it_refuses_unanswered_questions_and_keeps_nothing(client, visit):
    data = answers()
    del data["flag_saddle_numbness"]

    response = client.post(checkin_page(visit), data)

    assert "Please answer every question." in response.content.decode()
    assert not AftercareCheckIn.objects.exists()


def test_it_refuses_a_tampered_link(client, visit):
    tampered = checkin_page(visit).rstrip("/") + "0/"
    response = client.post(tampered, answers())

    assert response.status_code == 400
    assert not AftercareCheckIn.objects.exists()


def test_it_refuses_an_expired_link(client, visit):
    page = checkin_page(visit)

    with time_machine.travel(timezone.now() + datetime.timedelta(days=8)):
        response = client.post(page, answers())

    assert response.status_code == 400
    assert not AftercareCheckIn.objects.exists()


def test_it_clears_the_alert_once_the_therapist_has_handled_it(client, visit, therapist, other_therapist):
    client.post(checkin_page(visit), answers(leg_pain="9"))
    checkin = AftercareCheckIn.objects.get()

    client.force_login(other_therapist)
    assert client.post(reverse("treatments:check-in-handled", args=[checkin.pk])).status_code == 403
    client.force_login(therapist)
    client.post(reverse("treatments:check-in-handled", args=[checkin.pk]))

    checkin.refresh_from_db()
    assert checkin.acknowledged_by == therapist
    assert "Check-in alerts" not in client.get(reverse("treatments:my-day")).content.decode()


def test_it_shows_the_check_in_on_the_patients_timeline_to_the_therapist_only(
    client, visit, therapist, receptionist
):
    client.post(checkin_page(visit), answers(leg_pain="4", notes="Much better walking"))

    client.force_login(therapist)
    assert (
        "Much better walking"
        in client.get(reverse("patients:detail", args=[visit.patient_id])).content.decode()
    )
    client.force_login(receptionist)
    assert (
        "Much better walking"
        not in client.get(reverse("patients:detail", args=[visit.patient_id])).content.decode()
    )
