"""Reprocessing: a stored callback whose processing raised, or that was left `received`, is processed again
(beat, the `reprocess_callbacks` command and the admin action all come here)."""

from __future__ import annotations

import logging
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import timedelta

from django.conf import settings
from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from payments.callbacks.processing import callback_process, fresh_connection_if_lost
from payments.models import CallbackOutcome, DarajaCallback

logger = logging.getLogger("payments.callbacks")


def callbacks_due_for_reprocessing(*, now=None) -> list[int]:
    """Stored callbacks whose processing raised and whose next attempt is due, and callbacks left `received`
    (the process died, or could not even record the error) for longer than the first backoff."""
    now = now or timezone.now()
    grace = now - timedelta(seconds=settings.CALLBACK_REPROCESS_BACKOFF_SECONDS)
    due = DarajaCallback.objects.filter(
        Q(outcome=CallbackOutcome.ERROR, next_attempt_at__lte=now)
        | Q(outcome=CallbackOutcome.RECEIVED, received_at__lt=grace)
    )
    return list(due.order_by("received_at", "id").values_list("id", flat=True)[:1000])


@dataclass
class Reprocessed:
    callback_id: int
    outcome: str | None  # None: not there, or already settled (nothing done)
    message: str = ""


def callback_reprocess(*, callback_id: int) -> Reprocessed:
    """Process one stored callback again, if it is `received` or `error` (whatever its attempts or due time:
    beat, the command and the admin action all come here). Idempotent: a callback that already took effect
    is left as it is, and the handlers absorb a delivery whose effect another one already made (`duplicate`).
    The row is locked (skipped when someone else holds it) for the whole attempt."""
    with transaction.atomic():
        callback = (
            DarajaCallback.objects.select_for_update(skip_locked=True)
            .filter(pk=callback_id, outcome__in=[CallbackOutcome.RECEIVED, CallbackOutcome.ERROR])
            .first()
        )
        if callback is None:
            return Reprocessed(callback_id, None, "already processed, being processed, or not there")
        handled = callback_process(callback=callback, locked=True)
    if handled.outcome == CallbackOutcome.ERROR:
        # What raised, as the row says: the person who asked for the retry reads why it failed again.
        return Reprocessed(callback_id, CallbackOutcome.ERROR, callback.error)
    return Reprocessed(callback_id, handled.outcome, handled.message)


def callbacks_reprocess(callback_ids: Iterable[int]) -> Iterator[tuple[int, Reprocessed]]:
    """Each callback processed again in turn (beat, the command and the admin action all loop here), with
    what came of it. Stops at the first one whose attempt raised (the database went away: the connection is
    made fresh for the next run, and the rest wait for it)."""
    for callback_id in callback_ids:
        try:
            result = callback_reprocess(callback_id=callback_id)
        except Exception as exc:  # noqa: BLE001 - the database went away: the next run goes on
            logger.warning("reprocessing stopped at callback id=%s: %s", callback_id, exc.__class__.__name__)
            fresh_connection_if_lost(exc)
            return
        yield callback_id, result


def callbacks_reprocess_due() -> dict[str, int]:
    """Beat: reprocess every due callback; counts by outcome."""
    counts: dict[str, int] = {}
    for _, result in callbacks_reprocess(callbacks_due_for_reprocessing()):
        if result.outcome:
            counts[result.outcome] = counts.get(result.outcome, 0) + 1
    return counts
