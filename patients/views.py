from dataclasses import dataclass

from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.db.models import Count, F, Q
from django.db.models.functions import Coalesce
from django.shortcuts import get_object_or_404, redirect, render
from django.utils import timezone
from django.utils.dateparse import parse_datetime
from django.views.decorators.http import require_POST

from clinic import roles
from patients import gate, scoring, services
from patients.forms import AssessmentForm, ConsentForm, PatientForm, PatientSearchForm, ScreeningForm
from patients.models import ODI_SECTIONS, Assessment, Consent, Patient, Screening, ScreeningItem
from patients.models import ScreeningCategory as Category
from patients.services import PatientRecordError

PAGE_SIZE = 50


def get_patient(pk):
    return get_object_or_404(Patient.objects.select_related("treating_therapist"), pk=pk)


def get_patient_for_clinical_read(request, pk):
    """The patient, if the user may read their clinical records; else 403."""
    patient = get_patient(pk)
    if not services.can_read_clinical_records(request.user, patient):
        services.clinical_access_refused(user=request.user, patient=patient, record=request.path)
        raise PermissionDenied(
            "Only the patient's treating therapist and the clinic admin can read clinical records."
        )
    return patient


def get_patient_for_clinical_write(request, pk):
    patient = get_patient(pk)
    if not services.can_write_clinical_records(request.user, patient):
        raise PermissionDenied(
            "Only the patient's treating therapist can write clinical records. "
            "Ask the clinic admin to reassign the patient."
        )
    return patient


def get_patient_for_consent(request, pk):
    patient = get_patient(pk)
    if not services.can_record_consent(request.user, patient):
        raise PermissionDenied(
            "Only the patient's treating therapist or the clinic admin records consent. "
            "Ask the clinic admin to reassign the patient."
        )
    return patient


@dataclass
class ListPage:
    """One page of PAGE_SIZE rows and whether another follows, read as
    PAGE_SIZE + 1 rows: no COUNT(*) over the whole table of patients."""

    number: int
    object_list: list
    has_next: bool
    # Pages past this are refused (the first page is shown): an offset must
    # stay a number the database takes.
    LAST = 10_000

    @classmethod
    def of(cls, queryset, number):
        try:
            number = int(number)
        except (TypeError, ValueError):
            number = 1
        if not 1 <= number <= cls.LAST:
            number = 1
        start = (number - 1) * PAGE_SIZE
        rows = list(queryset[start : start + PAGE_SIZE + 1])
        return cls(number=number, object_list=rows[:PAGE_SIZE], has_next=len(rows) > PAGE_SIZE)

    @property
    def has_previous(self):
        return self.number > 1

    @property
    def has_other_pages(self):
        return self.has_previous or self.has_next

    def previous_page_number(self):
        return self.number - 1

    def next_page_number(self):
        return self.number + 1


@roles.role_required(*roles.STAFF)
def patient_list(request):
    """Everyone: find a patient by name, date of birth, phone or email."""
    form = PatientSearchForm(request.GET)
    patients = Patient.objects.none()
    query = ""
    if form.is_valid():
        query = form.cleaned_data["q"].strip()
        patients = Patient.objects.all() if form.cleaned_data["archived"] else Patient.objects.active()
        patients = patients.search(query) if query else patients.order_by("-created_at", "-id")
    page = ListPage.of(patients.with_clearance(), request.GET.get("page"))
    return render(
        request,
        "patients/list.html",
        {"form": form, "page": page, "query": query, "today": timezone.localdate()},
    )


@roles.role_required(*roles.FRONT_DESK)
def patient_register(request):
    """Receptionist and clinic admin: register a patient, warned of a likely duplicate."""
    form = PatientForm(request.POST or None, user=request.user)
    if request.method == "POST" and form.is_valid():
        patient = services.patient_save(patient=form.save(commit=False))
        messages.success(request, f"{patient} is registered.")
        return redirect(patient)
    return render(
        request,
        "patients/form.html",
        {"form": form, "duplicates": form.duplicates, "title": "Register a patient"},
    )


@roles.role_required(*roles.FRONT_DESK)
def patient_edit(request, pk):
    """Receptionist and clinic admin: change a patient's details."""
    patient = get_patient(pk)
    consent_before = patient.email_consent
    form = PatientForm(request.POST or None, instance=patient, user=request.user)
    if request.method == "POST" and form.is_valid():
        services.patient_save(patient=form.save(commit=False), email_consent_before=consent_before)
        messages.success(request, f"{patient}'s details are saved.")
        return redirect(patient)
    return render(
        request, "patients/form.html", {"form": form, "patient": patient, "title": f"Edit {patient}"}
    )


