"""Processing of a stored Daraja callback (dj-stripe style: the raw row is committed first, by intake.py, then
each kind is processed in its own transaction and the outcome written back onto the row). When processing
raises, the row says `error` and when to try again (reprocessing.py)."""

from __future__ import annotations

import logging
import re
from datetime import timedelta

from django.conf import settings
from django.db import InterfaceError, OperationalError, connection, transaction
from django.utils import timezone

from core.sql_row_writes import update_row
from daraja import callbacks as parse
from payments.callbacks.handlers import HANDLERS, Handled
from payments.callbacks.intake import UNKNOWN_URL
from payments.callbacks.log_line import callback_log_line
from payments.callbacks.masking import mask_callback_tokens
from payments.models import CallbackKind, CallbackOutcome, DarajaCallback
from payments.signals import callback_failed

logger = logging.getLogger("payments.callbacks")

_RESULT_FIELDS = (
    "outcome",
    "http_status",
    "mismatch",
    "error",
    "processed_at",
    "payout",
    "payment",
    "originator_conversation_id",
    "conversation_id",
    "transaction_id",
    "result_code",
    "next_attempt_at",
)


def _record_outcome(callback: DarajaCallback, handled: Handled) -> None:
    callback.outcome = handled.outcome
    callback.http_status = handled.http_status
    callback.mismatch = handled.mismatch
    callback.error = "" if handled.message.startswith("Accepted") else handled.message
    callback.processed_at = timezone.now()
    callback.next_attempt_at = None
    # The raw body and headers were written when the request arrived; only the outcome changes.
    update_row(callback, _RESULT_FIELDS)


# Only what the JSON decoder makes of an escape can hold these; PostgreSQL text refuses NUL, and UTF-8 cannot
# encode an unpaired surrogate. A quick look at the raw text first: nearly every body has no escape at all.
_SUSPECT_ESCAPE = re.compile(r"\\u(?:0000|d[89a-f][0-9a-f]{2})", re.IGNORECASE)
_UNSTORABLE = re.compile("[\x00\ud800-\udfff]")


def _check_storable(raw: str, data) -> None:
    if not _SUSPECT_ESCAPE.search(raw):
        return
    stack = [data]
    while stack:
        value = stack.pop()
        if isinstance(value, dict):
            stack.extend(value.keys())
            stack.extend(value.values())
        elif isinstance(value, list):
            stack.extend(value)
        elif isinstance(value, str) and _UNSTORABLE.search(value):
            raise parse.CallbackParseError(
                "Body carries a NUL character or an unpaired surrogate (\\u0000, \\ud800...) in a text value."
            )


def _load(raw: str) -> dict:
    try:
        data = parse.load_json(raw)
    except RecursionError:
        raise parse.CallbackParseError("Body is nested too deeply to read.") from None
    _check_storable(raw, data)
    return data


# Kinds whose URL token names a payout: with no payout on the row, the URL was nobody's.
_PAYOUT_KINDS = frozenset(
    {
        CallbackKind.B2C_RESULT,
        CallbackKind.B2C_TIMEOUT,
        CallbackKind.B2B_RESULT,
        CallbackKind.B2B_TIMEOUT,
        CallbackKind.REVERSAL_RESULT,
        CallbackKind.REVERSAL_TIMEOUT,
        CallbackKind.STATUS_RESULT,
        CallbackKind.STATUS_TIMEOUT,
    }
)


def _apply(callback: DarajaCallback) -> Handled:
    """Run the kind's handler and write its outcome in one transaction (a savepoint when the caller holds one)."""
    try:
        data = _load(callback.raw_body)
        if callback.kind in _PAYOUT_KINDS and callback.payout_id is None:
            handled = Handled(CallbackOutcome.REJECTED, 404, UNKNOWN_URL)
            _record_outcome(callback, handled)
            return handled
        with transaction.atomic():
            handled = HANDLERS[callback.kind](callback, callback.payout_id, data)
            _record_outcome(callback, handled)
    except parse.CallbackParseError as exc:
        handled = Handled(CallbackOutcome.INVALID, 400, f"Invalid callback: {exc}")
        _record_outcome(callback, handled)
    return handled


