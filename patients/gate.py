"""The clinical gate: for a patient, a moment and an action of care (book a
visit, check in, start a chart, record needling, sign, amend), whether it is
allowed and, if not, why, in words fit to show the person who asked.

Every service that performs such an action asks the gate inside its own
transaction (with `lock=True`, which holds the patient's row until the
transaction ends, so that a screening signed or a consent withdrawn at the
same moment is seen by one or the other, never half). Pages ask it too, to
show the state before anyone clicks; the services' answer is the one that
counts.

The gate knows a visit only as plain values (`Visit`), so that scheduling,
which sits above this app, hands it what it needs without this app knowing
appointments.
"""

import datetime
import enum
from dataclasses import dataclass, field

from django.conf import settings
from django.db.models import OuterRef, Subquery
from django.db.models.lookups import IsNull
from django.utils import formats, timezone

from patients.models import Consent, ConsentText, Patient, Screening

CLEARED_RESULTS = (Screening.Result.CLEARED, Screening.Result.PRECAUTIONS)
REFERRAL_RESULTS = (Screening.Result.REFER, Screening.Result.REFER_URGENT)


class Action(enum.Enum):
    BOOK = "book"  # book a visit, or move one to another day
    CHECK_IN = "check in"
    START_CHART = "start the chart"
    NEEDLE = "record needling"
    SIGN = "sign the chart"
    AMEND = "amend the chart"


@dataclass(frozen=True)
class Visit:
    """What the gate needs to know of a visit."""

    starts_at: datetime.datetime
    involves_needling: bool = True
    is_reassessment: bool = False
    checked_in: bool = False


def _day(value: datetime.date) -> str:
    return formats.date_format(value, "D j M Y")


def _time(value: datetime.datetime) -> str:
    return formats.time_format(timezone.localtime(value), "H:i")


def clearance_problems(
    *, screening_result: str | None, valid_until: datetime.date | None, has_consent: bool, on: datetime.date
) -> list[str]:
    """Why a patient may not be needled on a day, from the latest signed
    screening's result and expiry and whether there is a current consent.
    Empty when cleared. The one statement of the rule, for single patients
    and for annotated lists alike."""
    problems = []
    if screening_result is None:
        problems.append("The patient has no signed screening.")
    elif screening_result in REFERRAL_RESULTS:
        problems.append("The latest screening refers the patient out: not a dry-needling case.")
    elif screening_result not in CLEARED_RESULTS:
        problems.append("The latest screening did not clear the patient for dry needling.")
    elif valid_until < on:
        problems.append(f"The screening is valid until {_day(valid_until)}; screen the patient again.")
    if not has_consent:
        problems.append("The patient has not given consent to the current consent text.")
    return problems


@dataclass(frozen=True)
class Clearance:
    """A patient's latest signed screening and current consent, which say on
    which days the patient may be needled."""

    screening: Screening | None
    consent: Consent | None
    screening_result: str | None = None
    valid_until: datetime.date | None = None
    has_consent: bool = False
    on: datetime.date = field(default_factory=timezone.localdate)

    @classmethod
    def of(cls, patient: Patient, on: datetime.date | None = None) -> "Clearance":
        screening = patient.screenings.signed().order_by("-signed_at", "-id").first()
        text = ConsentText.objects.order_by("-version").first()
        consent = (
            patient.consents.filter(consent_text=text, withdrawn_at__isnull=True)
            .order_by("-given_at")
            .first()
            if text
            else None
        )
        return cls(
            screening=screening,
            consent=consent,
            screening_result=screening.result if screening else None,
            valid_until=screening.valid_until if screening else None,
            has_consent=consent is not None,
            on=on or timezone.localdate(),
        )

    @classmethod
    def from_row(cls, row, on: datetime.date) -> "Clearance":
        """From a row annotated by `annotations()`."""
        return cls(
            screening=None,
            consent=None,
            screening_result=row.screening_result,
            valid_until=row.screening_valid_until,
            has_consent=row.has_current_consent,
            on=on,
        )

    def problems_on(self, day: datetime.date) -> list[str]:
        return clearance_problems(
            screening_result=self.screening_result,
            valid_until=self.valid_until,
            has_consent=self.has_consent,
            on=day,
        )

    def cleared_on(self, day: datetime.date) -> bool:
        return not self.problems_on(day)

    @property
    def problems(self) -> list[str]:
        return self.problems_on(self.on)

    @property
    def is_cleared(self) -> bool:
        return not self.problems

    @property
    def refers_out(self) -> bool:
        return self.screening_result in REFERRAL_RESULTS


