"""Settling a payout from what M-Pesa says happened: a B2C result or a Transaction Status answer.

Both arrive here through the same function, so a late result and a status answer can never disagree on
how a payout ends. Every path runs under the payout's row lock: fifty deliveries of one result make one
state change and one event.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

from django.db import transaction
from django.utils import timezone

from payments.daraja.callbacks import B2CResult, StatusResult
from payments.models import (
    FINAL_STATUSES,
    IN_FLIGHT_STATUSES,
    CallbackOutcome,
    DarajaCallback,
    FloatBalance,
    FloatSource,
    Payout,
    PayoutStatus,
)
from payments.phone import is_full_msisdn
from payments.services.events import payout_lock, payout_set_status
from payments.signals import float_updated


@dataclass(frozen=True)
class Outcome:
    """What M-Pesa says happened to one payout, whichever message said it."""

    succeeded: bool
    result_code: str
    result_description: str
    transaction_id: str = ""
    amount: Decimal | None = None
    receiver_phone: str = ""
    receiver_name: str = ""
    completed_at: datetime | None = None

    @classmethod
    def from_b2c_result(cls, result: B2CResult) -> Outcome:
        return cls(
            succeeded=result.succeeded,
            result_code=result.result_code,
            result_description=result.result_description,
            transaction_id=result.transaction_id,
            amount=result.amount,
            receiver_phone=result.receiver_phone,
            receiver_name=result.receiver_name,
            completed_at=result.completed_at,
        )

    @classmethod
    def from_status_result(cls, result: StatusResult) -> Outcome:
        return cls(
            succeeded=result.found_completed,
            result_code="0" if result.found_completed else f"status:{result.transaction_status}",
            result_description=(
                result.result_description
                if result.found_completed
                else f"Transaction Status query reports the payment {result.transaction_status.lower()}"
            ),
            transaction_id=result.receipt,
            amount=result.amount,
            receiver_phone=result.receiver_phone,
            receiver_name=result.receiver_name,
            completed_at=result.finalised_at,
        )


@dataclass(frozen=True)
class SettleResult:
    outcome: str  # a CallbackOutcome value
    changed: bool
    note: str = ""
    mismatch: bool = False


def _disagreements(payout: Payout, outcome: Outcome) -> list[str]:
    problems = []
    if outcome.amount is not None and outcome.amount != payout.amount:
        problems.append(f"M-Pesa paid KES {outcome.amount}, the payout is for KES {payout.amount}")
    if is_full_msisdn(outcome.receiver_phone) and outcome.receiver_phone != payout.phone:
        problems.append("M-Pesa paid a different phone number than the payout names")
    if not outcome.transaction_id:
        problems.append("M-Pesa reported success without a receipt")
    return problems


def _same_as_final(payout: Payout, outcome: Outcome) -> bool:
    if payout.status == PayoutStatus.COMPLETED:
        return outcome.succeeded and outcome.transaction_id in ("", payout.transaction_id)
    if payout.status == PayoutStatus.FAILED:
        return not outcome.succeeded
    return False


def _receipt_elsewhere(payout: Payout, receipt: str) -> bool:
    """Whether another payout already holds this receipt (answered by the lock query when it was asked)."""
    if receipt and getattr(payout, "receipt_checked", "") == receipt:
        return payout.receipt_elsewhere
    return Payout.objects.filter(transaction_id=receipt).exclude(pk=payout.pk).exists()


def payout_settle(
    *,
    payout_id: int,
    outcome: Outcome,
    source: str,
    callback: DarajaCallback | None = None,
    locked: Payout | None = None,
) -> SettleResult:
    """Apply an outcome to a payout exactly once. Final states are never left.

    `locked`: the payout, when the caller already holds its row lock in the current transaction (a callback
    locks it first to check the result belongs to it); best locked with `payout_lock(receipt=...)`."""
    # Inside a caller's transaction no savepoint is needed: any error rolls the whole unit back.
    with transaction.atomic(savepoint=False):
        payout = locked if locked is not None else payout_lock(payout_id=payout_id, receipt=outcome.transaction_id)
        status = payout.status

        if status in FINAL_STATUSES or (status == PayoutStatus.NEEDS_REVIEW and payout.transaction_id):
            if _same_as_final(payout, outcome) or (
                status == PayoutStatus.NEEDS_REVIEW and outcome.transaction_id == payout.transaction_id
            ):
                return SettleResult(CallbackOutcome.DUPLICATE, changed=False)
            return SettleResult(
                CallbackOutcome.PROCESSED,
                changed=False,
                mismatch=True,
                note=f"Result ({outcome.result_code}) contradicts the payout's {status} state; left unchanged.",
            )

        if status in (PayoutStatus.PENDING_APPROVAL, PayoutStatus.APPROVED):
            payout_set_status(
                payout=payout,
                to_status=PayoutStatus.NEEDS_REVIEW,
                action="result_for_unsent_payout",
                source=source,
                callback=callback,
                details={"result_code": outcome.result_code},
                fields={"review_reason": "A result arrived for a payout this system never sent."},
            )
            return SettleResult(CallbackOutcome.PROCESSED, changed=True, mismatch=True)

        # In flight, or in review only because nobody answered our status queries.
        assert status in IN_FLIGHT_STATUSES or status == PayoutStatus.NEEDS_REVIEW
        now = timezone.now()
        base_fields = {
            "result_code": outcome.result_code[:32],
            "result_description": outcome.result_description[:255],
        }
        if not outcome.succeeded:
            payout_set_status(
                payout=payout,
                to_status=PayoutStatus.FAILED,
                action="failed",
                source=source,
                callback=callback,
                details={"result_code": outcome.result_code, "result_description": outcome.result_description},
                fields={**base_fields, "completed_at": now},
            )
            return SettleResult(CallbackOutcome.PROCESSED, changed=True)

        problems = _disagreements(payout, outcome)
        receipt = outcome.transaction_id or None
        if receipt and _receipt_elsewhere(payout, receipt):
            problems.append(f"Receipt {receipt} is already recorded on another payout")
            receipt = None
        success_fields = {
            **base_fields,
            "transaction_id": receipt,
            "receiver_name": outcome.receiver_name[:150],
            "mpesa_completed_at": outcome.completed_at,
        }
        if problems:
            payout_set_status(
                payout=payout,
                to_status=PayoutStatus.NEEDS_REVIEW,
                action="result_mismatch",
                source=source,
                callback=callback,
                details={"problems": problems, "transaction_id": outcome.transaction_id},
                fields={**success_fields, "review_reason": "; ".join(problems)},
            )
            return SettleResult(CallbackOutcome.PROCESSED, changed=True, mismatch=True, note="; ".join(problems))

        payout_set_status(
            payout=payout,
            to_status=PayoutStatus.COMPLETED,
            action="completed",
            source=source,
            callback=callback,
            details={"transaction_id": receipt},
            fields={**success_fields, "completed_at": now},
        )
        return SettleResult(CallbackOutcome.PROCESSED, changed=True)


def float_record(
    *, utility_available: Decimal, source: str, working_available: Decimal | None = None, callback=None
) -> FloatBalance:
    balance = FloatBalance.objects.create(
        utility_available=utility_available,
        working_available=working_available,
        source=source,
        callback=callback,
    )
    float_updated.send(sender=FloatBalance, balance=balance)
    return balance


__all__ = ["Outcome", "SettleResult", "payout_settle", "float_record", "FloatSource"]
