"""Processing of a stored Daraja callback (dj-stripe style: the raw row is committed first, then each
kind is processed in its own transaction and the outcome written back onto the row)."""

from __future__ import annotations

import logging
import re
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import timedelta
from functools import lru_cache

from django.conf import settings
from django.core.cache import cache
from django.db import IntegrityError, InterfaceError, OperationalError, connection, transaction
from django.db.models import Q
from django.utils import timezone

from core.field_widths import truncate_to
from core.phone import InvalidPhoneNumber, mask_msisdn, normalize_msisdn
from core.sql_row_writes import insert_row, update_row
from daraja import callbacks as parse
from daraja.result_codes import Namespace, classify
from ledger.services.money import charges_post, payment_received_post
from payments.audit_events import event_record
from payments.callbacks.masking import mask_callback_tokens
from payments.models import (
    AuditAction,
    CallbackKind,
    CallbackOutcome,
    DarajaCallback,
    EventSource,
    FloatSource,
    Payment,
    PaymentSource,
    PaymentStatus,
    Payout,
    PayoutStatus,
)
from payments.payouts.lifecycle import payout_lock, payout_transition
from payments.payouts.settlement import Outcome, float_record, payout_settle
from payments.selectors import stk_push_unanswered
from payments.signals import callback_failed, payment_received
from webhooks.services.events import payment_received_webhook

logger = logging.getLogger("payments.callbacks")

SOURCE = EventSource.CALLBACK


@dataclass
class Handled:
    outcome: str
    http_status: int = 200
    message: str = "Accepted"
    mismatch: bool = False


def _link(callback: DarajaCallback, **fields) -> None:
    for name, value in fields.items():
        setattr(callback, name, value)


def _other_payout_owns(ocid: str, payout: Payout) -> bool:
    return Payout.objects.filter(originator_conversation_id=ocid).exclude(pk=payout.pk).exists()


def _check_bound(callback: DarajaCallback, payout: Payout, ocid: str) -> Handled | None:
    """A payout's URL may only speak about that payout."""
    if not ocid or ocid == payout.originator_conversation_id:
        return None
    callback.payout = None
    if _other_payout_owns(ocid, payout):
        return Handled(
            CallbackOutcome.REJECTED, 403, "OriginatorConversationID does not belong to this callback URL."
        )
    return Handled(CallbackOutcome.UNMATCHED, message="Accepted (no payout with that OriginatorConversationID)")


def _status_refusal(callback: DarajaCallback, payout: Payout, result: parse.StatusResult) -> Handled | None:
    """A status result is bound to its payout by the URL's token. The OriginatorConversationID inside its
    parameters may be one Daraja made, so a value nobody holds proves nothing; but a result that names
    another payout's OriginatorConversationID, ConversationID or receipt is refused."""
    others = Payout.objects.exclude(pk=payout.pk)
    named = (
        ("OriginatorConversationID", "originator_conversation_id", result.original_conversation_id,
         payout.originator_conversation_id),
        ("ConversationID", "conversation_id", result.conversation_id, payout.conversation_id),
        ("ReceiptNo", "transaction_id", result.receipt, payout.transaction_id or ""),
    )
    for label, column, value, own in named:
        if value and value != own and others.filter(**{column: value[:64]}).exists():
            callback.payout = None
            return Handled(CallbackOutcome.REJECTED, 403, f"{label} belongs to another payout, not this callback URL.")
    return None


