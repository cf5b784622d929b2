"""What happens around logins and accounts, whichever page or admin action causes it."""

from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.contrib.auth.signals import user_logged_in, user_logged_out, user_login_failed
from django.contrib.sessions.models import Session
from django.db.models.signals import m2m_changed, pre_save
from django.dispatch import receiver
from django.utils import timezone
from django_otp.plugins.otp_totp.models import TOTPDevice

from clinic.middleware import HAS_DEVICE, LOGIN_AT
from patients import audit
from patients.models import AuditEvent

User = get_user_model()


@receiver(user_logged_in)
def start_session(sender, request, user, **kwargs):
    """When the session's absolute limit starts, and whether to ask for a code."""
    request.session[LOGIN_AT] = timezone.now().timestamp()
    # Recovery codes only back an authenticator up: without one (reset by
    # the clinic admin) there is nothing to ask for.
    request.session[HAS_DEVICE] = TOTPDevice.objects.devices_for_user(user, confirmed=True).exists()
    audit.record(action=AuditEvent.Action.LOGIN, user=user, ip_address=audit.client_ip(request))


@receiver(user_login_failed)
def failed_login(sender, credentials, request=None, **kwargs):
    audit.record(
        action=AuditEvent.Action.LOGIN_FAILED,
        username=str(credentials.get("username", ""))[:150],
        allowed=False,
        ip_address=audit.client_ip(request),
    )


@receiver(user_logged_out)
def logged_out(sender, request, user, **kwargs):
    if user is not None:
        audit.record(action=AuditEvent.Action.LOGOUT, user=user, ip_address=audit.client_ip(request))


@receiver(m2m_changed, sender=User.groups.through)
def roles_changed(sender, instance, action, reverse, pk_set, **kwargs):
    """A user given or taken a role, in the access log with who did it."""
    if action not in ("post_add", "post_remove", "pre_clear") or reverse:
        return
    if action == "pre_clear":
        names, verb = list(instance.groups.values_list("name", flat=True)), "removed from"
    else:
        names = list(Group.objects.filter(pk__in=pk_set).values_list("name", flat=True))
        verb = "added to" if action == "post_add" else "removed from"
    if not names:
        return
    request = audit.current_request()
    audit.record(
        action=AuditEvent.Action.ROLE_CHANGE,
        user=getattr(request, "user", None),
        what=f"{instance.get_username()} {verb} {', '.join(sorted(names))}",
        ip_address=audit.client_ip(request),
    )


@receiver(pre_save, sender=User)
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