_ERROR_FIELDS = ("outcome", "http_status", "error", "processed_at", "attempts", "next_attempt_at")
_CONNECTION_LOST = (OperationalError, InterfaceError)


def _backoff(attempts: int) -> timedelta:
    base = settings.CALLBACK_REPROCESS_BACKOFF_SECONDS
    return timedelta(seconds=min(base * 2 ** max(0, attempts - 1), 3600))


def _error_text(exc: BaseException) -> str:
    """The exception's class and message for the row and the API: never a callback token, never a body."""
    message = mask_callback_tokens(" ".join(str(exc).split()))[:300]
    return f"{exc.__class__.__name__}: {message}" if message else exc.__class__.__name__


def _record_error(callback: DarajaCallback, exc: BaseException) -> bool:
    """Write `error` (and when to try again) onto the row; True when the row just ran out of attempts. Only
    these columns: what the handler linked may be what the database refused. When the write itself fails, the
    count is put back: a second try at recording the same failure must not count it twice (and double its
    backoff)."""
    attempts_before = callback.attempts or 0
    callback.attempts = attempts_before + 1
    exhausted = callback.attempts >= settings.CALLBACK_REPROCESS_MAX_ATTEMPTS
    callback.outcome = CallbackOutcome.ERROR
    callback.http_status = 200
    callback.error = _error_text(exc)
    callback.processed_at = timezone.now()
    callback.next_attempt_at = None if exhausted else callback.processed_at + _backoff(callback.attempts)
    try:
        update_row(callback, _ERROR_FIELDS)
    except Exception:
        callback.attempts = attempts_before
        raise
    return exhausted


def fresh_connection_if_lost(exc: BaseException) -> None:
    if isinstance(exc, _CONNECTION_LOST) and not connection.in_atomic_block:
        connection.close()  # the next query opens a new one


def _record_failure(callback: DarajaCallback, exc: BaseException, *, locked: bool) -> None:
    """The one error path of processing and reprocessing: `error` on the row with its next attempt, and
    `callback_failed` when it ran out of attempts. Unlocked (the request's own processing), a write that fails
    is tried once more on a fresh connection, then left `received` for beat. Locked (reprocessing, inside the
    transaction that holds the row), the transaction is broken: the failure goes up and ends the run."""
    for attempt in (1, 2):
        try:
            if _record_error(callback, exc):
                callback_failed.send(sender=DarajaCallback, callback=callback)
            return
        except Exception as again:  # noqa: BLE001 - still `received` on the row: beat picks it up after a while
            if locked:
                raise
            if attempt == 2:
                logger.error(
                    "callback id=%s: could not record its processing error (%s); it stays received and is "
                    "retried later",
                    callback.pk,
                    again.__class__.__name__,
                )
                return
            fresh_connection_if_lost(again)


def callback_process(*, callback: DarajaCallback, locked: bool = False) -> Handled:
    """Parse and apply a stored callback. Never raises for what processing met: every outcome is written onto
    the row, in the same transaction as the state change it caused. When processing raises (the database
    connection dropped, a bug), the row says `error` with the exception, and beat retries it
    (reprocessing.py); the caller still answers 200: the raw request is stored.

    `locked`: the caller holds the row locked in its own transaction (reprocessing): the attempt runs in a
    savepoint, so what it wrote is undone before the error is recorded."""
    try:
        if locked:
            with transaction.atomic():
                handled = _apply(callback)
        else:
            handled = _apply(callback)
    except Exception as exc:  # noqa: BLE001 - the row keeps the body; it is retried
        logger.exception(
            "callback %s error kind=%s id=%s", "reprocessing" if locked else "processing", callback.kind, callback.pk
        )
        fresh_connection_if_lost(exc)
        _record_failure(callback, exc, locked=locked)
        handled = Handled(CallbackOutcome.ERROR, 200, "Accepted (stored; processing failed and will be retried)")
    callback_log_line(callback)
    return handled
