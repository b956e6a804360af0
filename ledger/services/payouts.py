"""What a payout's status change posts, decided from (old status, new status) alone.

A payout's money is in one of three places: still in the float (`mpesa_utility`: pending approval, approved,
rejected, failed), in flight (`payouts_in_flight`: sending, submitted, verifying, needs_review), or paid out
(`customer_refunds` for a refund, `disbursements` or the account LEDGER_DISBURSEMENT_ACCOUNTS names for its
CommandID or kind). A change that moves it between places posts that move; any other change posts nothing
and costs nothing.

- approved -> sending (claimed for sending): float -> in flight (`sent`);
- sending -> approved (an answer that proves M-Pesa never received it): the `sent` posting reversed (`unsent`);
- in flight -> failed (M-Pesa proved nothing was paid): in flight -> float (`returned`);
- failed -> needs_review (M-Pesa reports it paid after all): float -> in flight again (`sent`);
- in flight -> completed: in flight -> refunds or disbursements (`completed`, once per payout ever).
"""

from __future__ import annotations

from ledger import accounts
from ledger.services.posting import move, transaction_post
from payments.models import UNSETTLED_STATUSES, AuditEvent, Payout, PayoutKind, PayoutStatus


def payout_destination(payout: Payout) -> str:
    if payout.kind == PayoutKind.REFUND or payout.payment_id:
        return accounts.CUSTOMER_REFUNDS
    return accounts.disbursement_account(command_id=payout.command_id, kind=payout.kind)


def payout_place(payout: Payout, status: str) -> str:
    """Where the payout's amount is while it has `status`."""
    if status in UNSETTLED_STATUSES:
        return accounts.PAYOUTS_IN_FLIGHT
    if status == PayoutStatus.COMPLETED:
        return payout_destination(payout)
    return accounts.MPESA_UTILITY


def payout_status_posted(*, payout: Payout, old_status: str, event: AuditEvent | None = None) -> int | None:
    """Post what the change old_status -> payout.status moved, in the caller's transaction (called for every
    status change, after the row has its new status). The journal transaction's id, or None when the change
    moved no money (or was posted before)."""
    before, after = payout_place(payout, old_status), payout_place(payout, payout.status)
    if before == after:
        return None
    event_id = getattr(event, "pk", None)
    if after == accounts.PAYOUTS_IN_FLIGHT:
        kind, key = "sent", f"{payout.pk}:{event_id or payout.send_attempts}"
    elif payout.status == PayoutStatus.COMPLETED:
        kind, key = "completed", str(payout.pk)  # final: once per payout, whatever retries
    elif old_status == PayoutStatus.SENDING and payout.status == PayoutStatus.APPROVED:
        kind, key = "unsent", f"{payout.pk}:{event_id or payout.send_attempts}"
    else:
        kind, key = "returned", f"{payout.pk}:{event_id or payout.status}"
    leaving_flight = before == accounts.PAYOUTS_IN_FLIGHT
    return transaction_post(
        source="payout",
        source_id=key,
        kind=kind,
        lines=move(amount=payout.amount, debit=after, credit=before),
        memo=f"Payout #{payout.pk} {old_status} -> {payout.status}",
        payout_id=payout.pk,
        payment_id=payout.payment_id,
        clears_latest_sent=leaving_flight,
        reverses_latest_sent=kind == "unsent",
    )
