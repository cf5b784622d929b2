"""Outcomes over a plan, in one definition that the plan page, a therapist's
figures, the dashboard and the monthly report all read.

Pain (leg and back, 0-10) changes from the plan's baseline to its latest
measure:

- the baseline is the plan's starting assessment (the patient's latest
  assessment at or before the plan started), else the first signed session's
  pain before needling;
- the latest measure is the latest dated one after the baseline, across
  visits: a signed session's pain before needling, the patient's check-in
  after a visit ("leg pain now"; it asks no back pain) or a re-assessment
  within the plan.

The pain just after needling, before versus after the same session, is the
change within a session: shown on its own, never counted as improvement.
The Oswestry index changes from the starting assessment to the plan's latest
re-assessment. A change is judged against the minimal important change.

The database computes all of it (`with_outcomes`), each measure once per
plan. `refresh` stores the result in the plan's PlanOutcome row whenever a
measure it is computed from is written (treatments.signals), so that reports
count and average plain columns over thousands of plans
(`with_stored_outcomes`, `outcome_aggregates`) and `plan_outcomes` reads one
row, instead of computing every plan's history again on each request.
"""

import datetime
import functools
from dataclasses import dataclass
from decimal import Decimal

from django.db import transaction
from django.db.models import (
    Avg,
    BooleanField,
    Case,
    CharField,
    Count,
    F,
    OuterRef,
    Q,
    Subquery,
    Value,
    When,
)
from django.db.models.functions import Coalesce
from django.db.models.lookups import GreaterThanOrEqual, In, IsNull
from django.utils import timezone

from clinic.aggregates import count_of
from patients.models import Assessment
from treatments.models import PlanOutcome, SessionChart, TreatmentPlan

# Minimal important change: 2 points or 30% on the 0-10 pain scale, 10 points on ODI.
PAIN_MIC_POINTS = 2
PAIN_MIC_SHARE = Decimal("0.30")
ODI_MIC_POINTS = 10
PAIN_SCORES = range(11)


def reaches_pain_mic(start: int, end: int) -> bool:
    """The rule, as the clinic states it: 2 points or 30% of the start."""
    improvement = start - end
    return improvement >= PAIN_MIC_POINTS or (start > 0 and Decimal(improvement) / start >= PAIN_MIC_SHARE)


# The same rule for the database: the (start, end) pairs of the 0-10 scale
# that reach it, each as start * 11 + end. One lookup reads each score once,
# which keeps the subqueries behind them from being written (and run) again.
PAIN_MIC_PAIRS = [
    start * len(PAIN_SCORES) + end
    for start in PAIN_SCORES
    for end in PAIN_SCORES
    if reaches_pain_mic(start, end)
]


def pain_mic(start, end) -> Q:
    """Whether a pain change from `start` to `end` (expressions) reaches the minimal important change."""
    return Q(In(start * len(PAIN_SCORES) + end, PAIN_MIC_PAIRS))


def odi_mic(start, end) -> Q:
    return Q(GreaterThanOrEqual(start - end, ODI_MIC_POINTS))


# Where a pain score was measured.
ASSESSMENT, SESSION, CHECK_IN, REASSESSMENT = "assessment", "session", "check-in", "re-assessment"
EARLIEST = datetime.datetime.min.replace(tzinfo=datetime.UTC)


@dataclass(frozen=True)
class PainScale:
    """Where each kind of record keeps a pain score."""

    name: str
    before_needling: str  # on the session chart
    assessed: str  # on the assessment
    checked_in: str | None  # on the aftercare check-in, if it asks


LEG = PainScale("leg", "leg_pain_before", "leg_pain", "leg_pain")
BACK = PainScale("back", "back_pain_before", "back_pain", None)


def _plan(name, level):
    """A column of the plan, from a query `level` subqueries below the plan's."""
    for _ in range(level):
        name = OuterRef(name)
    return name


def _started(level):
    return Coalesce(_plan("activated_at", level), _plan("created_at", level))


