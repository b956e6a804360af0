"""Reads of payments (money in): the list, and the STK pushes whose answer never came."""

from __future__ import annotations

from datetime import datetime, timedelta

from django.conf import settings
from django.db.models import Q, QuerySet

from payments.models import Payment, PaymentSource, PaymentStatus


def payment_list() -> QuerySet[Payment]:
    return Payment.objects.order_by("-created_at", "-id")


def stk_push_unanswered(now: datetime) -> Q:
    """Pending STK payments whose push left (it was claimed) without its answer giving us a CheckoutRequestID:
    the answer left the outcome unknown (its code is on the payment), or none was recorded within the
    timeouts and a minute (the worker stopped mid-request). The customer may have been prompted."""
    answered_by = now - timedelta(seconds=settings.MPESA_CONNECT_TIMEOUT + settings.MPESA_READ_TIMEOUT + 60)
    return Q(
        Q(result_code__gt="") | Q(push_sent_at__lt=answered_by),
        source=PaymentSource.STK_PUSH, status=PaymentStatus.PENDING, checkout_request_id__isnull=True,
        push_sent_at__isnull=False,
    )  # fmt: skip
