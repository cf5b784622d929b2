"""The clinical gate over HTTP: each request a person could craft, as the
role would send it, is refused with the gate's reason and changes nothing.
(The rules themselves: patients/tests/test_gate.py; as invariants:
treatments/tests/test_gate_state_machine.py.)"""

import datetime
import re

import pytest
import time_machine
from django.contrib.messages import get_messages
from django.urls import reverse
from django.utils import timezone

from patients import services as patient_services
from patients.tests.factories import ConsentFactory, PatientFactory, screening_with_answers
from scheduling import reminders
from scheduling.models import Appointment, AppointmentSeries, AppointmentType, Reminder, Room, WorkingHours
from scheduling.tests.factories import needling_type
from treatments import services
from treatments.models import SessionChart, TreatmentPlan
from treatments.tests.factories import (
    active_plan,
    chart_fields,
    chart_form_data,
    needling,
    visit,
)

pytestmark = pytest.mark.django_db

# Monday 16 November 2026, 08:00 in New York.
NOW = datetime.datetime(2026, 11, 16, 13, 0, tzinfo=datetime.UTC)
MONDAY = datetime.date(2026, 11, 16)
FIRST_TUESDAY = datetime.date(2026, 11, 17)
Status = Appointment.Status


@pytest.fixture(autouse=True)
def clock():
    with time_machine.travel(NOW, tick=False) as traveller:
        yield traveller


def local(day, hour, minute=0):
    return timezone.make_aware(datetime.datetime.combine(day, datetime.time(hour, minute)))


def messages_of(response):
    return [str(m) for m in get_messages(response.wsgi_request)]


def page_text(response):
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", response.content.decode()))


@pytest.fixture
def room():
    return Room.objects.create(name="Room A")


@pytest.fixture
def plan(therapist):
    for weekday in range(5):
        WorkingHours.objects.create(
            therapist=therapist, weekday=weekday, starts_at=datetime.time(8), ends_at=datetime.time(17)
        )
    return active_plan(therapist, severity="chronic", planned_sessions=6, reassessment_after_session=6)


def rows():
    """What a refused request must leave as it was."""
    return {
        "appointments": list(Appointment.objects.order_by("pk").values_list("pk", "status", "starts_at")),
        "series": AppointmentSeries.objects.count(),
        "charts": list(SessionChart.objects.order_by("pk").values_list("pk", "signed_at", "needled")),
        "reminders": list(Reminder.objects.order_by("pk").values_list("pk", "kind", "status", "due_at")),
    }


def series_post(plan, room, **choices):
    pattern = {
        "first_day": FIRST_TUESDAY.isoformat(),
        "time": "10:00",
        "weekdays": ["1"],
        "interval_weeks": "1",
        "appointment_type": needling_type().pk,
        "room": room.pk,
        "action": "confirm",
    }
    sessions = {
        f"session_{n + 1}": local(FIRST_TUESDAY + datetime.timedelta(weeks=n), 10).isoformat()
        for n in range(6)
    }
    return {**pattern, **sessions, **choices}


def book_sessions(plan, room, receptionist, starts):
    return services.plan_series_book(
        plan=plan, room=room, appointment_type=needling_type(), starts=starts, booked_by=receptionist
    )


def refer_out(patient, therapist, item="saddle_numbness"):
    """A newer screening that refers the patient out."""
    return screening_with_answers(patient=patient, therapist=therapist, yes=[item])


# A chart of a visit a week ahead is neither started nor signed.


def test_a_visit_a_week_ahead_cannot_be_checked_in_charted_or_signed(client, receptionist, therapist, plan):
    ahead = visit(plan, day=MONDAY + datetime.timedelta(weeks=1), hour=10, status=Status.BOOKED)
    before = rows()

    client.force_login(receptionist)
    response = client.post(reverse("scheduling:check-in", args=[ahead.pk]), follow=True)
    assert messages_of(response) == ["Check-in opens 60 minutes before the visit: Mon 23 Nov 2026 at 09:00."]
    client.force_login(therapist)
    response = client.post(
        reverse("treatments:chart-start", args=[ahead.pk]),
        {"screening_still_valid": "yes", "new_problem": "no"},
    )
    assert response.context["form"].non_field_errors() == ["Check the patient in before charting the visit."]

    assert rows() == before


