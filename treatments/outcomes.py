"""Outcomes over a plan: pain per session, Oswestry index at the start and at
re-assessment, each change judged against the minimal important change."""

from dataclasses import dataclass
from decimal import Decimal

from django.db.models import BooleanField, Case, F, OuterRef, Q, Subquery, Value, When
from django.db.models.functions import Coalesce
from django.db.models.lookups import GreaterThanOrEqual, IsNull

from clinic.aggregates import count_of
from patients.models import Assessment
from treatments.models import SessionChart, TreatmentPlan

# Minimal important change: 2 points or 30% on the 0-10 pain scale, 10 points on ODI.
PAIN_MIC_POINTS = 2
PAIN_MIC_SHARE = Decimal("0.30")
ODI_MIC_POINTS = 10


@dataclass(frozen=True)
class Change:
    start: Decimal | int
    end: Decimal | int
    meets_mic: bool

    @property
    def improvement(self):
        """Positive when the score fell, which is better on both scales."""
        return self.start - self.end


def pain_change(start: int, end: int) -> Change:
    improvement = start - end
    meets = improvement >= PAIN_MIC_POINTS or (start > 0 and Decimal(improvement) / start >= PAIN_MIC_SHARE)
    return Change(start=start, end=end, meets_mic=meets)


def odi_change(start: Decimal, end: Decimal) -> Change:
    return Change(start=start, end=end, meets_mic=start - end >= ODI_MIC_POINTS)


@dataclass(frozen=True)
class SessionPoint:
    number: int
    date: object
    leg_before: int | None
    leg_after: int | None
    back_before: int | None
    back_after: int | None


@dataclass(frozen=True)
class Outcomes:
    sessions: list[SessionPoint]
    odi_start: Assessment | None
    odi_reassessment: Assessment | None
    leg_pain: Change | None
    back_pain: Change | None
    odi: Change | None
    sessions_done: int
    reassessment_due: bool

    @property
    def not_improving(self):
        """At or past the re-assessment point without a minimal important
        change in leg pain or in ODI."""
        if not self.reassessment_due:
            return False
        return not any(change and change.meets_mic for change in (self.leg_pain, self.odi))


def plan_outcomes(plan: TreatmentPlan) -> Outcomes:
    """Two queries, whatever the number of sessions."""
    charts = list(
        SessionChart.objects.filter(plan=plan, signed_at__isnull=False)
        .select_related("appointment")
        .order_by("session_number")
    )
    sessions = [
        SessionPoint(
            number=c.session_number,
            date=c.appointment.starts_at,
            leg_before=c.leg_pain_before,
            leg_after=c.leg_pain_after,
            back_before=c.back_pain_before,
            back_after=c.back_pain_after,
        )
        for c in charts
    ]
    assessments = list(Assessment.objects.filter(patient_id=plan.patient_id).order_by("assessed_at", "id"))
    started = plan.activated_at or plan.created_at
    intakes = [a for a in assessments if a.assessed_at <= started]
    odi_start = intakes[-1] if intakes else None
    # A re-assessment after the plan ended belongs to what came next, not to this plan.
    later = [
        a
        for a in assessments
        if a.assessed_at > started
        and (plan.ended_at is None or a.assessed_at <= plan.ended_at)
        and a.kind == Assessment.Kind.REASSESSMENT
    ]
    odi_reassessment = later[-1] if later else None

    leg = back = None
    if sessions:
        first, last = sessions[0], sessions[-1]
        if first.leg_before is not None and last.leg_after is not None:
            leg = pain_change(first.leg_before, last.leg_after)
        if first.back_before is not None and last.back_after is not None:
            back = pain_change(first.back_before, last.back_after)
    odi = (
        odi_change(odi_start.odi_percent, odi_reassessment.odi_percent)
        if odi_start and odi_reassessment
        else None
    )
    return Outcomes(
        sessions=sessions,
        odi_start=odi_start,
        odi_reassessment=odi_reassessment,
        leg_pain=leg,
        back_pain=back,
        odi=odi,
        sessions_done=len(sessions),
        reassessment_due=len(sessions) >= plan.reassessment_after_session,
    )


