import logging

from celery import shared_task

from treatments import outcomes, services
from treatments.models import AftercareCheckIn

logger = logging.getLogger(__name__)


# Retries wait at most a minute: no long countdowns (DESIGN.md).
@shared_task(autoretry_for=(OSError,), retry_backoff=True, retry_backoff_max=60, max_retries=5)
def send_checkin_alert(checkin_id):
    """Email the treating therapist about a worrying check-in."""
    services.checkin_alert_email(
        AftercareCheckIn.objects.select_related("appointment__patient").get(pk=checkin_id)
    )


@shared_task
def refresh_plan_outcomes():
    """Nightly, the net under the writes that store each plan's outcomes: a
    plan whose stored outcomes are not what the definition computes is
    logged (a write went round the signals: a bug to find) and stored again."""
    stale = outcomes.stale_plans()
    if stale:
        logger.warning("Stored outcomes of %d plans were stale: %s", len(stale), stale[:20])
        outcomes.refresh(stale)
    return len(stale)
