"""The Oswestry Disability Index, checked against worked examples of the
published scoring instructions (Fairbank & Pynsent 2000): the index is the
total divided by 5 x the number of sections answered, times 100."""

from decimal import Decimal
from fractions import Fraction

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from patients.scoring import IncompleteODI, odi_band, odi_percent

# Keep no example database in the working tree; a failure prints its example.
examples = settings(database=None)

# Ten sections answered, totalling 16: the sex-life section (the eighth) scores 1.
TOTAL_16 = [3, 1, 2, 2, 3, 2, 1, 1, 0, 1]
SEX_LIFE = 7
SOCIAL_LIFE = 8


def without(answers, *sections):
    return [None if index in sections else score for index, score in enumerate(answers)]


def test_it_scores_ten_sections_totalling_16_as_32_percent():
    assert sum(TOTAL_16) == 16

    assert odi_percent(TOTAL_16) == Decimal("32.0")


def test_it_scores_no_disability_as_0_percent():
    assert odi_percent([0] * 10) == Decimal("0.0")


def test_it_scores_the_worst_answer_everywhere_as_100_percent():
    assert odi_percent([5] * 10) == Decimal("100.0")


def test_it_divides_by_the_sections_answered_when_sex_life_is_left_out():
    answers = [3, 1, 2, 2, 3, 2, 2, None, 0, 1]
    assert sum(score for score in answers if score is not None) == 16

    # 16 / 45 x 100 = 35.555...; counting the missing section as 0 would give 32.0.
    assert odi_percent(answers) == Decimal("35.6")


def test_it_divides_by_the_sections_answered_when_two_are_left_out():
    answers = [3, 2, 2, 2, 3, 2, 2, None, None, 0]
    assert sum(score for score in answers if score is not None) == 16

    # 16 / 40 x 100.
    assert odi_percent(answers) == Decimal("40.0")


@pytest.mark.parametrize("answered", range(8))
def test_it_refuses_to_score_fewer_than_eight_sections_and_says_how_many_were_answered(answered):
    answers = [2] * answered + [None] * (10 - answered)

    with pytest.raises(IncompleteODI, match=rf"\b{answered}\b"):
        odi_percent(answers)


@pytest.mark.parametrize("score", [6, -1])
def test_it_refuses_a_section_score_outside_0_to_5(score):
    answers = [score, 1, 2, 2, 3, 2, 1, 1, 0, 1]

    with pytest.raises(ValueError, match="0 to 5"):
        odi_percent(answers)


@pytest.mark.parametrize(
    ("answers", "percent"),
    [
        # 1 / 45 x 100 = 2.222...: rounds down.
        ([1, 0, 0, 0, 0, 0, 0, None, 0, 0], Decimal("2.2")),
        # 4 / 45 x 100 = 8.888...: rounds up.
        ([1, 1, 1, 1, 0, 0, 0, None, 0, 0], Decimal("8.9")),
        # 7 / 45 x 100 = 15.555...: rounds up.
        ([1, 1, 1, 1, 1, 1, 1, None, 0, 0], Decimal("15.6")),
        # 3 / 40 x 100 = 7.5 exactly: stays as it is.
        ([1, 1, 1, 0, 0, 0, 0, None, None, 0], Decimal("7.5")),
    ],
)
def test_it_rounds_to_the_nearest_tenth(answers, percent):
    result = odi_percent(answers)

    assert result == percent
    assert result.as_tuple().exponent == -1


@pytest.mark.parametrize(
    ("percent", "band"),
    [
        ("0", "Minimal disability"),
        ("20", "Minimal disability"),
        ("20.1", "Moderate disability"),
        ("40", "Moderate disability"),
        ("40.1", "Severe disability"),
        ("60", "Severe disability"),
        ("60.1", "Crippled"),
        ("80", "Crippled"),
        ("80.1", "Bed-bound or exaggerating"),
        ("100", "Bed-bound or exaggerating"),
    ],
)
def test_it_names_fairbanks_band_for_a_percentage(percent, band):
    assert odi_band(Decimal(percent)) == band


def test_it_refuses_to_band_a_percentage_above_100():
    with pytest.raises(ValueError, match="100"):
        odi_band(Decimal("100.1"))


@st.composite
def odi_answers(draw):
    """Ten section scores, with up to two sections left unanswered."""
    scores = draw(st.lists(st.integers(0, 5), min_size=10, max_size=10))
    missing = draw(st.sets(st.integers(0, 9), max_size=2))
    return without(scores, *missing)


@examples
@given(answers=odi_answers())
def test_it_scores_any_eight_to_ten_answered_sections_between_0_and_100(answers):
    answered = [score for score in answers if score is not None]
    exact = Fraction(sum(answered) * 100, 5 * len(answered))

    result = odi_percent(answers)

    assert Decimal(0) <= result <= Decimal(100)
    assert abs(Fraction(result) - exact) <= Fraction(1, 20)
    if len(answered) == 10:
        # Everything answered: total / 50 x 100, an exact number to one decimal.
        assert result == Decimal(sum(answered) * 2)