def _signed_charts(level=1):
    return SessionChart.objects.filter(plan=_plan("pk", level), signed_at__isnull=False)


def _starting_assessments(level=1):
    """The plan's starting assessment first: the patient's latest at or before the plan started."""
    return Assessment.objects.filter(
        patient=_plan("patient", level), assessed_at__lte=_started(level)
    ).order_by("-assessed_at", "-id")


def _reassessments(level=1):
    """The plan's re-assessments, latest first: after it started and, once it
    ended, not after (a later one belongs to what came next)."""
    ended = _plan("ended_at", level)
    return (
        Assessment.objects.filter(
            patient=_plan("patient", level),
            kind=Assessment.Kind.REASSESSMENT,
            assessed_at__gt=_started(level),
        )
        .filter(Q(assessed_at__lte=ended) | Q(IsNull(ended, True)))
        .order_by("-assessed_at", "-id")
    )


def _first_sessions(scale: PainScale, level=1):
    """The plan's signed sessions with the score before needling, first first."""
    before = {f"{scale.before_needling}__isnull": False}
    return _signed_charts(level).filter(**before).order_by("session_number")


def _later_visit_measures(scale: PainScale, level=1):
    """The pain measured at the plan's signed visits after the baseline and
    after the plan's latest re-assessment, latest first: the patient's
    check-in after a visit where there is one (it comes later), else the score
    before needling."""
    charts = _signed_charts(level)
    assessed_at = Subquery(_starting_assessments(level + 1).values("assessed_at")[:1])
    # Without a starting assessment, the first session's score before needling is the baseline.
    is_baseline = Q(IsNull(assessed_at, True)) & Q(
        session_number=Subquery(_first_sessions(scale, level + 1).values("session_number")[:1])
    )
    if scale.checked_in:
        checked_in = Q(appointment__checkin__isnull=False)
        charts = charts.annotate(
            score=Coalesce(f"appointment__checkin__{scale.checked_in}", scale.before_needling),
            measured_at=Coalesce("appointment__checkin__submitted_at", "appointment__starts_at"),
            source=Case(When(checked_in, then=Value(CHECK_IN)), default=Value(SESSION)),
        )
        is_baseline &= ~checked_in
    else:
        charts = charts.annotate(
            score=F(scale.before_needling), measured_at=F("appointment__starts_at"), source=Value(SESSION)
        )
    # A re-assessment comes after the plan started, so after its starting assessment.
    since = Coalesce(
        Subquery(_reassessments(level + 1).values("assessed_at")[:1]), assessed_at, Value(EARLIEST)
    )
    return (
        charts.filter(score__isnull=False)
        .filter(~is_baseline, measured_at__gt=since)
        .order_by("-measured_at", "-session_number")
    )


def _pain(scale: PainScale):
    """`<scale>_start` and `<scale>_end`: the baseline, and the latest measure
    after it (none yet for a plan measured once, at its first session)."""
    return {
        f"{scale.name}_start": Coalesce(
            Subquery(_starting_assessments().values(scale.assessed)[:1]),
            Subquery(_first_sessions(scale).values(scale.before_needling)[:1]),
        ),
        f"{scale.name}_end": Coalesce(
            Subquery(_later_visit_measures(scale).values("score")[:1]),
            Subquery(_reassessments().values(scale.assessed)[:1]),
        ),
    }


def _meets(condition):
    return Case(When(condition, then=Value(True)), default=Value(False), output_field=BooleanField())


def with_measures(plans):
    """The measures the outcomes are judged on, annotated by the database:
    leg_start, leg_end, back_start, back_end (the baseline and the latest
    measure after it), odi_start and odi_end. An end is None until there is
    a measure after the baseline."""
    return plans.annotate(
        **_pain(LEG),
        **_pain(BACK),
        odi_start=Subquery(_starting_assessments().values("odi_percent")[:1]),
        odi_end=Subquery(_reassessments().values("odi_percent")[:1]),
    )


