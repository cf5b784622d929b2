"""The screening rules: what each seeded question means when answered "yes",
how answers combine into a result, and what a clinic admin may change."""

import pytest
from django.core.exceptions import ValidationError
from django.urls import reverse
from hypothesis import given, settings
from hypothesis import strategies as st

from patients.models import Screening, ScreeningCategory, ScreeningItem
from patients.rules import evaluate, result_for

pytestmark = pytest.mark.django_db

Result = Screening.Result

# The seeded rules table, written out by hand: a "yes" to the item alone gives this result.
EXPECTED_RESULT = {
    "bladder_bowel_dysfunction": Result.REFER_URGENT,
    "saddle_numbness": Result.REFER_URGENT,
    "progressive_leg_weakness": Result.REFER_URGENT,
    "bilateral_leg_symptoms": Result.REFER_URGENT,
    "fever": Result.REFER,
    "unexplained_weight_loss": Result.REFER,
    "history_of_cancer": Result.REFER,
    "significant_trauma": Result.REFER,
    "bleeding_disorder": Result.NOT_CLEARED,
    "anticoagulants": Result.NOT_CLEARED,
    "immunocompromised": Result.NOT_CLEARED,
    "active_infection": Result.NOT_CLEARED,
    "pregnancy": Result.NOT_CLEARED,
    "needle_phobia": Result.NOT_CLEARED,
    "cannot_consent": Result.NOT_CLEARED,
    "epilepsy": Result.PRECAUTIONS,
    "diabetes": Result.PRECAUTIONS,
    "vascular_disease": Result.PRECAUTIONS,
    "lymphoedema": Result.PRECAUTIONS,
    "metal_allergy": Result.PRECAUTIONS,
}
URGENT_RED_FLAGS = {code for code, result in EXPECTED_RESULT.items() if result == Result.REFER_URGENT}
RED_FLAGS = {code for code, result in EXPECTED_RESULT.items() if result == Result.REFER}
NOT_CLEARED = {code for code, result in EXPECTED_RESULT.items() if result == Result.NOT_CLEARED}
PRECAUTIONS = {code for code, result in EXPECTED_RESULT.items() if result == Result.PRECAUTIONS}
CODES = list(EXPECTED_RESULT)

# Keep no example database in the working tree; a failure prints its example.
examples = settings(database=None)


def seeded_items():
    """The rules table as the migration left it, in its order."""
    return list(ScreeningItem.objects.all())


def answers_with_yes_to(items, yes_codes):
    return {item: item.code in yes_codes for item in items}


def expected_result(yes_codes):
    if yes_codes & URGENT_RED_FLAGS:
        return Result.REFER_URGENT
    if yes_codes & RED_FLAGS:
        return Result.REFER
    if yes_codes & NOT_CLEARED:
        return Result.NOT_CLEARED
    if yes_codes & PRECAUTIONS:
        return Result.PRECAUTIONS
    return Result.CLEARED


def codes(items):
    return [item.code for item in items]


# The seeded table.


def test_it_seeds_exactly_the_expected_questions():
    assert set(ScreeningItem.objects.values_list("code", flat=True)) == set(EXPECTED_RESULT)
    assert ScreeningItem.objects.filter(is_active=True).count() == len(EXPECTED_RESULT)


@pytest.mark.parametrize(("code", "result"), EXPECTED_RESULT.items())
def test_it_gives_each_item_answered_yes_alone_its_result(code, result):
    items = seeded_items()

    assert evaluate(answers_with_yes_to(items, {code})).result == result


def test_it_clears_a_patient_who_answers_no_to_everything():
    evaluation = evaluate(answers_with_yes_to(seeded_items(), set()))

    assert evaluation.result == Result.CLEARED
    assert evaluation.urgent_red_flags == []
    assert evaluation.red_flags == []
    assert evaluation.contraindications == []
    assert evaluation.precautions == []


# Every combination of answers. Items are loaded once per test, before
# hypothesis runs its examples against them; no example touches the database.


