"""Payout limits and holds: checked when a payout is created and again when it is sent."""

from __future__ import annotations

from datetime import datetime, time, timedelta
from decimal import Decimal

from django.conf import settings
from django.db.models import Q, Sum
from django.utils import timezone

from payments.errors import PayoutError
from payments.models import FloatBalance, Payout, PayoutControl, PayoutStatus

# Payouts that count against a day's limit once requested (until they fail or are rejected).
_COMMITTED = [s for s in PayoutStatus.values if s not in (PayoutStatus.FAILED, PayoutStatus.REJECTED)]
# Payouts that have left (or may have left) for M-Pesa.
_SENT = [
    PayoutStatus.SENDING,
    PayoutStatus.SUBMITTED,
    PayoutStatus.VERIFYING,
    PayoutStatus.COMPLETED,
    PayoutStatus.NEEDS_REVIEW,
]


def _today_bounds() -> tuple[datetime, datetime]:
    today = timezone.localdate()
    start = timezone.make_aware(datetime.combine(today, time.min))
    return start, start + timedelta(days=1)


def required_approvals(amount: Decimal) -> int:
    return 2 if amount >= settings.PAYOUT_DUAL_APPROVAL_THRESHOLD else 1


def validate_amount(amount: Decimal) -> Decimal:
    if not isinstance(amount, Decimal):
        raise PayoutError("Amount must be a decimal number of shillings.")
    if not amount.is_finite() or amount <= 0:
        raise PayoutError("Amount must be a positive number of shillings.")
    if amount != amount.to_integral_value():
        raise PayoutError("M-Pesa pays whole shillings: enter an amount without cents.")
    if amount < settings.PAYOUT_MIN_AMOUNT:
        raise PayoutError(f"The smallest payout M-Pesa allows is KES {settings.PAYOUT_MIN_AMOUNT}.")
    if amount > settings.PAYOUT_MAX_AMOUNT:
        raise PayoutError(f"The largest single payout allowed is KES {settings.PAYOUT_MAX_AMOUNT}.")
    return amount.quantize(Decimal("0.01"))


def _sum(queryset) -> Decimal:
    return queryset.aggregate(total=Sum("amount"))["total"] or Decimal("0")


def check_daily_limits_at_creation(*, phone: str, amount: Decimal, exclude_pk: int | None = None) -> None:
    start, end = _today_bounds()
    today = Payout.objects.filter(created_at__gte=start, created_at__lt=end, status__in=_COMMITTED)
    if exclude_pk:
        today = today.exclude(pk=exclude_pk)
    if _sum(today) + amount > settings.PAYOUT_DAILY_LIMIT:
        raise PayoutError(f"This payout would take today's total above the daily limit (KES {settings.PAYOUT_DAILY_LIMIT}).")
    if _sum(today.filter(phone=phone)) + amount > settings.PAYOUT_RECIPIENT_DAILY_LIMIT:
        raise PayoutError(
            f"This payout would take today's total to this phone above KES {settings.PAYOUT_RECIPIENT_DAILY_LIMIT}."
        )


def payouts_paused() -> bool:
    if settings.PAYOUTS_PAUSED:
        return True
    return PayoutControl.objects.filter(paused=True).exists()


def latest_float() -> FloatBalance | None:
    return FloatBalance.objects.order_by("-observed_at", "-id").first()


def send_hold_reason(payout: Payout) -> str:
    """Why this approved payout must wait instead of leaving now ("" when it may go)."""
    if payouts_paused():
        return "Payouts are paused (kill switch)."
    start, end = _today_bounds()
    sent_today = Payout.objects.filter(
        Q(submitted_at__gte=start, submitted_at__lt=end) | Q(status=PayoutStatus.SENDING), status__in=_SENT
    ).exclude(pk=payout.pk)
    if _sum(sent_today) + payout.amount > settings.PAYOUT_DAILY_LIMIT:
        return f"Daily limit of KES {settings.PAYOUT_DAILY_LIMIT} reached; waits for tomorrow."
    if _sum(sent_today.filter(phone=payout.phone)) + payout.amount > settings.PAYOUT_RECIPIENT_DAILY_LIMIT:
        return f"This phone's daily limit of KES {settings.PAYOUT_RECIPIENT_DAILY_LIMIT} reached; waits for tomorrow."
    balance = latest_float()
    if balance is not None and payout.amount > balance.utility_available:
        return f"The B2C float (KES {balance.utility_available}) is below this payout; waits for a top-up."
    return ""
