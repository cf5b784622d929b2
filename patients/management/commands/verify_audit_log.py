"""Check the access log's hash chain: exits with an error naming the first
row changed, removed or inserted outside the application."""

from django.core.management.base import BaseCommand, CommandError

from patients.audit import first_broken_row
from patients.models import AuditEvent


class Command(BaseCommand):
    help = "Verify that no row of the access log has been changed or removed."

    def handle(self, *args, **options):
        broken = first_broken_row()
        if broken is not None:
            raise CommandError(
                f"The access log has been tampered with: row {broken} does not match its hash chain."
            )
        self.stdout.write(f"The access log is intact ({AuditEvent.objects.count()} rows).")
