"""Every write of a patient's details or clinical records goes into the access log."""

from django.db.models.signals import post_save
from django.dispatch import receiver

from patients import audit
from patients.models import Assessment, Consent, Patient, Screening


@receiver(post_save, sender=Patient)
def patient_written(sender, instance, created, raw=False, **kwargs):
    if not raw:
        audit.record_write(instance, created, instance.pk)


@receiver(post_save, sender=Screening)
@receiver(post_save, sender=Consent)
@receiver(post_save, sender=Assessment)
def clinical_record_written(sender, instance, created, raw=False, **kwargs):
    if not raw:
        audit.record_write(instance, created, instance.patient_id)
