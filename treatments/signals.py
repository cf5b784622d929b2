"""Every write of a plan, a chart, an amendment or a check-in goes into the
access log; every write of what a plan's outcomes are computed from stores
them again (treatments.outcomes), in the writer's transaction."""

from django.db.models.signals import post_delete, post_save
from django.dispatch import receiver

from patients import audit
from patients.models import Assessment
from treatments import outcomes
from treatments.models import AdverseEvent, AftercareCheckIn, ChartAmendment, SessionChart, TreatmentPlan


@receiver(post_save, sender=TreatmentPlan)
def plan_written(sender, instance, created, raw=False, **kwargs):
    if not raw:
        audit.record_write(instance, created, instance.patient_id)
        outcomes.refresh([instance.pk])


@receiver(post_save, sender=SessionChart)
def chart_written(sender, instance, created, raw=False, **kwargs):
    if not raw:
        audit.record_write(instance, created, instance.plan.patient_id)
        if instance.signed_at is not None:  # a draft counts in no outcome
            outcomes.refresh([instance.plan_id])


@receiver(post_delete, sender=SessionChart)
def chart_deleted(sender, instance, **kwargs):
    outcomes.refresh([instance.plan_id])


@receiver(post_save, sender=AdverseEvent)
@receiver(post_save, sender=ChartAmendment)
def chart_part_written(sender, instance, created, raw=False, **kwargs):
    if not raw:
        audit.record_write(instance, created, instance.chart.plan.patient_id)


@receiver(post_save, sender=AftercareCheckIn)
def checkin_written(sender, instance, created, raw=False, **kwargs):
    if not raw:
        audit.record_write(instance, created, instance.appointment.patient_id)
        _refresh_plan_of(instance)


@receiver(post_delete, sender=AftercareCheckIn)
def checkin_deleted(sender, instance, **kwargs):
    _refresh_plan_of(instance)


def _refresh_plan_of(checkin):
    """The check-in after a charted visit is a measure of that chart's plan."""
    outcomes.refresh(
        SessionChart.objects.filter(appointment=checkin.appointment_id).values_list("plan", flat=True)
    )


@receiver(post_save, sender=Assessment)
@receiver(post_delete, sender=Assessment)
def assessment_changed(sender, instance, raw=False, **kwargs):
    if not raw:
        plans = TreatmentPlan.objects.filter(patient=instance.patient_id)
        outcomes.refresh(plans.values_list("pk", flat=True))