def _b2c_result(callback: DarajaCallback, payout_id: int, data: dict) -> Handled:
    result = parse.parse_b2c_result(data)
    _link(
        callback,
        originator_conversation_id=truncate_to(
            DarajaCallback, "originator_conversation_id", result.originator_conversation_id
        ),
        conversation_id=truncate_to(DarajaCallback, "conversation_id", result.conversation_id),
        transaction_id=truncate_to(DarajaCallback, "transaction_id", result.transaction_id),
        result_code=truncate_to(DarajaCallback, "result_code", result.result_code),
    )
    # One query locks the payout and tells whether its receipt is already someone else's.
    payout = _lock(callback, payout_id, receipt=result.transaction_id if result.succeeded else "")
    refused = _check_bound(callback, payout, result.originator_conversation_id)
    if refused:
        return refused
    if result.conversation_id and not payout.conversation_id:
        # The result beat our own bookkeeping of the synchronous answer: keep its ConversationID.
        payout.conversation_id = truncate_to(Payout, "conversation_id", result.conversation_id)
        Payout.objects.filter(pk=payout.pk).update(conversation_id=payout.conversation_id)
    settled = payout_settle(
        payout_id=payout.pk,
        outcome=Outcome.from_b2c_result(result),
        source=SOURCE,
        callback=callback,
        locked=payout,
    )
    if settled.changed and result.utility_funds is not None and _float_reading_due():
        float_record(
            utility_available=result.utility_funds,
            working_available=result.working_funds,
            source=FloatSource.B2C_RESULT,
            callback=callback,
        )
    return Handled(settled.outcome, message=settled.note or "Accepted", mismatch=settled.mismatch)


def _lock(callback: DarajaCallback, payout_id: int, *, receipt: str = "") -> Payout:
    """The callback URL's payout, locked for the rest of the processing transaction."""
    payout = payout_lock(payout_id=payout_id, receipt=receipt)
    callback.payout = payout
    return payout


# When this process may next ask the shared cache (a shadow of it: cleared with it, see forget_local_throttles).
_float_checks = {"next_ask": 0.0}


def forget_local_throttles() -> None:
    _float_checks["next_ask"] = 0.0


def _float_reading_due() -> bool:
    """Every B2C result carries the float; a burst of thousands needs one reading a minute, not thousands
    (the Account Balance query stays the reading of record). The shared cache decides across processes;
    each process asks it at most once a second, so a burst costs no cache round trip per result."""
    now = time.monotonic()
    if now < _float_checks["next_ask"]:
        return False
    try:
        due = cache.add("payments:float-from-result", 1, timeout=settings.FLOAT_FROM_RESULTS_INTERVAL_SECONDS)
    except Exception:  # noqa: BLE001 - the cache (Redis) is down: a throttle must never stop a settlement
        logger.warning("cache unavailable; recording the float reading of this result unthrottled")
        return True
    _float_checks["next_ask"] = now + (settings.FLOAT_FROM_RESULTS_INTERVAL_SECONDS if due else 1.0)
    return due


def _echo_refusal(callback: DarajaCallback, payout: Payout, notice: parse.TimeoutNotice) -> Handled | None:
    """An echoed request without an OriginatorConversationID is bound by the URL alone: it must at least
    ask to pay this payout's phone this payout's amount."""
    if not notice.party_b:
        return None
    try:
        same_phone = normalize_msisdn(notice.party_b) == payout.phone
    except InvalidPhoneNumber:
        same_phone = False
    if same_phone and notice.amount == payout.amount:
        return None
    callback.payout = None
    return Handled(CallbackOutcome.REJECTED, 403, "The echoed request names another payment than this URL's payout.")


def _b2c_timeout(callback: DarajaCallback, payout_id: int, data: dict) -> Handled:
    notice = parse.parse_timeout(data)
    _link(
        callback,
        originator_conversation_id=truncate_to(
            DarajaCallback, "originator_conversation_id", notice.originator_conversation_id
        ),
        result_code=truncate_to(DarajaCallback, "result_code", notice.result_code),
    )
    payout = _lock(callback, payout_id)
    refused = _check_bound(callback, payout, notice.originator_conversation_id) or _echo_refusal(
        callback, payout, notice
    )
    if refused:
        return refused
    # A timeout is not a failure: the money may have moved. A status query will tell.
    moved = payout_transition(
        payout_id=payout.pk,
        from_statuses=[PayoutStatus.SENDING, PayoutStatus.SUBMITTED],
        to_status=PayoutStatus.VERIFYING,
        action=AuditAction.QUEUE_TIMEOUT,
        source=SOURCE,
        callback=callback,
        details={"result_code": notice.result_code, "result_description": notice.result_description},
        locked=payout,
    )
    return Handled(CallbackOutcome.PROCESSED if moved else CallbackOutcome.DUPLICATE)