def test_a_chart_of_a_future_visit_is_not_signed_and_sends_no_aftercare(client, therapist, plan):
    # Such a chart cannot be made through the pages; a row written around them meets the gate at signing.
    ahead = visit(plan, day=MONDAY + datetime.timedelta(weeks=1), hour=10)
    chart = services.chart_start(
        plan=plan, appointment=ahead, therapist=therapist, screening_still_valid=True, new_problem=False
    )
    services.chart_save_draft(
        chart=chart,
        therapist=therapist,
        fields=chart_fields(),
        needlings=[needling()],
        adverse_events=[],
        aftercare=[],
    )
    before = rows()
    client.force_login(therapist)

    response = client.post(reverse("treatments:chart-sign", args=[chart.pk]), follow=True)

    assert messages_of(response) == ["The visit begins at 10:00 on Mon 23 Nov 2026; sign its chart after."]
    assert rows() == before
    assert Appointment.objects.get(pk=ahead.pk).status == Status.CHECKED_IN
    assert not Reminder.objects.filter(kind__startswith="aftercare").exists()


# A plan's series is booked only for a patient cleared on each day.


def test_a_series_is_not_booked_after_a_newer_screening_refers_the_patient_out(
    client, receptionist, plan, room
):
    refer_out(plan.patient, plan.therapist)
    before = rows()
    client.force_login(receptionist)

    response = client.post(reverse("treatments:plan-book", args=[plan.pk]), series_post(plan, room))

    assert response.status_code == 200
    errors = response.context["form"].non_field_errors()
    assert len(errors) == 1
    assert "The latest screening refers the patient out: only a re-assessment can be booked" in errors[0]
    assert "Nothing was booked." in errors[0]
    assert "Not cleared for needling." in page_text(response)
    assert rows() == before


def test_a_series_is_not_booked_once_consent_is_withdrawn(client, receptionist, plan, room):
    patient_services.consent_withdraw(consent=patient_services.current_consent(plan.patient))
    before = rows()
    client.force_login(receptionist)

    response = client.post(reverse("treatments:plan-book", args=[plan.pk]), series_post(plan, room))

    [error] = response.context["form"].non_field_errors()
    assert "The patient has not given consent to the current consent text." in error
    assert rows() == before


def test_the_series_preview_names_the_patients_clearance_on_each_session(client, receptionist, plan, room):
    screening = plan.patient.screenings.get()
    screening.valid_until = FIRST_TUESDAY + datetime.timedelta(weeks=2)
    screening.save()
    client.force_login(receptionist)

    response = client.post(
        reverse("treatments:plan-book", args=[plan.pk]), {**series_post(plan, room), "action": "preview"}
    )

    preview = response.context["preview"]
    assert [bool(s.problems) for s in preview] == [False, False, False, True, True, True]
    # No alternative is offered on a day the patient is not cleared.
    assert all(timezone.localdate(alt) <= screening.valid_until for s in preview for alt in s.alternatives)


def test_the_series_and_its_link_to_the_plan_are_one_transaction(receptionist, plan, room, monkeypatch):
    def broken_link(*args, **kwargs):
        raise RuntimeError("the link to the plan failed")

    monkeypatch.setattr(type(plan.appointment_series), "add", broken_link)
    starts = [local(FIRST_TUESDAY + datetime.timedelta(weeks=n), 10) for n in range(6)]

    with pytest.raises(RuntimeError):
        services.plan_series_book(
            plan=plan, room=room, appointment_type=needling_type(), starts=starts, booked_by=receptionist
        )

    assert not Appointment.objects.exists()
    assert not AppointmentSeries.objects.exists()
    assert services.sessions_to_book(plan) == 6


# Signing re-checks the gate.


def test_a_chart_is_not_signed_after_a_newer_screening_refers_the_patient_out(client, therapist, plan, clock):
    clock.move_to(local(MONDAY, 11))
    arrived = visit(plan, day=MONDAY, hour=10)
    chart = services.chart_start(
        plan=plan, appointment=arrived, therapist=therapist, screening_still_valid=True, new_problem=False
    )
    client.force_login(therapist)
    client.post(reverse("treatments:chart-edit", args=[chart.pk]), chart_form_data())
    refer_out(plan.patient, therapist, "bladder_bowel_dysfunction")
    before = rows()

    response = client.post(reverse("treatments:chart-sign", args=[chart.pk]), follow=True)

    assert messages_of(response)[-1:] == [
        "Not cleared for needling: The latest screening refers the patient out: not a dry-needling case."
    ]
    assert rows() == before

    # Charted truthfully as a visit without needling, it is signed, and gets no needling aftercare.
    response = client.post(
        reverse("treatments:chart-edit", args=[chart.pk]),
        chart_form_data(muscles=())
        | {"needled": "False", "not_needled_reason": "Red flag at the visit: referred for urgent review."},
    )
    assert response.status_code == 302
    client.post(reverse("treatments:chart-sign", args=[chart.pk]))
    chart.refresh_from_db()
    assert chart.is_signed
    assert not chart.needled
    assert list(Reminder.objects.filter(appointment=arrived).values_list("kind", flat=True)) == [
        Reminder.Kind.AFTERCARE_SAME_DAY
    ]