@require_POST
@roles.role_required(*roles.FRONT_DESK)
def patient_archive(request, pk):
    """Receptionist and clinic admin: archive a patient (records are kept)."""
    patient = get_patient(pk)
    try:
        services.patient_archive(patient=patient)
    except PatientRecordError as error:
        messages.error(request, str(error))
    else:
        messages.success(request, f"{patient} is archived. Their records are kept.")
    return redirect(patient)


@require_POST
@roles.role_required(*roles.FRONT_DESK)
def patient_restore(request, pk):
    patient = get_patient(pk)
    services.patient_restore(patient=patient)
    messages.success(request, f"{patient} is restored.")
    return redirect(patient)


@roles.role_required(*roles.STAFF)
def patient_detail(request, pk):
    """Everyone: the patient's details and timeline. Clinical entries only
    for those who may read them (the read is logged); the front desk sees
    whether the patient is cleared and until when."""
    # The clearance comes annotated on the patient's own row (the gate's
    # annotations), not from three more queries.
    patient = get_object_or_404(Patient.objects.select_related("treating_therapist").with_clearance(), pk=pk)
    clinical = services.can_read_clinical_records(request.user, patient)
    clearance = gate.Clearance.from_row(patient, timezone.localdate())
    before = _timeline_before(request)
    timeline, earlier = _timeline(patient, clinical=clinical, user=request.user, before=before)
    upcoming_after = _cursor(request, "upcoming_after")
    upcoming, upcoming_later = _upcoming(patient, clearance, after=upcoming_after)
    services.clinical_access_log(
        user=request.user, patient=patient, record="clinical timeline" if clinical else "patient details"
    )
    return render(
        request,
        "patients/detail.html",
        {
            "patient": patient,
            "clinical": clinical,
            "can_write_clinical": services.can_write_clinical_records(request.user, patient),
            "can_record_consent": services.can_record_consent(request.user, patient),
            "clearance": clearance,
            "timeline": timeline,
            "timeline_before": before,
            "timeline_earlier": timeline[-1]["at"] if earlier else None,
            "upcoming": upcoming,
            "upcoming_after": upcoming_after,
            "upcoming_later": upcoming[-1].starts_at if upcoming_later else None,
            "open_series": patient.appointment_series.annotate(
                upcoming=Count(
                    "appointments",
                    filter=Q(
                        appointments__starts_at__gte=timezone.now(),
                        appointments__status__in=["booked", "confirmed"],
                    ),
                )
            ).filter(upcoming__gt=0),
            "plans": patient.treatment_plans.annotate(
                sessions_done=Count("charts", filter=Q(charts__signed_at__isnull=False))
            ).order_by("-created_at"),
            "today": timezone.localdate(),
        },
    )


TIMELINE_PAGE = 40
UPCOMING_PAGE = 10


def _cursor(request, name):
    """The date and time a "show more" link carries in `name`, or None (also
    for anything that is not an aware date and time)."""
    try:
        value = parse_datetime(request.GET.get(name, ""))
    except (ValueError, OverflowError):
        return None
    return value if value is not None and timezone.is_aware(value) else None


def _timeline_before(request):
    """The `before` cursor of the timeline's "show earlier" link, or None."""
    return _cursor(request, "before")


def _upcoming(patient, clearance, *, after=None):
    """The patient's next UPCOMING_PAGE appointments (after `after`, for the
    "show later" link), each with why it may not be needled that day, and
    whether more follow: a patient booked weekly a year ahead has fifty."""
    # Read through the relations: appointments and plan status are for every role.
    appointments = (
        patient.appointments.filter(starts_at__gte=timezone.now())
        .exclude(status="cancelled")
        .select_related("therapist", "room", "appointment_type")
        .order_by("starts_at", "pk")
    )
    if after is not None:
        appointments = appointments.filter(starts_at__gt=after)
    upcoming = list(appointments[: UPCOMING_PAGE + 1])
    for appointment in upcoming:
        appointment.needling_problems = (
            clearance.problems_on(timezone.localdate(appointment.starts_at))
            if appointment.appointment_type.involves_needling
            else []
        )
    return upcoming[:UPCOMING_PAGE], len(upcoming) > UPCOMING_PAGE


