"""Money in: an M-Pesa payment received by STK push or C2B confirmation."""

from __future__ import annotations

from decimal import Decimal

from django.db import models
from django.db.models import F, Q
from django.utils import timezone

from core.money import MONEY, kes


class PaymentSource(models.TextChoices):
    STK_PUSH = "stk_push", "STK push"
    C2B = "c2b", "C2B (paybill/till)"


class PaymentStatus(models.TextChoices):
    PENDING = "pending", "Pending"
    COMPLETED = "completed", "Completed"
    FAILED = "failed", "Failed"


class Payment(models.Model):
    """An incoming M-Pesa payment (STK push or C2B confirmation)."""

    source = models.CharField(max_length=16, choices=PaymentSource.choices)
    status = models.CharField(max_length=16, choices=PaymentStatus.choices, default=PaymentStatus.PENDING)
    receipt = models.CharField(max_length=32, unique=True, null=True, blank=True)
    # As Daraja gave it: a C2B confirmation may carry a masked MSISDN ("2547 ***** 126") or, since 2025, a
    # 64-character SHA-256 hex of it (core.phone.is_hashed_msisdn), kept whole.
    phone = models.CharField(max_length=64, db_index=True)
    amount = models.DecimalField(**MONEY)
    # Sum of this payment's refunds that are not failed or rejected; kept under a row lock by the refund
    # service and bounded by a CHECK constraint, so the database itself refuses an over-refund.
    refunded_amount = models.DecimalField(**MONEY, default=Decimal("0"))
    account_reference = models.CharField(max_length=100, blank=True, db_index=True)
    description = models.CharField(max_length=200, blank=True)
    payer_name = models.CharField(max_length=150, blank=True)
    checkout_request_id = models.CharField(max_length=64, unique=True, null=True, blank=True)
    merchant_request_id = models.CharField(max_length=64, blank=True)
    # STK push only: set, and committed, before the push request leaves us; a redelivered task finds it set and
    # sends nothing, so a customer is prompted at most once per payment.
    push_sent_at = models.DateTimeField(null=True, blank=True)
    result_code = models.CharField(max_length=32, blank=True)
    result_description = models.CharField(max_length=255, blank=True)
    transaction_time = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now, db_index=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["status", "created_at"], name="payment_status_created")]
        constraints = [
            models.CheckConstraint(condition=Q(amount__gt=0), name="payment_amount_positive"),
            models.CheckConstraint(condition=Q(refunded_amount__gte=0), name="payment_refunded_not_negative"),
            models.CheckConstraint(
                condition=Q(refunded_amount__lte=F("amount")), name="payment_refunded_not_above_amount"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.receipt or self.checkout_request_id or self.pk} {kes(self.amount)}"

    @property
    def refundable_amount(self) -> Decimal:
        if self.status != PaymentStatus.COMPLETED:
            return Decimal("0.00")
        return self.amount - self.refunded_amount