def with_outcomes(plans):
    """`with_measures`, and what follows from them: sessions_done,
    reassessment_due, leg_improvement, leg_meets_mic (and the same for back
    and ODI), not_improving; and the last signed session's leg pain before and
    after needling (last_leg_before, last_leg_after), the change within a session."""
    signed = _signed_charts()
    last = signed.order_by("-session_number")
    return (
        with_measures(plans)
        .annotate(
            sessions_done=count_of(signed),
            last_leg_before=Subquery(last.values("leg_pain_before")[:1]),
            last_leg_after=Subquery(last.values("leg_pain_after")[:1]),
        )
        .annotate(
            leg_improvement=F("leg_start") - F("leg_end"),
            back_improvement=F("back_start") - F("back_end"),
            odi_improvement=F("odi_start") - F("odi_end"),
            reassessment_due=_meets(Q(sessions_done__gte=F("reassessment_after_session"))),
            leg_meets_mic=_meets(pain_mic(F("leg_start"), F("leg_end"))),
            back_meets_mic=_meets(pain_mic(F("back_start"), F("back_end"))),
            odi_meets_mic=_meets(odi_mic(F("odi_start"), F("odi_end"))),
        )
        .annotate(
            # At or past the re-assessment point without a minimal important
            # change in leg pain or in ODI.
            not_improving=_meets(Q(reassessment_due=True) & ~Q(leg_meets_mic=True) & ~Q(odi_meets_mic=True))
        )
    )


def outcome_aggregates():
    """What reports count and average over `with_stored_outcomes` plans, for
    `QuerySet.aggregate()` or per group with `values(...).annotate()`."""
    leg_mic = Q(leg_meets_mic=True)
    odi_reached = Q(odi_meets_mic=True)
    return {
        "plans": Count("id"),
        "leg_measured": Count("id", filter=Q(leg_start__isnull=False, leg_end__isnull=False)),
        "leg_change": Avg(F("leg_start") - F("leg_end")),
        "leg_mic": Count("id", filter=leg_mic),
        "odi_measured": Count("id", filter=Q(odi_start__isnull=False, odi_end__isnull=False)),
        "odi_change": Avg(F("odi_start") - F("odi_end")),
        "odi_mic": Count("id", filter=odi_reached),
        "either_mic": Count("id", filter=leg_mic | odi_reached),
    }


# The stored outcomes.

# The columns of PlanOutcome, named as `_measure_details(with_outcomes(...))` annotates them.
STORED = [
    "sessions_done",
    *(f"{scale}_{end}" for scale in ("leg", "back", "odi") for end in ("start", "end")),
    "last_leg_before",
    "last_leg_after",
    "reassessment_due",
    "leg_meets_mic",
    "back_meets_mic",
    "odi_meets_mic",
    "not_improving",
    *(
        f"{scale}_{which}_{detail}"
        for scale in ("leg", "back")
        for which in ("baseline", "latest")
        for detail in ("source", "at", "session")
    ),
    "odi_start_assessment_id",
    "odi_reassessment_id",
]
SOURCES = [f"{scale}_{which}_source" for scale in ("leg", "back") for which in ("baseline", "latest")]
REFRESH_BATCH = 500


@functools.cache
def _definition():
    """The stored columns of every plan as a query, built once: building its
    hundreds of expressions costs more than running it for a few plans."""
    return _measure_details(with_outcomes(TreatmentPlan.objects.all())).values("pk", *STORED)


def _computed(plan_ids):
    """The stored columns of these plans as computed now, one dict per plan."""
    for row in _definition().filter(pk__in=plan_ids):
        yield row | {source: row[source] or "" for source in SOURCES}


@transaction.atomic(savepoint=False)
def refresh(plan_ids):
    """Compute and store the outcomes of these plans: three queries. Called,
    inside the writer's transaction, after every write of a measure, a signed
    chart or a plan (treatments.signals)."""
    plan_ids = sorted(set(plan_ids))
    for first in range(0, len(plan_ids), REFRESH_BATCH):
        batch = plan_ids[first : first + REFRESH_BATCH]
        # Two writers refreshing one plan take turns: the second computes
        # after the first has committed, so it counts the first one's write.
        plans = TreatmentPlan.objects.select_for_update().filter(pk__in=batch).order_by("pk")
        list(plans.values_list("pk", flat=True))
        rows = _computed(batch)
        PlanOutcome.objects.bulk_create(
            [PlanOutcome(plan_id=row.pop("pk"), **row) for row in rows],
            update_conflicts=True,
            unique_fields=["plan"],
            update_fields=[name.removesuffix("_id") for name in STORED],
        )