def _status_result(callback: DarajaCallback, payout_id: int, data: dict) -> Handled:
    result = parse.parse_status_result(data)
    payout = _lock(callback, payout_id, receipt=result.receipt if result.found_completed else "")
    _link(
        callback,
        originator_conversation_id=truncate_to(
            DarajaCallback, "originator_conversation_id", payout.originator_conversation_id
        ),
        conversation_id=truncate_to(DarajaCallback, "conversation_id", result.conversation_id),
        transaction_id=truncate_to(DarajaCallback, "transaction_id", result.receipt),
        result_code=truncate_to(DarajaCallback, "result_code", result.result_code),
    )
    refused = _status_refusal(callback, payout, result)
    if refused:
        return refused
    if not (result.found_completed or result.found_failed):
        # Not found, or the query itself failed (any non-zero code: it speaks of the query, not the payout):
        # the outcome is still unknown. The sweep asks again and, after PAYOUT_MAX_STATUS_QUERIES, hands the
        # payout to a person.
        return Handled(
            CallbackOutcome.PROCESSED,
            message=f"Status unknown ({result.result_code}: {result.result_description or result.code_info.meaning})",
        )
    settled = payout_settle(
        payout_id=payout.pk,
        outcome=Outcome.from_status_result(result),
        source=SOURCE,
        callback=callback,
        locked=payout,
    )
    if result.found_completed and result.charges and not settled.mismatch:
        # Only charges of a transaction proven to be this payout's.
        charges_post(receipt=result.receipt, amount=result.charges, payout=payout)  # once per receipt
    return Handled(settled.outcome, message=settled.note or "Accepted", mismatch=settled.mismatch)


def _no_op_timeout(callback: DarajaCallback, payout_id: int | None, data: dict) -> Handled:
    notice = parse.parse_timeout(data)
    _link(callback, result_code=truncate_to(DarajaCallback, "result_code", notice.result_code))
    return Handled(CallbackOutcome.PROCESSED)


def _balance_timeout(callback: DarajaCallback, payout_id: int | None, data: dict) -> Handled:
    notice = parse.parse_balance_timeout(data)
    _link(callback, result_code=truncate_to(DarajaCallback, "result_code", notice.result_code))
    return Handled(CallbackOutcome.PROCESSED, message="Account Balance query timed out; no reading recorded")


def _balance_result(callback: DarajaCallback, payout_id: int | None, data: dict) -> Handled:
    balance = parse.parse_balance_result(data)
    _link(callback, result_code=truncate_to(DarajaCallback, "result_code", balance.result_code))
    if not classify(Namespace.B2C, balance.result_code).is_success:
        return Handled(CallbackOutcome.PROCESSED, message="Balance query failed; no reading recorded")
    if balance.utility_available is None and balance.working_available is None:
        return Handled(
            CallbackOutcome.PROCESSED,
            message="Balance read: neither a Utility nor a Working Account in the answer; no reading recorded",
        )
    # What is there is stored: a Working Account alone is still a reading (its Utility stays unknown).
    float_record(
        utility_available=balance.utility_available,
        working_available=balance.working_available,
        source=FloatSource.BALANCE_QUERY,
        callback=callback,
    )
    return Handled(CallbackOutcome.PROCESSED)


