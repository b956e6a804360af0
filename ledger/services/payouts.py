"""What a payout's status change posts, decided from (old status, new status) and the payout's rail alone.

A payout's money is in one of three places: still in the M-Pesa account its rail pays from (`mpesa_utility`
for B2C and Pochi, `mpesa_working` for paybill, till and the float top-up, `mpesa_collections` for a
reversal: pending approval, approved, rejected, failed), in flight (`payouts_in_flight`: sending, submitted,
verifying, needs_review), or where it went (`customer_refunds` for a refund; `supplier_payments` for a paybill
or till payout; `mpesa_utility` for a float top-up, which is our own money moved and no expense;
`disbursements` for other B2C and Pochi payments; LEDGER_DISBURSEMENT_ACCOUNTS may name another account for a
CommandID). A change that moves it between places posts that move; any other change posts nothing and costs
nothing.

- approved -> sending (claimed for sending): source -> in flight (`sent`);
- sending -> approved (an answer that proves M-Pesa never received it): the `sent` posting reversed (`unsent`);
- in flight -> failed (M-Pesa proved nothing was paid): in flight -> source (`returned`);
- failed -> needs_review (M-Pesa reports it paid after all): source -> in flight again (`sent`);
- in flight -> completed: in flight -> destination (`completed`, once per payout ever), and, when the payout
  carries M-Pesa's charge (`Payout.charge`), the charge: charges <- source (`charge`, once per receipt).
"""

from __future__ import annotations

from ledger import accounts
from ledger.services.money import charges_post
from ledger.services.posting import move, transaction_post
from payments.models import BUSINESS_RAILS, UNSETTLED_STATUSES, AuditEvent, Payout, PayoutKind, PayoutRail, PayoutStatus


def payout_destination(payout: Payout) -> str:
    """Where a completed payout's money went."""
    if payout.rail == PayoutRail.FLOAT_TOPUP:
        return accounts.MPESA_UTILITY  # our own money, moved from Working to Utility: not an expense
    if payout.kind == PayoutKind.REFUND or payout.payment_id:
        return accounts.CUSTOMER_REFUNDS
    if payout.rail in BUSINESS_RAILS:
        # Only a CommandID mapping (BusinessPayBill=rent) moves them: a mapping of the kind is for B2C.
        return accounts.disbursement_account(
            command_id=payout.command_id, kind=payout.kind, by_kind=False, default=accounts.SUPPLIER_PAYMENTS
        )
    return accounts.disbursement_account(command_id=payout.command_id, kind=payout.kind)


def payout_place(payout: Payout, status: str) -> str:
    """Where the payout's amount is while it has `status`."""
    if status in UNSETTLED_STATUSES:
        return accounts.PAYOUTS_IN_FLIGHT
    if status == PayoutStatus.COMPLETED:
        return payout_destination(payout)
    return accounts.rail_source(payout.rail)


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
    posted = transaction_post(
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
    if kind == "completed" and payout.charge:
        # Keyed by the receipt: a status answer's DebitPartyCharges for the same transaction posts nothing again.
        charges_post(receipt=payout.transaction_id or "", amount=payout.charge, payout=payout)
    return posted
