"""The screening rules: what a screening's answers mean for dry needling.

The one place that turns answers into a result. What each question means is
data (ScreeningItem.category, seeded by a migration and editable by the
clinic admin); the ranking here is the clinical rule: a red flag outranks
everything, and a "do not needle" item outranks every precaution.
"""

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from patients.models import Screening, ScreeningCategory, ScreeningItem

# From the most to the least serious: the first category answered "yes" decides.
RANKING = [
    (ScreeningCategory.REFER_URGENT, Screening.Result.REFER_URGENT),
    (ScreeningCategory.REFER, Screening.Result.REFER),
    (ScreeningCategory.NOT_CLEARED, Screening.Result.NOT_CLEARED),
    (ScreeningCategory.PRECAUTION, Screening.Result.PRECAUTIONS),
]


def result_for(categories: Iterable[str]) -> Screening.Result:
    """The screening result for the categories of the items answered "yes"."""
    present = set(categories)
    for category, result in RANKING:
        if category in present:
            return result
    return Screening.Result.CLEARED


@dataclass(frozen=True)
class Evaluation:
    result: Screening.Result
    # The items answered "yes", by category, in the rules table's order.
    urgent_red_flags: list[ScreeningItem]
    red_flags: list[ScreeningItem]
    contraindications: list[ScreeningItem]
    precautions: list[ScreeningItem]


def evaluate(answers: Mapping[ScreeningItem, bool]) -> Evaluation:
    """Evaluate answers against the items' categories as they stand now."""
    yes = sorted((item for item, answer in answers.items() if answer), key=lambda i: (i.position, i.pk))

    def answered(category):
        return [item for item in yes if item.category == category]

    return Evaluation(
        result=result_for(item.category for item in yes),
        urgent_red_flags=answered(ScreeningCategory.REFER_URGENT),
        red_flags=answered(ScreeningCategory.REFER),
        contraindications=answered(ScreeningCategory.NOT_CLEARED),
        precautions=answered(ScreeningCategory.PRECAUTION),
    )
