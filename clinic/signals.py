"""What happens around logins and accounts, whichever page or admin action causes it."""

from django.contrib.auth import get_user_model
from django.contrib.auth.signals import user_logged_in
from django.contrib.sessions.models import Session
from django.db.models.signals import pre_save
from django.dispatch import receiver
from django.utils import timezone
from django_otp.plugins.otp_totp.models import TOTPDevice

from clinic.middleware import HAS_DEVICE, LOGIN_AT


@receiver(user_logged_in)
def start_session(sender, request, user, **kwargs):
    """When the session's absolute limit starts, and whether to ask for a code."""
    request.session[LOGIN_AT] = timezone.now().timestamp()
    # Recovery codes only back an authenticator up: without one (reset by
    # the clinic admin) there is nothing to ask for.
    request.session[HAS_DEVICE] = TOTPDevice.objects.devices_for_user(user, confirmed=True).exists()


@receiver(pre_save, sender=get_user_model())
def end_sessions_of_deactivated_user(sender, instance, **kwargs):
    """A user switched off is logged out everywhere at once. Live sessions
    are few (they end after minutes idle), so reading each one is cheap."""
    if instance.pk is None or instance.is_active:
        return
    if not sender.objects.filter(pk=instance.pk, is_active=True).exists():
        return
    for session in Session.objects.filter(expire_date__gt=timezone.now()).iterator():
        if str(session.get_decoded().get("_auth_user_id")) == str(instance.pk):
            session.delete()
