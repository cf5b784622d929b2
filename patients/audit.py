"""Writing, sealing and checking the access log (AuditEvent).

record() only inserts a row: it takes no lock, so clinical requests never
queue behind each other to write the log. The sealer, seal_pending() (every
minute from Celery beat, patients.tasks.seal_audit_log, or `manage.py
seal_audit_log`), then seals the new rows one after another: each seal is an
HMAC, with the access log's own key (settings.AUDIT_KEY), of the row and of
the seal before it. Each run ends with a signed checkpoint (AuditCheckpoint),
also written to the log stream, so that verify() finds rows removed from the
end of the log as well as rows changed or removed in the middle.
"""

import dataclasses
import datetime
import hashlib
import hmac
import logging
import re

from django.conf import settings
from django.db import connection, transaction
from django.db.models import F
from django.utils import timezone
from simple_history.models import HistoricalRecords

from patients.models import AuditCheckpoint, AuditEvent

logger = logging.getLogger(__name__)

GENESIS = "0" * 64
# Only the sealer takes this lock, in its own transaction (on SQLite its
# IMMEDIATE transaction holds the database's write lock already), so two
# sealers never both extend the chain from the same head.
SEAL_LOCK = 7_214_003
SEAL_BATCH = 500
# Rows left unsealed longer than this mean the sealer is not running.
SEALER_LATE = datetime.timedelta(minutes=5)
CHECKPOINT_FIELDS = ("count", "head", "seal", "at", "key", "sig")


# Keys.


def key_id(key):
    """A fingerprint that names a key in the rows it sealed without revealing it."""
    return hmac.new(key.encode(), b"clinic access log key id", hashlib.sha256).hexdigest()[:16]


def sealing_key():
    """(key id, key) of the key new seals and checkpoints are made with."""
    return key_id(settings.AUDIT_KEY), settings.AUDIT_KEY.encode()


def known_keys():
    """Every key a seal may have been made with: the current one and AUDIT_OLD_KEYS, by key id."""
    keys = [settings.AUDIT_KEY, *settings.AUDIT_OLD_KEYS]
    return {key_id(key): key.encode() for key in keys if key}


def seal(event, key):
    return hmac.new(key, event.content().encode(), hashlib.sha256).hexdigest()


def checkpoint_signature(fields, key):
    """The HMAC of a checkpoint's fields (count, head, seal, at, key), as strings."""
    text = "|".join(["checkpoint", *(fields[name] for name in CHECKPOINT_FIELDS[:-1])])
    return hmac.new(key, text.encode(), hashlib.sha256).hexdigest()


# Writing.


def record(
    *, action, user=None, patient=None, patient_id=None, what="", allowed=True, username="", ip_address=None
):
    """Append one row to the access log, unsealed: the sealer seals it within a minute."""
    if user is not None and not user.is_authenticated:
        user = None
    return AuditEvent.objects.create(
        accessed_at=timezone.now(),
        user=user,
        username=username or (user.get_username() if user else ""),
        action=action,
        patient_id=patient.pk if patient is not None else patient_id,
        record=what[:200],
        allowed=allowed,
        ip_address=ip_address,
    )


# Sealing.


def take_seal_lock():
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_xact_lock(%s)", [SEAL_LOCK])


def seal_pending(*, batch_size=SEAL_BATCH):
    """Seal every row written since the last run, and write a checkpoint
    after each batch. Returns the last checkpoint written, or None when
    there was nothing to seal.

    Rows are sealed in id order, each given the next place in the chain
    (position) after the newest sealed row. On PostgreSQL ids are handed out
    when a row is inserted but become visible only when its transaction
    commits, so a row with a lower id can appear after higher ones were
    sealed. Such a row is simply sealed by the next run, at the next place:
    the chain follows the order rows were sealed in, and no row, however
    long its transaction stayed open, is skipped or waited for."""
    checkpoint = None
    while True:
        with transaction.atomic():
            take_seal_lock()
            head = (
                AuditEvent.objects.filter(position__isnull=False)
                .order_by("-position")
                .values_list("position", "hash")
                .first()
            )
            pending = list(AuditEvent.objects.unsealed().order_by("id")[:batch_size])
            if not pending:
                return checkpoint
            position, previous = head or (0, GENESIS)
            current_key_id, key = sealing_key()
            for event in pending:
                event.position = position + 1
                event.previous_hash = previous
                event.key_id = current_key_id
                event.hash = seal(event, key)
                if AuditEvent.objects.set_seal(event) != 1:
                    raise RuntimeError(f"access log row {event.pk} was sealed by someone else")
                position, previous = event.position, event.hash
            checkpoint = write_checkpoint(row_count=position, head=pending[-1])
        # After the commit: a line for a checkpoint that was rolled back would mislead.
        logger.info(checkpoint.line())


def write_checkpoint(*, row_count, head):
    current_key_id, key = sealing_key()
    checkpoint = AuditCheckpoint(
        created_at=timezone.now(),
        row_count=row_count,
        head_id=head.pk,
        head_seal=head.hash,
        key_id=current_key_id,
    )
    checkpoint.signature = checkpoint_signature(checkpoint.fields(), key)
    checkpoint.save()
    return checkpoint


# Checking.


class NotACheckpoint(ValueError):
    pass


