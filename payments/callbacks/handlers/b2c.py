"""B2C results and timeouts: the answers to a payout's own request, each bound to its payout by the URL."""

from __future__ import annotations

import logging
import time

from django.conf import settings
from django.core.cache import cache

from core.field_widths import truncate_to
from core.phone import InvalidPhoneNumber, normalize_msisdn
from daraja import callbacks as parse
from payments.callbacks.handlers.common import SOURCE, Handled, link, lock_payout, queue_timed_out
from payments.models import (
    PHONE_RAILS,
    CallbackOutcome,
    DarajaCallback,
    FloatSource,
    Payout,
)
from payments.payouts.settlement import Outcome, float_record, payout_settle

logger = logging.getLogger("payments.callbacks")


def _other_payout_owns(ocid: str, payout: Payout) -> bool:
    return Payout.objects.filter(originator_conversation_id=ocid).exclude(pk=payout.pk).exists()


def _check_bound(callback: DarajaCallback, payout: Payout, ocid: str) -> Handled | None:
    """A payout's URL may only speak about that payout, and a B2C result only of a payout sent by B2C or
    Pochi (a paybill's or till's result comes to its b2b URL)."""
    if payout.rail not in PHONE_RAILS:
        callback.payout = None
        return Handled(CallbackOutcome.REJECTED, 403, "This payout's results do not come to this URL.")
    if not ocid or ocid == payout.originator_conversation_id:
        return None
    callback.payout = None
    if _other_payout_owns(ocid, payout):
        return Handled(CallbackOutcome.REJECTED, 403, "OriginatorConversationID does not belong to this callback URL.")
    return Handled(CallbackOutcome.UNMATCHED, message="Accepted (no payout with that OriginatorConversationID)")


def b2c_result(callback: DarajaCallback, payout_id: int, data: dict) -> Handled:
    result = parse.parse_b2c_result(data)
    link(
        callback,
        originator_conversation_id=truncate_to(
            DarajaCallback, "originator_conversation_id", result.originator_conversation_id
        ),
        conversation_id=truncate_to(DarajaCallback, "conversation_id", result.conversation_id),
        transaction_id=truncate_to(DarajaCallback, "transaction_id", result.transaction_id),
        result_code=truncate_to(DarajaCallback, "result_code", result.result_code),
    )
    # One query locks the payout and tells whether its receipt is already someone else's.
    payout = lock_payout(callback, payout_id, receipt=result.transaction_id if result.succeeded else "")
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


def b2c_timeout(callback: DarajaCallback, payout_id: int, data: dict) -> Handled:
    notice = parse.parse_timeout(data)
    link(
        callback,
        originator_conversation_id=truncate_to(
            DarajaCallback, "originator_conversation_id", notice.originator_conversation_id
        ),
        result_code=truncate_to(DarajaCallback, "result_code", notice.result_code),
    )
    payout = lock_payout(callback, payout_id)
    refused = _check_bound(callback, payout, notice.originator_conversation_id) or _echo_refusal(
        callback, payout, notice
    )
    if refused:
        return refused
    return queue_timed_out(callback, payout, notice)
