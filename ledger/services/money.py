"""Postings other than a payout's status change: a payment received, M-Pesa's charges, funding of the float."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal

from django.db import transaction
from django.utils import timezone

from core.errors import InvalidState, LedgerError, PermissionDenied
from ledger import accounts
from ledger.models import FundingKind, FundingRequest, FundingStatus
from ledger.services.posting import move, transaction_post
from payments.models import Payment, Payout


def payment_received_post(*, payment: Payment) -> int | None:
    """A completed payment: collections <- payments received. Once per payment."""
    return transaction_post(
        source="payment",
        source_id=payment.pk,
        kind="received",
        lines=move(amount=payment.amount, debit=accounts.MPESA_COLLECTIONS, credit=accounts.PAYMENTS_RECEIVED),
        posted_at=timezone.now(),
        memo=f"Payment #{payment.pk} {payment.receipt or ''}".strip(),
        payment_id=payment.pk,
    )


def charges_post(
    *, receipt: str, amount: Decimal, payout: Payout | None = None, account: str | None = None,
    posted_at: datetime | None = None, memo: str = "",
) -> int | None:
    """Charges M-Pesa took for the transaction with `receipt` (a result's or status answer's DebitPartyCharges,
    or a statement's charge row): once per receipt, whichever reported it first. They leave `account`, by
    default the account the payout's rail pays from (`mpesa_utility` without a payout)."""
    if not receipt or amount is None or amount <= 0:
        return None
    if account is None:
        account = accounts.rail_source(payout.rail) if payout is not None else accounts.MPESA_UTILITY
    return transaction_post(
        source="mpesa",
        source_id=receipt,
        kind="charge",
        lines=move(amount=amount, debit=accounts.MPESA_CHARGES, credit=account),
        posted_at=posted_at,
        memo=memo or f"M-Pesa charges on {receipt}",
        payout_id=payout.pk if payout else None,
    )


def funding_post(
    *, amount: Decimal, account: str, source: str, source_id: str, kind: str = "funding",
    posted_at: datetime | None = None, memo: str = "", created_by_id: int | None = None,
) -> int | None:
    """Money into an M-Pesa account from outside (a positive amount) or out of it (negative): a top-up, an
    opening balance, a transfer a statement shows."""
    lines = (
        move(amount=amount, debit=account, credit=accounts.FLOAT_FUNDING)
        if amount > 0
        else move(amount=-amount, debit=accounts.FLOAT_FUNDING, credit=account)
    )
    return transaction_post(
        source=source, source_id=source_id, kind=kind, lines=lines, posted_at=posted_at, memo=memo,
        created_by_id=created_by_id,
    )


# --- Four eyes on funding ----------------------------------------------------------------------------------


def funding_request_create(
    *, requested_by, kind: str, amount: Decimal, note: str, receipt: str = "",
    effective_at: datetime | None = None, account: str = accounts.MPESA_UTILITY,
) -> FundingRequest:
    if not requested_by.has_perm("ledger.add_fundingrequest"):
        raise PermissionDenied("You may not request top-ups or opening balances.")
    if kind not in FundingKind.values:
        raise LedgerError(f"Unknown funding kind {kind!r}.")
    if amount is None or amount <= 0:
        raise LedgerError("The amount must be above zero.")
    return FundingRequest.objects.create(
        kind=kind, amount=amount, note=note, receipt=receipt.strip(), account_id=account,
        effective_at=effective_at or timezone.now(), requested_by=requested_by,
    )


def _decide(*, request_id: int, user, approve: bool) -> FundingRequest:
    if not user.has_perm("ledger.approve_fundingrequest"):
        raise PermissionDenied("You may not approve top-ups or opening balances.")
    with transaction.atomic():
        request = FundingRequest.objects.select_for_update().get(pk=request_id)
        if request.requested_by_id == user.pk:
            raise PermissionDenied("Another person must approve what you requested.")
        if request.status != FundingStatus.PENDING:
            raise InvalidState(f"This request is already {request.get_status_display().lower()}.")
        request.status = FundingStatus.APPROVED if approve else FundingStatus.REJECTED
        request.decided_by, request.decided_at = user, timezone.now()
        if approve:
            # A receipt names the transfer itself: a statement that lists it later posts nothing again.
            source, source_id = ("mpesa", request.receipt) if request.receipt else ("funding", str(request.pk))
            tx = funding_post(
                amount=request.amount, account=request.account_id, source=source, source_id=source_id,
                kind="funding", posted_at=request.effective_at, created_by_id=user.pk,
                memo=f"{request.get_kind_display()}: {request.note}",
            )
            if tx is None:
                raise InvalidState(f"Receipt {request.receipt} is already in the ledger.")
            request.transaction_id = tx
        request.save(update_fields=["status", "decided_by", "decided_at", "transaction"])
        return request


def funding_request_approve(*, request_id: int, user) -> FundingRequest:
    return _decide(request_id=request_id, user=user, approve=True)


def funding_request_reject(*, request_id: int, user) -> FundingRequest:
    return _decide(request_id=request_id, user=user, approve=False)