def _stk(callback: DarajaCallback, payout_id: int | None, data: dict) -> Handled:
    result = parse.parse_stk_callback(data)
    _link(
        callback,
        transaction_id=truncate_to(DarajaCallback, "transaction_id", result.receipt),
        result_code=truncate_to(DarajaCallback, "result_code", result.result_code),
    )
    checkout = Payment.objects.select_for_update().filter(checkout_request_id=result.checkout_request_id)
    payment = checkout.first()
    matched_by = ""
    if payment is None:
        payment = _stk_push_whose_answer_was_lost(callback, result)
        if payment is not None:
            payment.checkout_request_id = result.checkout_request_id
            payment.merchant_request_id = truncate_to(Payment, "merchant_request_id", result.merchant_request_id)
            matched_by = "phone and amount: the answer to its push was lost, so its CheckoutRequestID was not known"
        else:
            # The same callback delivered twice at once: the second waited on the first's lock, which has now
            # linked the payment to this CheckoutRequestID. Look again, so it is a duplicate, not unmatched.
            payment = checkout.first()
        if payment is None:
            return Handled(CallbackOutcome.UNMATCHED, message="Accepted (no payment with that CheckoutRequestID)")
    callback.payment = payment
    if payment.status != PaymentStatus.PENDING:
        return Handled(CallbackOutcome.DUPLICATE)
    old = payment.status
    payment.result_code = truncate_to(Payment, "result_code", result.result_code)
    payment.result_description = result.result_description
    if result.code_info.is_unknown:
        # A code the STK table does not hold: the customer may or may not have paid. The payment stays
        # pending (nothing can be refunded from it) with the code on it, for a person or a later callback.
        payment.save(update_fields=["result_code", "result_description", "updated_at"])
        event_record(
            action=AuditAction.PAYMENT_RESULT_UNKNOWN,
            source=SOURCE,
            payment=payment,
            from_status=old,
            to_status=old,
            callback=callback,
            details={"result_code": result.result_code, "result_description": result.result_description},
        )
        return Handled(
            CallbackOutcome.PROCESSED,
            message=f"STK ResultCode {result.result_code} is not in the catalogue; the payment stays pending",
        )
    mismatch = False
    if result.succeeded:
        if Payment.objects.filter(receipt=result.receipt).exclude(pk=payment.pk).exists():
            return Handled(CallbackOutcome.DUPLICATE, message="Receipt already recorded", mismatch=True)
        mismatch = result.amount != payment.amount
        payment.status = PaymentStatus.COMPLETED
        payment.receipt = result.receipt
        payment.amount = result.amount  # what actually arrived is what can be refunded
        payment.transaction_time = result.transaction_date
    else:
        payment.status = PaymentStatus.FAILED
    payment.save()
    event = event_record(
        action=AuditAction.PAYMENT_COMPLETED if result.succeeded else AuditAction.PAYMENT_FAILED,
        source=SOURCE,
        payment=payment,
        from_status=old,
        to_status=payment.status,
        callback=callback,
        details={"result_code": result.result_code, "receipt": result.receipt,
                 **({"matched_by": matched_by} if matched_by else {})},  # fmt: skip
    )
    if result.succeeded:
        payment_received_post(payment=payment)
        payment_received.send(sender=Payment, payment=payment, event=event)
        payment_received_webhook(payment=payment)  # never raises
    return Handled(CallbackOutcome.PROCESSED, mismatch=mismatch)


# How long after its push was claimed a callback may still be matched to a payment by phone and amount (an STK
# prompt expires within a couple of minutes; the callback follows).
STK_LOST_ANSWER_WINDOW = timedelta(minutes=15)


def _stk_push_whose_answer_was_lost(callback: DarajaCallback, result) -> Payment | None:
    """The payment a successful STK callback with an unknown CheckoutRequestID belongs to, when its push's
    answer never gave us that id (selectors.stk_push_unanswered: the outcome was unknown, or no answer was
    recorded): exactly one such payment, pushed in the window before the callback arrived, for the same phone
    and amount. A push still waiting for its answer is not a candidate. Two candidates, a masked phone or a
    callback that is not a success (it carries no phone or amount): unmatched, for a person."""
    if not result.succeeded or not result.phone.isdigit() or result.amount is None:
        return None
    arrived = callback.received_at or timezone.now()
    candidates = list(
        Payment.objects.select_for_update().filter(
            stk_push_unanswered(arrived), push_sent_at__gte=arrived - STK_LOST_ANSWER_WINDOW,
            phone=result.phone, amount=result.amount,
        )[:2]
    )  # fmt: skip
    return candidates[0] if len(candidates) == 1 else None


