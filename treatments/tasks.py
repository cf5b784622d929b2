from celery import shared_task

from treatments import services
from treatments.models import AftercareCheckIn


# Retries wait at most a minute: no long countdowns (DESIGN.md).
@shared_task(autoretry_for=(OSError,), retry_backoff=True, retry_backoff_max=60, max_retries=5)
def send_checkin_alert(checkin_id):
    """Email the treating therapist about a worrying check-in."""
    services.checkin_alert_email(
        AftercareCheckIn.objects.select_related("appointment__patient").get(pk=checkin_id)
    )
