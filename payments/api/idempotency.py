"""Idempotency-Key for the API's create endpoints (Stripe-style).

The key is reserved by inserting its row before the work runs, inside the same transaction: a retry that
arrives while the first request is still running waits on the unique index, then replays the stored
answer. The same key with a different body is refused with 422.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable

from django.core.serializers.json import DjangoJSONEncoder
from django.db import IntegrityError, transaction
from rest_framework.response import Response

from core.errors import ApplicationError
from payments.models import IdempotencyRecord

HEADER = "HTTP_IDEMPOTENCY_KEY"


def _fingerprint(request) -> str:
    body = json.dumps(request.data, sort_keys=True, cls=DjangoJSONEncoder, default=str)
    return hashlib.sha256(f"{request.method} {request.path}\n{body}".encode()).hexdigest()


def _replay(record: IdempotencyRecord, fingerprint: str) -> Response:
    if record.request_hash != fingerprint:
        return Response(
            {"detail": "This Idempotency-Key was used with a different request.", "code": "idempotency_mismatch"},
            status=422,
        )
    response = Response(record.response_body, status=record.response_status)
    response["Idempotent-Replayed"] = "true"
    return response


def idempotent(request, *, scope: str, handler: Callable[[], Response]) -> Response:
    key = request.META.get(HEADER, "").strip()
    if not key:
        return handler()
    if len(key) > 255:
        return Response({"detail": "Idempotency-Key is longer than 255 characters."}, status=400)
    fingerprint = _fingerprint(request)
    lookup = {"user": request.user, "scope": scope, "key": key}
    existing = IdempotencyRecord.objects.filter(**lookup).first()
    if existing:
        return _replay(existing, fingerprint)
    try:
        with transaction.atomic():
            record = IdempotencyRecord.objects.create(
                **lookup, request_hash=fingerprint, response_status=0, response_body={}
            )
            try:
                with transaction.atomic():
                    response = handler()
            except ApplicationError as exc:
                # Refusals are remembered too: a retry gets the same answer, not a second attempt.
                response = Response({"detail": exc.message, "code": exc.code}, status=exc.status_code)
            record.response_status = response.status_code
            record.response_body = json.loads(json.dumps(response.data, cls=DjangoJSONEncoder))
            record.save(update_fields=["response_status", "response_body"])
            return response
    except IntegrityError:
        # Another request with this key committed first (anything else is not ours to hide).
        winner = IdempotencyRecord.objects.filter(**lookup).first()
        if winner is None:
            raise
        return _replay(winner, fingerprint)
