"""A staff member's second factor: an authenticator app (TOTP) with recovery
codes, set up and given here; the clinic admin resets a lost one in the admin."""

import base64

import segno
from django import forms
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.contrib.auth.views import redirect_to_login
from django.db import transaction
from django.shortcuts import redirect, render
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.http import require_POST
from django_otp import login as otp_login
from django_otp import match_token
from django_otp.plugins.otp_static.models import StaticDevice, StaticToken
from django_otp.plugins.otp_totp.models import TOTPDevice

from clinic.middleware import HAS_DEVICE

RECOVERY_CODES = 10
AUTHENTICATOR = "Authenticator app"
RECOVERY = "Recovery codes"


class CodeForm(forms.Form):
    code = forms.CharField(
        label="Code",
        max_length=16,
        widget=forms.TextInput(
            attrs={"autocomplete": "one-time-code", "inputmode": "numeric", "autofocus": True}
        ),
        help_text="The 6-digit code your authenticator app shows, or one of your recovery codes.",
    )


def safe_next(request, fallback="home"):
    target = request.POST.get("next") or request.GET.get("next")
    if target and url_has_allowed_host_and_scheme(target, {request.get_host()}, request.is_secure()):
        return target
    return fallback


def new_recovery_codes(user):
    """A fresh set of single-use recovery codes; the old ones stop working."""
    device, _ = StaticDevice.objects.get_or_create(user=user, name=RECOVERY, defaults={"confirmed": True})
    device.token_set.all().delete()
    codes = [StaticToken.random_token() for _ in range(RECOVERY_CODES)]
    StaticToken.objects.bulk_create(StaticToken(device=device, token=code) for code in codes)
    return codes


@login_required
def two_factor_verify(request):
    """After the password: the code from the authenticator or a recovery code."""
    form = CodeForm(request.POST or None)
    if form.is_valid():
        device = match_token(request.user, form.cleaned_data["code"].replace(" ", ""))
        if device is not None:
            otp_login(request, device)
            if isinstance(device, StaticDevice):
                left = device.token_set.count()
                messages.warning(
                    request, f"You used a recovery code; {left} left. Make new ones if you run low."
                )
            return redirect(safe_next(request))
        form.add_error("code", "That code is not right, or has been used. Try the newest code.")
    return render(
        request, "registration/two_factor_verify.html", {"form": form, "next": safe_next(request, "")}
    )


@login_required
def two_factor_setup(request):
    """Scan the QR code, type one code to prove it works, and keep the recovery codes."""
    # Replacing an authenticator takes the current one: a password alone is not enough.
    if (
        not request.user.is_verified()
        and TOTPDevice.objects.filter(user=request.user, confirmed=True).exists()
    ):
        return redirect_to_login(request.get_full_path(), "clinic:two-factor-verify")
    device = TOTPDevice.objects.filter(user=request.user, confirmed=False).first()
    if device is None:
        device = TOTPDevice.objects.create(user=request.user, name=AUTHENTICATOR, confirmed=False)
    form = CodeForm(request.POST or None)
    form.fields["code"].help_text = "The 6-digit code your authenticator app shows."
    if form.is_valid():
        if device.verify_token(form.cleaned_data["code"].replace(" ", "")):
            with transaction.atomic():
                TOTPDevice.objects.filter(user=request.user, confirmed=True).delete()
                device.confirmed = True
                device.save(update_fields=["confirmed"])
                codes = new_recovery_codes(request.user)
            otp_login(request, device)
            request.session[HAS_DEVICE] = True
            return render(
                request, "registration/recovery_codes.html", {"codes": codes, "next": safe_next(request)}
            )
        form.add_error(
            "code", "That code does not match. Check the time on your phone and try the newest code."
        )
    return render(
        request,
        "registration/two_factor_setup.html",
        {
            "form": form,
            "qr_code": segno.make(device.config_url, error="m").svg_inline(scale=5, title="QR code to scan"),
            "secret": base64.b32encode(device.bin_key).decode(),
            "next": safe_next(request, ""),
        },
    )


@login_required
def two_factor(request):
    """The user's own second factor: whether it is set up, and the recovery codes left."""
    recovery = StaticDevice.objects.filter(user=request.user, name=RECOVERY).first()
    return render(
        request,
        "registration/two_factor.html",
        {
            "has_authenticator": TOTPDevice.objects.filter(user=request.user, confirmed=True).exists(),
            "recovery_left": recovery.token_set.count() if recovery else 0,
        },
    )


@require_POST
@login_required
def recovery_codes(request):
    if not request.user.is_verified():
        return redirect("clinic:two-factor-verify")
    return render(request, "registration/recovery_codes.html", {"codes": new_recovery_codes(request.user)})