def annotations(patient_ref: str = "pk") -> dict:
    """What `Clearance.from_row` reads, as annotations on any queryset whose
    `patient_ref` is a patient's id: three subqueries, whatever the rows."""
    latest = Screening.objects.signed().filter(patient=OuterRef(patient_ref)).order_by("-signed_at", "-id")
    current_text = ConsentText.objects.order_by("-version").values("pk")[:1]
    consents = Consent.objects.filter(
        patient=OuterRef(patient_ref), consent_text=Subquery(current_text), withdrawn_at__isnull=True
    )
    return {
        "screening_result": Subquery(latest.values("result")[:1]),
        "screening_valid_until": Subquery(latest.values("valid_until")[:1]),
        # A scalar subquery rather than EXISTS, which PostgreSQL runs as one
        # hash of every consent in the clinic, even for a page of 50 patients.
        "has_current_consent": IsNull(Subquery(consents.order_by().values("pk")[:1]), False),
    }


def needling_clearance(patient: Patient, on: datetime.date | None = None) -> Clearance:
    return Clearance.of(patient, on)


def check_in_window(starts_at: datetime.datetime) -> tuple[datetime.datetime, datetime.datetime]:
    """When a visit may be checked in: from CHECK_IN_OPENS_MINUTES before it
    starts until the end of its day, clinic time."""
    day = timezone.localdate(starts_at)
    day_end = timezone.make_aware(
        datetime.datetime.combine(day + datetime.timedelta(days=1), datetime.time.min)
    )
    return starts_at - datetime.timedelta(minutes=settings.CHECK_IN_OPENS_MINUTES), day_end


@dataclass(frozen=True)
class Decision:
    action: Action
    reasons: list[str]
    clearance: Clearance

    @property
    def allowed(self) -> bool:
        return not self.reasons

    @property
    def message(self) -> str:
        return " ".join(self.reasons)


def clinical_gate(
    patient: Patient,
    action: Action,
    *,
    visit: Visit | None = None,
    needled: bool = True,
    now: datetime.datetime | None = None,
    clearance: Clearance | None = None,
    lock: bool = False,
) -> Decision:
    """Whether `action` is allowed for `patient` at `now` (for `visit`, and,
    for a chart, whether it records needling), and the reasons if not.

    - book: a needling visit only on a day the patient is cleared; a patient
      referred out only for a re-assessment; nothing for an archived patient.
    - check in: on the visit's day, from CHECK_IN_OPENS_MINUTES before it.
    - start the chart: once checked in; cleared that day unless charted as
      not needled.
    - record needling: cleared on the visit's day.
    - sign, amend: once the visit has begun; signing a needled chart, cleared.
    """
    now = now or timezone.now()
    if lock:
        # Serialises with screening_sign and consent_withdraw, which take the same row.
        patient = Patient.objects.select_for_update().get(pk=patient.pk)
    day = timezone.localdate(visit.starts_at) if visit else timezone.localdate(now)
    clearance = clearance or Clearance.of(patient, day)
    reasons = []
    if action is Action.BOOK:
        if patient.archived_at is not None:
            reasons.append("This patient is archived; restore the patient before booking.")
        elif clearance.refers_out and not visit.is_reassessment:
            reasons.append(
                "The latest screening refers the patient out: only a re-assessment can be booked "
                "until a new screening clears the patient."
            )
        elif visit.involves_needling:
            reasons += [f"Not cleared for needling on {_day(day)}: {p}" for p in clearance.problems_on(day)]
    elif action is Action.CHECK_IN:
        opens, closes = check_in_window(visit.starts_at)
        if now >= closes:
            reasons.append(f"This visit was on {_day(day)}; it can no longer be checked in.")
        elif now < opens:
            when = _time(opens) if timezone.localdate(now) == day else f"{_day(day)} at {_time(opens)}"
            reasons.append(
                f"Check-in opens {settings.CHECK_IN_OPENS_MINUTES} minutes before the visit: {when}."
            )
    else:
        if action is Action.START_CHART and not visit.checked_in:
            reasons.append("Check the patient in before charting the visit.")
        if action in (Action.SIGN, Action.AMEND) and now < visit.starts_at:
            reasons.append(
                f"The visit begins at {_time(visit.starts_at)} on {_day(day)}; sign its chart after."
            )
        if action is Action.SIGN and not visit.checked_in:
            reasons.append("The visit is not checked in; only a visit that took place is signed.")
        needs_clearance = action is Action.NEEDLE or (action in (Action.START_CHART, Action.SIGN) and needled)
        if needs_clearance:
            reasons += [f"Not cleared for needling: {p}" for p in clearance.problems_on(day)]
    return Decision(action=action, reasons=reasons, clearance=clearance)
