"""Check the access log: every sealed row against its seal (an HMAC with the
access log's key) and against the row before it, then the chain's length and
last seal against the newest signed checkpoint in the database and against
any checkpoint lines given from the log stream (--checkpoint), which finds
rows removed from the end of the log. Exits with an error naming the first
row changed or removed outside the application, or the row after which the
tail is missing. Rows not sealed yet are counted, not reported as broken."""

from django.core.management.base import BaseCommand, CommandError
from django.utils import timezone

from patients import audit


class Command(BaseCommand):
    help = "Verify that no row of the access log has been changed or removed."

    def add_arguments(self, parser):
        parser.add_argument(
            "--checkpoint",
            action="append",
            default=[],
            metavar="LINE",
            help="A checkpoint line from the log stream ('audit checkpoint count=... sig=...'); repeatable.",
        )

    def handle(self, *args, checkpoint, **options):
        try:
            verdict = audit.verify(checkpoint_lines=checkpoint)
        except audit.NotACheckpoint as error:
            raise CommandError(str(error).capitalize() + ".") from None
        if verdict.problem is not None:
            raise CommandError(f"The access log has been tampered with: {verdict.problem}.")

        self.stdout.write(f"The access log is intact ({verdict.sealed + verdict.unsealed} rows).")
        if options["verbosity"] and verdict.head is not None:
            covered = f"Sealed: {verdict.sealed} rows, up to row {verdict.head.pk}"
            if verdict.checkpoints:
                newest = max(verdict.checkpoints, key=lambda fields: int(fields["count"]))
                covered += f", matching the checkpoint of {newest['at']} ({newest['count']} rows)"
            self.stdout.write(f"{covered}.")
        if verdict.unsealed:
            oldest = verdict.oldest_unsealed
            self.stdout.write(
                f"Not sealed yet: {verdict.unsealed} rows, the oldest row {oldest.pk} written at "
                f"{timezone.localtime(oldest.accessed_at):%Y-%m-%d %H:%M:%S}."
            )
            if verdict.sealer_is_late():
                self.stderr.write(
                    "The sealer seals new rows every minute: is Celery beat running? "
                    "(`manage.py seal_audit_log` seals them now.)"
                )