def refresh_all():
    """Store the outcomes of every plan (after a bulk load)."""
    refresh(TreatmentPlan.objects.order_by("pk").values_list("pk", flat=True).iterator())


def stale_plans(plan_ids=None):
    """The plans whose stored outcomes are missing or differ from what the
    definition computes now: none, unless a write went round the signals."""
    plans = TreatmentPlan.objects.order_by("pk")
    if plan_ids is not None:
        plans = plans.filter(pk__in=plan_ids)
    ids = list(plans.values_list("pk", flat=True))
    stale = []
    for first in range(0, len(ids), REFRESH_BATCH):
        batch = ids[first : first + REFRESH_BATCH]
        stored = {
            row.pop("plan"): row for row in PlanOutcome.objects.filter(plan__in=batch).values("plan", *STORED)
        }
        for row in _computed(batch):
            pk = row.pop("pk")
            if stored.get(pk) != row:
                stale.append(pk)
    return stale


def with_stored_outcomes(plans):
    """The annotations of `with_outcomes`, read from the stored row: one join, no subqueries."""
    stored = {name: F(f"outcome__{name}") for name in STORED if not name.endswith("_id")}
    stored["sessions_done"] = Coalesce(F("outcome__sessions_done"), 0)
    return plans.annotate(**stored).annotate(
        leg_improvement=F("leg_start") - F("leg_end"),
        back_improvement=F("back_start") - F("back_end"),
        odi_improvement=F("odi_start") - F("odi_end"),
    )


# One plan, for its page.


@dataclass(frozen=True)
class Change:
    start: Decimal | int
    end: Decimal | int
    meets_mic: bool
    # Where each end was measured, in words ("check-in after session 1, Tue 4 Mar").
    start_from: str = ""
    end_from: str = ""

    @property
    def improvement(self):
        """Positive when the score fell, which is better on both scales."""
        return self.start - self.end


@dataclass(frozen=True)
class SessionPoint:
    number: int
    date: datetime.datetime
    leg_before: int | None
    leg_after: int | None
    back_before: int | None
    back_after: int | None
    # The patient's check-in after this visit, if they sent one.
    checkin_leg: int | None = None
    checkin_at: datetime.datetime | None = None


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
    not_improving: bool

    @property
    def last_session(self):
        """The latest signed session: its before and after is the change within a session."""
        return self.sessions[-1] if self.sessions else None


def _measured(source, at, session=None):
    local = timezone.localtime(at)
    day = f"{local:%a} {local.day} {local:%b}"
    return {
        ASSESSMENT: f"assessment, {day}",
        REASSESSMENT: f"re-assessment, {day}",
        SESSION: f"before needling at session {session}, {day}",
        CHECK_IN: f"check-in after session {session}, {day}",
    }[source]


def _measure_details(plans):
    """Where and when the baseline and the latest measure of each pain scale
    were taken (as `with_outcomes` chose them), for `plan_outcomes` to put in words."""

    def labelled(rows, source):
        return Subquery(rows.annotate(source=Value(source, output_field=CharField())).values("source")[:1])

    details = {}
    for scale in (LEG, BACK):
        n = scale.name
        visits, reassessments = _later_visit_measures(scale), _reassessments()
        details |= {
            f"{n}_baseline_source": Coalesce(labelled(_starting_assessments(), ASSESSMENT), Value(SESSION)),
            f"{n}_baseline_at": Coalesce(
                Subquery(_starting_assessments().values("assessed_at")[:1]),
                Subquery(_first_sessions(scale).values("appointment__starts_at")[:1]),
            ),
            f"{n}_baseline_session": Subquery(_first_sessions(scale).values("session_number")[:1]),
            f"{n}_latest_source": Coalesce(
                Subquery(visits.values("source")[:1]), labelled(reassessments, REASSESSMENT)
            ),
            f"{n}_latest_at": Coalesce(
                Subquery(visits.values("measured_at")[:1]), Subquery(reassessments.values("assessed_at")[:1])
            ),
            f"{n}_latest_session": Subquery(visits.values("session_number")[:1]),
        }
    return plans.annotate(
        **details,
        odi_start_assessment_id=Subquery(_starting_assessments().values("id")[:1]),
        odi_reassessment_id=Subquery(_reassessments().values("id")[:1]),
    )


