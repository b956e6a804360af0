"""Money in: an M-Pesa payment received by STK push or C2B confirmation.

A payment's status is written only by the door of its lifecycle (`payments.incoming.lifecycle`): a row may
be created with its first status, but once it exists, `save()` that would write the status and
`QuerySet.update(status=...)` raise `PaymentStatusWriteRefused` unless the door is open (`payment_status_door`,
which only the lifecycle opens: tests/payments/incoming/test_guard.py checks both)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from decimal import Decimal

from django.db import models
from django.db.models import F, Q
from django.utils import timezone

from core.money import MONEY, kes


class PaymentSource(models.TextChoices):
    STK_PUSH = "stk_push", "STK push"
    C2B = "c2b", "C2B (paybill/till)"
    # A C2B payment whose confirmation never reached us, found by Pull Transactions (payments/incoming/pull.py).
    PULL = "pull", "Pull Transactions (confirmation missed)"


class PaymentStatus(models.TextChoices):
    PENDING = "pending", "Pending"
    COMPLETED = "completed", "Completed"
    FAILED = "failed", "Failed"
    REVERSED = "reversed", "Reversed"


_DOOR_OPEN: ContextVar[bool] = ContextVar("payment_status_door", default=False)


class PaymentStatusWriteRefused(RuntimeError):
    """A payment's status written outside payment_transition(): a bug, never input."""


@contextmanager
def payment_status_door() -> Iterator[None]:
    """Lets the status of existing payments be written for the duration. Opened by the payment lifecycle's door
    only (payments/incoming/lifecycle.py)."""
    token = _DOOR_OPEN.set(True)
    try:
        yield
    finally:
        _DOOR_OPEN.reset(token)


def _refuse_outside_door(how: str) -> None:
    if not _DOOR_OPEN.get():
        raise PaymentStatusWriteRefused(
            f"{how} would write Payment.status outside payment_transition() (payments/incoming/lifecycle.py)."
        )


class PaymentQuerySet(models.QuerySet):
    def update(self, **kwargs):
        if "status" in kwargs:
            _refuse_outside_door("QuerySet.update(status=...)")
        return super().update(**kwargs)

    def bulk_update(self, objs, fields, batch_size=None):
        if "status" in fields:
            _refuse_outside_door("QuerySet.bulk_update(fields=[..., 'status'])")
        return super().bulk_update(objs, fields, batch_size=batch_size)


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
    # STK Push Query (payments/incoming/stk_query.py): how many times we asked about a push still pending, when
    # we may ask next, and when a query said "paid" (ResultCode 0, which carries no receipt: the payment stays
    # pending until its callback, the Pull or the statement supplies the receipt).
    stk_queries = models.PositiveSmallIntegerField(default=0)
    stk_next_query_at = models.DateTimeField(null=True, blank=True)
    stk_said_paid_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now, db_index=True)
    updated_at = models.DateTimeField(auto_now=True)

    objects = PaymentQuerySet.as_manager()

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

    def save(self, *args, **kwargs):
        """A new row may carry its first status; an existing one writes its status only through the door, so
        outside it a save must name its `update_fields`, without `status`."""
        update_fields = kwargs.get("update_fields")
        if not self._state.adding and (update_fields is None or "status" in update_fields):
            _refuse_outside_door(f"Payment.save(update_fields={update_fields!r})")
        super().save(*args, **kwargs)

    @property
    def refundable_amount(self) -> Decimal:
        """What refunds may still take from this payment: the amount less what is refunded or reserved. Written
        only by reserve_refund() / release_refund() (payments/incoming/refunds.py), under the row lock."""
        if self.status != PaymentStatus.COMPLETED:
            return Decimal("0.00")
        return self.amount - self.refunded_amount


class PullTrigger(models.TextChoices):
    BEAT = "beat", "Beat (scheduled)"
    COMMAND = "command", "Management command"
    CONSOLE = "console", "Console button"


class PullRun(models.Model):
    """One Pull Transactions pass (payments/incoming/pull.py): the window it asked for and what it found. The
    next scheduled run starts from the last complete one's `window_end` (less an overlap)."""

    trigger = models.CharField(max_length=16, choices=PullTrigger.choices)
    started_at = models.DateTimeField(default=timezone.now)
    finished_at = models.DateTimeField(null=True, blank=True)
    window_start = models.DateTimeField()
    window_end = models.DateTimeField()
    complete = models.BooleanField(default=False)  # every page read and every row handled
    pages = models.PositiveIntegerField(default=0)
    rows = models.PositiveIntegerField(default=0)
    recovered = models.PositiveIntegerField(default=0)
    matched = models.PositiveIntegerField(default=0)
    disagreements = models.PositiveIntegerField(default=0)
    unreadable = models.PositiveIntegerField(default=0)
    error = models.CharField(max_length=255, blank=True)  # why it did not complete (a Daraja error's code and words)

    class Meta:
        ordering = ["-started_at", "-id"]
        indexes = [models.Index(fields=["complete", "window_end"], name="pullrun_complete_end")]

    def __str__(self) -> str:
        return f"Pull run #{self.pk} ({self.recovered} recovered)"


class PullFindingKind(models.TextChoices):
    RECOVERED = "recovered", "Recorded from Pull: its confirmation never came"
    DISAGREEMENT = "disagreement", "Pull disagrees with our record"
    UNREADABLE = "unreadable", "A Pull row that could not be read"


class PullFinding(models.Model):
    """What a Pull run found that a person should know about: listed among the discrepancies. One per receipt
    and kind, however many overlapping runs see it again."""

    run = models.ForeignKey(PullRun, on_delete=models.PROTECT, related_name="findings")
    payment = models.ForeignKey(Payment, null=True, blank=True, on_delete=models.PROTECT, related_name="pull_findings")
    kind = models.CharField(max_length=16, choices=PullFindingKind.choices)
    receipt = models.CharField(max_length=32, blank=True)
    message = models.CharField(max_length=500)
    created_at = models.DateTimeField(default=timezone.now, db_index=True)

    class Meta:
        ordering = ["created_at", "id"]
        constraints = [
            models.UniqueConstraint(
                fields=["receipt", "kind"], condition=~Q(receipt=""), name="pullfinding_one_per_receipt_kind"
            )
        ]

    def __str__(self) -> str:
        return self.message