def _timeline(patient, *, clinical, user, before=None):
    """Screenings, assessments, consents, plans, appointments and (for
    clinical readers) their charts, newest first: one page of TIMELINE_PAGE
    entries older than `before`, and whether there are older ones. Each kind
    is read newest first up to a page, so a long history costs no more."""
    limit = TIMELINE_PAGE + 1

    def window(queryset, at):
        queryset = queryset.annotate(timeline_at=at)
        if before is not None:
            queryset = queryset.filter(timeline_at__lt=before)
        return queryset.order_by("-timeline_at")[:limit]

    sources = []
    screenings = patient.screenings.select_related("therapist")
    if clinical:
        screenings = screenings.filter(Q(signed_at__isnull=False) | Q(therapist=user))
    else:
        screenings = screenings.signed()
    sources.append(("screening", window(screenings, Coalesce("signed_at", "created_at")), clinical))
    if clinical:
        assessments = patient.assessments.select_related("therapist")
        sources.append(("assessment", window(assessments, F("assessed_at")), True))
    consents = patient.consents.select_related("consent_text", "witnessed_by")
    sources.append(("consent", window(consents, F("given_at")), False))
    # Plans and charts are read through the relations (treatments sits above patients).
    plans = patient.treatment_plans.select_related("therapist")
    sources.append(("plan", window(plans, Coalesce("activated_at", "created_at")), clinical))
    appointments = patient.appointments.select_related("therapist", "room", "appointment_type")
    if clinical:
        appointments = appointments.select_related("chart", "checkin")
    sources.append(("appointment", window(appointments, F("starts_at")), False))

    entries = [
        {"at": record.timeline_at, "kind": kind, "object": record, "linked": linked}
        for kind, queryset, linked in sources
        for record in queryset
    ]
    entries.sort(key=lambda entry: entry["at"], reverse=True)
    page = entries[:TIMELINE_PAGE]
    # Entries at the very moment the page ends stay on this page, so the
    # next page (strictly older) skips none of them.
    while len(page) < len(entries) and entries[len(page)]["at"] == page[-1]["at"]:
        page.append(entries[len(page)])
    # Only the entries shown get their links; an appointment's chart and
    # check-in are looked up once here (a missing one is costly in a template).
    for entry in page:
        record = entry["object"]
        entry["url"] = record.get_absolute_url() if entry.pop("linked") else None
        if entry["kind"] == "appointment" and clinical:
            entry["chart"] = getattr(record, "chart", None)
            entry["checkin"] = getattr(record, "checkin", None)
    return page, len(entries) > len(page)


# Screening.


def _active_items():
    return ScreeningItem.objects.filter(is_active=True).order_by("position", "id")


def _answers(form):
    return [
        services.ScreeningAnswerInput(item=item, answer=yes, acknowledgement=note)
        for item, yes, note in form.answers()
    ]


@roles.role_required(roles.THERAPIST)
def screening_new(request, pk):
    """Therapist: screen a patient before any needling."""
    patient = get_patient_for_clinical_write(request, pk)
    form = ScreeningForm(request.POST or None, items=_active_items())
    if request.method == "POST" and form.is_valid():
        try:
            screening = services.screening_save_draft(
                patient=patient,
                therapist=request.user,
                answers=_answers(form),
                notes=form.cleaned_data["notes"],
            )
        except PatientRecordError as error:
            form.add_error(None, str(error))
        else:
            messages.info(request, "Screening saved as a draft. Check the result, then sign it.")
            return redirect(screening)
    return render(request, "patients/screening_form.html", {"form": form, "patient": patient})


def get_screening(patient, screening_pk):
    return get_object_or_404(Screening.objects.select_related("therapist"), pk=screening_pk, patient=patient)


@roles.role_required(roles.THERAPIST)
def screening_edit(request, pk, screening_pk):
    """Therapist who wrote it: change a draft screening. A signed one is final."""
    patient = get_patient_for_clinical_write(request, pk)
    screening = get_screening(patient, screening_pk)
    if screening.is_signed:
        messages.error(request, "This screening is signed and can no longer be changed.")
        return redirect(screening)
    form = ScreeningForm(request.POST or None, items=_active_items(), screening=screening)
    if request.method == "POST" and form.is_valid():
        try:
            services.screening_save_draft(
                patient=patient,
                therapist=request.user,
                answers=_answers(form),
                notes=form.cleaned_data["notes"],
                screening=screening,
            )
        except PatientRecordError as error:
            form.add_error(None, str(error))
        else:
            messages.info(request, "Draft screening updated.")
            return redirect(screening)
    return render(
        request, "patients/screening_form.html", {"form": form, "patient": patient, "screening": screening}
    )


