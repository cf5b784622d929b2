"""Every write of a plan, a chart, an amendment or a check-in goes into the access log."""

from django.db.models.signals import post_save
from django.dispatch import receiver

from patients import audit
from treatments.models import AdverseEvent, AftercareCheckIn, ChartAmendment, SessionChart, TreatmentPlan


@receiver(post_save, sender=TreatmentPlan)
def plan_written(sender, instance, created, raw=False, **kwargs):
    if not raw:
        audit.record_write(instance, created, instance.patient_id)


@receiver(post_save, sender=SessionChart)
def chart_written(sender, instance, created, raw=False, **kwargs):
    if not raw:
        audit.record_write(instance, created, instance.plan.patient_id)


@receiver(post_save, sender=AdverseEvent)
@receiver(post_save, sender=ChartAmendment)
def chart_part_written(sender, instance, created, raw=False, **kwargs):
    if not raw:
        audit.record_write(instance, created, instance.chart.plan.patient_id)


@receiver(post_save, sender=AftercareCheckIn)
def checkin_written(sender, instance, created, raw=False, **kwargs):
    if not raw:
        audit.record_write(instance, created, instance.appointment.patient_id)
