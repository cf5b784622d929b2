"""Scores computed from what the patient answered, never typed by hand."""

from collections.abc import Sequence
from decimal import ROUND_HALF_UP, Decimal

ODI_SECTION_MAX = 5
# The published scoring instructions allow a missing section or two (for
# example sex life, often left out); with more missing the index means little.
ODI_MIN_ANSWERED = 8


class IncompleteODI(ValueError):
    pass


def odi_percent(answers: Sequence[int | None]) -> Decimal:
    """The Oswestry Disability Index as a percentage, to one decimal.

    Each answered section scores 0-5. The index is the total divided by the
    highest total possible for the sections answered (5 per section), so an
    unanswered section lowers the denominator instead of counting as 0:
    (total / (5 x answered)) x 100.
    """
    answered = [score for score in answers if score is not None]
    if any(not 0 <= score <= ODI_SECTION_MAX for score in answered):
        raise ValueError("Each Oswestry section scores from 0 to 5.")
    if len(answered) < ODI_MIN_ANSWERED:
        raise IncompleteODI(
            f"The Oswestry Disability Index needs at least {ODI_MIN_ANSWERED} of its "
            f"{len(answers)} sections answered; {len(answered)} were."
        )
    percent = Decimal(sum(answered) * 100) / Decimal(ODI_SECTION_MAX * len(answered))
    return percent.quantize(Decimal("0.1"), rounding=ROUND_HALF_UP)


ODI_BANDS = [
    (20, "Minimal disability"),
    (40, "Moderate disability"),
    (60, "Severe disability"),
    (80, "Crippled"),
    (100, "Bed-bound or exaggerating"),
]


def odi_band(percent: Decimal) -> str:
    """Fairbank's interpretation band for an ODI percentage."""
    for upper, label in ODI_BANDS:
        if percent <= upper:
            return label
    raise ValueError("An ODI percentage is at most 100.")
