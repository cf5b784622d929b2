"""Seal the access log's rows written since the last run, as Celery beat does
every minute (patients.tasks.seal_audit_log), and write a signed checkpoint.
Safe to run at any time, also while beat runs: sealers take turns."""

from django.core.management.base import BaseCommand

from patients import audit
from patients.models import AuditEvent


class Command(BaseCommand):
    help = "Seal the access log's new rows and write a checkpoint."

    def add_arguments(self, parser):
        parser.add_argument(
            "--dry-run", action="store_true", help="Only say how many rows are waiting to be sealed."
        )

    def handle(self, *args, dry_run=False, verbosity=1, **options):
        if dry_run:
            self.stdout.write(f"{AuditEvent.objects.unsealed().count()} rows are waiting to be sealed.")
            return
        checkpoint = audit.seal_pending()
        if checkpoint is None:
            if verbosity:
                self.stdout.write("Nothing to seal.")
            return
        if verbosity:
            self.stdout.write(
                f"Sealed: the chain holds {checkpoint.row_count} rows, up to row {checkpoint.head_id}."
            )
        # The line to keep out of the database's reach, for verify_audit_log --checkpoint.
        self.stdout.write(checkpoint.line())