@roles.role_required(roles.THERAPIST, roles.CLINIC_ADMIN)
def screening_detail(request, pk, screening_pk):
    """Therapists of the patient and the clinic admin: a screening, its
    result and what to do about it. The read is logged."""
    patient = get_patient_for_clinical_read(request, pk)
    screening = get_screening(patient, screening_pk)
    if not screening.is_signed and screening.therapist_id != request.user.pk:
        raise PermissionDenied("A draft screening is visible only to the therapist writing it.")
    answers = list(screening.answers.select_related("item"))
    # What each "yes" meant when the screening was written, whatever the rules table says now.
    yes = {category: [a for a in answers if a.answer and a.category == category] for category in Category}
    services.clinical_access_log(user=request.user, patient=patient, record=f"screening {screening.pk}")
    latest = services.current_screening(patient)
    return render(
        request,
        "patients/screening_detail.html",
        {
            "patient": patient,
            "screening": screening,
            "answers": answers,
            "urgent_red_flags": yes[Category.REFER_URGENT],
            "red_flags": yes[Category.REFER],
            "contraindications": yes[Category.NOT_CLEARED],
            "precautions": yes[Category.PRECAUTION],
            "superseded_by": latest if latest and latest.pk != screening.pk and screening.is_signed else None,
            "can_sign": not screening.is_signed and screening.therapist_id == request.user.pk,
            "today": timezone.localdate(),
        },
    )


@require_POST
@roles.role_required(roles.THERAPIST)
def screening_sign(request, pk, screening_pk):
    """Therapist who wrote it: sign a draft screening, making it final."""
    patient = get_patient_for_clinical_write(request, pk)
    screening = get_screening(patient, screening_pk)
    try:
        screening = services.screening_sign(screening=screening, therapist=request.user)
    except PatientRecordError as error:
        messages.error(request, str(error))
    else:
        messages.success(request, f"Screening signed: {screening.get_result_display()}.")
    return redirect(screening)


# Consent.


@roles.role_required(roles.THERAPIST, roles.CLINIC_ADMIN)
def consent_new(request, pk):
    """Therapist and clinic admin: record the patient's informed consent to
    the current consent text, as its witness."""
    patient = get_patient_for_consent(request, pk)
    consent_text = services.current_consent_text()
    form = ConsentForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            services.consent_record(
                patient=patient,
                consent_text=consent_text,
                method=form.cleaned_data["method"],
                witnessed_by=request.user,
                given_at=form.cleaned_data["given_at"],
            )
        except PatientRecordError as error:
            form.add_error(None, str(error))
        else:
            messages.success(request, f"Consent to version {consent_text.version} recorded.")
            return redirect(patient)
    return render(
        request,
        "patients/consent_form.html",
        {"form": form, "patient": patient, "consent_text": consent_text},
    )


@require_POST
@roles.role_required(roles.THERAPIST, roles.CLINIC_ADMIN)
def consent_withdraw(request, pk, consent_pk):
    """Therapist and clinic admin: record that the patient withdrew consent."""
    patient = get_patient_for_consent(request, pk)
    consent = get_object_or_404(Consent, pk=consent_pk, patient=patient)
    try:
        services.consent_withdraw(consent=consent)
    except PatientRecordError as error:
        messages.error(request, str(error))
    else:
        messages.warning(request, "Consent withdrawn. No needling until the patient consents again.")
    return redirect(patient)


# Assessment.


@roles.role_required(roles.THERAPIST)
def assessment_new(request, pk):
    """Therapist: record an intake assessment or a re-assessment."""
    patient = get_patient_for_clinical_write(request, pk)
    form = AssessmentForm(request.POST or None, instance=Assessment(patient=patient))
    if request.method == "POST" and form.is_valid():
        try:
            assessment = services.assessment_record(
                assessment=form.save(commit=False), therapist=request.user
            )
        except PatientRecordError as error:
            form.add_error(None, str(error))
        else:
            messages.success(request, f"Assessment saved: ODI {assessment.odi_percent}%.")
            return redirect(assessment)
    return render(request, "patients/assessment_form.html", {"form": form, "patient": patient})


@roles.role_required(roles.THERAPIST, roles.CLINIC_ADMIN)
def assessment_detail(request, pk, assessment_pk):
    """Therapists of the patient and the clinic admin: one assessment. Logged."""
    patient = get_patient_for_clinical_read(request, pk)
    assessment = get_object_or_404(
        Assessment.objects.select_related("therapist"), pk=assessment_pk, patient=patient
    )
    services.clinical_access_log(user=request.user, patient=patient, record=f"assessment {assessment.pk}")
    return render(
        request,
        "patients/assessment_detail.html",
        {
            "patient": patient,
            "assessment": assessment,
            "odi_band": scoring.odi_band(assessment.odi_percent),
            "odi_sections": [(label, getattr(assessment, name)) for name, label in ODI_SECTIONS],
        },
    )
