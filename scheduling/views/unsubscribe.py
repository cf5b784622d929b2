from django.contrib.auth.decorators import login_not_required
from django.shortcuts import redirect, render
from django.utils import timezone
from django.views.decorators.csrf import csrf_exempt

from clinic.ratelimit import rate_limited
from core import links
from patients.models import Patient


@login_not_required
@rate_limited("unsubscribe")
@csrf_exempt  # mail clients send the one-click List-Unsubscribe POST without a CSRF token
def unsubscribe(request, token):
    """Anyone holding the link from an email: stop the clinic's emails to
    that patient. GET asks; POST (the button, or a mail client's one-click
    unsubscribe) does it."""
    patient_id = links.UNSUBSCRIBE.pk_of(token)
    patient = Patient.objects.filter(pk=patient_id).first() if patient_id else None
    if patient is None:
        return render(request, "scheduling/unsubscribe.html", {"invalid": True}, status=400)
    if request.method == "POST":
        Patient.objects.filter(pk=patient.pk, email_consent=True).update(
            email_consent=False, email_consent_changed_at=timezone.now()
        )
        return redirect(request.path)
    return render(
        request, "scheduling/unsubscribe.html", {"patient": patient, "done": not patient.email_consent}
    )
