"""B2B results and timeouts: the answers to a paybill, till or float top-up request, bound to its payout by the
URL's token (the request carried no id of ours; the ids Daraja gave, when its answer arrived, must agree)."""

from __future__ import annotations

from core.field_widths import truncate_to
from daraja.callbacks import TimeoutNotice
from daraja.rail_results import parse_b2b_result, parse_b2b_timeout
from daraja.result_codes import RAIL_NAMESPACES, Namespace
from payments.callbacks.handlers.common import (
    SOURCE,
    Handled,
    keep_answer_ids,
    link,
    lock_payout,
    named_by_another,
    queue_timed_out,
)
from payments.models import CallbackOutcome, DarajaCallback, FloatSource, Payout
from payments.payouts.settlement import Outcome, float_record, payout_settle

NOT_THIS_RAIL = "This payout's results do not come to this URL."


def _refusal(callback: DarajaCallback, payout: Payout, *, ocid: str, conversation_id: str) -> Handled | None:
    """A payout's URL speaks only of that payout: a B2B rail's, and naming no id another payout holds."""
    if RAIL_NAMESPACES.get(payout.rail) != Namespace.B2B:
        callback.payout = None
        return Handled(CallbackOutcome.REJECTED, 403, NOT_THIS_RAIL)
    return named_by_another(callback, payout, ocid=ocid, conversation_id=conversation_id)


def b2b_result(callback: DarajaCallback, payout_id: int, data: dict) -> Handled:
    result = parse_b2b_result(data)
    link(
        callback,
        originator_conversation_id=truncate_to(
            DarajaCallback, "originator_conversation_id", result.originator_conversation_id
        ),
        conversation_id=truncate_to(DarajaCallback, "conversation_id", result.conversation_id),
        # Only a receipt: a failure's placeholder TransactionID (OAK0000000) is kept in the raw body alone.
        transaction_id=truncate_to(DarajaCallback, "transaction_id", result.receipt or ""),
        result_code=truncate_to(DarajaCallback, "result_code", result.result_code),
    )
    payout = lock_payout(callback, payout_id, receipt=result.receipt or "")
    refused = _refusal(callback, payout, ocid=result.originator_conversation_id, conversation_id=result.conversation_id)
    if refused:
        return refused
    keep_answer_ids(payout, ocid=result.originator_conversation_id, conversation_id=result.conversation_id)
    settled = payout_settle(
        payout_id=payout.pk, outcome=Outcome.from_b2b_result(result), source=SOURCE, callback=callback, locked=payout
    )
    if settled.changed and result.working_balance is not None:
        # The paying Working account's balance: a reading of Working, never of the Utility account. B2B results
        # are few, so each settling one is recorded (no throttle as for B2C results).
        float_record(
            utility_available=None,
            working_available=result.working_balance,
            source=FloatSource.B2B_RESULT,
            callback=callback,
        )
    return Handled(settled.outcome, message=settled.note or "Accepted", mismatch=settled.mismatch)


def _echo_refusal(callback: DarajaCallback, payout: Payout, notice: TimeoutNotice) -> Handled | None:
    """An echoed request is bound by the URL alone: it must ask to pay this payout's business number its
    amount."""
    if not notice.party_b or (notice.party_b == payout.party_b and notice.amount == payout.amount):
        return None
    callback.payout = None
    return Handled(CallbackOutcome.REJECTED, 403, "The echoed request names another payment than this URL's payout.")


def b2b_timeout(callback: DarajaCallback, payout_id: int, data: dict) -> Handled:
    notice = parse_b2b_timeout(data)
    link(
        callback,
        originator_conversation_id=truncate_to(
            DarajaCallback, "originator_conversation_id", notice.originator_conversation_id
        ),
        result_code=truncate_to(DarajaCallback, "result_code", notice.result_code),
    )
    payout = lock_payout(callback, payout_id)
    refused = _refusal(callback, payout, ocid=notice.originator_conversation_id, conversation_id="") or _echo_refusal(
        callback, payout, notice
    )
    if refused:
        return refused
    return queue_timed_out(callback, payout, notice)