def _pain_change(row, n):
    if row[f"{n}_end"] is None:
        return None
    return Change(
        start=row[f"{n}_start"],
        end=row[f"{n}_end"],
        meets_mic=row[f"{n}_meets_mic"],
        start_from=_measured(
            row[f"{n}_baseline_source"], row[f"{n}_baseline_at"], row[f"{n}_baseline_session"]
        ),
        end_from=_measured(row[f"{n}_latest_source"], row[f"{n}_latest_at"], row[f"{n}_latest_session"]),
    )


def plan_outcomes(plan: TreatmentPlan) -> Outcomes:
    """The outcomes of one plan as stored, with its sessions for the trend
    chart. Three queries, whatever the number of sessions."""
    row = PlanOutcome.objects.filter(plan=plan).values(*STORED).first()
    if row is None:  # a plan written before its outcomes were first stored
        row = next(_computed([plan.pk]))
    charts = (
        SessionChart.objects.filter(plan=plan, signed_at__isnull=False)
        .select_related("appointment__checkin")
        .order_by("session_number")
    )
    sessions = []
    for c in charts:
        checkin = getattr(c.appointment, "checkin", None)
        sessions.append(
            SessionPoint(
                number=c.session_number,
                date=c.appointment.starts_at,
                leg_before=c.leg_pain_before,
                leg_after=c.leg_pain_after,
                back_before=c.back_pain_before,
                back_after=c.back_pain_after,
                checkin_leg=checkin.leg_pain if checkin else None,
                checkin_at=checkin.submitted_at if checkin else None,
            )
        )
    assessments = Assessment.objects.in_bulk(
        [pk for pk in (row["odi_start_assessment_id"], row["odi_reassessment_id"]) if pk is not None]
    )
    odi = None
    if row["odi_end"] is not None and row["odi_start"] is not None:
        odi = Change(start=row["odi_start"], end=row["odi_end"], meets_mic=row["odi_meets_mic"])
    return Outcomes(
        sessions=sessions,
        odi_start=assessments.get(row["odi_start_assessment_id"]),
        odi_reassessment=assessments.get(row["odi_reassessment_id"]),
        leg_pain=_pain_change(row, "leg"),
        back_pain=_pain_change(row, "back"),
        odi=odi,
        sessions_done=row["sessions_done"],
        reassessment_due=row["reassessment_due"],
        not_improving=row["not_improving"],
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
    and after each session on the 0-10 scale, and leg pain at the check-in
    after it; a series with no score is left out."""
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
            drawn
            for drawn in (
                series("Leg pain before", "leg-before", "leg_before"),
                series("Leg pain after", "leg-after", "leg_after"),
                series("Back pain before", "back-before", "back_before"),
                series("Back pain after", "back-after", "back_after"),
                series("Leg pain at the check-in", "leg-checkin", "checkin_leg"),
            )
            if drawn.points
        ],
        "y_ticks": [(value, y_of(value)) for value in (0, 2, 4, 6, 8, 10)],
        "x_ticks": [(s.number, x_of(i)) for i, s in enumerate(result.sessions)],
        "left": CHART_MARGIN,
        "right": CHART_WIDTH - CHART_MARGIN,
        "bottom": CHART_HEIGHT - CHART_MARGIN,
    }
