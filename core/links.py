"""Signed links: every address a patient opens without logging in (their
appointment, the check-in after a visit, unsubscribe) is one kind of Link,
with a salt of its own (a token of one kind never opens another) and a
lifetime. A token names one row's id; the view decides what it may do."""

import datetime
from dataclasses import dataclass

from django.conf import settings
from django.core import signing
from django.urls import reverse


@dataclass(frozen=True)
class Link:
    salt: str
    view: str  # the URL name the token is the argument of
    max_age: datetime.timedelta | None  # None: never expires

    def _signer(self):
        return signing.TimestampSigner(salt=self.salt)

    def token(self, pk: int) -> str:
        return self._signer().sign(str(pk))

    def url(self, pk: int) -> str:
        """The absolute address, for emails."""
        return settings.SITE_URL + reverse(self.view, args=[self.token(pk)])

    def pk_of(self, token: str) -> int | None:
        """The id a token names; None if it was altered or has expired."""
        try:
            return int(self._signer().unsign(token, max_age=self.max_age))
        except (signing.BadSignature, ValueError):
            return None


# The patient confirms or cancels one appointment (and it also expires a day
# after the appointment starts: scheduling.services.patient_link_appointment).
APPOINTMENT = Link("scheduling.patient-link", "scheduling:patient-link", datetime.timedelta(days=30))
# How the patient is doing after a needling visit.
CHECKIN = Link("treatments.checkin", "treatments:check-in", datetime.timedelta(days=7))
# A patient may opt out from any email, however old.
UNSUBSCRIBE = Link("scheduling.unsubscribe", "scheduling:unsubscribe", None)