def with_outcomes(plans):
    """The figures of `plan_outcomes`, annotated on every plan by the database
    so that reports can count and average them over thousands of plans:
    sessions_done, leg_start, leg_end, odi_start, odi_end, leg_improvement,
    odi_improvement, leg_meets_mic, odi_meets_mic and not_improving."""
    signed = SessionChart.objects.filter(plan=OuterRef("pk"), signed_at__isnull=False)
    started = Coalesce(OuterRef("activated_at"), OuterRef("created_at"))
    assessments = Assessment.objects.filter(patient=OuterRef("patient")).order_by("-assessed_at", "-id")

    def meets(condition):
        return Case(When(condition, then=Value(True)), default=Value(False), output_field=BooleanField())

    return (
        plans.annotate(
            sessions_done=count_of(signed),
            leg_start=Subquery(signed.order_by("session_number").values("leg_pain_before")[:1]),
            leg_end=Subquery(signed.order_by("-session_number").values("leg_pain_after")[:1]),
            odi_start=Subquery(assessments.filter(assessed_at__lte=started).values("odi_percent")[:1]),
            odi_end=Subquery(
                assessments.filter(assessed_at__gt=started, kind=Assessment.Kind.REASSESSMENT)
                .filter(Q(assessed_at__lte=OuterRef("ended_at")) | Q(IsNull(OuterRef("ended_at"), True)))
                .values("odi_percent")[:1]
            ),
        )
        .annotate(
            leg_improvement=F("leg_start") - F("leg_end"),
            odi_improvement=F("odi_start") - F("odi_end"),
        )
        .annotate(
            # 30% as whole numbers: improvement / start >= 0.30  <=>  100 * improvement >= 30 * start
            leg_meets_mic=meets(
                Q(leg_improvement__gte=PAIN_MIC_POINTS)
                | Q(
                    GreaterThanOrEqual(
                        F("leg_improvement") * 100, F("leg_start") * int(PAIN_MIC_SHARE * 100)
                    ),
                    leg_start__gt=0,
                )
            ),
            odi_meets_mic=meets(Q(odi_improvement__gte=ODI_MIC_POINTS)),
        )
        .annotate(
            not_improving=meets(
                Q(sessions_done__gte=F("reassessment_after_session"))
                & ~Q(leg_meets_mic=True)
                & ~Q(odi_meets_mic=True)
            )
        )
    )


# The trend chart, drawn as SVG on the server: no chart library, no script.
CHART_WIDTH, CHART_HEIGHT, CHART_MARGIN = 640, 240, 36


@dataclass(frozen=True)
class Series:
    name: str
    css_class: str
    points: list[tuple[float, float, int, int]]  # x, y, session number, value

    @property
    def polyline(self):
        return " ".join(f"{x:.1f},{y:.1f}" for x, y, _, _ in self.points)


def trend_chart(result: Outcomes) -> dict:
    """Coordinates for the pain-per-session chart: leg and back pain before
    and after each session on the 0-10 scale."""
    count = len(result.sessions)
    plot_width = CHART_WIDTH - 2 * CHART_MARGIN
    plot_height = CHART_HEIGHT - 2 * CHART_MARGIN

    def x_of(index):
        return CHART_MARGIN + (plot_width * index / (count - 1) if count > 1 else plot_width / 2)

    def y_of(value):
        return CHART_MARGIN + plot_height * (10 - value) / 10

    def series(name, css_class, attribute):
        points = [
            (x_of(i), y_of(getattr(s, attribute)), s.number, getattr(s, attribute))
            for i, s in enumerate(result.sessions)
            if getattr(s, attribute) is not None
        ]
        return Series(name, css_class, points)

    return {
        "width": CHART_WIDTH,
        "height": CHART_HEIGHT,
        "series": [
            series("Leg pain before", "leg-before", "leg_before"),
            series("Leg pain after", "leg-after", "leg_after"),
            series("Back pain before", "back-before", "back_before"),
            series("Back pain after", "back-after", "back_after"),
        ],
        "y_ticks": [(value, y_of(value)) for value in (0, 2, 4, 6, 8, 10)],
        "x_ticks": [(s.number, x_of(i)) for i, s in enumerate(result.sessions)],
        "left": CHART_MARGIN,
        "right": CHART_WIDTH - CHART_MARGIN,
        "bottom": CHART_HEIGHT - CHART_MARGIN,
    }
