"""The refund reservation: how much of a payment its refunds hold (`Payment.refunded_amount`).

A refund reserves its amount on its payment when it is requested (or its amount is raised, or M-Pesa reports
paid a refund recorded failed) and releases it when it fails, is rejected or is lowered. These two functions
are the only writers of `refunded_amount`; both run inside the caller's transaction. The database keeps its
CHECK constraints (never below zero, never above the amount) in case code is wrong.
"""

from __future__ import annotations

from decimal import Decimal

from django.db import transaction
from django.db.models import F

from core.errors import NotFound
from payments.models import Payment, PaymentStatus


class RefundNotReservable(Exception):
    """The amount is more than the payment's refundable remainder: nothing was reserved. Each caller words its
    own refusal (an over-refund request, a raised amount, a success after failure)."""

    def __init__(self, payment: Payment, amount: Decimal):
        super().__init__(f"{amount} is more than payment #{payment.pk}'s refundable remainder.")
        self.payment = payment
        self.amount = amount


def payment_lock(*, payment_id: int) -> Payment:
    """The payment row, locked until the surrounding transaction ends."""
    try:
        return Payment.objects.select_for_update().get(pk=payment_id)
    except Payment.DoesNotExist:
        raise NotFound("No such payment.") from None


def reserve_refund(payment: Payment, amount: Decimal) -> None:
    """Take `amount` off the refundable remainder of `payment`, which the caller holds locked (payment_lock).
    Raises RefundNotReservable, writing nothing, when it is more than `payment.refundable_amount` (a payment
    that is not completed has none)."""
    _require_atomic()
    if amount <= 0:
        raise ValueError(f"A reservation is a positive amount, not {amount}.")
    if amount > payment.refundable_amount:
        raise RefundNotReservable(payment, amount)
    reserved = Payment.objects.filter(
        pk=payment.pk, status=PaymentStatus.COMPLETED, refunded_amount__lte=F("amount") - amount
    ).update(refunded_amount=F("refunded_amount") + amount)
    if not reserved:  # the caller's copy was stale: the row says otherwise
        raise RefundNotReservable(payment, amount)
    payment.refunded_amount += amount


def release_refund(payment_id: int, amount: Decimal) -> None:
    """Give `amount` back to the refundable remainder of a payment (a refund failed, was rejected or lowered).
    One conditional UPDATE, which takes the row lock itself; never below zero: releasing more than is reserved
    is a bug and raises."""
    _require_atomic()
    if amount <= 0:
        raise ValueError(f"A release is a positive amount, not {amount}.")
    released = Payment.objects.filter(pk=payment_id, refunded_amount__gte=amount).update(
        refunded_amount=F("refunded_amount") - amount
    )
    if not released:
        raise RuntimeError(f"Payment #{payment_id} does not hold {amount} reserved for refunds to release.")


def _require_atomic() -> None:
    if not transaction.get_connection().in_atomic_block:
        raise RuntimeError("A refund reservation changes with its refund: call it inside transaction.atomic().")
