"""Reversal results and timeouts: the answers to a reversal's request, bound to its payout by the URL's token (the
request carried no id of ours). The result settles the payout through `payout_settle()`; the payout door moves
the payment to `reversed` when the reversal completes (payments/payouts/lifecycle.py)."""

from __future__ import annotations

from core.field_widths import truncate_to
from daraja.result_codes import Namespace
from daraja.reversal import ReversalResult, parse_reversal_result, parse_reversal_timeout
from payments.callbacks.handlers.common import (
    SOURCE,
    Handled,
    keep_answer_ids,
    link,
    lock_payout,
    named_by_another,
    queue_timed_out,
)
from payments.models import CallbackOutcome, DarajaCallback, Payment, Payout, PayoutRail
from payments.payouts.reversals import ALREADY_REVERSED_NOTE, already_reversed_mark
from payments.payouts.settlement import Outcome, payout_settle

NOT_A_REVERSAL = "This payout is not a reversal: its results do not come to this URL."


def _refusal(callback: DarajaCallback, payout: Payout, *, ocid: str, conversation_id: str) -> Handled | None:
    if payout.rail != PayoutRail.REVERSAL:
        callback.payout = None
        return Handled(CallbackOutcome.REJECTED, 403, NOT_A_REVERSAL)
    return named_by_another(callback, payout, ocid=ocid, conversation_id=conversation_id)


def _receipt_of(payout: Payout) -> str:
    return Payment.objects.filter(pk=payout.payment_id).values_list("receipt", flat=True).get() or ""


def reversal_outcome(result: ReversalResult, *, payout: Payout, original: str) -> Outcome:
    """What the result proves about the reversal `payout` of receipt `original`.
    - 0: completed, with the reversal's own receipt; its OriginalTransactionID must be `original`.
    - R000001 (already reversed): completed too, the money is back with the customer. There is no new receipt:
      the payout records `R000001-<original receipt>`, which no M-Pesa receipt can be (statement matching by
      receipt finds neither the payment nor a transfer under it), and its description says so.
    - a final failure (R000002: invalid original transaction): failed; anything else proves nothing."""
    info = result.code_info
    common = {"result_code": result.result_code, "namespace": Namespace.REVERSAL, "klass": info.klass}
    if result.already_reversed:
        return Outcome(**common, result_description=ALREADY_REVERSED_NOTE, amount=payout.amount,
                       transaction_id=already_reversed_mark(original), completed_at=result.completed_at)
    problems = ()
    if result.original_transaction_id.upper() != original.upper():
        problems = (
            "The reversal result names original transaction "
            f"{truncate_to(Payment, 'receipt', result.original_transaction_id) or 'none'}, "
            f"the payment's receipt is {original}",
        )
    return Outcome(
        **common,
        result_description=result.result_description,
        transaction_id=result.transaction_id,
        amount=result.amount,
        receiver_name=result.credit_party.name,
        completed_at=result.completed_at,
        charge=result.charge,
        problems=problems if info.is_success else (),
    )


def reversal_result(callback: DarajaCallback, payout_id: int, data: dict) -> Handled:
    result = parse_reversal_result(data)
    link(
        callback,
        originator_conversation_id=truncate_to(
            DarajaCallback, "originator_conversation_id", result.originator_conversation_id
        ),
        conversation_id=truncate_to(DarajaCallback, "conversation_id", result.conversation_id),
        # Only a receipt: a failure's placeholder TransactionID (SKE0000000) is kept in the raw body alone.
        transaction_id=truncate_to(DarajaCallback, "transaction_id", result.transaction_id),
        result_code=truncate_to(DarajaCallback, "result_code", result.result_code),
    )
    payout = lock_payout(callback, payout_id, receipt=result.transaction_id)
    refused = _refusal(callback, payout, ocid=result.originator_conversation_id, conversation_id=result.conversation_id)
    if refused:
        return refused
    keep_answer_ids(payout, ocid=result.originator_conversation_id, conversation_id=result.conversation_id)
    outcome = reversal_outcome(result, payout=payout, original=_receipt_of(payout))
    settled = payout_settle(payout_id=payout.pk, outcome=outcome, source=SOURCE, callback=callback, locked=payout)
    note = settled.note or (ALREADY_REVERSED_NOTE if result.already_reversed and settled.changed else "Accepted")
    return Handled(settled.outcome, message=note, mismatch=settled.mismatch)


def reversal_timeout(callback: DarajaCallback, payout_id: int, data: dict) -> Handled:
    notice = parse_reversal_timeout(data)
    link(
        callback,
        originator_conversation_id=truncate_to(
            DarajaCallback, "originator_conversation_id", notice.originator_conversation_id
        ),
        result_code=truncate_to(DarajaCallback, "result_code", notice.result_code),
    )
    payout = lock_payout(callback, payout_id)
    refused = _refusal(callback, payout, ocid=notice.originator_conversation_id, conversation_id="")
    if refused:
        return refused
    echoed = notice.transaction_id, notice.amount
    if notice.transaction_id and echoed != (_receipt_of(payout).upper(), payout.amount):
        # An echoed request is bound by the URL alone: it must ask to reverse this payout's receipt and amount.
        callback.payout = None
        return Handled(CallbackOutcome.REJECTED, 403, "The echoed request names another reversal than this URL's.")
    return queue_timed_out(callback, payout, notice)