def parse_checkpoint(line):
    """The fields of a checkpoint line as the sealer logs it ("audit
    checkpoint count=... sig=..."), with or without the log's prefix."""
    _, found, rest = line.partition("audit checkpoint")
    fields = dict(re.findall(r"(\w+)=(\S+)", rest))
    missing = [name for name in CHECKPOINT_FIELDS if name not in fields]
    if not found or missing:
        raise NotACheckpoint(
            "not an access log checkpoint: expected 'audit checkpoint "
            + " ".join(f"{name}=..." for name in CHECKPOINT_FIELDS)
            + "'"
        )
    if not (fields["count"].isdigit() and fields["head"].isdigit()):
        raise NotACheckpoint("not an access log checkpoint: count and head must be whole numbers")
    return {name: fields[name] for name in CHECKPOINT_FIELDS}


@dataclasses.dataclass
class Verdict:
    """What verify() found. `problem` is None when the log is intact."""

    sealed: int = 0
    head: AuditEvent | None = None
    unsealed: int = 0
    oldest_unsealed: AuditEvent | None = None
    checkpoints: list = dataclasses.field(default_factory=list)
    problem: str | None = None
    broken_row: int | None = None

    def sealer_is_late(self):
        return self.oldest_unsealed is not None and (
            timezone.now() - self.oldest_unsealed.accessed_at > SEALER_LATE
        )


def verify(*, checkpoint_lines=()):
    """Walk the chain and compare it with the newest checkpoint in the
    database and with any checkpoint lines given (from the log stream)."""
    checkpoints = [parse_checkpoint(line) for line in checkpoint_lines]
    newest = AuditCheckpoint.objects.order_by("-row_count", "-id").first()
    if newest is not None:
        checkpoints.insert(0, {**newest.fields(), "sig": newest.signature})
    verdict = Verdict(checkpoints=checkpoints)
    keys = known_keys()
    # The rows the checkpoints name, by place in the chain, kept as the walk passes them.
    wanted = {int(fields["count"]) for fields in checkpoints}
    at_position = {}

    previous, expected = GENESIS, 1
    chain = AuditEvent.objects.sealed().order_by(F("position").asc(nulls_last=True), "id")
    for event in chain.iterator(chunk_size=2000):
        problem = chain_problem(event, expected, previous, keys)
        if problem:
            verdict.problem, verdict.broken_row = f"row {event.pk} {problem}", event.pk
            break
        if event.position in wanted:
            at_position[event.position] = event
        verdict.sealed, verdict.head = event.position, event
        previous, expected = event.hash, expected + 1

    unsealed = AuditEvent.objects.unsealed()
    verdict.unsealed = unsealed.count()
    verdict.oldest_unsealed = unsealed.order_by("id").first()

    if verdict.problem is None and verdict.sealed and newest is None:
        # Every run of the sealer writes one, in the transaction that seals.
        verdict.problem = f"the checkpoints are missing: the chain holds {verdict.sealed} sealed rows"
    if verdict.problem is None:
        for fields in checkpoints:
            verdict.problem = checkpoint_problem(fields, verdict, at_position, keys)
            if verdict.problem:
                break
    return verdict


def chain_problem(event, expected, previous, keys):
    """What is wrong with the sealed row found at the `expected` place of the chain, if anything."""
    if event.position is None:
        return "has a seal but no place in the chain: it was sealed outside the application"
    key = keys.get(event.key_id)
    if key is None:
        return (
            f"is sealed with a key this server does not have (key id {event.key_id or 'none'}): "
            "changed outside the application, or its key is missing from AUDIT_OLD_KEYS"
        )
    if not hmac.compare_digest(seal(event, key), event.hash):
        return "does not match its seal: it was changed or re-sealed outside the application"
    if event.position != expected:
        places = f"{expected}" if event.position == expected + 1 else f"{expected} to {event.position - 1}"
        return f"does not match its hash chain: the row before it is missing (place {places} of the chain)"
    if event.previous_hash != previous:
        return "does not match its hash chain: the row before it was changed or removed"
    return None


def checkpoint_problem(fields, verdict, at_position, keys):
    key = keys.get(fields["key"])
    when = f"the checkpoint of {fields['at']}"
    if key is None:
        return f"{when} is signed with a key this server does not have (key id {fields['key']})"
    if not hmac.compare_digest(checkpoint_signature(fields, key), fields["sig"]):
        return f"{when} does not match its signature: it was forged or changed"
    count, head = int(fields["count"]), int(fields["head"])
    if verdict.sealed < count:
        after = f"after row {verdict.head.pk}" if verdict.head else "from the first row"
        return (
            f"the tail of the access log {after} is missing: {when} counts {count} sealed rows "
            f"up to row {head}, the chain has {verdict.sealed}"
        )
    found = at_position.get(count)
    if found is None or found.pk != head or found.hash != fields["seal"]:
        return f"row {head} does not match {when}: the chain was changed or re-sealed since"
    return None


def first_broken_row():
    """The id of the first sealed row whose seal or link to the row before it
    does not match, or None when the whole chain holds."""
    return verify().broken_row


# Who is asking.


def current_request():
    """The request being served, if any (django-simple-history's middleware
    keeps it for the thread); None in Celery tasks and management commands."""
    return getattr(HistoricalRecords.context, "request", None)


def client_ip(request):
    return request.META.get("REMOTE_ADDR") if request is not None else None


def record_write(instance, created, patient_id):
    """A clinical record or a patient's details written, by whoever is logged in."""
    request = current_request()
    user = getattr(request, "user", None)
    record(
        action=AuditEvent.Action.CREATE if created else AuditEvent.Action.CHANGE,
        user=user,
        patient_id=patient_id,
        what=f"{instance._meta.verbose_name} {instance.pk}",
        ip_address=client_ip(request),
    )