def test_it_refers_urgently_whenever_an_urgent_red_flag_is_answered_yes():
    items = seeded_items()

    @examples
    @given(
        urgent=st.sets(st.sampled_from(sorted(URGENT_RED_FLAGS)), min_size=1),
        others=st.sets(st.sampled_from(CODES)),
    )
    def check(urgent, others):
        evaluation = evaluate(answers_with_yes_to(items, urgent | others))
        assert evaluation.result == Result.REFER_URGENT

    check()


def test_it_refers_out_on_a_red_flag_without_an_urgent_one():
    items = seeded_items()

    @examples
    @given(
        red_flags=st.sets(st.sampled_from(sorted(RED_FLAGS)), min_size=1),
        others=st.sets(st.sampled_from(sorted(NOT_CLEARED | PRECAUTIONS))),
    )
    def check(red_flags, others):
        evaluation = evaluate(answers_with_yes_to(items, red_flags | others))
        assert evaluation.result == Result.REFER

    check()


def test_it_does_not_clear_for_needling_on_a_contraindication_without_a_red_flag():
    items = seeded_items()

    @examples
    @given(
        contraindications=st.sets(st.sampled_from(sorted(NOT_CLEARED)), min_size=1),
        precautions=st.sets(st.sampled_from(sorted(PRECAUTIONS))),
    )
    def check(contraindications, precautions):
        evaluation = evaluate(answers_with_yes_to(items, contraindications | precautions))
        assert evaluation.result == Result.NOT_CLEARED

    check()


def test_it_clears_with_precautions_when_only_precautions_are_answered_yes():
    items = seeded_items()

    @examples
    @given(precautions=st.sets(st.sampled_from(sorted(PRECAUTIONS)), min_size=1))
    def check(precautions):
        assert evaluate(answers_with_yes_to(items, precautions)).result == Result.PRECAUTIONS

    check()


def test_it_gives_the_most_serious_result_for_any_combination_of_answers():
    items = seeded_items()

    @examples
    @given(yes=st.sets(st.sampled_from(CODES)))
    def check(yes):
        assert evaluate(answers_with_yes_to(items, yes)).result == expected_result(yes)

    check()


def test_it_lists_each_item_answered_yes_under_its_category_in_the_tables_order():
    items = seeded_items()
    table_order = codes(ScreeningItem.objects.order_by("position"))

    @examples
    @given(yes=st.sets(st.sampled_from(CODES)), shuffle=st.randoms(use_true_random=False))
    def check(yes, shuffle):
        # The answers arrive in any order; the lists follow the table's.
        answered_items = items[:]
        shuffle.shuffle(answered_items)
        evaluation = evaluate(answers_with_yes_to(answered_items, yes))

        def in_table_order(group):
            return [code for code in table_order if code in yes and code in group]

        assert codes(evaluation.urgent_red_flags) == in_table_order(URGENT_RED_FLAGS)
        assert codes(evaluation.red_flags) == in_table_order(RED_FLAGS)
        assert codes(evaluation.contraindications) == in_table_order(NOT_CLEARED)
        assert codes(evaluation.precautions) == in_table_order(PRECAUTIONS)

    check()


# The ranking on its own, without the table.

RESULT_OF_CATEGORY = {
    ScreeningCategory.REFER_URGENT: Result.REFER_URGENT,
    ScreeningCategory.REFER: Result.REFER,
    ScreeningCategory.NOT_CLEARED: Result.NOT_CLEARED,
    ScreeningCategory.PRECAUTION: Result.PRECAUTIONS,
}
MOST_SERIOUS_FIRST = [
    ScreeningCategory.REFER_URGENT,
    ScreeningCategory.REFER,
    ScreeningCategory.NOT_CLEARED,
    ScreeningCategory.PRECAUTION,
]


@examples
@given(categories=st.lists(st.sampled_from([category.value for category in ScreeningCategory])))
def test_it_ranks_any_categories_by_the_most_serious_one(categories):
    present = [category for category in MOST_SERIOUS_FIRST if category in categories]
    expected = RESULT_OF_CATEGORY[present[0]] if present else Result.CLEARED

    assert result_for(categories) == expected
    assert result_for(iter(categories)) == expected


