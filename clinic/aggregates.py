"""Query helpers every app may use. Imports no app."""

from django.db.models import F, Func, IntegerField, Subquery
from django.db.models.functions import Coalesce


def count_of(queryset):
    """The number of rows of a correlated queryset (one using OuterRef), as an
    annotation: a subquery per row instead of a join that would multiply the
    rows of other counts."""
    counted = queryset.order_by().annotate(count=Func(F("pk"), function="COUNT")).values("count")
    return Coalesce(Subquery(counted, output_field=IntegerField()), 0)