def _c2b_confirmation(callback: DarajaCallback, payout_id: int | None, data: dict) -> Handled:
    confirmation = parse.parse_c2b(data)
    _link(callback, transaction_id=confirmation.transaction_id)
    existing = Payment.objects.filter(receipt=confirmation.transaction_id).first()
    if existing:
        callback.payment = existing
        return Handled(CallbackOutcome.DUPLICATE)
    try:
        with transaction.atomic():
            payment = Payment.objects.create(
                source=PaymentSource.C2B,
                status=PaymentStatus.COMPLETED,
                receipt=confirmation.transaction_id,
                phone=confirmation.phone,  # kept as given, even when masked
                amount=confirmation.amount,
                account_reference=confirmation.account_reference,
                payer_name=confirmation.payer_name,
                transaction_time=confirmation.transaction_time,
                description=truncate_to(Payment, "description", confirmation.transaction_type),
            )
    except IntegrityError:
        # Another delivery of the same confirmation won the race.
        callback.payment = Payment.objects.filter(receipt=confirmation.transaction_id).first()
        return Handled(CallbackOutcome.DUPLICATE)
    callback.payment = payment
    event = event_record(
        action=AuditAction.PAYMENT_COMPLETED,
        source=SOURCE,
        payment=payment,
        to_status=payment.status,
        callback=callback,
        details={"receipt": payment.receipt},
    )
    payment_received_post(payment=payment)
    payment_received.send(sender=Payment, payment=payment, event=event)
    payment_received_webhook(payment=payment)  # never raises
    return Handled(CallbackOutcome.PROCESSED)


def _c2b_validation(callback: DarajaCallback, payout_id: int | None, data: dict) -> Handled:
    return Handled(CallbackOutcome.PROCESSED)


HANDLERS = {
    CallbackKind.B2C_RESULT: _b2c_result,
    CallbackKind.B2C_TIMEOUT: _b2c_timeout,
    CallbackKind.STATUS_RESULT: _status_result,
    CallbackKind.STATUS_TIMEOUT: _no_op_timeout,
    CallbackKind.BALANCE_RESULT: _balance_result,
    CallbackKind.BALANCE_TIMEOUT: _balance_timeout,
    CallbackKind.STK: _stk,
    CallbackKind.C2B_CONFIRMATION: _c2b_confirmation,
    CallbackKind.C2B_VALIDATION: _c2b_validation,
}


def callback_store(
    *,
    kind: str,
    raw_body: str,
    headers: dict,
    source_ip: str | None,
    path: str,
    payout_token: str | None = None,
    outcome: str = CallbackOutcome.RECEIVED,
    error: str = "",
    http_status: int | None = None,
) -> DarajaCallback:
    """Commit the request as received, before anything parses it (credentials already redacted).

    `payout_token`: a payout URL's token; the same INSERT looks up whose it is (`payout_id` is None on the
    returned row when the token is nobody's)."""
    callback = DarajaCallback(
        kind=kind,
        # PostgreSQL text cannot hold NUL; keep everything else byte for byte, but for the credentials and
        # callback tokens a timeout echo carries back (its ResultURL and QueueTimeOutURL).
        raw_body=mask_callback_tokens(parse.redact_secrets(raw_body)).replace("\x00", "\ufffd"),
        headers={name: mask_callback_tokens(value) for name, value in headers.items()},  # a Referer names a URL
        source_ip=source_ip,
        path=truncate_to(DarajaCallback, "path", mask_callback_tokens(path)),
        outcome=outcome,
        error=error,
        http_status=http_status,
        processed_at=timezone.now() if outcome != CallbackOutcome.RECEIVED else None,
    )
    if payout_token is None:
        return insert_row(callback)
    # The same INSERT looks the payout up by its token: one round trip for the store (core/sql_row_writes.py).
    return insert_row(callback, computed={"payout": (_payout_by_token_sql(), [payout_token])})


@lru_cache(maxsize=1)
def _payout_by_token_sql() -> str:
    quote = connection.ops.quote_name
    return "(SELECT {pk} FROM {table} WHERE {token} = %s)".format(
        pk=quote(Payout._meta.pk.column),
        table=quote(Payout._meta.db_table),
        token=quote(Payout._meta.get_field("callback_token").column),
    )


def payout_token_known(token: str) -> bool:
    """Whether a payout URL's token is anyone's (for a request refused before it is stored)."""
    return Payout.objects.filter(callback_token=token).exists()


def callback_reject_stored(
    callback: DarajaCallback, *, status: int, reason: str, headers: dict | None = None
) -> None:
    """Mark a stored request as refused (an unknown URL found by the store itself); `headers`: what to keep
    of its headers instead (a refused request keeps only a few named ones)."""
    callback.outcome = CallbackOutcome.REJECTED
    callback.http_status = status
    callback.error = reason
    callback.processed_at = timezone.now()
    fields = ("outcome", "http_status", "error", "processed_at")
    if headers is not None:
        callback.headers = {name: mask_callback_tokens(value) for name, value in headers.items()}
        fields += ("headers",)
    update_row(callback, fields)