def test_needling_cannot_be_added_to_a_chart_once_the_patient_is_not_cleared(client, therapist, plan, clock):
    clock.move_to(local(MONDAY, 11))
    arrived = visit(plan, day=MONDAY, hour=10)
    chart = services.chart_start(
        plan=plan, appointment=arrived, therapist=therapist, screening_still_valid=True, new_problem=False
    )
    refer_out(plan.patient, therapist)
    client.force_login(therapist)

    response = client.post(reverse("treatments:chart-edit", args=[chart.pk]), chart_form_data())

    assert response.context["form"].non_field_errors() == [
        "Not cleared for needling: The latest screening refers the patient out: not a dry-needling case."
    ]
    assert not chart.needlings.exists()


def test_an_amendment_adds_no_needling_to_a_visit_signed_without_it(client, therapist, plan, clock):
    clock.move_to(local(MONDAY, 11))
    arrived = visit(plan, day=MONDAY, hour=10)
    chart = services.chart_start(
        plan=plan,
        appointment=arrived,
        therapist=therapist,
        screening_still_valid=True,
        new_problem=False,
        not_needled_reason="The patient declined needling today.",
    )
    services.chart_save_draft(
        chart=chart, therapist=therapist, fields=chart_fields(), needlings=[], adverse_events=[], aftercare=[]
    )
    services.chart_sign(chart=chart, therapist=therapist)
    client.force_login(therapist)

    response = client.post(
        reverse("treatments:chart-amend", args=[chart.pk]), chart_form_data(reason="Forgot the needling.")
    )

    assert response.context["amendment_form"].non_field_errors() == [
        "This visit was signed as not needled; an amendment cannot add needling."
    ]
    assert not chart.needlings.exists()
    assert not chart.amendments.exists()


# The front desk books a patient who is not cleared for an assessment only, and sees it.


@pytest.fixture
def on_anticoagulants(therapist):
    patient = PatientFactory(first_name="Ada", last_name="Warfarin", treating_therapist=therapist)
    screening_with_answers(patient=patient, therapist=therapist, yes=["anticoagulants"])
    ConsentFactory(patient=patient, witnessed_by=therapist)
    for weekday in range(5):
        WorkingHours.objects.create(
            therapist=therapist, weekday=weekday, starts_at=datetime.time(8), ends_at=datetime.time(17)
        )
    return patient


def booking(patient, therapist, room, kind, time="10:45"):
    return {
        "patient": patient.pk,
        "therapist": therapist.pk,
        "appointment_type": kind.pk,
        "day": MONDAY.isoformat(),
        "time": time,
        "room": room.pk,
    }


def test_the_front_desk_books_no_needling_for_a_patient_not_cleared(
    client, receptionist, therapist, room, on_anticoagulants
):
    client.force_login(receptionist)
    url = reverse("scheduling:book", args=[on_anticoagulants.pk])
    assert "Not cleared for needling." in page_text(client.get(url))

    response = client.post(url, booking(on_anticoagulants, therapist, room, needling_type()))

    assert response.status_code == 200
    assert response.context["form"].non_field_errors() == [
        "Not cleared for needling on Mon 16 Nov 2026: "
        "The latest screening did not clear the patient for dry needling."
    ]
    assert not Appointment.objects.exists()


def test_an_assessment_of_a_patient_not_cleared_is_flagged_wherever_the_front_desk_sees_it(
    client, receptionist, therapist, room, on_anticoagulants
):
    client.force_login(receptionist)
    assessment = AppointmentType.objects.get(name="First assessment")
    response = client.post(
        reverse("scheduling:book", args=[on_anticoagulants.pk]),
        booking(on_anticoagulants, therapist, room, assessment),
    )
    assert response.status_code == 302
    appointment = Appointment.objects.get()

    desk = client.get(reverse("scheduling:front-desk") + f"?day={MONDAY.isoformat()}").content.decode()
    card = desk[desk.index(f'id="appointment-{appointment.pk}"') :]
    card = card[: card.index("</article>")]
    assert 'data-clearance="not-cleared"' in card
    assert "Not cleared: no needling" in card
    sheet = client.get(reverse("scheduling:day-sheet") + f"?day={MONDAY.isoformat()}").content.decode()
    assert "Not cleared: no needling" in sheet
    patient_page = page_text(client.get(on_anticoagulants.get_absolute_url()))
    assert "The latest screening did not clear the patient for dry needling." in patient_page

    # The therapist opening that visit's chart hears why there is no needling, not "no plan".
    Appointment.objects.filter(pk=appointment.pk).update(status=Status.CHECKED_IN)
    client.force_login(therapist)
    chart_page = page_text(client.get(reverse("treatments:chart-start", args=[appointment.pk])))
    assert "Do not needle this patient today." in chart_page
    assert "The latest screening did not clear the patient for dry needling." in chart_page
    assert "no active treatment plan" not in chart_page


