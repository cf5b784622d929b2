"""The screening journey in a real browser: a therapist screens three patients
and sees what each result means for dry needling; the front desk then sees
whether each patient is cleared, never the answers.

The locators are accessible ones (labels, roles, group names), so these tests
also prove that every control is labelled. SCREENSHOTS=1 saves each result
page under VAR_DIR/screenshots/ (var/screenshots/ by default).
"""

import re

import pytest
from playwright.sync_api import expect

from clinic.tests.browser import log_in, screenshot
from patients.models import Screening, ScreeningItem
from patients.tests.factories import PatientFactory

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True, serialized_rollback=True)]

DIABETES_NOTE = "Checked feet and skin; glucose tablets at hand; strict asepsis."


def question_group(page, text):
    """The fieldset of one question, named by its legend (which may number it)."""
    return page.get_by_role("group", name=re.compile(rf"{re.escape(text)}$"))


def screen(page, live_server, patient, *, yes_to, acknowledgements=None):
    """Fill in a new screening: "No" to every question but those in yes_to,
    a note for each acknowledged precaution, then save the draft."""
    acknowledgements = acknowledgements or {}
    page.goto(f"{live_server.url}{patient.get_absolute_url()}")
    page.get_by_role("link", name="New screening").click()
    questions = list(ScreeningItem.objects.filter(is_active=True).values_list("code", "question"))
    for code, text in questions:
        question_group(page, text).get_by_label("Yes" if code in yes_to else "No", exact=True).check()
    for code, note in acknowledgements.items():
        text = ScreeningItem.objects.get(code=code).question
        item = page.get_by_role("listitem").filter(has=question_group(page, text))
        item.get_by_label("If yes: how will you manage this precaution?").fill(note)
    page.get_by_role("button", name="Save draft and see the result").click()


def sign(page):
    page.get_by_role("button", name="Sign screening").click()
    expect(page.get_by_role("alert").filter(has_text="Screening signed")).to_be_visible()


def screen_three_patients(page, live_server, therapist):
    """The therapist's journey over three patients. Returns them by what
    their screening found."""
    diabetic = PatientFactory(first_name="Dana", last_name="Sugarman")
    anticoagulated = PatientFactory(first_name="Arlo", last_name="Warfield")
    saddle_numb = PatientFactory(first_name="Sadie", last_name="Numan")
    log_in(page, live_server, therapist)

    # Diabetes: a precaution, acknowledged with a note; signed, then consented.
    screen(page, live_server, diabetic, yes_to={"diabetes"}, acknowledgements={"diabetes": DIABETES_NOTE})
    expect(page.get_by_role("heading", name="Cleared with precautions")).to_be_visible()
    expect(page.get_by_role("alert").filter(has_text="Cleared with precautions")).to_contain_text(
        DIABETES_NOTE
    )
    sign(page)
    screenshot(page, "screening-precautions")
    page.get_by_role("link", name=diabetic.full_name).click()
    page.get_by_role("link", name="Record consent").click()
    page.get_by_label("Signed on paper").check()
    page.get_by_label("The patient has read this consent text").check()
    page.get_by_role("button", name="Record consent").click()
    expect(page.get_by_role("heading", level=1, name=diabetic.full_name)).to_be_visible()
    expect(page.get_by_text("Cleared and consented")).to_be_visible()
    screenshot(page, "patient-cleared-and-consented")

    # Anticoagulants: do not needle.
    screen(page, live_server, anticoagulated, yes_to={"anticoagulants"})
    expect(page.get_by_role("heading", name="Not cleared: do not needle")).to_be_visible()
    expect(page.get_by_text("A dry-needling plan is blocked")).to_be_visible()
    sign(page)
    screenshot(page, "screening-not-cleared")

    # Saddle numbness: a red flag for cauda equina syndrome, referred out urgently.
    screen(page, live_server, saddle_numb, yes_to={"saddle_numbness"})
    expect(
        page.get_by_role("heading", name="Urgent referral: suspected cauda equina syndrome")
    ).to_be_visible()
    expect(page.get_by_text("cannot be put on a dry-needling plan")).to_be_visible()
    sign(page)
    screenshot(page, "screening-urgent-referral")

    return {"precautions": diabetic, "not_cleared": anticoagulated, "refer_urgent": saddle_numb}


def test_it_shows_the_therapist_what_each_screening_result_means(page, live_server, therapist):
    patients = screen_three_patients(page, live_server, therapist)

    for result, patient in patients.items():
        screening = Screening.objects.get(patient=patient)
        assert screening.is_signed
        assert screening.result == result


def test_it_shows_the_front_desk_the_clearance_but_never_the_answers(
    browser, page, live_server, therapist, receptionist
):
    patients = screen_three_patients(page, live_server, therapist)
    questions = list(ScreeningItem.objects.values_list("question", flat=True))

    context = browser.new_context(viewport={"width": 1024, "height": 768})
    try:
        front_desk = context.new_page()
        front_desk.set_default_timeout(10_000)
        log_in(front_desk, live_server, receptionist)
        for result, status in [
            ("precautions", "Cleared with precautions"),
            ("not_cleared", "Not cleared"),
            ("refer_urgent", "Referred out urgently"),
        ]:
            patient = patients[result]
            front_desk.goto(f"{live_server.url}{patient.get_absolute_url()}")
            clearance = front_desk.get_by_role("region", name="Dry needling")
            expect(clearance).to_contain_text(status)
            screenshot(front_desk, f"front-desk-{result}")
            html = front_desk.content()
            assert DIABETES_NOTE not in html
            assert not [text for text in questions if text in html]
            assert front_desk.get_by_role("link", name="New screening").count() == 0

            screening = Screening.objects.get(patient=patient)
            response = front_desk.goto(f"{live_server.url}{screening.get_absolute_url()}")
            assert response.status == 403
    finally:
        context.close()
