"""`Idempotency-Key` for the partner API's POSTs, as Stripe and the IETF draft do it
(docs/reference/api-contract.md).

How a request with a key is handled:

1. The key is *claimed* by inserting an IdempotencyRecord in its own, committed transaction. The
   unique (user, key) constraint lets exactly one of many concurrent requests win; the others
   find the record and answer 409 `idempotency_in_progress` (or 422 when their body differs).
2. The winner runs the handler outside any transaction: validation and pricing hold no lock. A
   handler that writes calls `store(response)` inside its own write transaction, so the work
   (e.g. the generation and its charge) and the stored response commit together, or neither
   does. A handler that writes nothing (a quote) just returns; its response is stored after.
3. A repeat with the same key and body replays the stored response: same status, same body,
   nothing charged again. A different body → 422 `idempotency_key_reused`.
4. Only successful (2xx) responses are stored. When the work raises (invalid input, insufficient
   credits, provider paused…) nothing was created or charged, so the claim is deleted and the
   same key may be retried, e.g. after a top-up. This is Stripe's rule for requests that fail
   before they have any effect.

Records are kept 24 hours (`IDEMPOTENCY_TTL`); older ones are replaced lazily when their key is
reused and purged by the scheduled task `artio.tasks.idempotency_purge`.
"""

import hashlib
import json
from datetime import timedelta

from django.db import IntegrityError, transaction
from django.utils import timezone
from rest_framework.response import Response

from .errors import ArtioError
from .models import IdempotencyRecord

HEADER = "Idempotency-Key"
IDEMPOTENCY_TTL = timedelta(hours=24)
# A claim that has not completed in this time belongs to a process that died; it may be taken over.
STALE_CLAIM_AFTER = timedelta(minutes=5)


class _ClaimLost(Exception):
    """Our claim was taken over as stale while we worked; the work must roll back."""


def request_fingerprint(*, method, path, data):
    """Return the SHA-256 of the method, path and the body as canonical JSON."""
    body = json.dumps(data, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str)
    return hashlib.sha256(f"{method.upper()}\n{path}\n{body}".encode()).hexdigest()


def idempotency_key_from(request):
    """Return the request's Idempotency-Key, None when absent; 400 when it is unusable."""
    key = request.headers.get(HEADER)
    if key is None:
        return None
    if not 1 <= len(key) <= 255 or not all(32 < ord(ch) < 127 for ch in key):
        raise ArtioError(
            "The Idempotency-Key header must be 1–255 visible ASCII characters.",
            code="invalid_input",
            http_status=400,
            details={HEADER: ["Must be 1–255 visible ASCII characters (a UUID is a good choice)."]},
        )
    return key


def _claim(*, user, key, method, path, fingerprint):
    """Insert the record for (user, key); return (record, claimed_by_us)."""
    for _ in range(3):
        now = timezone.now()
        try:
            with transaction.atomic():
                record = IdempotencyRecord.objects.create(
                    user=user,
                    key=key,
                    method=method,
                    path=path,
                    fingerprint=fingerprint,
                    created_at=now,
                    locked_at=now,
                )
            return record, True
        except IntegrityError:
            record = IdempotencyRecord.objects.filter(user=user, key=key).first()
        if record is None:
            continue  # released between our INSERT and our read: try again
        if record.created_at < now - IDEMPOTENCY_TTL:
            # Expired: the key is free again. Delete exactly the row we saw, then retry the claim.
            IdempotencyRecord.objects.filter(pk=record.pk, created_at=record.created_at).delete()
            continue
        if record.response_status is None and record.locked_at < now - STALE_CLAIM_AFTER:
            taken = IdempotencyRecord.objects.filter(
                pk=record.pk, locked_at=record.locked_at, response_status__isnull=True
            ).update(locked_at=now, fingerprint=fingerprint, method=method, path=path)
            if taken:
                record.locked_at, record.fingerprint = now, fingerprint
                return record, True
            record.refresh_from_db()
        return record, False
    raise _in_progress()


def _in_progress():
    return ArtioError(
        "A request with this Idempotency-Key is being processed; retry shortly.",
        code="idempotency_in_progress",
        http_status=409,
        headers={"Retry-After": "1"},
    )


def _release(record):
    IdempotencyRecord.objects.filter(
        pk=record.pk, locked_at=record.locked_at, response_status__isnull=True
    ).delete()


def idempotent_response(*, request, handler):
    """Run `handler(store)` (which returns a DRF Response) at most once per Idempotency-Key.

    `store(response)` records a 2xx response on the claim; a handler that writes must call it
    inside its write transaction (it raises, rolling that transaction back, when the claim was
    taken over meanwhile). Without a key, `store` is None: there is nothing to keep.
    """
    key = idempotency_key_from(request)
    if key is None:
        return handler(None)
    method, path = request.method, request.path
    fingerprint = request_fingerprint(method=method, path=path, data=request.data)
    record, claimed = _claim(user=request.user, key=key, method=method, path=path, fingerprint=fingerprint)
    if not claimed:
        if record.fingerprint != fingerprint:
            raise ArtioError(
                "This Idempotency-Key was used with a different request; use a new key.",
                code="idempotency_key_reused",
                http_status=422,
            )
        if record.response_status is None:
            raise _in_progress()
        return Response(
            record.response_body, status=record.response_status, headers={"Idempotent-Replayed": "true"}
        )
    stored = []

    def store(response):
        if not 200 <= response.status_code < 300:
            return
        done = IdempotencyRecord.objects.filter(
            pk=record.pk, locked_at=record.locked_at, response_status__isnull=True
        ).update(
            response_status=response.status_code,
            response_body=json.loads(json.dumps(response.data, default=str)),
            completed_at=timezone.now(),
        )
        if not done:
            raise _ClaimLost
        stored.append(response)

    try:
        response = handler(store)
        if not 200 <= response.status_code < 300:
            _release(record)
            return response
        if not stored:
            store(response)
        return response
    except _ClaimLost:
        raise _in_progress() from None
    except BaseException:
        # Nothing the handler did was committed (its transaction rolled back): free the key. A
        # response already stored and committed keeps its record (_release skips it).
        _release(record)
        raise


def idempotency_records_purge(*, now=None):
    """Delete records older than the 24-hour retention; return how many were deleted."""
    cutoff = (now or timezone.now()) - IDEMPOTENCY_TTL
    deleted, _ = IdempotencyRecord.objects.filter(created_at__lt=cutoff).delete()
    return deleted