@pytest.mark.parametrize(
    ("categories", "result"),
    [
        ([], Result.CLEARED),
        (["precaution"], Result.PRECAUTIONS),
        (["precaution", "not_cleared"], Result.NOT_CLEARED),
        (["not_cleared", "refer", "precaution"], Result.REFER),
        (["precaution", "refer", "refer_urgent", "not_cleared"], Result.REFER_URGENT),
    ],
)
def test_it_lets_the_most_serious_category_decide(categories, result):
    assert result_for(categories) == result


# What a clinic admin may change.


def test_it_applies_and_records_a_clinic_admins_change_of_category():
    item = ScreeningItem.objects.get(code="anticoagulants")
    records_before = item.history.count()

    item.category = ScreeningCategory.PRECAUTION
    item.full_clean()
    item.save()

    item = ScreeningItem.objects.get(code="anticoagulants")
    assert evaluate({item: True}).result == Result.PRECAUTIONS
    assert item.history.count() == records_before + 1
    assert item.history.first().category == ScreeningCategory.PRECAUTION


def admin_form_data(response, **changes):
    """The admin form's current values as a browser would post them, with changes."""
    form = response.context["adminform"].form
    data = {}
    for name in form.fields:
        value = form[name].value()
        if value is True:
            data[name] = "on"
        elif value not in (False, None):
            data[name] = value
    data.update(changes)
    return data


def test_it_applies_and_records_a_change_of_category_made_in_the_admin(client, clinic_admin):
    item = ScreeningItem.objects.get(code="anticoagulants")
    records_before = item.history.count()
    client.force_login(clinic_admin)
    url = reverse("admin:patients_screeningitem_change", args=[item.pk])

    response = client.post(url, admin_form_data(client.get(url), category="precaution"))

    assert response.status_code == 302
    item.refresh_from_db()
    assert item.category == ScreeningCategory.PRECAUTION
    assert evaluate({item: True}).result == Result.PRECAUTIONS
    assert item.history.count() == records_before + 1
    record = item.history.first()
    assert record.category == ScreeningCategory.PRECAUTION
    assert record.history_user == clinic_admin


def test_it_keeps_a_red_flag_a_red_flag_whatever_the_admin_form_posts(client, clinic_admin):
    item = ScreeningItem.objects.get(code="saddle_numbness")
    client.force_login(clinic_admin)
    url = reverse("admin:patients_screeningitem_change", args=[item.pk])
    data = admin_form_data(client.get(url), category="precaution")
    data.pop("is_active", None)  # an unticked box is not posted

    client.post(url, data)

    item.refresh_from_db()
    assert item.category == ScreeningCategory.REFER_URGENT
    assert item.is_active
    assert evaluate({item: True}).result == Result.REFER_URGENT


def test_it_lets_a_clinic_admin_add_an_item_in_the_admin_that_screening_then_asks(client, clinic_admin):
    client.force_login(clinic_admin)
    url = reverse("admin:patients_screeningitem_add")
    data = admin_form_data(
        client.get(url),
        code="recent_surgery",
        question="Surgery in the last six weeks?",
        category="precaution",
        guidance="Do not needle near the scar.",
        position="205",
    )

    response = client.post(url, data)

    assert response.status_code == 302
    item = ScreeningItem.objects.get(code="recent_surgery")
    assert item.history.first().history_user == clinic_admin
    evaluation = evaluate(answers_with_yes_to(seeded_items(), {"recent_surgery"}))
    assert evaluation.result == Result.PRECAUTIONS
    assert codes(evaluation.precautions) == ["recent_surgery"]


@pytest.mark.parametrize("code", sorted(URGENT_RED_FLAGS | RED_FLAGS))
@pytest.mark.parametrize("category", [ScreeningCategory.NOT_CLEARED, ScreeningCategory.PRECAUTION])
def test_it_refuses_to_turn_a_red_flag_into_anything_else(code, category):
    item = ScreeningItem.objects.get(code=code)
    item.category = category

    with pytest.raises(ValidationError) as raised:
        item.full_clean()

    assert "red flag" in " ".join(raised.value.message_dict["category"]).lower()


@pytest.mark.parametrize("code", sorted(URGENT_RED_FLAGS))
def test_it_refuses_to_make_an_urgent_red_flag_less_urgent(code):
    item = ScreeningItem.objects.get(code=code)
    item.category = ScreeningCategory.REFER

    with pytest.raises(ValidationError) as raised:
        item.full_clean()

    assert "red flag" in " ".join(raised.value.message_dict["category"]).lower()