# Checking in only on the visit's day, from an hour before.


def test_a_visit_is_not_checked_in_at_0330_for_1045(
    client, receptionist, therapist, room, on_anticoagulants, clock
):
    appointment = Appointment.objects.create(
        patient=on_anticoagulants,
        therapist=therapist,
        room=room,
        appointment_type=AppointmentType.objects.get(name="First assessment"),
        starts_at=local(MONDAY, 10, 45),
        ends_at=local(MONDAY, 11, 45),
    )
    clock.move_to(local(MONDAY, 3, 30))
    client.force_login(receptionist)

    desk = client.get(reverse("scheduling:front-desk")).content.decode()
    response = client.post(reverse("scheduling:check-in", args=[appointment.pk]), follow=True)

    assert "Check-in from 09:45" in desk
    assert messages_of(response) == ["Check-in opens 60 minutes before the visit: 09:45."]
    assert Appointment.objects.get(pk=appointment.pk).status == Status.BOOKED


# Moving a needling visit meets the gate too.


def test_a_needling_visit_is_not_moved_past_the_screenings_expiry(client, receptionist, plan, room):
    book_sessions(plan, room, receptionist, [local(FIRST_TUESDAY, 10)])
    appointment = Appointment.objects.get()
    valid_until = patient_services.current_screening(plan.patient).valid_until
    after = valid_until + datetime.timedelta(days=1)
    while after.weekday() > 4:
        after += datetime.timedelta(days=1)
    before = rows()
    client.force_login(receptionist)

    response = client.post(
        reverse("scheduling:reschedule", args=[appointment.pk]),
        {"day": after.isoformat(), "time": "10:00", "room": room.pk},
    )

    [error] = response.context["form"].non_field_errors()
    assert error.startswith("Not cleared for needling on ")
    assert "screen the patient again" in error
    assert rows() == before


# A clearance that lapses after booking is flagged, and the reminder promises no needling.


def test_a_lapsed_clearance_flags_the_booked_needling_visits_and_the_reminder_says_so(
    client, receptionist, therapist, plan, room, clock, settings
):
    settings.SITE_URL = "https://clinic.example"
    plan.patient.email = "sam@example.com"
    plan.patient.email_consent = True
    plan.patient.save()
    book_sessions(
        plan,
        room,
        receptionist,
        [local(FIRST_TUESDAY, 10), local(FIRST_TUESDAY + datetime.timedelta(weeks=1), 10)],
    )
    first = Appointment.objects.order_by("starts_at").first()
    refer_out(plan.patient, therapist)

    client.force_login(receptionist)
    desk = client.get(reverse("scheduling:front-desk") + f"?day={FIRST_TUESDAY.isoformat()}").content.decode()
    assert "Not cleared for needling</span>" in desk
    assert "The latest screening refers the patient out: not a dry-needling case." in desk
    client.force_login(therapist)
    my_day = page_text(client.get(reverse("treatments:my-day")))
    assert "Needling visits your patients are no longer cleared for" in my_day
    assert my_day.count(plan.patient.full_name) >= 2

    reminder = Reminder.objects.get(appointment=first, kind=Reminder.Kind.APPOINTMENT_REMINDER)
    _, text, html = reminders.render(reminder)
    assert "Dry-needling session" not in text
    assert "Before any dry needling, your therapist will go through your health screening" in text
    assert "Before any dry needling" in html


def test_a_cleared_patients_reminder_names_the_needling_session(receptionist, plan, room, settings):
    book_sessions(plan, room, receptionist, [local(FIRST_TUESDAY, 10)])
    reminder = Reminder.objects.get(kind=Reminder.Kind.APPOINTMENT_REMINDER)

    _, text, _ = reminders.render(reminder)

    assert "Dry-needling session with" in text
    assert "Before any dry needling" not in text


# The Django admin cannot bypass the gate.


@pytest.mark.parametrize("model", ["scheduling/appointment", "patients/screening", "treatments/sessionchart"])
def test_the_admin_adds_no_appointment_screening_or_chart(client, django_user_model, model):
    root = django_user_model.objects.create_superuser("root", "root@example.com", "a-long-password-1")
    client.force_login(root)

    assert client.get(f"/admin/{model}/add/").status_code == 403


def test_the_admin_changes_no_appointment(client, django_user_model, plan):
    appointment = visit(plan, day=MONDAY, hour=10, status=Status.BOOKED)
    root = django_user_model.objects.create_superuser("root", "root@example.com", "a-long-password-1")
    client.force_login(root)
    before = rows()

    client.post(f"/admin/scheduling/appointment/{appointment.pk}/change/", {"status": "completed"})

    assert rows() == before
    assert TreatmentPlan.objects.get(pk=plan.pk).status == TreatmentPlan.Status.ACTIVE