_RESULT_FIELDS = (
    "outcome", "http_status", "mismatch", "error", "processed_at", "payout", "payment",
    "originator_conversation_id", "conversation_id", "transaction_id", "result_code", "next_attempt_at",
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
    {CallbackKind.B2C_RESULT, CallbackKind.B2C_TIMEOUT, CallbackKind.STATUS_RESULT, CallbackKind.STATUS_TIMEOUT}
)
UNKNOWN_URL = "Unknown callback URL."


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


def _fresh_connection_if_lost(exc: BaseException) -> None:
    if isinstance(exc, _CONNECTION_LOST) and not connection.in_atomic_block:
        connection.close()  # the next query opens a new one


def callback_process(*, callback: DarajaCallback) -> Handled:
    """Parse and apply a stored callback. Never raises: every outcome is written onto the row, in the same
    transaction as the state change it caused. When processing raises (the database connection dropped, a
    bug), the row says `error` with the exception, and beat retries it (callbacks_reprocess_due); the caller
    still answers 200: the raw request is stored."""
    try:
        handled = _apply(callback)
    except Exception as exc:  # noqa: BLE001 - the row keeps the body; it is retried
        logger.exception("callback processing error kind=%s id=%s", callback.kind, callback.pk)
        _fresh_connection_if_lost(exc)
        handled = Handled(CallbackOutcome.ERROR, 200, "Accepted (stored; processing failed and will be retried)")
        _note_error(callback, exc)
    _log(callback)
    return handled


def _note_error(callback: DarajaCallback, exc: BaseException) -> None:
    for attempt in range(2):
        try:
            if _record_error(callback, exc):
                callback_failed.send(sender=DarajaCallback, callback=callback)
            return
        except Exception as again:  # noqa: BLE001 - still `received` on the row: beat picks it up after a while
            if attempt:
                logger.error(
                    "callback id=%s: could not record its processing error (%s); it stays received and is "
                    "retried later",
                    callback.pk,
                    again.__class__.__name__,
                )
                return
            _fresh_connection_if_lost(again)


# --- Reprocessing -----------------------------------------------------------------------------------------


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
        try:
            with transaction.atomic():
                handled = _apply(callback)
        except Exception as exc:  # noqa: BLE001 - recorded on the row, retried later
            logger.exception("callback reprocessing error kind=%s id=%s", callback.kind, callback.pk)
            if _record_error(callback, exc):
                callback_failed.send(sender=DarajaCallback, callback=callback)
            _log(callback)
            return Reprocessed(callback_id, CallbackOutcome.ERROR, callback.error)
    _log(callback)
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
            _fresh_connection_if_lost(exc)
            return
        yield callback_id, result


def callbacks_reprocess_due() -> dict[str, int]:
    """Beat: reprocess every due callback; counts by outcome."""
    counts: dict[str, int] = {}
    for _, result in callbacks_reprocess(callbacks_due_for_reprocessing()):
        if result.outcome:
            counts[result.outcome] = counts.get(result.outcome, 0) + 1
    return counts


def _log(callback: DarajaCallback) -> None:
    if not logger.isEnabledFor(logging.INFO):
        return
    # Only what processing already loaded: a log line is not worth a query.
    payout = callback.payout if DarajaCallback.payout.is_cached(callback) else None
    payment = callback.payment if DarajaCallback.payment.is_cached(callback) else None
    phone = payout.phone if payout else (payment.phone if payment else "")
    logger.info(
        "callback kind=%s outcome=%s http=%s id=%s payout=%s payment=%s ocid=%s conversation=%s receipt=%s "
        "result=%s phone=%s ip=%s",
        callback.kind,
        callback.outcome,
        callback.http_status,
        callback.pk,
        callback.payout_id or "-",
        callback.payment_id or "-",
        callback.originator_conversation_id or "-",
        callback.conversation_id or "-",
        callback.transaction_id or "-",
        callback.result_code or "-",
        mask_msisdn(phone) or "-",
        callback.source_ip or "-",
    )


def callback_log_rejection(callback: DarajaCallback) -> None:
    _log(callback)