@pytest.mark.parametrize("code", sorted(URGENT_RED_FLAGS | RED_FLAGS))
def test_it_refuses_to_switch_a_red_flag_off(code):
    item = ScreeningItem.objects.get(code=code)
    item.is_active = False

    with pytest.raises(ValidationError) as raised:
        item.full_clean()

    assert "red flag" in " ".join(raised.value.message_dict["is_active"]).lower()


@pytest.mark.parametrize(
    ("code", "category", "result"),
    [
        ("anticoagulants", ScreeningCategory.PRECAUTION, Result.PRECAUTIONS),
        ("needle_phobia", ScreeningCategory.PRECAUTION, Result.PRECAUTIONS),
        ("diabetes", ScreeningCategory.NOT_CLEARED, Result.NOT_CLEARED),
        ("metal_allergy", ScreeningCategory.NOT_CLEARED, Result.NOT_CLEARED),
    ],
)
def test_it_lets_an_item_move_between_do_not_needle_and_precaution(code, category, result):
    item = ScreeningItem.objects.get(code=code)
    item.category = category

    item.full_clean()
    item.save()

    assert evaluate({ScreeningItem.objects.get(code=code): True}).result == result


def test_it_asks_a_new_item_added_by_the_clinic_admin_in_every_screening():
    new_item = ScreeningItem(
        code="recent_surgery",
        question="Surgery in the last six weeks?",
        category=ScreeningCategory.PRECAUTION,
        position=165,
    )
    new_item.full_clean()
    new_item.save()
    items = seeded_items()

    alone = evaluate(answers_with_yes_to(items, {"recent_surgery"}))
    with_other_precautions = evaluate(answers_with_yes_to(items, {"epilepsy", "recent_surgery", "diabetes"}))
    with_a_contraindication = evaluate(answers_with_yes_to(items, {"recent_surgery", "pregnancy"}))

    assert alone.result == Result.PRECAUTIONS
    assert codes(alone.precautions) == ["recent_surgery"]
    # Epilepsy is at position 160 and diabetes at 170: the new item takes its place between them.
    assert codes(with_other_precautions.precautions) == ["epilepsy", "recent_surgery", "diabetes"]
    assert with_a_contraindication.result == Result.NOT_CLEARED
    assert codes(with_a_contraindication.precautions) == ["recent_surgery"]


# What the check-in after a visit asks again.

ASKED_AFTER_VISIT = {
    "bladder_bowel_dysfunction",
    "saddle_numbness",
    "progressive_leg_weakness",
    "bilateral_leg_symptoms",
    "fever",
}


def test_it_asks_after_a_visit_only_the_red_flags_a_patient_can_report_since_it():
    asked = set(ScreeningItem.objects.filter(asked_after_visit=True).values_list("code", flat=True))

    assert asked == ASKED_AFTER_VISIT
    # History is never asked again: the answer was given at screening and cannot change since a visit.
    assert not asked & {"history_of_cancer", "significant_trauma", "unexplained_weight_loss"}
    assert asked <= URGENT_RED_FLAGS | RED_FLAGS


@pytest.mark.parametrize("code", ["pregnancy", "diabetes"])
def test_it_refuses_to_ask_anything_but_a_red_flag_after_a_visit(code):
    item = ScreeningItem.objects.get(code=code)
    item.asked_after_visit = True

    with pytest.raises(ValidationError) as raised:
        item.full_clean()

    assert raised.value.message_dict["asked_after_visit"] == [
        "Only a red flag is asked in the check-in after a visit."
    ]


def test_a_clinic_admin_marks_a_red_flag_asked_after_a_visit_in_the_admin(client, clinic_admin):
    item = ScreeningItem.objects.get(code="unexplained_weight_loss")
    client.force_login(clinic_admin)
    url = reverse("admin:patients_screeningitem_change", args=[item.pk])

    response = client.post(url, admin_form_data(client.get(url), asked_after_visit="on"))

    assert response.status_code == 302
    item.refresh_from_db()
    assert item.asked_after_visit
    assert item.history.first().history_user == clinic_admin
