"""What every callback handler shares: the answer it gives (`Handled`) and how it ties the stored row to the
payout its URL names."""

from __future__ import annotations

from dataclasses import dataclass

from core.field_widths import truncate_to
from payments.models import AuditAction, CallbackOutcome, DarajaCallback, EventSource, Payout, PayoutStatus
from payments.payouts.lifecycle import payout_lock, payout_transition

SOURCE = EventSource.CALLBACK


@dataclass
class Handled:
    outcome: str
    http_status: int = 200
    message: str = "Accepted"
    mismatch: bool = False


def link(callback: DarajaCallback, **fields) -> None:
    for name, value in fields.items():
        setattr(callback, name, value)


def lock_payout(callback: DarajaCallback, payout_id: int, *, receipt: str = "") -> Payout:
    """The callback URL's payout, locked for the rest of the processing transaction."""
    payout = payout_lock(payout_id=payout_id, receipt=receipt)
    callback.payout = payout
    return payout


def named_by_another(callback: DarajaCallback, payout: Payout, *, ocid: str, conversation_id: str) -> Handled | None:
    """A payout's URL speaks only of that payout: a result naming an id another payout holds is refused (403)."""
    others = Payout.objects.exclude(pk=payout.pk)
    named = (
        ("OriginatorConversationID", "answered_originator_conversation_id", ocid),
        ("OriginatorConversationID", "originator_conversation_id", ocid),
        ("ConversationID", "conversation_id", conversation_id),
    )
    for label, column, value in named:
        if value and others.filter(**{column: truncate_to(Payout, column, value)}).exists():
            callback.payout = None
            return Handled(CallbackOutcome.REJECTED, 403, f"{label} belongs to another payout, not this callback URL.")
    return None


def keep_answer_ids(payout: Payout, *, ocid: str, conversation_id: str) -> None:
    """A result that came before (or instead of) our bookkeeping of the synchronous answer of a request that
    carried no id of ours: keep its ids, so a status query can name them."""
    ids = {"answered_originator_conversation_id": ocid, "conversation_id": conversation_id}
    missing = {
        column: truncate_to(Payout, column, value)
        for column, value in ids.items()
        if value and not getattr(payout, column)
    }
    if missing:
        for column, value in missing.items():
            setattr(payout, column, value)
        Payout.objects.filter(pk=payout.pk).update(**missing)


def queue_timed_out(callback: DarajaCallback, payout: Payout, notice) -> Handled:
    """M-Pesa's queue timed out on a request it may still carry out: not a failure, the money may have moved.
    The payout waits in `verifying` for its result, a status query or a person (every rail alike)."""
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
