"""Transaction Status results and timeouts: the query that settles a payout whose outcome was unknown."""

from __future__ import annotations

from core.field_widths import truncate_to
from daraja import callbacks as parse
from ledger.services.money import charges_post
from payments.callbacks.handlers.common import SOURCE, Handled, link, lock_payout
from payments.models import CallbackOutcome, DarajaCallback, Payout
from payments.payouts.settlement import Outcome, payout_settle


def _status_refusal(callback: DarajaCallback, payout: Payout, result: parse.StatusResult) -> Handled | None:
    """A status result is bound to its payout by the URL's token. The OriginatorConversationID inside its
    parameters may be one Daraja made, so a value nobody holds proves nothing; but a result that names
    another payout's OriginatorConversationID, ConversationID or receipt is refused."""
    others = Payout.objects.exclude(pk=payout.pk)
    named = (
        (
            "OriginatorConversationID",
            "originator_conversation_id",
            result.original_conversation_id,
            payout.originator_conversation_id,
        ),
        ("ConversationID", "conversation_id", result.conversation_id, payout.conversation_id),
        ("ReceiptNo", "transaction_id", result.receipt, payout.transaction_id or ""),
    )
    for label, column, value, own in named:
        if value and value != own and others.filter(**{column: value[:64]}).exists():
            callback.payout = None
            return Handled(CallbackOutcome.REJECTED, 403, f"{label} belongs to another payout, not this callback URL.")
    return None


def status_result(callback: DarajaCallback, payout_id: int, data: dict) -> Handled:
    result = parse.parse_status_result(data)
    payout = lock_payout(callback, payout_id, receipt=result.receipt if result.found_completed else "")
    link(
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


def status_timeout(callback: DarajaCallback, payout_id: int | None, data: dict) -> Handled:
    notice = parse.parse_timeout(data)
    link(callback, result_code=truncate_to(DarajaCallback, "result_code", notice.result_code))
    return Handled(CallbackOutcome.PROCESSED)
