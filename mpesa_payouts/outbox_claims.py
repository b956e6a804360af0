"""Claiming one row of a durable outbox (notifications' messages, webhooks' deliveries) for one attempt.

Each outbox row carries `locked_until`, `claim_token`, `attempts`, `last_attempt_at` and `updated_at`. A worker
claims a due row by one conditional UPDATE that only one worker can win: a redelivered task, the sweep and a
second worker never attempt the same row at once, and a worker that died lets go when `locked_until` passes.
The token it gets back is the claim: writing the outcome later matches on it, so a worker whose claim expired
cannot overwrite a newer attempt's outcome.
"""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta

from django.db.models import F, Q, QuerySet


def outbox_row_claim(due: QuerySet, *, now: datetime, hold_seconds: float) -> str | None:
    """Claim the row of `due` (already narrowed to one pk and to what may be attempted now) unless another
    worker holds it: the claim token, or None when nothing was claimed."""
    token = uuid.uuid4().hex
    claimed = due.filter(Q(locked_until__isnull=True) | Q(locked_until__lte=now)).update(
        locked_until=now + timedelta(seconds=hold_seconds),
        claim_token=token,
        attempts=F("attempts") + 1,
        last_attempt_at=now,
        updated_at=now,
    )
    return token if claimed else None
